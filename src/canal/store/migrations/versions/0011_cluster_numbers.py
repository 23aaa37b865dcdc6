"""correlation: clusters numbered by their anchor record, members keyed by record number

Revision ID: 0011
Revises: 0008

A cluster was keyed by its anchor's STIX id, written again in each of its members' rows, and the
members' table had a row id, a primary-key index and a cluster index: a rebuild writing millions
of memberships wrote mostly copies of STIX ids. A cluster is now numbered by its anchor's record
number (its lowest), and the members' table is keyed by record number (SQLite's row id). The
clusters held are carried over: each numbered by its lowest member.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0008"
branch_labels = None
depends_on = None

_ANCHORS = (
    "(SELECT cluster_id, min(record_pk) AS no FROM cluster_members GROUP BY cluster_id) anchors"
)


def _number_type() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # PostgreSQL's constraint names are its indexes' names, unique in the schema: the new
    # tables' are renamed once the old tables are gone. SQLite's are the tables' own.
    postgres = op.get_bind().dialect.name == "postgresql"
    suffix = "_numbered" if postgres else ""
    op.create_table(
        "clusters_numbered",
        sa.Column("no", _number_type(), autoincrement=False, nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("no", name=f"pk_clusters{suffix}"),
    )
    op.create_table(
        "cluster_members_numbered",
        sa.Column("record_pk", _number_type(), autoincrement=False, nullable=False),
        sa.Column("cluster_no", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_pk"],
            ["records.pk"],
            name=f"fk_cluster_members{suffix}_record_pk_records",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("record_pk", name=f"pk_cluster_members{suffix}"),
    )
    op.execute(
        "INSERT INTO clusters_numbered (no, size, updated_at) "
        f"SELECT anchors.no, c.size, c.updated_at FROM clusters c JOIN {_ANCHORS} "
        "ON anchors.cluster_id = c.id"
    )
    op.execute(
        "INSERT INTO cluster_members_numbered (record_pk, cluster_no) "
        f"SELECT cm.record_pk, anchors.no FROM cluster_members cm JOIN {_ANCHORS} "
        "ON anchors.cluster_id = cm.cluster_id ORDER BY cm.record_pk"
    )
    op.drop_table("cluster_members")
    op.drop_table("clusters")
    op.rename_table("clusters_numbered", "clusters")
    op.rename_table("cluster_members_numbered", "cluster_members")
    if postgres:
        op.execute("ALTER TABLE clusters RENAME CONSTRAINT pk_clusters_numbered TO pk_clusters")
        op.execute(
            "ALTER TABLE cluster_members "
            "RENAME CONSTRAINT pk_cluster_members_numbered TO pk_cluster_members"
        )
        op.execute(
            "ALTER TABLE cluster_members RENAME CONSTRAINT "
            "fk_cluster_members_numbered_record_pk_records TO fk_cluster_members_record_pk_records"
        )
    op.create_index("ix_clusters_size", "clusters", ["size"], unique=False)
    op.create_index(
        "ix_cluster_members_cluster_no",
        "cluster_members",
        ["cluster_no", "record_pk"],
        unique=False,
    )


def downgrade() -> None:
    # Clusters are derived data: `canal correlate` writes them again.
    op.drop_table("cluster_members")
    op.drop_table("clusters")
    op.create_table(
        "clusters",
        sa.Column("id", sa.String(length=300), nullable=False),
        sa.Column("first_added", sa.BigInteger(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_clusters"),
    )
    op.create_index("ix_clusters_size", "clusters", ["size"], unique=False)
    op.create_table(
        "cluster_members",
        sa.Column("record_pk", sa.BigInteger(), nullable=False),
        sa.Column("cluster_id", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_pk"],
            ["records.pk"],
            name="fk_cluster_members_record_pk_records",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("record_pk", name="pk_cluster_members"),
    )
    op.create_index(
        "ix_cluster_members_cluster_id",
        "cluster_members",
        ["cluster_id", "record_pk"],
        unique=False,
    )
