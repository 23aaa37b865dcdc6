"""The schema the migrations build is the one `store.tables` describes: the code reads tables.py
to know which indexes exist (and says why some do not), and every store is made by the
migrations (`canal init`, the tests' own stores)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from canal.store.database import Database
from canal.store.tables import metadata


def test_the_migrated_schema_is_the_one_the_tables_describe(database_url: str) -> None:
    database = Database(database_url)
    try:
        with database.read() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            differences = compare_metadata(context, metadata)
    finally:
        database.dispose()
    assert differences == []
