"""policy: no index on records.handling_id, as store.tables describes

Revision ID: 0009
Revises: 0002

The policy filters every read on handling_id (the profiles the reader may see). With an index on
it, PostgreSQL gathers the records of those profiles, most of the table, and sorts them, instead
of reading in date_added order and stopping at the page size: a member's page of 100 took 450 to
530 ms on 1M records, 25 ms without it. The initial schema created it; tables.py had dropped it.
"""

from alembic import op

revision = "0009"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_records_handling_id", table_name="records")


def downgrade() -> None:
    op.create_index("ix_records_handling_id", "records", ["handling_id"], unique=False)
