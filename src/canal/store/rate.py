"""Fixed-window rate counters, in the database so that every worker counts the same."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, case
from sqlalchemy.dialects import postgresql, sqlite

from canal.store.tables import rate_counters

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


def _count_statement(dialect: Any) -> Any:
    """One statement for all the counters of a call: insert each counter, or add to it in the
    current window, or restart it in a new window, and return the new counts."""
    stmt = dialect.insert(rate_counters)
    current = rate_counters.c.window_start == stmt.excluded.window_start
    return stmt.on_conflict_do_update(
        index_elements=[rate_counters.c.key],
        # Both right-hand sides read the row as it was before this update (standard SQL).
        set_={
            "count": case(
                (current, rate_counters.c.count + stmt.excluded.count),
                else_=stmt.excluded.count,
            ),
            "window_start": stmt.excluded.window_start,
        },
    ).returning(rate_counters.c.key, rate_counters.c.count)


_STATEMENTS = {"sqlite": _count_statement(sqlite), "postgresql": _count_statement(postgresql)}


def take(conn: Connection, charges: Sequence[Charge], *, now: int) -> None:
    """Count each charge against its key's window, or raise RateLimited for the first that
    would pass its limit. The counts are written before they are checked: the caller's
    transaction must roll back on RateLimited (a write unit does), so a refused call counts
    nothing."""
    if not charges:
        return
    window_start = now - now % WINDOW
    counts = dict(
        conn.execute(
            _STATEMENTS[conn.dialect.name],
            [{"key": c.key, "window_start": window_start, "count": c.amount} for c in charges],
        ).all()
    )
    for charge in charges:
        used = counts[charge.key]
        if used > charge.limit:
            retry_after = max(1, -(-(window_start + WINDOW - now) // 1_000_000))
            raise RateLimited(charge.key, f"{used} of {charge.limit} a minute", retry_after)
