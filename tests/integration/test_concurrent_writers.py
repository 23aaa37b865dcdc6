"""Several processes writing to one SQLite file (`serve --workers`, a CLI import beside the
server) queue on the writers' file lock: every write lands, none fails on a busy database, and
the processing log stays one unbroken chain."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from canal.store.tables import records
from conftest import make_services
from factories import add_org

WRITES = 40

# One writer process: small ingests one after the other, from a common start time.
WRITER = """
import sys, time, uuid
from canal.accounts.service import LOCAL_ADMIN
from canal.app import build_services
from canal.config import load_settings

url, org_name, first, start_at, writes = sys.argv[1:]
services = build_services(load_settings(environ={}, database_url=url))
org = services.accounts.org(org_name)
while time.time() < float(start_at):
    time.sleep(0.001)
for i in range(int(first), int(first) + int(writes)):
    stamp = "2026-03-01T10:00:00.000Z"
    obj = {
        "type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.uuid4()}",
        "created": stamp, "modified": stamp, "valid_from": stamp, "pattern_type": "stix",
        "pattern": f"[ipv4-addr:value = '203.0.{i // 256}.{i % 256}']",
    }
    report = services.ingest.ingest_objects([obj], principal=LOCAL_ADMIN, source=org)
    assert report.accepted == 1, report.to_json()
services.close()
"""


def test_two_processes_write_the_same_file(sqlite_url: str) -> None:
    services = make_services(sqlite_url)
    org = add_org(services)
    start_at = str(time.time() + 2.0)
    writers = [
        subprocess.Popen(  # noqa: S603 - this interpreter, on the script above
            [sys.executable, "-c", WRITER, sqlite_url, org.name, str(first), start_at, str(WRITES)]
        )
        for first in (0, WRITES)
    ]
    assert [writer.wait(timeout=180) for writer in writers] == [0, 0]
    with services.database.read() as conn:
        stored = conn.execute(select(func.count()).select_from(records)).scalar_one()
    assert stored == 2 * WRITES
    assert services.audit.verify().ok
    database_file = Path(sqlite_url.removeprefix("sqlite:///"))
    assert database_file.with_name(database_file.name + "-writer.lock").exists()
    services.close()


def test_a_server_checkpoints_the_wal_from_its_own_thread(tmp_path: Path) -> None:
    """With checkpoint_in_background, commits leave the WAL alone (no checkpoint inside a
    commit, under the write lock) and a thread copies it back into the database file."""
    from canal.store.database import Database  # noqa: PLC0415

    path = tmp_path / "server.db"
    database = Database(f"sqlite:///{path}")
    try:
        database.checkpoint_in_background(every=0.05)
        with database.write() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
            conn.exec_driver_sql("CREATE TABLE t (x TEXT)")
            conn.exec_driver_sql("INSERT INTO t VALUES ('written')")
        # Until a checkpoint, the table lives only in the WAL: the database file has no page
        # of it. The thread copies it back within a few ticks.
        deadline = time.monotonic() + 10
        while path.stat().st_size < 2 * 4096 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert path.stat().st_size >= 2 * 4096
    finally:
        database.dispose()
    # A process that does not ask for it keeps SQLite's own checkpoints, at the bulk size.
    plain = Database(f"sqlite:///{tmp_path / 'cli.db'}")
    try:
        with plain.write() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 16384
    finally:
        plain.dispose()


def test_the_servers_wal_stays_bounded_under_a_steady_write_load(tmp_path: Path) -> None:
    """Writers that never pause (bulk POSTs one after the other) append while each passive
    checkpoint copies the log back; the log restarts only after a checkpoint that copied all of
    it. Past its limit, the checkpoint thread finishes with writers held back, so the log
    restarts and the file is cut back instead of growing with everything ever written."""
    from canal.store.database import Database  # noqa: PLC0415

    path = tmp_path / "server.db"
    limit = 64  # pages: 256 KB
    database = Database(f"sqlite:///{path}", wal_limit_pages=limit)
    wal = path.with_name(path.name + "-wal")
    largest = 0
    try:
        database.checkpoint_in_background(every=0.01)
        with database.write() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x TEXT)")
        payload = "x" * 3000
        deadline = time.monotonic() + 60
        written = 0
        while written < 8_000_000 and time.monotonic() < deadline:
            with database.write() as conn:
                conn.exec_driver_sql(
                    "INSERT INTO t VALUES (?)", [(f"{written}{payload}",) for _ in range(20)]
                )
            written += 20 * 3000
            largest = max(largest, wal.stat().st_size)
            time.sleep(0.001)  # a server parses the next request between two writes
        assert written >= 8_000_000
    finally:
        database.dispose()
    # Several times the limit at most (a write lands between two ticks), never the 8 MB
    # written.
    assert largest < 8 * limit * 4096, largest


def test_a_write_that_must_not_wait_fails_at_once_while_another_writes(tmp_path: Path) -> None:
    """Database.write(wait=False), as a server's event loop writes a single lookup's log entry:
    WriteBusy at once, and nothing written, while another thread of the process or another
    process writes; the write itself once they are done."""
    import fcntl  # noqa: PLC0415
    import threading  # noqa: PLC0415

    import pytest  # noqa: PLC0415

    from canal.store.database import Database  # noqa: PLC0415
    from canal.store.errors import WriteBusy  # noqa: PLC0415

    path = tmp_path / "busy.db"
    database = Database(f"sqlite:///{path}")
    try:
        with database.write() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x TEXT)")

        def insert(value: str) -> None:
            with database.write(wait=False) as conn:
                conn.exec_driver_sql("INSERT INTO t VALUES (?)", (value,))

        held, release = threading.Event(), threading.Event()

        def hold() -> None:
            with database.write():
                held.set()
                release.wait(10)

        holder = threading.Thread(target=hold)
        holder.start()
        assert held.wait(10)
        started = time.monotonic()
        with pytest.raises(WriteBusy, match="another thread"):
            insert("while a thread writes")
        assert time.monotonic() - started < 1
        release.set()
        holder.join()
        # Another process's writer holds the file lock (a descriptor of its own).
        with Path(f"{path}-writer.lock").open("a+b") as other:
            fcntl.flock(other, fcntl.LOCK_EX)
            with pytest.raises(WriteBusy, match="another process"):
                insert("while a process writes")
            fcntl.flock(other, fcntl.LOCK_UN)
        insert("once they are done")
        with database.read() as conn:
            rows = [row[0] for row in conn.exec_driver_sql("SELECT x FROM t")]
        assert rows == ["once they are done"]
    finally:
        database.dispose()
