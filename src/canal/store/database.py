"""The connection to the store and its transactions."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import StaticPool

from canal.store.errors import StoreUnavailable, WriteBusy

try:
    import fcntl
except ImportError:  # Windows: SQLite's busy handler alone serialises writers there
    fcntl = None  # type: ignore[assignment]

#: Seconds between attempts to copy a compacted store's WAL back into its file.
_COPY_BACK_PAUSE = 1.0
#: SQLite page cache sizes, in KiB (negative: a size rather than a page count).
WRITE_CACHE = -262144
#: Pages of WAL (64 MB at 4 KB) after which a checkpoint must complete so that the next writer
#: starts the log again from its beginning.
WAL_LIMIT_PAGES = 16384
READ_CACHE = -8192


_log = logging.getLogger("canal.store")


def _redacted(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _sqlite_lock_path(url: str) -> str | None:
    """The writers' lock file beside a SQLite database file; None for a memory database or
    where the platform has no flock."""
    database = make_url(url).database
    if fcntl is None or not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database + "-writer.lock"


def _file_bytes(raw: Any) -> int:
    """The size of a SQLite store's main file, from its page count."""
    pages = raw.execute("PRAGMA page_count").fetchone()[0]
    return int(pages * raw.execute("PRAGMA page_size").fetchone()[0])


def _is_memory(url: str) -> bool:
    return ":memory:" in url or url in {"sqlite://", "sqlite:///"}


class Database:
    """Owns the engine. `write()` and `read()` open transactions; callers pass the connection
    to the store functions so that an operation and its processing-log entry commit together."""

    def __init__(
        self, url: str, *, echo: bool = False, wal_limit_pages: int = WAL_LIMIT_PAGES
    ) -> None:
        self.url = url
        self.wal_limit_pages = wal_limit_pages
        self.is_sqlite = url.startswith("sqlite")
        #: Whether two threads may read at once, each on a connection of its own (not so for
        #: an SQLite memory database, which lives on one connection).
        self.concurrent_reads = not (self.is_sqlite and _is_memory(url))
        # Writers of this process queue here (SQLite only: PostgreSQL locks rows itself).
        self._writers = threading.RLock() if self.is_sqlite else None
        self._lock_path = _sqlite_lock_path(url) if self.is_sqlite else None
        # Only read and written under the RLock: one thread at a time.
        self._lock_held = False
        self._lock_file: BinaryIO | None = None
        self._lock_pid = 0
        # Checkpoint every 64 MB of WAL rather than every 4 MB: bulk ingest commits large
        # transactions, and a checkpoint inside each commit doubled its cost. A server sets 0
        # and checkpoints from a thread of its own (checkpoint_in_background).
        self._autocheckpoint = wal_limit_pages
        self._checkpointer_stop = threading.Event()
        self._checkpointer: threading.Thread | None = None
        #: Set by a server that merges the processing log's subjects from a task of its own
        #: (store.audit.merge_subjects_when_due): its writers then leave that work to it.
        self.merges_in_background = False
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

    def _sqlite_engine(self, url: str, *, echo: bool) -> Engine:
        memory = _is_memory(url)
        engine = create_engine(
            url,
            echo=echo,
            # A memory database lives as long as its one connection.
            # Otherwise a pool as large as the server's thread pool: connections beyond the pool
            # are opened and closed per request, each with its PRAGMAs and a cold page cache.
            # Last in, first out: the connection just used is the one whose page cache is still
            # valid (SQLite drops a connection's cache when another one wrote since its last
            # transaction); first in, first out handed each request the least recently used.
            **(
                {"poolclass": StaticPool}
                if memory
                else {"pool_size": 40, "max_overflow": 40, "pool_use_lifo": True}
            ),
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
                # A log that grew during a burst is cut back to the limit when it restarts.
                cursor.execute(f"PRAGMA journal_size_limit={self.wal_limit_pages * 4096}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            # Writers take the write lock up front: no lock upgrade, no SQLITE_BUSY mid-way.
            options = conn.get_execution_options()
            immediate = options.get("canal_write", False)
            # Bulk writers get a large page cache: the id indexes take random keys, and a small
            # cache turns every insert into page reads once the store outgrows it; so do bulk
            # readers (a rebuild searching the ids' index for 9M references: 15% faster).
            # Everything else (readers streaming in key order, the small writes of the
            # processing log) gets a small one, so memory stays flat however long an export
            # runs.
            cache = WRITE_CACHE if options.get("canal_bulk", False) else READ_CACHE
            raw = conn.connection.dbapi_connection
            assert raw is not None  # noqa: S101 - a connection in use has its DB-API connection
            info = conn.connection.info
            if info.get("canal_cache") != cache:  # once per connection and size
                raw.execute(f"PRAGMA cache_size={cache}")
                info["canal_cache"] = cache
            # Outside a transaction, where the pragma takes effect; back on for the next one.
            checked = not options.get("canal_unchecked", False)
            if info.get("canal_foreign_keys", True) != checked:
                raw.execute(f"PRAGMA foreign_keys={'ON' if checked else 'OFF'}")
                info["canal_foreign_keys"] = checked
            if not memory and info.get("canal_autocheckpoint") != self._autocheckpoint:
                raw.execute(f"PRAGMA wal_autocheckpoint={self._autocheckpoint}")
                info["canal_autocheckpoint"] = self._autocheckpoint
            raw.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine

    @contextmanager
    def write(
        self, *, bulk: bool = False, wait: bool = True, check_references: bool = True
    ) -> Iterator[Connection]:
        """A write transaction; commits on success, rolls back on any exception. `bulk` asks for
        the large page cache of bulk ingest. `wait=False` (SQLite only): raise WriteBusy at once
        where another writer is at work, instead of queueing behind it (a server's event loop
        writes a single lookup's log entry itself only when that costs no wait).
        `check_references=False` (SQLite): no foreign-key search per row written, for a writer
        that knows every row it writes names a row that exists (a rebuild writing millions of
        cluster members, each a search into the records table)."""
        if not wait and not self.is_sqlite:
            raise WriteBusy("only a SQLite store takes a write that must not wait")
        # SQLite has one writer at a time. Threads of this process queue on a lock rather than
        # in SQLite's busy handler, whose sleeps (up to 100 ms each) make the slowest
        # requests wait far longer than the work in front of them.
        with (
            self._thread_lock(wait),
            self._process_lock(wait),
            self._transaction(
                canal_write=True, canal_bulk=bulk, canal_unchecked=not check_references
            ) as conn,
        ):
            yield conn

    @contextmanager
    def _thread_lock(self, wait: bool = True) -> Iterator[None]:
        lock = self._writers
        if lock is None:
            yield
            return
        if not lock.acquire(blocking=wait):
            raise WriteBusy("another thread of this process is writing")
        try:
            yield
        finally:
            lock.release()

    @contextmanager
    def _process_lock(self, wait: bool = True) -> Iterator[None]:
        """Writers of other processes on the same SQLite file (`serve --workers`, a CLI import
        beside the server) queue on a file lock: the kernel wakes the next one as soon as the
        lock is free, where SQLite's busy handler polls with sleeps of up to 100 ms."""
        # The thread already holds it when a write opens inside another (the RLock above lets
        # it): a second flock on a new descriptor would wait for the first forever.
        if self._lock_path is None or self._lock_held:
            yield
            return
        # One descriptor per process, opened at the first write (a forked child opens its own:
        # flock locks belong to the open file, which a fork would share with the parent).
        if self._lock_file is None or self._lock_pid != os.getpid():
            self._lock_file = Path(self._lock_path).open("a+b")  # noqa: SIM115 - kept open
            self._lock_pid = os.getpid()
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WriteBusy("another process is writing") from None
        self._lock_held = True
        try:
            yield
        finally:
            self._lock_held = False
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)

    @contextmanager
    def read(self, *, within: Connection | None = None, bulk: bool = False) -> Iterator[Connection]:
        """A read transaction; `within`: one the caller already holds, to read in instead (the
        API's lookup authenticates and searches in one). `bulk`: the large page cache, for a
        reader that searches an index millions of times (a rebuild's references)."""
        if within is not None:
            yield within
            return
        with self._transaction(canal_bulk=bulk) as conn:
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

    def compact(self) -> int:
        """Rewrite the store's file table by table and index by index, each in the order of its
        keys (SQLite's VACUUM); returns the file's bytes saved. An index filled in the random
        order of its keys (STIX ids, values) lies scattered over the file: walked in order with
        its pages out of the OS's cache, each page is a read from disk (about 0.2 ms on this
        kind of machine), compacted, one read ahead in sequence (docs/correlation.md: a rebuild
        reading from the disk, 6.8 s as loaded and 2.6 s compacted at 1M records). Writers
        wait; readers carry on. Needs free disk of the store's size, twice in WAL mode, where
        SQLite writes the new pages through the log first. PostgreSQL: VACUUM (ANALYZE)."""
        if not self.is_sqlite:
            with self.engine.connect() as conn:
                autocommit = conn.execution_options(isolation_level="AUTOCOMMIT")
                autocommit.exec_driver_sql("VACUUM (ANALYZE)")
            return 0
        if _is_memory(self.url):
            return 0
        with self._thread_lock(), self._process_lock(), self.engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            assert raw is not None  # noqa: S101 - a connection just opened has its DB-API one
            before = _file_bytes(raw)
            # Outside a transaction: the connection's own (the begin hook never runs).
            raw.execute("VACUUM")
            # VACUUM wrote the whole store into the WAL: until it is copied back, every read
            # searches the WAL's index and reads from the log (a rebuild at 7.7M records took
            # 41 s instead of 34). Another checkpointer (a server's) or a reader of an older
            # snapshot holds the copy back: it is asked again until done.
            while raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]:
                time.sleep(_COPY_BACK_PAUSE)
            return before - _file_bytes(raw)

    def checkpoint_in_background(self, every: float = 0.5) -> None:
        """Copy the WAL back into the database from a thread of its own, every `every` seconds,
        instead of inside the commit that crosses the WAL's size limit: that commit holds the
        write lock while it copies tens of megabytes, and every writer behind it waits (tens of
        milliseconds per checkpoint in the tail latency of small writes such as lookups).
        Passive checkpoints wait for no reader and no writer. For long-running processes (the
        server); a no-op for PostgreSQL and memory databases."""
        if not self.is_sqlite or self._lock_path is None or self._autocheckpoint == 0:
            return
        self._autocheckpoint = 0
        self._checkpointer = threading.Thread(
            target=self._checkpoint_forever, args=(every,), name="canal-checkpoint", daemon=True
        )
        self._checkpointer.start()

    def _checkpoint_forever(self, every: float) -> None:
        while not self._checkpointer_stop.wait(every):
            # The driver's own connection, outside any transaction (SQLAlchemy's would begin one).
            raw = self.engine.raw_connection()
            try:
                self._checkpoint(raw.driver_connection)
            except sqlite3.Error:  # the next tick tries again; the thread must not die
                _log.exception("WAL checkpoint failed")
            finally:
                raw.close()

    def _checkpoint(self, driver: Any) -> None:
        _busy, log, _copied = driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if log < self.wal_limit_pages:
            return
        # The log starts again from its beginning only at a write that begins after a
        # checkpoint has copied all of it; under a steady load (bulk POSTs) writers append
        # while the pages are copied, that never happens, and the log grew without end (600 MB
        # after 100k objects, every page read searching it). Past the limit, what came in
        # since the pass above is copied with writers held back, and the next one restarts it.
        with self._thread_lock(), self._process_lock():
            driver.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def dispose(self) -> None:
        self._checkpointer_stop.set()
        if self._checkpointer is not None:
            # It may hold the writers' lock: the lock file closes only once it is done.
            self._checkpointer.join()
            self._checkpointer = None
        self.engine.dispose()
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

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
