"""correlation: the rebuild reads current records, references and cluster members from indexes

Revision ID: 0008
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0005"
branch_labels = None
depends_on = None

_CURRENT = "is_latest AND NOT revoked"


def upgrade() -> None:
    # The current records without reading the table (the objects make it some 2 kB a row);
    # the flags as columns so that SQLite reads the index alone.
    op.create_index(
        "ix_records_current",
        "records",
        ["date_added", "is_latest", "revoked"],
        unique=False,
        sqlite_where=sa.text(_CURRENT),
        postgresql_where=sa.text(_CURRENT),
    )
    # Members by cluster, and references by target, without a lookup into the table for each
    # (references in the order of their targets: the ids' index is then searched in order).
    op.drop_index("ix_cluster_members_cluster_id", table_name="cluster_members")
    op.create_index(
        "ix_cluster_members_cluster_id",
        "cluster_members",
        ["cluster_id", "record_pk"],
        unique=False,
    )
    op.drop_index("ix_record_refs_target_id", table_name="record_refs")
    op.create_index(
        "ix_record_refs_target_id", "record_refs", ["target_id", "record_pk"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_record_refs_target_id", table_name="record_refs")
    op.create_index("ix_record_refs_target_id", "record_refs", ["target_id"], unique=False)
    op.drop_index("ix_cluster_members_cluster_id", table_name="cluster_members")
    op.create_index(
        "ix_cluster_members_cluster_id", "cluster_members", ["cluster_id"], unique=False
    )
    op.drop_index("ix_records_current", table_name="records")
