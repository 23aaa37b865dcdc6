"""A unit of write work: one transaction, the sequencer lock, and the processing-log entries of
what was done, committed together (invariant 3)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection

from canal.clock import Clock
from canal.model.audit import AuditEvent, LogEntry
from canal.model.stix import from_micros, to_micros
from canal.store import audit as audit_store
from canal.store.database import Database
from canal.store.sequencer import SequenceHead, lock_head, save_head


@dataclass
class WriteUnit:
    conn: Connection
    head: SequenceHead
    now: int
    events: list[AuditEvent] = field(default_factory=list)
    entries: list[LogEntry] = field(default_factory=list)
    _after_commit: list[Callable[[], None]] = field(default_factory=list)

    def log(self, event: AuditEvent) -> None:
        self.events.append(event)

    @property
    def clock_now(self) -> datetime:
        """The unit's time as a datetime (the same instant as `now`)."""
        return from_micros(self.now)

    def next_date_added(self) -> int:
        return self.head.next_date_added(self.now)

    def after_commit(self, action: Callable[[], None]) -> None:
        """Run `action` once the transaction has committed (e.g. to fill an in-process cache
        with rows that now surely exist)."""
        self._after_commit.append(action)


@contextmanager
def write_unit(
    database: Database,
    clock: Clock,
    *,
    bulk: bool = False,
    wait: bool = True,
    check_references: bool = True,
) -> Iterator[WriteUnit]:
    """`wait=False`: WriteBusy at once where another writer is at work; `check_references`:
    see Database.write."""
    with database.write(bulk=bulk, wait=wait, check_references=check_references) as conn:
        head = lock_head(conn)
        unit = WriteUnit(conn=conn, head=head, now=to_micros(clock.now()))
        yield unit
        unit.entries = audit_store.append(
            conn,
            head,
            unit.events,
            at=unit.now,
            # A server merges the log's subjects from a background task.
            merge_at=audit_store.SUBJECT_MERGE_CAP if database.merges_in_background else None,
        )
        save_head(conn, head)
    for action in unit._after_commit:  # noqa: SLF001 - the unit's own list, run by its owner
        action()
