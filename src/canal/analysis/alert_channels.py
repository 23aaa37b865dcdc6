"""Link alerts by e-mail and webhook, where the recipient org has set them (besides the app).

An org's NCB administrator (a partner or the secretariat for its own org; the local
administrator for any) gives an e-mail address and a webhook with its signing key. Each write
that makes new links queues, per recipient org with channels, one e-mail and one webhook in the
assistance outbox (canal.assist.notify sends it, retries it and lists it): a bulk import that
links ten thousand records sends one message, not ten thousand. A message names the new links'
count and the recipient's own records, never the other records or the values: those are read
in canal, under the policy (GET /api/v1/alerts).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from canal.assist.notify import checked_channels
from canal.clock import Clock
from canal.config import Settings
from canal.errors import Forbidden, InvalidInput, NotFound
from canal.model.assist import Channel, NotificationKind
from canal.model.audit import AuditEvent, EventTag
from canal.model.org import Org, OrgKind, Principal, Role
from canal.model.stix import format_micros
from canal.store import assist as outbox
from canal.store.alert_channels import (
    AlertChannels,
    channels_of,
    channels_of_orgs,
    delete_channels,
    put_channels,
)
from canal.store.database import Database
from canal.store.orgs import org_by_name
from canal.store.unit import WriteUnit, write_unit

#: The recipient's records a message names at most (the rest are counted).
NAMED_RECORDS = 50

#: Who sets an org's channels, besides the local administrator: its own administrator.
_MANAGER_OF_KIND = {
    OrgKind.MEMBER: Role.NCB_ADMIN,
    OrgKind.PARTNER: Role.PARTNER,
    OrgKind.SECRETARIAT: Role.ANALYST,
}


class AlertChannelService:
    def __init__(self, *, database: Database, clock: Clock, settings: Settings) -> None:
        self.database = database
        self.clock = clock
        self.settings = settings

    def _org(self, principal: Principal, org_name: str | None) -> Org:
        """The org whose channels are meant: the caller's own, or (the local administrator
        only) the one named."""
        if org_name is None:
            if principal.role is Role.ADMIN:
                raise InvalidInput("org", "the local administrator names the org (--org)")
            return principal.org
        if principal.role is not Role.ADMIN and org_name != principal.org.name:
            raise Forbidden(f"{principal.label} may set the alert channels of its own org only")
        with self.database.read() as conn:
            org = org_by_name(conn, org_name)
        if org is None:
            raise NotFound("org", org_name)
        return org

    def channels(self, principal: Principal, org_name: str | None = None) -> AlertChannels | None:
        if principal.role is Role.AUDITOR:
            raise Forbidden(f"{principal.label} reads the processing log, not alert settings")
        org = self._org(principal, org_name)
        with self.database.read() as conn:
            return channels_of(conn, org.id)

    def set_channels(
        self, principal: Principal, body: dict[str, Any], org_name: str | None = None
    ) -> AlertChannels:
        org = self._org(principal, org_name)
        self._require_manager(principal, org)
        unknown = set(body) - {"email", "webhook_url", "webhook_secret"}
        if unknown:
            raise InvalidInput(min(unknown), "is not an alert channel (email, webhook_url)")

        with self.database.read() as conn:
            existing = channels_of(conn, org.id)
        email, webhook, secret = checked_channels(
            body, existing.webhook_secret if existing is not None and existing.webhook_url else None
        )
        if not email and not webhook:
            raise InvalidInput("email", "give an e-mail address, a webhook or both (or clear them)")
        with write_unit(self.database, self.clock) as unit:
            saved = AlertChannels(org.id, email, webhook, secret, unit.now, principal.label)
            put_channels(unit.conn, saved)
            unit.log(
                AuditEvent(
                    action=EventTag.ALERT_CHANNELS_SET,
                    actor=principal.label,
                    org_id=principal.org.id or None,
                    summary={
                        "org": org.name,
                        "channels": [n for n, v in (("email", email), ("webhook", webhook)) if v],
                    },
                )
            )
        return saved

    def clear_channels(self, principal: Principal, org_name: str | None = None) -> None:
        org = self._org(principal, org_name)
        self._require_manager(principal, org)
        with write_unit(self.database, self.clock) as unit:
            if not delete_channels(unit.conn, org.id):
                raise NotFound("alert channels of", org.name)
            unit.log(
                AuditEvent(
                    action=EventTag.ALERT_CHANNELS_CLEAR,
                    actor=principal.label,
                    org_id=principal.org.id or None,
                    summary={"org": org.name},
                )
            )

    @staticmethod
    def _require_manager(principal: Principal, org: Org) -> None:
        if principal.role is Role.ADMIN:
            return
        if principal.org.id != org.id or principal.role is not _MANAGER_OF_KIND.get(org.kind):
            raise Forbidden(
                f"{principal.label} may not change the alert channels of {org.name}: "
                f"only its {_MANAGER_OF_KIND.get(org.kind, Role.ADMIN).value} may"
            )


def present_channels(channels: AlertChannels | None) -> dict[str, Any]:
    """The channels as shown to their org: the webhook's signing key never."""
    if channels is None:
        return {"email": None, "webhook_url": None, "webhook_signed": False}
    return {
        "email": channels.email,
        "webhook_url": channels.webhook_url,
        "webhook_signed": bool(channels.webhook_secret),
        "updated_at": format_micros(channels.updated_at),
        "updated_by": channels.updated_by,
    }


def queue_link_alerts(
    unit: WriteUnit,
    settings: Settings,
    notices: Sequence[dict[str, object]],
    recipients: dict[int, Org],
) -> None:
    """Queue one e-mail and one webhook per recipient org with channels, for the link notices
    this write adds (in its transaction: sent iff the links exist). `recipients`: the orgs the
    notices go to, by id."""
    by_org: dict[int, list[str]] = {}
    for notice in notices:
        by_org.setdefault(int(str(notice["org_id"])), []).append(str(notice["record_id"]))
    if not by_org:
        return
    conn = unit.conn
    channels = channels_of_orgs(conn, set(by_org))
    for org_id, record_ids in by_org.items():
        found = channels.get(org_id)
        if found is None:
            continue
        org = recipients[org_id]
        records = sorted(set(record_ids))
        subject = (
            f"New data links to your record {records[0]}"
            if len(records) == 1
            else f"New data links to {len(records)} of your records"
        )
        payload = {
            "event": NotificationKind.LINK_ALERT.value,
            "message": subject,
            "at": format_micros(unit.now),
            "alerts": {
                "org": org.name,
                "new_links": len(record_ids),
                "records": records[:NAMED_RECORDS],
                "more_records": max(0, len(records) - NAMED_RECORDS),
                "url": f"{settings.public_url}/api/v1/alerts",
            },
        }
        targets = []
        if found.email and settings.smtp_host:
            targets.append((Channel.EMAIL, found.email))
        if found.webhook_url:
            targets.append((Channel.WEBHOOK, found.webhook_url))
        for channel, target in targets:
            outbox.enqueue(
                conn,
                {
                    "channel": channel.value,
                    "target": target,
                    "country": org.country,
                    "contact_id": None,
                    "org_id": org_id,
                    "request_id": None,
                    "kind": NotificationKind.LINK_ALERT.value,
                    "subject": subject,
                    "payload": payload,
                    "created_at": unit.now,
                },
            )
