"""Whole tables read as arrays of integers, for the few paths that read millions of rows."""

from __future__ import annotations

import queue
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Connection

from canal.store.sql import driver_cursor

#: Rows per statement on SQLite: each returns one string of its rows' numbers, which must stay
#: under SQLite's limit of a billion bytes (some 25 bytes a row here).
ROWS_PER_READ = 2_000_000

#: A range of the key (a number or a text), its end excluded; None: to the last row.
KeyRange = tuple[Any, Any]


@dataclass(frozen=True)
class IntColumns:
    """`SELECT columns FROM source` read as an array of 64-bit integers, one row per row: what a
    full rebuild reads (tens of millions of rows), where making a Python tuple of each row cost
    more than the database's own work. `source`: tables and joins, then a WHERE clause.

    On SQLite the rows are read in ranges of `key` (indexed), each range of about
    `rows_per_read` rows of `ranges_over` (default `source`) coming back as one string per
    column made by group_concat and parsed by numpy: twice the speed of fetching the rows.
    PostgreSQL sends its rows as they are, in one range."""

    columns: Sequence[str]
    source: str
    key: str
    ranges_over: str | None = None
    rows_per_read: int = ROWS_PER_READ

    def read(self, conn: Connection) -> NDArray[np.int64]:
        return stacked([self.read_range(conn, r) for r in self.ranges(conn)], len(self.columns))

    def ranges(self, conn: Connection) -> list[KeyRange]:
        """Ranges of the key that cover every row, in order; one on PostgreSQL."""
        if conn.dialect.name != "sqlite":
            return [(0, None)]
        over = self.ranges_over or self.source
        key = self.key
        # A bound `rows_per_read` rows on: stepping through an index costs some 20 ns a row.
        bound = f"SELECT {key} FROM {over} AND {key} >= ? ORDER BY {key} LIMIT 1 OFFSET ?"
        following = f"SELECT min({key}) FROM {over} AND {key} > ?"
        out: list[KeyRange] = []
        with driver_cursor(conn) as (cursor, _mark):
            (low,) = cursor.execute(f"SELECT min({key}) FROM {over}").fetchone()
            while low is not None:
                found = cursor.execute(bound, (low, self.rows_per_read)).fetchone()
                high = None if found is None else found[0]
                if high == low:  # one key with more rows than a read: a range of its own
                    (high,) = cursor.execute(following, (low,)).fetchone()
                out.append((low, high))
                low = high
        return out

    def read_range(self, conn: Connection, key_range: KeyRange) -> NDArray[np.int64]:
        width = len(self.columns)
        with driver_cursor(conn) as (cursor, _mark):
            if conn.dialect.name != "sqlite":
                cursor.execute(f"SELECT {', '.join(self.columns)} FROM {self.source}")
                parts = []
                while rows := cursor.fetchmany(100_000):
                    flat = np.fromiter(chain.from_iterable(rows), np.int64, len(rows) * width)
                    parts.append(flat)
                return stacked(parts, width)
            low, high = key_range
            # One string per column: a concatenation per row cost a third more.
            texts = ", ".join(f"group_concat({column})" for column in self.columns)
            sql = f"SELECT {texts} FROM {self.source} AND {self.key} >= ?"
            if high is None:
                joined = cursor.execute(sql, (low,)).fetchone()
            else:
                joined = cursor.execute(f"{sql} AND {self.key} < ?", (low, high)).fetchone()
        if not joined[0]:
            return np.empty((0, width), dtype=np.int64)
        return np.stack([np.fromstring(text, dtype=np.int64, sep=",") for text in joined], axis=1)


class SharedReads:
    """The ranges of several IntColumns, read by whichever thread is free: each reads on a
    connection of its own, and SQLite runs a statement without the GIL, so two threads read
    on two cores. For rows that never change once written (a record's values and references),
    where which transaction reads which range does not matter."""

    def __init__(self) -> None:
        self._pending: queue.SimpleQueue[tuple[IntColumns, KeyRange]] = queue.SimpleQueue()

    def add(self, conn: Connection, columns: IntColumns) -> None:
        for key_range in columns.ranges(conn):
            self._pending.put((columns, key_range))

    def read(self, conn: Connection) -> list[tuple[IntColumns, NDArray[np.int64]]]:
        """Read ranges until none is left."""
        out: list[tuple[IntColumns, NDArray[np.int64]]] = []
        while True:
            try:
                columns, key_range = self._pending.get_nowait()
            except queue.Empty:
                return out
            out.append((columns, columns.read_range(conn, key_range)))


def gathered(
    parts: Sequence[tuple[IntColumns, NDArray[np.int64]]], columns: IntColumns
) -> NDArray[np.int64]:
    """The rows of `columns` among what SharedReads.read returned."""
    return stacked([rows for which, rows in parts if which == columns], len(columns.columns))


def stacked(parts: Sequence[NDArray[np.int64]], width: int) -> NDArray[np.int64]:
    if not parts:
        return np.empty((0, width), dtype=np.int64)
    return np.concatenate(parts).reshape(-1, width)
