"""Whole tables read as arrays of integers, for the few paths that read millions of rows."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Connection

from canal.store.sql import driver_cursor

#: Rows per statement of int_columns on SQLite: each returns one string of its rows' numbers,
#: which must stay under SQLite's limit of a billion bytes (some 25 bytes a row here).
INT_COLUMNS_ROWS = 2_000_000


def int_columns(
    conn: Connection,
    columns: Sequence[str],
    source: str,
    *,
    key: str,
    ranges_over: str | None = None,
    rows_per_read: int = INT_COLUMNS_ROWS,
) -> NDArray[np.int64]:
    """`SELECT columns FROM source` as an array of 64-bit integers, one row per row: what a
    full rebuild reads (tens of millions of rows), where making a Python tuple of each row
    cost more than the database's own work. `source`: tables and joins, then a WHERE clause.

    On SQLite the rows are read in ranges of `key` (an indexed integer), each range of about
    `rows_per_read` rows of `ranges_over` (default `source`) coming back as one string made by
    group_concat and parsed by numpy: twice the speed of fetching the rows. PostgreSQL sends
    its rows as they are."""
    width = len(columns)
    parts = []
    if conn.dialect.name != "sqlite":
        with driver_cursor(conn) as (cursor, _mark):
            cursor.execute(f"SELECT {', '.join(columns)} FROM {source}")
            while rows := cursor.fetchmany(100_000):
                parts.append(np.fromiter(chain.from_iterable(rows), np.int64, len(rows) * width))
        return _stacked(parts, width)
    over = ranges_over or source
    first = f"SELECT min({key}) FROM {over}"
    # A bound `rows_per_read` rows on: stepping through an index costs some 20 ns a row.
    bound = f"SELECT {key} FROM {over} AND {key} >= ? ORDER BY {key} LIMIT 1 OFFSET ?"
    text = " || ',' || ".join(columns)
    between = f"SELECT group_concat({text}) FROM {source} AND {key} >= ? AND {key} < ?"
    last = f"SELECT group_concat({text}) FROM {source} AND {key} >= ?"
    with driver_cursor(conn) as (cursor, _mark):
        (low,) = cursor.execute(first).fetchone()
        while low is not None:
            found = cursor.execute(bound, (low, rows_per_read)).fetchone()
            if found is None:
                (joined,) = cursor.execute(last, (low,)).fetchone()
                high = None
            else:
                # One key with more rows than a read still makes progress.
                high = max(found[0], low + 1)
                (joined,) = cursor.execute(between, (low, high)).fetchone()
            if joined:
                parts.append(np.fromstring(joined, dtype=np.int64, sep=","))
            low = high
    return _stacked(parts, width)


def _stacked(parts: list[NDArray[np.int64]], width: int) -> NDArray[np.int64]:
    if not parts:
        return np.empty((0, width), dtype=np.int64)
    return np.concatenate(parts).reshape(-1, width)
