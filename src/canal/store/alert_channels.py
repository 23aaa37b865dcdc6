"""Persistence of each org's link-alert channels (e-mail, signed webhook)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from canal.store.tables import alert_channels


@dataclass(frozen=True, slots=True)
class AlertChannels:
    org_id: int
    email: str | None
    webhook_url: str | None
    webhook_secret: str | None
    updated_at: int
    updated_by: str


def channels_of(conn: Connection, org_id: int) -> AlertChannels | None:
    row = conn.execute(select(alert_channels).where(alert_channels.c.org_id == org_id)).first()
    return None if row is None else AlertChannels(*row)


def channels_of_orgs(conn: Connection, org_ids: set[int]) -> dict[int, AlertChannels]:
    rows = conn.execute(select(alert_channels).where(alert_channels.c.org_id.in_(sorted(org_ids))))
    return {int(row[0]): AlertChannels(*row) for row in rows}


def put_channels(conn: Connection, channels: AlertChannels) -> None:
    """Create or replace the org's channels (an upsert: two writers never both insert)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    values = {
        "email": channels.email,
        "webhook_url": channels.webhook_url,
        "webhook_secret": channels.webhook_secret,
        "updated_at": channels.updated_at,
        "updated_by": channels.updated_by,
    }
    statement = dialect.insert(alert_channels).values(org_id=channels.org_id, **values)
    conn.execute(statement.on_conflict_do_update(index_elements=["org_id"], set_=values))


def delete_channels(conn: Connection, org_id: int) -> bool:
    return bool(
        conn.execute(delete(alert_channels).where(alert_channels.c.org_id == org_id)).rowcount
    )
