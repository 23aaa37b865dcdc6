"""link alerts by e-mail and webhook: each org's alert channels, and the outbox's recipient org

Revision ID: 0010
Revises: 0004

Link alerts were written to the app only. An org may now give an e-mail address and a signed
webhook for them; they are sent through the assistance outbox (created by 0004), whose rows
gain the recipient org, whose channel signs the webhook.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_channels",
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("webhook_url", sa.Text(), nullable=True),
        sa.Column("webhook_secret", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_by", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_alert_channels_org_id_orgs")
        ),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_alert_channels")),
    )
    with op.batch_alter_table("assist_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("org_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("assist_outbox", schema=None) as batch_op:
        batch_op.drop_column("org_id")
    op.drop_table("alert_channels")
