"""Create or migrate the schema with Alembic, on a connection canal owns."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, insert, select

from canal.model.audit import GENESIS_HASH
from canal.store.database import Database
from canal.store.tables import sequencer

MIGRATIONS = Path(__file__).parent / "migrations"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


@lru_cache(maxsize=1)
def head_revision() -> str | None:
    """The newest revision(s); several independent branches read as "a+b"."""
    heads = ScriptDirectory.from_config(_config()).get_heads()
    return "+".join(sorted(heads)) or None


def current_revision(conn: Connection) -> str | None:
    heads = MigrationContext.configure(conn).get_current_heads()
    return "+".join(sorted(heads)) or None


def upgrade(database: Database) -> str | None:
    """Bring the schema to the newest revision(s); returns the revision reached. Migrations of
    independent features may branch from the same parent; every branch is applied."""
    config = _config()
    with database.write() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "heads")
        _seed_sequencer(conn)
        return current_revision(conn)


def _seed_sequencer(conn: Connection) -> None:
    if conn.execute(select(sequencer.c.id)).first() is None:
        conn.execute(
            insert(sequencer).values(
                id=1, last_date_added=0, last_log_seq=0, last_log_hash=GENESIS_HASH
            )
        )
