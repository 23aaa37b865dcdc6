"""SQL constructs that read the same on both back ends but must be planned differently."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Boolean, ColumnElement, Connection, Select, Table, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler

from canal.store.errors import TooManyRows


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


class NoIndex(ColumnElement[Any]):
    """A column that SQLite must not search an index for, in the term it stands in: written
    `+column` there (SQLite's way to disqualify a term from index use); as it is elsewhere.

    The policy's filter ends in `source = me OR (retention AND released AND cleared)`. Without
    statistics SQLite takes both sides for selective and answers the OR from two indexes
    (the source's, and the release state's, which holds nearly every record), then sorts all
    it found; inside the twins' EXISTS, that was a scan of the released records per row (a
    member's search by TLP on 1M records: over 100 s). Kept out of the indexes, the state is
    checked on the rows the query reads in order, and the search stops at the page size."""

    inherit_cache = True

    def __init__(self, column: ColumnElement[Any]) -> None:
        self.column = column
        self.type = column.type


@compiles(NoIndex)
def _no_index(element: NoIndex, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.column, **kw)


@compiles(NoIndex, "sqlite")
def _no_index_sqlite(element: NoIndex, compiler: SQLCompiler, **kw: Any) -> str:
    return f"+{compiler.process(element.column, **kw)}"


def one_of(column: ColumnElement[Any], values: Sequence[Any]) -> ColumnElement[bool]:
    """`column IN (values)` as one expanding parameter: the hot bulk paths send hundreds of
    values per query, and coercing each into its own bound parameter costs more than the
    query."""
    return column.in_(bindparam("values", list(values), expanding=True, unique=True))


def one_of_param(column: ColumnElement[Any], name: str) -> ColumnElement[bool]:
    """`column IN (:name)` as one expanding parameter, for a statement built once and run with
    `{name: values}`."""
    return column.in_(bindparam(name, expanding=True))


@contextmanager
def driver_cursor(conn: Connection) -> Iterator[tuple[Any, str]]:
    """The driver's own cursor on `conn`'s connection, and its positional parameter mark: the
    bulk paths below skip SQLAlchemy's per-value parameter processing, which cost more than
    the database's own work."""
    mark = "%s" if conn.dialect.paramstyle in {"format", "pyformat"} else "?"
    driver_error = conn.dialect.loaded_dbapi.Error
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        yield cursor, mark
    except driver_error as exc:
        # As SQLAlchemy raises it (IntegrityError, OperationalError, DataError...): callers
        # and the API's error handlers catch those, whichever way the statement ran.
        raise DBAPIError.instance(None, None, exc, driver_error, dialect=conn.dialect) from exc
    finally:
        cursor.close()


def driver_rows(conn: Connection, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run `sql`, whose text writes each positional parameter as `{mark}`, on the driver's
    cursor and return its rows (none for a statement that returns none). For the statements
    of every write transaction (the sequencer's head, the rate counters): SQLAlchemy's
    execution costs about 90 us a statement here against 15 for the driver's, and a lookup's
    write runs four of them."""
    with driver_cursor(conn) as (cursor, mark):
        cursor.execute(sql.format(mark=mark), params)
        return cursor.fetchall() if cursor.description is not None else []


def _row_values(names: Sequence[str]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    # itemgetter builds each row's tuple in C: a generator per row cost as much as the insert.
    if len(names) == 1:
        return lambda row: (row[names[0]],)
    return operator.itemgetter(*names)


def rows_where_in(
    conn: Connection,
    sql: str,
    leading: Sequence[Any],
    values: Sequence[Any],
    *,
    chunk: int,
    at_most: int | None = None,
) -> list[tuple[Any, ...]]:
    """Run `sql`, whose text holds `{mark}` for each leading parameter and ends with
    `IN ({marks})`, once per `chunk` values: the hot paths search tens of thousands of values
    per call. The same text for every full chunk, so the driver prepares it once. `at_most`:
    TooManyRows as soon as the rows number more, without reading the rest."""
    out: list[tuple[Any, ...]] = []
    with driver_cursor(conn) as (cursor, mark):
        for start in range(0, len(values), chunk):
            part = values[start : start + chunk]
            cursor.execute(
                sql.format(mark=mark, marks=", ".join(mark for _ in part)), (*leading, *part)
            )
            if at_most is None:
                out.extend(cursor.fetchall())
                continue
            out.extend(cursor.fetchmany(at_most + 1 - len(out)))
            if len(out) > at_most:
                raise TooManyRows(f"more than {at_most} rows")
    return out


def insert_skipping_duplicates(conn: Connection, table: Table) -> Any:
    """An INSERT into `table` that leaves out rows whose key is already there (ON CONFLICT DO
    NOTHING, in each back end's dialect): for writes that may repeat one cut short."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing()


def bulk_insert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """executemany on the driver's own cursor, with positional parameters: the bulk paths
    (records, index rows, log subjects, notices) write thousands of rows per statement."""
    if not rows:
        return
    names = list(rows[0])
    values = _row_values(names)
    insert_rows(conn, table, names, [values(row) for row in rows])


def insert_rows(
    conn: Connection, table: Table, names: Sequence[str], rows: Iterable[tuple[Any, ...]]
) -> None:
    """bulk_insert of rows given as tuples in the order of `names`, taken as they come: a
    rebuild's millions of memberships without a dictionary, or a list, of them."""
    with driver_cursor(conn) as (cursor, mark):
        cursor.executemany(
            f"INSERT INTO {table.name} ({', '.join(names)}) "
            f"VALUES ({', '.join(mark for _ in names)})",
            rows,
        )


#: Rows per statement of insert_returning: 4 columns of 1,000 rows stay far below SQLite's
#: limit of 32,766 parameters.
RETURNING_ROWS = 1000


def insert_returning(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], returning: Sequence[str]
) -> list[tuple[Any, ...]]:
    """Insert `rows` (multi-row VALUES) and return the `returning` columns of each: the new
    ids, without searching the rows again. Returned rows come in no promised order: return the
    columns that tell them apart."""
    if not rows:
        return []
    names = list(rows[0])
    values = _row_values(names)
    out: list[tuple[Any, ...]] = []
    with driver_cursor(conn) as (cursor, mark):
        one = f"({', '.join(mark for _ in names)})"
        for start in range(0, len(rows), RETURNING_ROWS):
            chunk = rows[start : start + RETURNING_ROWS]
            cursor.execute(
                f"INSERT INTO {table.name} ({', '.join(names)}) VALUES "
                f"{', '.join(one for _ in chunk)} RETURNING {', '.join(returning)}",
                [v for row in chunk for v in values(row)],
            )
            out.extend(tuple(row) for row in cursor.fetchall())
    return out
