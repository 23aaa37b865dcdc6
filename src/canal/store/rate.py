"""Fixed-window rate counters, in the database so that every worker counts the same."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from canal.store.sql import driver_rows

WINDOW = 60_000_000  # one minute, in microseconds


class RateLimited(Exception):
    def __init__(self, key: str, what: str, retry_after: int) -> None:
        super().__init__(f"{what}: limit reached, retry in {retry_after} s")
        self.key = key
        self.what = what
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Charge:
    """`amount` counted against `key`, whose window allows `limit`."""

    key: str
    amount: int
    limit: int


#: One statement for all the counters of a call: insert each counter, or add to it in the
#: current window, or restart it in a new window, and return the new counts. Both right-hand
#: sides read the row as it was before this update (standard SQL). Every rate-limited call
#: runs it: on the driver's cursor (store.sql.driver_rows), with a row of marks per counter.
_COUNT = (
    "INSERT INTO rate_counters (key, window_start, count) VALUES {rows}"
    " ON CONFLICT (key) DO UPDATE SET count = CASE"
    " WHEN rate_counters.window_start = excluded.window_start"
    " THEN rate_counters.count + excluded.count ELSE excluded.count END,"
    " window_start = excluded.window_start RETURNING key, count"
)
_ROW = "({mark}, {mark}, {mark})"


def take(conn: Connection, charges: Sequence[Charge], *, now: int) -> None:
    """Count each charge against its key's window, or raise RateLimited for the first that
    would pass its limit. The counts are written before they are checked: the caller's
    transaction must roll back on RateLimited (a write unit does), so a refused call counts
    nothing."""
    if not charges:
        return
    window_start = now - now % WINDOW
    sql = _COUNT.replace("{rows}", ", ".join(_ROW for _ in charges))
    params = [p for c in charges for p in (c.key, window_start, c.amount)]
    counts = dict(driver_rows(conn, sql, params))
    for charge in charges:
        used = counts[charge.key]
        if used > charge.limit:
            retry_after = max(1, -(-(window_start + WINDOW - now) // 1_000_000))
            raise RateLimited(charge.key, f"{used} of {charge.limit} a minute", retry_after)
