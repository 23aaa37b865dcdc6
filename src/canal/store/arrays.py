"""Whole tables read as arrays of integers, for the few paths that read millions of rows."""

from __future__ import annotations

import queue
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Connection

from canal.store.sql import driver_cursor

#: Rows per statement on SQLite: each returns one string of its rows' numbers, which must stay
#: under SQLite's limit of a billion bytes (some 25 bytes a row here).
ROWS_PER_READ = 2_000_000

#: A range of the key, its end excluded; None: to the last row.
KeyRange = tuple[int, int | None]


@dataclass(frozen=True)
class IntColumns:
    """`SELECT columns FROM source` read as an array of 64-bit integers, one row per row: what a
    full rebuild reads (tens of millions of rows), where making a Python tuple of each row cost
    more than the database's own work. `source`: tables and joins, then a WHERE clause.

    On SQLite the rows are read in ranges of `key` (an indexed integer), each range of about
    `rows_per_read` rows of `ranges_over` (default `source`) coming back as one string made by
    group_concat and parsed by numpy: twice the speed of fetching the rows. PostgreSQL sends
    its rows as they are, in one range."""

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
        # A bound `rows_per_read` rows on: stepping through an index costs some 20 ns a row.
        bound = f"SELECT {self.key} FROM {over} AND {self.key} >= ? ORDER BY {self.key} LIMIT 1"
        out: list[KeyRange] = []
        with driver_cursor(conn) as (cursor, _mark):
            (low,) = cursor.execute(f"SELECT min({self.key}) FROM {over}").fetchone()
            while low is not None:
                found = cursor.execute(f"{bound} OFFSET ?", (low, self.rows_per_read)).fetchone()
                # One key with more rows than a read still makes progress.
                high = None if found is None else max(found[0], low + 1)
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
            text = " || ',' || ".join(self.columns)
            sql = f"SELECT group_concat({text}) FROM {self.source} AND {self.key} >= ?"
            if high is None:
                (joined,) = cursor.execute(sql, (low,)).fetchone()
            else:
                (joined,) = cursor.execute(f"{sql} AND {self.key} < ?", (low, high)).fetchone()
        if not joined:
            return np.empty((0, width), dtype=np.int64)
        return np.fromstring(joined, dtype=np.int64, sep=",").reshape(-1, width)

    def read_pending(
        self, conn: Connection, pending: queue.SimpleQueue[KeyRange]
    ) -> list[NDArray[np.int64]]:
        """Read ranges off `pending` until none is left: threads that share the ranges each
        read on a connection of their own (SQLite runs a statement without the GIL)."""
        parts: list[NDArray[np.int64]] = []
        while True:
            try:
                key_range = pending.get_nowait()
            except queue.Empty:
                return parts
            parts.append(self.read_range(conn, key_range))


def stacked(parts: Sequence[NDArray[np.int64]], width: int) -> NDArray[np.int64]:
    if not parts:
        return np.empty((0, width), dtype=np.int64)
    return np.concatenate(parts).reshape(-1, width)
