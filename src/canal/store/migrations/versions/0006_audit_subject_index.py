"""audit: subjects indexed by record in sorted batches

Revision ID: 0006
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_subject_index",
        sa.Column("stix_id", sa.String(length=300), nullable=False),
        sa.Column("log_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("stix_id", "log_seq", name=op.f("pk_audit_subject_index")),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("sequencer", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("merged_subject_seq", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("unmerged_subjects", sa.BigInteger(), server_default="0", nullable=False)
        )
    # Everything logged so far goes into the index at once.
    op.execute(
        "INSERT INTO audit_subject_index (stix_id, log_seq) "
        "SELECT stix_id, log_seq FROM audit_subjects ORDER BY stix_id, log_seq"
    )
    op.execute("UPDATE sequencer SET merged_subject_seq = last_log_seq, unmerged_subjects = 0")
    with op.batch_alter_table("audit_subjects", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_subjects_stix_id")


def downgrade() -> None:
    with op.batch_alter_table("audit_subjects", schema=None) as batch_op:
        batch_op.create_index("ix_audit_subjects_stix_id", ["stix_id", "log_seq"], unique=False)
    with op.batch_alter_table("sequencer", schema=None) as batch_op:
        batch_op.drop_column("unmerged_subjects")
        batch_op.drop_column("merged_subject_seq")
    op.drop_table("audit_subject_index")
