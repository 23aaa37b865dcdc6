"""Persistence of the processing log: append in the caller's transaction, read back in order."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, select, union_all

from canal.model.audit import AuditEvent, LogEntry, entry_hash, summary_json
from canal.store.database import Database
from canal.store.sequencer import SequenceHead, lock_head, read_head, save_head
from canal.store.sql import bulk_insert, driver_cursor, insert_skipping_duplicates
from canal.store.tables import audit_log, audit_subject_index, audit_subjects, sequencer

#: Subject rows written before they are merged into the subject index in one sorted batch: the
#: larger, the fewer pages each subject costs the index, and the longer the unmerged tail that
#: a record's history reads by sequence number.
SUBJECT_MERGE_AT = 50_000
#: Where a server merges from a background task (merge_subjects_when_due), writers merge
#: only past this many, should that task fall behind.
SUBJECT_MERGE_CAP = 4 * SUBJECT_MERGE_AT
#: Subjects the background merge inserts per transaction. A whole batch in one transaction held
#: the write lock for most of a second, and every lookup behind it waited that long; with slices
#: of 500, lookups during a merge of 50,000 kept a p99 of 3 to 10 ms (bench/bench_audit_merge.py).
SUBJECT_MERGE_SLICE = 500
#: Seconds a background merge holds its claim: far more than a merge takes (about 3 s for
#: 50,000 subjects), so that only a process that died leaves it to expire.
SUBJECT_MERGE_LEASE = 120


def append(
    conn: Connection,
    head: SequenceHead,
    events: Sequence[AuditEvent],
    *,
    at: int,
    merge_at: int | None = None,
) -> list[LogEntry]:
    """Chain `events` after `head` and insert them. The caller holds the head's lock and saves
    the head in the same transaction. Past `merge_at` unmerged subjects (SUBJECT_MERGE_AT by
    default), they are merged into the subject index here."""
    entries: list[LogEntry] = []
    subject_rows: list[dict[str, object]] = []
    for event in events:
        seq = head.last_log_seq + 1
        summary = summary_json(event)
        digest = entry_hash(
            prev_hash=head.last_log_hash,
            seq=seq,
            at=at,
            actor=event.actor,
            org_id=event.org_id,
            action=event.action.value,
            purpose=event.purpose,
            summary=summary,
        )
        entries.append(
            LogEntry(
                seq=seq,
                at=at,
                actor=event.actor,
                org_id=event.org_id,
                action=event.action.value,
                purpose=event.purpose,
                summary=summary,
                prev_hash=head.last_log_hash,
                hash=digest,
            )
        )
        subject_rows.extend({"log_seq": seq, "stix_id": s} for s in dict.fromkeys(event.subjects))
        head.last_log_seq = seq
        head.last_log_hash = digest
    if entries:
        bulk_insert(
            conn,
            audit_log,
            [
                {
                    "seq": e.seq,
                    "at": e.at,
                    "actor": e.actor,
                    "org_id": e.org_id,
                    "action": e.action,
                    "purpose": e.purpose,
                    "summary": e.summary,
                    "prev_hash": e.prev_hash,
                    "hash": e.hash,
                }
                for e in entries
            ],
        )
    if subject_rows:
        # Bulk ingest writes one row per record here.
        bulk_insert(conn, audit_subjects, subject_rows)
        head.unmerged_subjects += len(subject_rows)
        if head.unmerged_subjects >= (SUBJECT_MERGE_AT if merge_at is None else merge_at):
            merge_subjects(conn, head)
    return entries


def merge_subjects(conn: Connection, head: SequenceHead) -> None:
    """Move the subjects written since the last merge into the subject index, sorted: each
    index page then takes many of them at once. The caller holds the head and saves it. Rows a
    background merge already placed (merge_subjects_when_due, cut short) are left as they are."""
    conn.execute(
        insert_skipping_duplicates(conn, audit_subject_index).from_select(
            ["stix_id", "log_seq"],
            select(audit_subjects.c.stix_id, audit_subjects.c.log_seq)
            .where(audit_subjects.c.log_seq > head.merged_subject_seq)
            .order_by(audit_subjects.c.stix_id, audit_subjects.c.log_seq),
        )
    )
    head.merged_subject_seq = head.last_log_seq
    head.unmerged_subjects = 0


_UNMERGED = (
    "SELECT stix_id, log_seq FROM audit_subjects WHERE log_seq > {mark} AND log_seq <= {mark}"
    " ORDER BY stix_id, log_seq"
)
# Rows a merge cut short already placed are skipped (SQLite and PostgreSQL alike).
_INSERT_MERGED = (
    "INSERT INTO audit_subject_index (stix_id, log_seq) VALUES ({mark}, {mark})"
    " ON CONFLICT DO NOTHING"
)


def merge_subjects_when_due(
    database: Database, *, pause: float = 0.002, now: int | None = None
) -> bool:
    """Merge the unmerged subjects once there are SUBJECT_MERGE_AT of them; for a server's
    background task, so that requests do not wait for the merge. Whether it merged.

    One process at a time: the merge first claims the work in the sequencer row for
    SUBJECT_MERGE_LEASE seconds, and every other worker's task, finding the claim, leaves it
    (two workers merging the same batch side by side held the write lock between them for
    three seconds, and lookups waited up to 300 ms). A claim left by a process that died
    expires. The batch is read sorted, outside any write, then inserted SUBJECT_MERGE_SLICE
    rows per transaction with a `pause` between them: each slice is a run of consecutive keys,
    so it touches only the index pages of its own key range (the batch costs the index the
    pages one transaction would), and no writer waits behind more than one slice. The head
    moves last. Until then a row may be both in the index and in the unmerged tail, which a
    record's history reads once (it selects entries whose sequence number is IN either); rows
    a merge cut short left in the index are skipped by the next one."""
    at = time.time_ns() // 1000 if now is None else now

    def due(head: SequenceHead) -> bool:
        return head.unmerged_subjects >= SUBJECT_MERGE_AT and head.subject_merge_until <= at

    # Asked first in a read, so that the task's every tick does not take the write lock.
    with database.read() as conn:
        if not due(read_head(conn)):
            return False
    with database.write() as conn:
        head = lock_head(conn)
        if not due(head):  # claimed or merged meanwhile
            return False
        head.subject_merge_until = at + SUBJECT_MERGE_LEASE * 1_000_000
        save_head(conn, head)
    merged, upto = head.merged_subject_seq, head.last_log_seq
    # Kept as two flat lists, read a page at a time: tens of thousands of row objects alive
    # through the merge were promoted into the collector's oldest generation and set off full
    # passes over the server's heap (up to 71 ms each, every request of the worker waiting).
    # Strings and integers are not tracked by the collector; each page's rows die young.
    ids: list[str] = []
    seqs: list[int] = []
    with database.read() as conn, driver_cursor(conn) as (cursor, mark):
        cursor.execute(_UNMERGED.format(mark=mark), (merged, upto))
        while page := cursor.fetchmany(2000):
            ids.extend([row[0] for row in page])
            seqs.extend([row[1] for row in page])
    for start in range(0, len(ids), SUBJECT_MERGE_SLICE):
        if start:
            time.sleep(pause)  # the lock's waiters go first: neither lock is fair
        end = start + SUBJECT_MERGE_SLICE
        with database.write() as conn, driver_cursor(conn) as (cursor, mark):
            cursor.executemany(
                _INSERT_MERGED.format(mark=mark), zip(ids[start:end], seqs[start:end], strict=True)
            )
    with database.write() as conn:
        head = lock_head(conn)
        head.subject_merge_until = 0
        if head.merged_subject_seq < upto:  # else a writer merged meanwhile, past the cap
            # Subjects written since the batch was read stay in the tail.
            head.unmerged_subjects -= sum(1 for seq in seqs if seq > head.merged_subject_seq)
            head.merged_subject_seq = upto
        save_head(conn, head)
    return True


def _entry(row: Any) -> LogEntry:
    return LogEntry(
        seq=row.seq,
        at=row.at,
        actor=row.actor,
        org_id=row.org_id,
        action=row.action,
        purpose=row.purpose,
        summary=row.summary,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def iter_entry_pages(conn: Connection, *, batch: int = 5000) -> Iterator[list[LogEntry]]:
    """Every entry in sequence order, in keyset pages so memory stays flat."""
    after = -1
    while True:
        rows = conn.execute(
            select(audit_log).where(audit_log.c.seq > after).order_by(audit_log.c.seq).limit(batch)
        ).all()
        if not rows:
            return
        yield [_entry(row) for row in rows]
        after = rows[-1].seq


def last_entries(conn: Connection, limit: int, *, org_id: int | None = None) -> list[LogEntry]:
    query = select(audit_log).order_by(audit_log.c.seq.desc()).limit(limit)
    if org_id is not None:
        query = query.where(audit_log.c.org_id == org_id)
    rows = conn.execute(query).all()
    return [_entry(row) for row in reversed(rows)]


def subjects_of(conn: Connection, seqs: Iterable[int]) -> dict[int, set[str]]:
    wanted = list(seqs)
    out: dict[int, set[str]] = {seq: set() for seq in wanted}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        for seq, stix_id in conn.execute(
            select(audit_subjects.c.log_seq, audit_subjects.c.stix_id).where(
                audit_subjects.c.log_seq.in_(chunk)
            )
        ):
            out[seq].add(stix_id)
    return out


def entries_for_record(conn: Connection, stix_id: str) -> list[LogEntry]:
    merged = select(sequencer.c.merged_subject_seq).where(sequencer.c.id == 1).scalar_subquery()
    seqs = union_all(
        select(audit_subject_index.c.log_seq).where(audit_subject_index.c.stix_id == stix_id),
        # The unmerged tail, found by sequence number.
        select(audit_subjects.c.log_seq).where(
            audit_subjects.c.log_seq > merged, audit_subjects.c.stix_id == stix_id
        ),
    )
    rows = conn.execute(
        select(audit_log).where(audit_log.c.seq.in_(seqs)).order_by(audit_log.c.seq)
    ).all()
    return [_entry(row) for row in rows]
