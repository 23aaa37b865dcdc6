"""The head of the write sequence: date_added allocation and the processing log's chain head.

Every write transaction locks the one sequencer row first (SELECT ... FOR UPDATE on PostgreSQL;
BEGIN IMMEDIATE already serialises writers on SQLite). Holding it to commit means date_added and
log sequence numbers are handed out in commit order: a reader paging by date_added can never
miss a record that commits later with a smaller date_added.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from canal.store.errors import StoreError
from canal.store.sql import driver_rows


@dataclass(slots=True)
class SequenceHead:
    last_date_added: int
    last_log_seq: int
    last_log_hash: str
    #: Subjects of log entries up to this sequence number are in the subject index.
    merged_subject_seq: int = 0
    #: Subject rows written since.
    unmerged_subjects: int = 0
    #: Until when (µs) a background merge of those rows holds the claim to do it.
    subject_merge_until: int = 0

    def next_date_added(self, now_micros: int) -> int:
        """A date_added later than every earlier one, and no earlier than now."""
        self.last_date_added = max(self.last_date_added + 1, now_micros)
        return self.last_date_added


# Every write transaction runs these two, on the driver's cursor (store.sql.driver_rows).
_HEAD = (
    "SELECT last_date_added, last_log_seq, last_log_hash, merged_subject_seq, unmerged_subjects,"
    " subject_merge_until FROM sequencer WHERE id = 1"
)
_SAVE_HEAD = (
    "UPDATE sequencer SET last_date_added = {mark}, last_log_seq = {mark}, last_log_hash = {mark},"
    " merged_subject_seq = {mark}, unmerged_subjects = {mark}, subject_merge_until = {mark}"
    " WHERE id = 1"
)


def lock_head(conn: Connection) -> SequenceHead:
    rows = driver_rows(conn, _HEAD if conn.dialect.name == "sqlite" else f"{_HEAD} FOR UPDATE")
    if not rows:
        raise StoreError("the store is not initialised: run 'canal init'")
    return SequenceHead(*rows[0])


def save_head(conn: Connection, head: SequenceHead) -> None:
    driver_rows(
        conn,
        _SAVE_HEAD,
        (
            head.last_date_added,
            head.last_log_seq,
            head.last_log_hash,
            head.merged_subject_seq,
            head.unmerged_subjects,
            head.subject_merge_until,
        ),
    )


def read_head(conn: Connection) -> SequenceHead:
    rows = driver_rows(conn, _HEAD)
    if not rows:
        raise StoreError("the store is not initialised: run 'canal init'")
    return SequenceHead(*rows[0])
