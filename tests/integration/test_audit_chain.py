"""The processing log is hash-chained: editing, deleting or reordering any entry is detected,
and the report names the first bad entry."""

from __future__ import annotations

import time

import orjson
import pytest
from sqlalchemy import delete, select, update

from canal.accounts.service import LOCAL_ADMIN
from canal.store.tables import audit_log, audit_subject_index, audit_subjects, sequencer
from factories import add_org, indicator


@pytest.fixture
def logged(services):
    """A store with a handful of log entries: an org, then five ingests."""
    org = add_org(services)
    for i in range(5):
        services.ingest.ingest_objects(
            [indicator(f"198.51.100.{i}")], principal=LOCAL_ADMIN, source=org
        )
    report = services.audit.verify()
    assert report.ok
    assert report.entries == 6
    return services


def _execute(services, statement):
    with services.database.write() as conn:
        conn.execute(statement)


def test_every_write_is_logged_with_its_records(logged):
    with logged.database.read() as conn:
        actions = [row.action for row in conn.execute(select(audit_log).order_by(audit_log.c.seq))]
        subjects = conn.execute(select(audit_subjects)).all()
    assert actions == ["admin:org:create"] + ["data:record:create"] * 5
    assert len(subjects) == 5


def test_edited_entry_is_named(logged):
    with logged.database.read() as conn:
        summary = conn.execute(select(audit_log.c.summary).where(audit_log.c.seq == 3)).scalar()
    tampered = orjson.loads(summary)
    tampered["count"] = 99
    _execute(
        logged,
        update(audit_log)
        .where(audit_log.c.seq == 3)
        .values(summary=orjson.dumps(tampered).decode()),
    )
    report = logged.audit.verify()
    assert not report.ok
    assert report.bad_seq == 3
    assert "edited" in report.problem
    assert "entry 3" in str(report)


def test_edited_entry_with_recomputed_hash_breaks_the_next_link(logged):
    _execute(logged, update(audit_log).where(audit_log.c.seq == 2).values(hash="f" * 64))
    report = logged.audit.verify()
    assert not report.ok
    assert report.bad_seq == 2


def test_deleted_entry_is_named(logged):
    _execute(logged, delete(audit_subjects).where(audit_subjects.c.log_seq == 4))
    _execute(logged, delete(audit_log).where(audit_log.c.seq == 4))
    report = logged.audit.verify()
    assert not report.ok
    assert report.bad_seq == 5
    assert "removed or reordered" in report.problem


def test_deleted_last_entry_is_detected(logged):
    _execute(logged, delete(audit_subjects).where(audit_subjects.c.log_seq == 6))
    _execute(logged, delete(audit_log).where(audit_log.c.seq == 6))
    report = logged.audit.verify()
    assert not report.ok
    assert report.bad_seq == 6


def test_reordered_entries_are_named(logged):
    """Swap the contents of entries 2 and 3, as if they had been written the other way round."""
    columns = [c for c in audit_log.c if c.name != "seq"]
    with logged.database.write() as conn:
        two, three = (
            conn.execute(select(*columns).where(audit_log.c.seq == seq)).one()._asdict()
            for seq in (2, 3)
        )
        conn.execute(update(audit_log).where(audit_log.c.seq == 2).values(**three))
        conn.execute(update(audit_log).where(audit_log.c.seq == 3).values(**two))
    report = logged.audit.verify()
    assert not report.ok
    assert report.bad_seq == 2


def test_record_index_tampering_is_detected(logged):
    _execute(logged, delete(audit_subjects).where(audit_subjects.c.log_seq == 5))
    report = logged.audit.verify()
    assert not report.ok
    assert report.bad_seq == 5


def test_a_records_history_is_whole_across_merged_and_unmerged_subjects(services, monkeypatch):
    """Subjects reach the by-record index in sorted batches; a record's history reads the same
    whether its entries were merged or are still in the unmerged tail."""
    from canal.store import audit as audit_store  # noqa: PLC0415

    monkeypatch.setattr(audit_store, "SUBJECT_MERGE_AT", 3)
    org = add_org(services)
    tracked = indicator("198.51.100.7")
    versions = [
        {**tracked, "modified": f"2026-03-0{day}T00:00:00.000Z", "name": f"C2 v{day}"}
        for day in range(2, 10)
    ]
    services.ingest.ingest_objects([tracked], principal=LOCAL_ADMIN, source=org)
    for i, version in enumerate(versions[:-1]):
        # Other records in between: some merges happen between the tracked record's entries.
        services.ingest.ingest_objects(
            [indicator(f"203.0.113.{i}"), version], principal=LOCAL_ADMIN, source=org
        )
    # The last version stays in the unmerged tail.
    services.ingest.ingest_objects([versions[-1]], principal=LOCAL_ADMIN, source=org)
    with services.database.read() as conn:
        merged = conn.execute(select(audit_subject_index)).all()
        tail = conn.execute(select(sequencer.c.unmerged_subjects)).scalar_one()
    # Both places hold some.
    assert merged
    assert 0 < tail < 3
    history = services.audit.entries_for_record(LOCAL_ADMIN, tracked["id"])
    assert [e.action for e in history] == ["data:record:create"] + ["data:record:version"] * 8
    assert [e.seq for e in history] == sorted(e.seq for e in history)
    assert services.audit.verify().ok


def test_a_server_merges_subjects_off_the_request_path(services, monkeypatch):
    """Where the server merges from a background task, writers leave the subjects unmerged up
    to the cap; the task merges them once enough have come in, and not before."""
    from canal.store import audit as audit_store  # noqa: PLC0415

    monkeypatch.setattr(audit_store, "SUBJECT_MERGE_AT", 4)
    monkeypatch.setattr(audit_store, "SUBJECT_MERGE_CAP", 100)
    services.database.merges_in_background = True
    org = add_org(services)

    def unmerged() -> int:
        with services.database.read() as conn:
            return conn.execute(select(sequencer.c.unmerged_subjects)).scalar_one()

    services.ingest.ingest_objects(
        [indicator(f"203.0.113.{i}") for i in range(3)], principal=LOCAL_ADMIN, source=org
    )
    assert not services.audit.merge_subjects_when_due()
    services.ingest.ingest_objects(
        [indicator(f"198.51.100.{i}") for i in range(3)], principal=LOCAL_ADMIN, source=org
    )
    assert unmerged() == 6  # past SUBJECT_MERGE_AT, below the cap: the writer left them
    assert services.audit.merge_subjects_when_due()
    assert unmerged() == 0
    with services.database.read() as conn:
        assert len(conn.execute(select(audit_subject_index)).all()) == 6
    assert services.audit.verify().ok


def test_one_worker_at_a_time_merges_the_subjects(services, monkeypatch):
    """A worker's background merge claims the work in the sequencer row; another worker's
    task, finding the claim, leaves the subjects to it, and merges only once it is released
    (or has expired)."""
    from canal.store import audit as audit_store  # noqa: PLC0415
    from canal.store.sequencer import lock_head, save_head  # noqa: PLC0415

    monkeypatch.setattr(audit_store, "SUBJECT_MERGE_AT", 2)
    monkeypatch.setattr(audit_store, "SUBJECT_MERGE_CAP", 100)
    services.database.merges_in_background = True
    org = add_org(services)
    services.ingest.ingest_objects(
        [indicator(f"203.0.113.{i}") for i in range(3)], principal=LOCAL_ADMIN, source=org
    )
    now = time.time_ns() // 1000
    with services.database.write() as conn:  # another worker's merge under way
        head = lock_head(conn)
        head.subject_merge_until = now + 60_000_000
        save_head(conn, head)
    assert not audit_store.merge_subjects_when_due(services.database, now=now)
    # A write unit in between keeps the claim (every write saves the whole head).
    services.ingest.ingest_objects([indicator("203.0.113.9")], principal=LOCAL_ADMIN, source=org)
    with services.database.read() as conn:
        claimed, unmerged = conn.execute(
            select(sequencer.c.subject_merge_until, sequencer.c.unmerged_subjects)
        ).one()
    assert (claimed, unmerged) == (now + 60_000_000, 4)
    assert audit_store.merge_subjects_when_due(services.database, now=now + 60_000_001)
    with services.database.read() as conn:
        claimed, unmerged = conn.execute(
            select(sequencer.c.subject_merge_until, sequencer.c.unmerged_subjects)
        ).one()
    assert (claimed, unmerged) == (0, 0)  # released with the work done
    assert services.audit.verify().ok


def test_a_background_merge_goes_a_slice_at_a_time_and_one_cut_short_is_taken_up(
    services, monkeypatch
):
    """The background merge inserts its batch in slices, each a transaction of its own, and
    moves the head last: cut short after some slices, a record's history still reads each
    entry once, and the next merge (the background one or a writer's) skips what is there."""
    from canal.store import audit as audit_store  # noqa: PLC0415

    monkeypatch.setattr(audit_store, "SUBJECT_MERGE_AT", 4)
    monkeypatch.setattr(audit_store, "SUBJECT_MERGE_CAP", 100)
    monkeypatch.setattr(audit_store, "SUBJECT_MERGE_SLICE", 2)
    services.database.merges_in_background = True
    org = add_org(services)
    first = [indicator(f"203.0.113.{i}") for i in range(6)]
    services.ingest.ingest_objects(first, principal=LOCAL_ADMIN, source=org)

    def index_rows() -> int:
        with services.database.read() as conn:
            return len(conn.execute(select(audit_subject_index)).all())

    def unmerged() -> int:
        with services.database.read() as conn:
            return conn.execute(select(sequencer.c.unmerged_subjects)).scalar_one()

    # Cut short after two of the three slices (the first write claims the merge).
    real_write, writes = services.database.write, []

    def failing_write(**kwargs):
        writes.append(kwargs)
        if len(writes) == 4:
            raise RuntimeError("the process went away")
        return real_write(**kwargs)

    monkeypatch.setattr(services.database, "write", failing_write)
    with pytest.raises(RuntimeError):
        services.audit.merge_subjects_when_due()
    monkeypatch.setattr(services.database, "write", real_write)
    assert index_rows() == 4
    assert unmerged() == 6  # the head did not move
    for obj in first:
        history = services.audit.entries_for_record(LOCAL_ADMIN, obj["id"])
        assert [e.action for e in history] == ["data:record:create"], obj["id"]

    # A writer past the cap merges everything in its own transaction, over the rows placed.
    monkeypatch.setattr(audit_store, "SUBJECT_MERGE_CAP", 7)
    second = [indicator(f"198.51.100.{i}") for i in range(2)]
    services.ingest.ingest_objects(second, principal=LOCAL_ADMIN, source=org)
    assert unmerged() == 0
    assert index_rows() == 8

    # And the background merge, cut short again, is taken up by itself.
    monkeypatch.setattr(audit_store, "SUBJECT_MERGE_CAP", 100)
    third = [indicator(f"192.0.2.{i}") for i in range(5)]
    services.ingest.ingest_objects(third, principal=LOCAL_ADMIN, source=org)
    lease = audit_store.SUBJECT_MERGE_LEASE * 1_000_000
    assert not services.audit.merge_subjects_when_due()  # the first one's claim still holds
    later = time.time_ns() // 1000 + lease + 1  # it has expired
    writes.clear()
    monkeypatch.setattr(services.database, "write", failing_write)
    with pytest.raises(RuntimeError):
        audit_store.merge_subjects_when_due(services.database, now=later)
    monkeypatch.setattr(services.database, "write", real_write)
    # Its claim holds until it expires: no other worker takes the work up before.
    assert not audit_store.merge_subjects_when_due(services.database, now=later)
    assert audit_store.merge_subjects_when_due(services.database, now=later + lease + 1)
    assert unmerged() == 0
    assert index_rows() == 13
    for obj in first + second + third:
        history = services.audit.entries_for_record(LOCAL_ADMIN, obj["id"])
        assert [e.action for e in history] == ["data:record:create"], obj["id"]
    assert services.audit.verify().ok
