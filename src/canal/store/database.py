"""The connection to the store and its transactions."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import StaticPool

from canal.store.errors import StoreUnavailable

try:
    import fcntl
except ImportError:  # Windows: SQLite's busy handler alone serialises writers there
    fcntl = None  # type: ignore[assignment]

#: SQLite page cache sizes, in KiB (negative: a size rather than a page count).
WRITE_CACHE = -262144
READ_CACHE = -8192


def _redacted(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _sqlite_lock_path(url: str) -> str | None:
    """The writers' lock file beside a SQLite database file; None for a memory database or
    where the platform has no flock."""
    database = make_url(url).database
    if fcntl is None or not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database + "-writer.lock"


class Database:
    """Owns the engine. `write()` and `read()` open transactions; callers pass the connection
    to the store functions so that an operation and its processing-log entry commit together."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._writers: AbstractContextManager[object] = (
            threading.RLock() if self.is_sqlite else nullcontext()
        )
        self._lock_path = _sqlite_lock_path(url) if self.is_sqlite else None
        # Only read and written under the RLock: one thread at a time.
        self._lock_held = False
        try:
            if self.is_sqlite:
                self.engine = self._sqlite_engine(url, echo=echo)
            else:
                self.engine = create_engine(
                    url,
                    echo=echo,
                    pool_pre_ping=True,
                    pool_size=10,
                    max_overflow=20,
                    # JIT compiles plans for tens of milliseconds to save microseconds: a loss
                    # for canal's short, index-driven queries.
                    connect_args={"options": "-c jit=off"},
                )
        except Exception as exc:  # a bad URL or a missing driver
            raise StoreUnavailable(_redacted(url), str(exc)) from exc

    @staticmethod
    def _sqlite_engine(url: str, *, echo: bool) -> Engine:
        memory = ":memory:" in url or url in {"sqlite://", "sqlite:///"}
        engine = create_engine(
            url,
            echo=echo,
            # A memory database lives as long as its one connection.
            **({"poolclass": StaticPool} if memory else {}),
            connect_args={"check_same_thread": False, "timeout": 60},
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Take over transaction control from the sqlite3 module, so BEGIN is ours.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=60000")
            if not memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
                # Checkpoint every 64 MB of WAL rather than every 4 MB: bulk ingest commits
                # large transactions, and a checkpoint inside each commit doubled its cost.
                cursor.execute("PRAGMA wal_autocheckpoint=16384")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            # Writers take the write lock up front: no lock upgrade, no SQLITE_BUSY mid-way.
            options = conn.get_execution_options()
            immediate = options.get("canal_write", False)
            # Bulk writers get a large page cache: the id indexes take random keys, and a small
            # cache turns every insert into page reads once the store outgrows it. Everything
            # else (readers streaming in key order, the small writes of the processing log)
            # gets a small one, so memory stays flat however long an export runs.
            bulk = options.get("canal_bulk", False)
            conn.exec_driver_sql(f"PRAGMA cache_size={WRITE_CACHE if bulk else READ_CACHE}")
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine

    @contextmanager
    def write(self, *, bulk: bool = False) -> Iterator[Connection]:
        """A write transaction; commits on success, rolls back on any exception. `bulk` asks for
        the large page cache of bulk ingest."""
        # SQLite has one writer at a time. Threads of this process queue on a lock rather than
        # in SQLite's busy handler, whose sleeps (up to 100 ms each) make the slowest
        # requests wait far longer than the work in front of them.
        with (
            self._writers,
            self._process_lock(),
            self._transaction(canal_write=True, canal_bulk=bulk) as conn,
        ):
            yield conn

    @contextmanager
    def _process_lock(self) -> Iterator[None]:
        """Writers of other processes on the same SQLite file (`serve --workers`, a CLI import
        beside the server) queue on a file lock: the kernel wakes the next one as soon as the
        lock is free, where SQLite's busy handler polls with sleeps of up to 100 ms."""
        # The thread already holds it when a write opens inside another (the RLock above lets
        # it): a second flock on a new descriptor would wait for the first forever.
        if self._lock_path is None or self._lock_held:
            yield
            return
        with Path(self._lock_path).open("a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            self._lock_held = True
            try:
                yield
            finally:
                self._lock_held = False
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self._transaction() as conn:
            yield conn

    @contextmanager
    def _transaction(self, **options: bool) -> Iterator[Connection]:
        """A connection in a transaction, with the execution options the begin hook reads."""
        try:
            conn = self.engine.connect().execution_options(**options)
        except OperationalError as exc:
            raise StoreUnavailable(_redacted(self.url), str(exc.orig)) from exc
        try:
            with conn.begin():
                yield conn
        finally:
            conn.close()

    def analyze(self) -> None:
        """Refresh the planner's statistics after a bulk load (PostgreSQL plans the policy's
        filtered searches from them; stale ones after a large import pick a sort over the whole
        table). SQLite plans these queries well without statistics."""
        if self.is_sqlite:
            return
        with self.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")

    def dispose(self) -> None:
        self.engine.dispose()

    def check(self) -> None:
        """Raise StoreUnavailable unless the database answers and is migrated."""
        from canal.store.migrate import current_revision, head_revision  # noqa: PLC0415

        try:
            with self.read() as conn:
                revision = current_revision(conn)
        except DBAPIError as exc:
            raise StoreUnavailable(_redacted(self.url), str(exc.orig)) from exc
        if revision != head_revision():
            raise StoreUnavailable(
                _redacted(self.url),
                f"the schema is at {revision or 'nothing'}, canal needs {head_revision()}",
            )
