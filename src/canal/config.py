"""Settings. Only this module reads the environment.

Precedence: defaults < ``CANAL_*`` environment variables < explicit overrides (CLI flags).
Every setting is declared once in ``SETTINGS`` with its default and help text; the README's
configuration table is checked against it by a test.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import StrEnum
from pathlib import Path
from typing import Any

from canal.errors import InvalidInput


class Environment(StrEnum):
    PRODUCTION = "production"
    DEVELOPMENT = "development"


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    default: str
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "database_url",
        "sqlite:///canal.db",
        "SQLAlchemy URL of the store: a SQLite file (default, in the working directory) or "
        "PostgreSQL as postgresql+psycopg://user@host/db.",
    ),
    Setting(
        "secret_key",
        "",
        "Key that signs paging cursors and sessions. Required in production; in development a "
        "fixed key is used with a warning.",
    ),
    Setting("environment", "development", "production or development."),
    Setting(
        "retention_years",
        "5",
        "Default retention period of a record, in years after recording (DOMAIN.md R6).",
    ),
    Setting(
        "max_submission_bytes",
        str(256 * 1024 * 1024),
        "Largest submission accepted in one request or file, in bytes.",
    ),
    Setting(
        "ingest_chunk",
        "2000",
        "Objects written per transaction during bulk ingest.",
    ),
    Setting("host", "127.0.0.1", "Address `canal serve` listens on."),
    Setting("port", "8000", "Port `canal serve` listens on."),
)

_DEVELOPMENT_KEY = "canal-development-key-not-for-production"


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    secret_key: str
    environment: Environment
    retention_years: int
    max_submission_bytes: int
    ingest_chunk: int
    host: str
    port: int

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"setting CANAL_{name.upper()}", f"{raw!r} is not an integer") from None
    if value <= 0:
        raise InvalidInput(f"setting CANAL_{name.upper()}", "must be positive")
    return value


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build the settings from defaults, then the environment, then `overrides`."""
    env = os.environ if environ is None else environ
    raw: dict[str, str] = {s.name: env.get(f"CANAL_{s.name.upper()}", s.default) for s in SETTINGS}
    for key, value in overrides.items():
        if value is not None:
            raw[key] = str(value)
    try:
        environment = Environment(raw["environment"])
    except ValueError:
        raise InvalidInput(
            "setting CANAL_ENVIRONMENT", "must be 'production' or 'development'"
        ) from None
    secret = raw["secret_key"]
    if not secret:
        if environment is Environment.PRODUCTION:
            raise InvalidInput("setting CANAL_SECRET_KEY", "is required in production")
        secret = _DEVELOPMENT_KEY
    url = raw["database_url"]
    if url.startswith("postgresql://"):
        # The psycopg 3 driver is the one installed; plain postgresql:// would ask for psycopg2.
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return Settings(
        database_url=url,
        secret_key=secret,
        environment=environment,
        retention_years=_int("retention_years", raw["retention_years"]),
        max_submission_bytes=_int("max_submission_bytes", raw["max_submission_bytes"]),
        ingest_chunk=_int("ingest_chunk", raw["ingest_chunk"]),
        host=raw["host"],
        port=_int("port", raw["port"]),
    )


def setting_names() -> set[str]:
    return {f.name for f in fields(Settings)}


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or None for memory databases and other back ends."""
    if not url.startswith("sqlite") or ":memory:" in url:
        return None
    return Path(url.split(":///", 1)[1])
