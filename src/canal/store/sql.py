"""SQL constructs that read the same on both back ends but must be planned differently."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Boolean, ColumnElement, Select, bindparam
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler


class InSmallSet(ColumnElement[bool]):
    """`column IN (subquery)` where the subquery reads a small table (the handling profiles).

    PostgreSQL turns a plain IN (subquery) into a join and, misjudging how many profiles match,
    starts from them and sorts every matching record; written as `= ANY(ARRAY(subquery))`, the
    subquery runs once and the records are read in index order, stopping at the page size.
    SQLite already plans IN (subquery) that way.
    """

    inherit_cache = True
    type = Boolean()

    def __init__(self, column: ColumnElement[Any], subquery: Select[Any]) -> None:
        self.column = column
        self.subquery = subquery


@compiles(InSmallSet)
def _in_small_set(element: InSmallSet, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    return f"{column} IN ({compiler.process(element.subquery, asfrom=False, **kw)})"


@compiles(InSmallSet, "postgresql")
def _in_small_set_pg(element: InSmallSet, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    return f"{column} = ANY(ARRAY({compiler.process(element.subquery, asfrom=False, **kw)}))"


def one_of(column: ColumnElement[Any], values: Sequence[Any]) -> ColumnElement[bool]:
    """`column IN (values)` as one expanding parameter: the hot bulk paths send hundreds of
    values per query, and coercing each into its own bound parameter costs more than the
    query."""
    return column.in_(bindparam("values", list(values), expanding=True, unique=True))
