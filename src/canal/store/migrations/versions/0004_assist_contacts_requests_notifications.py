"""assist: 24/7 contacts, requests, notifications

Revision ID: 0004
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "assist_contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("slot", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("webhook_url", sa.Text(), nullable=True),
        sa.Column("webhook_secret", sa.Text(), nullable=True),
        sa.Column("hours", sa.String(length=200), nullable=False),
        sa.Column("languages", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_by", sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assist_contacts")),
        sa.UniqueConstraint("country", "slot", name=op.f("uq_assist_contacts_country_slot")),
    )
    op.create_table(
        "assist_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("request_id", sa.String(length=36), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger(), nullable=False),
        sa.Column("claimed_until", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("sent_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assist_outbox")),
    )
    with op.batch_alter_table("assist_outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_assist_outbox_state_next_attempt_at", ["state", "next_attempt_at"], unique=False
        )
    op.create_table(
        "assist_incident_closures",
        sa.Column("stix_id", sa.String(length=300), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("closed_by", sa.String(length=300), nullable=False),
        sa.Column("closed_at", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_assist_incident_closures_org_id_orgs")
        ),
        sa.PrimaryKeyConstraint("stix_id", name=op.f("pk_assist_incident_closures")),
    )
    op.create_table(
        "assist_notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=True),
        sa.Column("request_id", sa.String(length=36), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("read_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_assist_notifications_org_id_orgs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assist_notifications")),
    )
    with op.batch_alter_table("assist_notifications", schema=None) as batch_op:
        batch_op.create_index("ix_assist_notifications_org_id", ["org_id", "id"], unique=False)
    op.create_table(
        "assist_requests",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("requesting_org_id", sa.Integer(), nullable=False),
        sa.Column("requesting_country", sa.String(length=2), nullable=False),
        sa.Column("requested_country", sa.String(length=2), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("urgency", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("tlp", sa.String(length=16), nullable=False),
        sa.Column("share_with_secretariat", sa.Boolean(), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("submitted_at", sa.BigInteger(), nullable=True),
        sa.Column("acknowledged_at", sa.BigInteger(), nullable=True),
        sa.Column("answered_at", sa.BigInteger(), nullable=True),
        sa.Column("closed_at", sa.BigInteger(), nullable=True),
        sa.Column("ack_due", sa.BigInteger(), nullable=True),
        sa.Column("response_due", sa.BigInteger(), nullable=True),
        sa.Column("respond_by", sa.BigInteger(), nullable=True),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.Column("next_escalation_at", sa.BigInteger(), nullable=True),
        sa.Column("response_overdue", sa.Boolean(), nullable=False),
        sa.Column("preserved_until", sa.BigInteger(), nullable=True),
        sa.Column("reminders_sent", sa.Integer(), nullable=False),
        sa.Column("next_reminder_at", sa.BigInteger(), nullable=True),
        sa.Column("mla_reference", sa.Text(), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("refusal_ground", sa.String(length=48), nullable=True),
        sa.ForeignKeyConstraint(
            ["requesting_org_id"],
            ["orgs.id"],
            name=op.f("fk_assist_requests_requesting_org_id_orgs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assist_requests")),
    )
    with op.batch_alter_table("assist_requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_assist_requests_next_escalation_at", ["next_escalation_at"], unique=False
        )
        batch_op.create_index(
            "ix_assist_requests_next_reminder_at", ["next_reminder_at"], unique=False
        )
        batch_op.create_index(
            "ix_assist_requests_preserved_until", ["preserved_until"], unique=False
        )
        batch_op.create_index(
            "ix_assist_requests_requested_country_state",
            ["requested_country", "state"],
            unique=False,
        )
        batch_op.create_index(
            "ix_assist_requests_requesting_country_state",
            ["requesting_country", "state"],
            unique=False,
        )
        batch_op.create_index("ix_assist_requests_response_due", ["response_due"], unique=False)
    op.create_table(
        "assist_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(length=300), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=True),
        sa.Column("side", sa.String(length=12), nullable=False),
        sa.Column("from_state", sa.String(length=24), nullable=True),
        sa.Column("to_state", sa.String(length=24), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["assist_requests.id"],
            name=op.f("fk_assist_events_request_id_assist_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assist_events")),
    )
    with op.batch_alter_table("assist_events", schema=None) as batch_op:
        batch_op.create_index("ix_assist_events_request_id", ["request_id", "id"], unique=False)
    op.create_table(
        "assist_links",
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("stix_id", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["assist_requests.id"],
            name=op.f("fk_assist_links_request_id_assist_requests"),
        ),
        sa.PrimaryKeyConstraint("request_id", "stix_id", name=op.f("pk_assist_links")),
    )
    with op.batch_alter_table("assist_links", schema=None) as batch_op:
        batch_op.create_index("ix_assist_links_stix_id", ["stix_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("assist_links", schema=None) as batch_op:
        batch_op.drop_index("ix_assist_links_stix_id")
    op.drop_table("assist_links")
    with op.batch_alter_table("assist_events", schema=None) as batch_op:
        batch_op.drop_index("ix_assist_events_request_id")
    op.drop_table("assist_events")
    with op.batch_alter_table("assist_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_assist_requests_response_due")
        batch_op.drop_index("ix_assist_requests_requesting_country_state")
        batch_op.drop_index("ix_assist_requests_requested_country_state")
        batch_op.drop_index("ix_assist_requests_preserved_until")
        batch_op.drop_index("ix_assist_requests_next_reminder_at")
        batch_op.drop_index("ix_assist_requests_next_escalation_at")
    op.drop_table("assist_requests")
    with op.batch_alter_table("assist_notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_assist_notifications_org_id")
    op.drop_table("assist_notifications")
    op.drop_table("assist_incident_closures")
    with op.batch_alter_table("assist_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_assist_outbox_state_next_attempt_at")
    op.drop_table("assist_outbox")
    op.drop_table("assist_contacts")
