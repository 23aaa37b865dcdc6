"""Fixed-window rate counters, in the database so that every worker counts the same."""

from __future__ import annotations

from sqlalchemy import Connection, insert, select, update

from canal.store.tables import rate_counters

WINDOW = 60_000_000  # one minute, in microseconds


class RateLimited(Exception):
    def __init__(self, key: str, what: str, retry_after: int) -> None:
        super().__init__(f"{what}: limit reached, retry in {retry_after} s")
        self.key = key
        self.what = what
        self.retry_after = retry_after


def take(conn: Connection, key: str, amount: int, limit: int, *, now: int) -> None:
    """Count `amount` against `key`'s window, or raise RateLimited if it would pass `limit`.
    The caller holds a write transaction (writers are serialised), so reads and writes of the
    counter cannot interleave."""
    window_start = now - now % WINDOW
    row = conn.execute(
        select(rate_counters.c.window_start, rate_counters.c.count).where(
            rate_counters.c.key == key
        )
    ).first()
    used = row[1] if row is not None and row[0] == window_start else 0
    if used + amount > limit:
        retry_after = max(1, -(-(window_start + WINDOW - now) // 1_000_000))
        raise RateLimited(key, f"{used + amount} of {limit} a minute", retry_after)
    if row is None:
        conn.execute(insert(rate_counters).values(key=key, window_start=window_start, count=amount))
    else:
        conn.execute(
            update(rate_counters)
            .where(rate_counters.c.key == key)
            .values(window_start=window_start, count=used + amount)
        )
