"""Statements run on the driver's cursor (store.sql) fail as SQLAlchemy's do: the callers that
retry or answer on a database error (ingest's per-object fallback, the API's 400 for an
out-of-range value) catch SQLAlchemy's exceptions, whichever way the statement ran."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError

from canal.store.arrays import IntColumns, SharedReads, gathered
from canal.store.rate import Charge, take
from canal.store.sql import driver_cursor, driver_rows

INSERT = "INSERT INTO rate_counters (key, window_start, count) VALUES ({mark}, {mark}, {mark})"
COUNT = "SELECT count(*) FROM rate_counters WHERE key = {mark}"


def _insert_twice(services) -> None:
    with services.database.write() as conn:
        driver_rows(conn, INSERT, ("twice", 0, 1))
        driver_rows(conn, INSERT, ("twice", 0, 1))


def test_a_constraint_broken_on_the_driver_cursor_is_an_integrity_error(services):
    with pytest.raises(IntegrityError):
        _insert_twice(services)
    with services.database.read() as conn:
        assert driver_rows(conn, COUNT, ("twice",)) == [(0,)]  # rolled back, both rows


def test_a_bad_statement_on_the_driver_cursor_is_a_dbapi_error(services):
    with pytest.raises(DBAPIError), services.database.read() as conn:
        driver_rows(conn, "SELECT * FROM no_such_table")


def test_rate_counters_count_and_restart_through_the_driver_cursor(services):
    minute = 60_000_000
    with services.database.write() as conn:
        take(conn, [Charge("a", 2, 10), Charge("b", 1, 10)], now=minute)
        take(conn, [Charge("a", 3, 10)], now=minute + 1)
    with services.database.read() as conn:
        rows = driver_rows(
            conn, "SELECT key, count FROM rate_counters WHERE key IN ({mark}, {mark})", ("a", "b")
        )
        assert sorted(rows) == [("a", 5), ("b", 1)]
    with services.database.write() as conn:
        take(conn, [Charge("a", 1, 10)], now=2 * minute)  # a new window starts from the charge
    with services.database.read() as conn:
        assert driver_rows(conn, COUNT.replace("count(*)", "count"), ("a",)) == [(1,)]


def test_a_search_for_at_most_so_many_rows_stops_once_it_finds_more(services):
    from canal.store.errors import TooManyRows  # noqa: PLC0415
    from canal.store.sql import rows_where_in  # noqa: PLC0415

    keys = [f"k{i}" for i in range(7)]
    with services.database.write() as conn:
        for key in keys:
            driver_rows(conn, INSERT, (key, 0, 1))
    search = "SELECT key FROM rate_counters WHERE window_start = {mark} AND key IN ({marks})"
    with services.database.read() as conn:
        # Chunks of 3 keys: the limit counts the rows of every chunk together.
        assert len(rows_where_in(conn, search, (0,), keys, chunk=3, at_most=7)) == 7
        assert len(rows_where_in(conn, search, (0,), keys, chunk=3)) == 7
        with pytest.raises(TooManyRows, match="more than 6 rows"):
            rows_where_in(conn, search, (0,), keys, chunk=3, at_most=6)
        with pytest.raises(TooManyRows, match="more than 2 rows"):
            rows_where_in(conn, search, (0,), keys, chunk=10, at_most=2)


def test_whole_columns_come_back_as_integers_whatever_the_ranges_they_are_read_in(services):
    # A key with more rows than one read (7), numbers of every size and sign; read in ranges
    # of 10 rows on SQLite (one statement each), at once on PostgreSQL.
    rows = [(k, k * 3 - 1000) for k in range(200)]
    rows += [(7, -(2**62) + i) for i in range(50)] + [(199, 2**62)]
    with services.database.write() as conn:
        conn.exec_driver_sql("CREATE TEMPORARY TABLE numbers (k BIGINT NOT NULL, v BIGINT)")
        conn.exec_driver_sql("CREATE INDEX ix_numbers_k ON numbers (k)")
        driver_cursor_insert(conn, rows)
        got = IntColumns(("k", "v"), "numbers WHERE k >= 0", key="k", rows_per_read=10).read(conn)
        assert got.dtype == np.int64
        assert sorted(map(tuple, got.tolist())) == sorted(rows)
        sevens = IntColumns(("v",), "numbers WHERE k = 7", key="k", rows_per_read=10).read(conn)
        assert sorted(sevens[:, 0].tolist()) == sorted(v for k, v in rows if k == 7)
        none = IntColumns(("k", "v"), "numbers WHERE k < 0", key="k").read(conn)
        assert none.shape == (0, 2)


def driver_cursor_insert(conn, rows):
    with driver_cursor(conn) as (cursor, mark):
        cursor.executemany(f"INSERT INTO numbers (k, v) VALUES ({mark}, {mark})", rows)


def test_threads_sharing_the_ranges_read_every_row_once(services):
    with services.database.write() as conn, driver_cursor(conn) as (cursor, mark):
        cursor.executemany(
            f"INSERT INTO rate_counters (key, window_start, count) VALUES ({mark}, {mark}, {mark})",
            [(f"k{i}", i // 3, i) for i in range(100)],
        )
    counts = IntColumns(
        ("count",), "rate_counters WHERE 1 = 1", key="window_start", rows_per_read=7
    )
    windows = IntColumns(("window_start",), "rate_counters WHERE 1 = 1", key="window_start")
    shared = SharedReads()
    with services.database.read() as conn:
        # Ranges of two keys (six rows) on SQLite; the whole at once on PostgreSQL.
        assert len(counts.ranges(conn)) == (17 if services.database.is_sqlite else 1)
        shared.add(conn, counts)
        shared.add(conn, windows)

    def read():
        with services.database.read() as conn:
            return shared.read(conn)

    with ThreadPoolExecutor(max_workers=2) as pool:
        parts = [part for done in [pool.submit(read) for _ in range(2)] for part in done.result()]
    assert sorted(gathered(parts, counts)[:, 0].tolist()) == list(range(100))
    assert sorted(gathered(parts, windows)[:, 0].tolist()) == sorted(i // 3 for i in range(100))
