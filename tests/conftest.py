"""Shared fixtures: a migrated store on SQLite always, and on PostgreSQL when
CANAL_TEST_POSTGRES_URL names a server (scripts/test sets it to the local one)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from canal.app import Services, build_services
from canal.clock import Clock
from canal.config import load_settings
from canal.store.database import Database
from canal.store.migrate import upgrade
from canal.store.tables import metadata

POSTGRES_URL = os.environ.get("CANAL_TEST_POSTGRES_URL", "")
POSTGRES_HINT = (
    "PostgreSQL tests need a server: install PostgreSQL and set CANAL_TEST_POSTGRES_URL, e.g. "
    "postgresql+psycopg://postgres@127.0.0.1:5432/test (scripts/test does this)"
)


def _postgres_admin_url() -> str:
    url = POSTGRES_URL
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (faster than migrating each time)."""
    path = tmp_path_factory.mktemp("template") / "canal.db"
    database = Database(f"sqlite:///{path}")
    upgrade(database)
    database.dispose()
    return path


@contextmanager
def new_postgres_database(prefix: str) -> Iterator[str]:
    """The URL of a new, empty database on the test server, dropped afterwards."""
    if not POSTGRES_URL:
        pytest.skip(POSTGRES_HINT)
    admin_url = _postgres_admin_url()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any failure means: no server to test on
        admin.dispose()
        pytest.fail(f"cannot create a test database at {POSTGRES_URL}: {exc}")
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A database of its own for this test session (and xdist worker), migrated once."""
    with new_postgres_database("canal_test") as url:
        database = Database(url)
        upgrade(database)
        database.dispose()
        yield url


def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    database = Database(url)
    upgrade(database)  # re-seeds the sequencer row
    database.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty, migrated store; each test gets its own."""
    if request.param == "sqlite":
        path = tmp_path / "canal.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_database")
    _reset_postgres(url)
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def scratch_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a store of its own, not migrated: a test may take it through revisions."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'canal.db'}"
        return
    with new_postgres_database("canal_scratch") as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """SQLite only, for tests about behaviour that does not depend on the back end."""
    path = tmp_path / "canal.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


def make_services(url: str, clock: Clock | None = None) -> Services:
    return build_services(load_settings(environ={}, database_url=url), clock=clock)


@pytest.fixture
def services(database_url: str) -> Iterator[Services]:
    svc = make_services(database_url)
    yield svc
    svc.close()


@pytest.fixture
def sqlite_services(sqlite_url: str) -> Iterator[Services]:
    svc = make_services(sqlite_url)
    yield svc
    svc.close()


@pytest.fixture
def smtp() -> Iterator[Any]:
    """A real SMTP server on loopback that keeps what it receives (assist_support)."""
    from assist_support import smtp_server  # noqa: PLC0415 - aiosmtpd only where asked for

    with smtp_server() as server:
        yield server


@pytest.fixture
def hook() -> Iterator[Any]:
    """A webhook receiver on loopback that records every call (assist_support)."""
    from assist_support import http_receiver  # noqa: PLC0415 - only where asked for

    with http_receiver() as receiver:
        yield receiver
