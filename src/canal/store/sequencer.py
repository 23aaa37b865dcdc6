"""The head of the write sequence: date_added allocation and the processing log's chain head.

Every write transaction locks the one sequencer row first (SELECT ... FOR UPDATE on PostgreSQL;
BEGIN IMMEDIATE already serialises writers on SQLite). Holding it to commit means date_added and
log sequence numbers are handed out in commit order: a reader paging by date_added can never
miss a record that commits later with a smaller date_added.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, select, update

from canal.store.errors import StoreError
from canal.store.tables import sequencer


@dataclass(slots=True)
class SequenceHead:
    last_date_added: int
    last_log_seq: int
    last_log_hash: str
    #: Subjects of log entries up to this sequence number are in the subject index.
    merged_subject_seq: int = 0
    #: Subject rows written since.
    unmerged_subjects: int = 0

    def next_date_added(self, now_micros: int) -> int:
        """A date_added later than every earlier one, and no earlier than now."""
        self.last_date_added = max(self.last_date_added + 1, now_micros)
        return self.last_date_added


# Built once: lock_head and save_head run in every write transaction.
_HEAD = select(
    sequencer.c.last_date_added,
    sequencer.c.last_log_seq,
    sequencer.c.last_log_hash,
    sequencer.c.merged_subject_seq,
    sequencer.c.unmerged_subjects,
).where(sequencer.c.id == 1)
_HEAD_FOR_UPDATE = _HEAD.with_for_update()
_SAVE_HEAD = (
    update(sequencer)
    .where(sequencer.c.id == 1)
    .values(
        last_date_added=bindparam("date_added"),
        last_log_seq=bindparam("log_seq"),
        last_log_hash=bindparam("log_hash"),
        merged_subject_seq=bindparam("merged_subject_seq"),
        unmerged_subjects=bindparam("unmerged_subjects"),
    )
)


def lock_head(conn: Connection) -> SequenceHead:
    row = conn.execute(_HEAD if conn.dialect.name == "sqlite" else _HEAD_FOR_UPDATE).first()
    if row is None:
        raise StoreError("the store is not initialised: run 'canal init'")
    return SequenceHead(row[0], row[1], row[2], row[3], row[4])


def save_head(conn: Connection, head: SequenceHead) -> None:
    conn.execute(
        _SAVE_HEAD,
        {
            "date_added": head.last_date_added,
            "log_seq": head.last_log_seq,
            "log_hash": head.last_log_hash,
            "merged_subject_seq": head.merged_subject_seq,
            "unmerged_subjects": head.unmerged_subjects,
        },
    )


def read_head(conn: Connection) -> SequenceHead:
    row = conn.execute(_HEAD).first()
    if row is None:
        raise StoreError("the store is not initialised: run 'canal init'")
    return SequenceHead(row[0], row[1], row[2], row[3], row[4])
