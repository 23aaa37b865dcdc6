"""audit: one worker at a time merges the processing log's subjects

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sequencer", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("subject_merge_until", sa.BigInteger(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("sequencer", schema=None) as batch_op:
        batch_op.drop_column("subject_merge_until")
