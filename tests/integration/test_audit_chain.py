"""The processing log is hash-chained: editing, deleting or reordering any entry is detected,
and the report names the first bad entry."""

from __future__ import annotations

import orjson
import pytest
from sqlalchemy import delete, select, update

from canal.accounts.service import LOCAL_ADMIN
from canal.store.tables import audit_log, audit_subjects
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
