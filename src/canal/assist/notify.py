"""Notifications: in the app (a row the recipient reads through the API), by e-mail (SMTP) and
by signed webhook. E-mails and webhooks go through an outbox table: a delivery is leased by one
worker at a time, retried with a doubling back-off when the receiver is down, and marked failed
(still listed, and retryable) after the last attempt. Nothing is deleted.

Messages carry the request's envelope (type, urgency, countries, state, deadlines) and a link,
never its content or linked records: those are read in canal, under the policy."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import httpx
import orjson

from canal.clock import Clock
from canal.config import Settings
from canal.errors import InvalidInput
from canal.model.assist import (
    AssistanceRequest,
    Channel,
    ContactSlot,
    DeliveryState,
    NotificationKind,
)
from canal.model.audit import AuditEvent, EventTag
from canal.model.org import OrgKind, Role
from canal.model.stix import format_micros, to_micros
from canal.store import assist as store
from canal.store import orgs as org_store
from canal.store.alert_channels import channels_of
from canal.store.database import Database
from canal.store.unit import WriteUnit, write_unit

log = logging.getLogger("canal.assist")

SIGNATURE_HEADER = "X-Canal-Signature"
TIMESTAMP_HEADER = "X-Canal-Timestamp"
EVENT_HEADER = "X-Canal-Event"
DELIVERY_HEADER = "X-Canal-Delivery"
#: How long one worker holds a delivery it is sending.
LEASE_MICROS = 300 * 1_000_000
MAX_BACKOFF_SECONDS = 3600
SYSTEM_ACTOR = "canal[sweep]"


_EMAIL_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_WEBHOOK_URL = re.compile(r"^https?://[^\s/]+")
#: The shortest webhook signing key accepted.
MIN_SECRET = 16


def body_text(body: dict[str, Any], key: str, limit: int) -> str | None:
    """A text field of a JSON body, stripped; None when absent or blank; InvalidInput naming
    the field when it is not text or longer than `limit`."""
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(key, "must be text")
    value = value.strip()
    if len(value) > limit:
        raise InvalidInput(key, f"is longer than {limit} characters")
    return value or None


def checked_channels(
    body: dict[str, Any], kept_secret: str | None
) -> tuple[str | None, str | None, str | None]:
    """The e-mail address and the webhook with its signing key of a body (a 24/7 contact's, an
    org's link-alert channels): (email, webhook_url, secret), InvalidInput naming the field
    otherwise. `kept_secret`: the key already held, kept when a webhook is given again without
    one."""
    email = body_text(body, "email", 320)
    webhook_url = body_text(body, "webhook_url", 2000)
    secret = body_text(body, "webhook_secret", 500)
    if email and not _EMAIL_ADDRESS.match(email):
        raise InvalidInput("email", f"{email!r} is not an e-mail address")
    if not webhook_url:
        return email, None, None
    if not _WEBHOOK_URL.match(webhook_url):
        raise InvalidInput("webhook_url", f"{webhook_url!r} is not an http(s) URL")
    secret = secret or kept_secret
    if not secret or len(secret) < MIN_SECRET:
        raise InvalidInput(
            "webhook_secret",
            f"a webhook needs a signing key of at least {MIN_SECRET} characters",
        )
    return email, webhook_url, secret


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The webhook signature: HMAC-SHA256 over "<timestamp>.<body>", so a receiver can refuse a
    replayed or altered call."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def envelope(request: AssistanceRequest, public_url: str) -> dict[str, Any]:
    """What a message may say about a request: never its content."""

    def ts(value: int | None) -> str | None:
        return None if value is None else format_micros(value)

    return {
        "id": request.id,
        "type": request.type.value,
        "urgency": request.urgency.value,
        "state": request.state.value,
        "requesting_country": request.requesting_country,
        "requested_country": request.requested_country,
        "acknowledge_by": ts(request.ack_due),
        "respond_by": ts(request.response_due),
        "preserved_until": ts(request.preserved_until),
        "escalation_level": request.escalation_level,
        "url": f"{public_url}/api/v1/requests/{request.id}",
    }


@dataclass(frozen=True, slots=True)
class Audience:
    """Who hears about one event."""

    #: In-app: (country, role or None for every role) of member orgs.
    countries: tuple[tuple[str, Role | None], ...] = ()
    #: In-app to the secretariat, and the duty desk's e-mail and webhook.
    desk: bool = False
    #: E-mail and webhook to these points of contact (country, slot).
    contacts: tuple[tuple[str, ContactSlot], ...] = ()


class Notifier:
    """Writes notifications inside the caller's write unit, so they exist iff the change does."""

    def __init__(self, *, settings: Settings) -> None:
        self.settings = settings

    def notify(
        self,
        unit: WriteUnit,
        request: AssistanceRequest,
        kind: NotificationKind,
        subject: str,
        audience: Audience,
    ) -> list[str]:
        """Queue the notifications; returns who was reached, for the request's history."""
        conn, now, settings = unit.conn, unit.now, self.settings
        payload = {
            "event": kind.value,
            "message": subject,
            "at": format_micros(now),
            "request": envelope(request, settings.public_url),
        }
        body = _text_body(subject, payload)

        def in_app(org_id: int, role: Role | None) -> None:
            store.insert_notification(
                conn,
                {
                    "org_id": org_id,
                    "role": None if role is None else role.value,
                    "request_id": request.id,
                    "kind": kind.value,
                    "subject": subject,
                    "body": body,
                    "created_at": now,
                },
            )

        def queue(channel: Channel, target: str, country: str | None, contact: int | None) -> None:
            store.enqueue(
                conn,
                {
                    "channel": channel.value,
                    "target": target,
                    "country": country,
                    "contact_id": contact,
                    "request_id": request.id,
                    "kind": kind.value,
                    "subject": subject,
                    "payload": payload,
                    "created_at": now,
                },
            )

        reached: list[str] = []
        orgs = org_store.list_orgs(conn)
        for country, role in audience.countries:
            for org in orgs:
                if org.kind is OrgKind.MEMBER and org.country == country:
                    in_app(org.id, role)
            reached.append(f"{country} in canal" + (f" ({role.value})" if role else ""))
        if audience.desk:
            for org in orgs:
                if org.kind is OrgKind.SECRETARIAT:
                    in_app(org.id, Role.ANALYST)
            reached.append("secretariat duty desk in canal")
            if settings.assist_desk_email and settings.smtp_host:
                queue(Channel.EMAIL, settings.assist_desk_email, None, None)
                reached.append("duty desk by e-mail")
            if settings.assist_desk_webhook:
                queue(Channel.WEBHOOK, settings.assist_desk_webhook, None, None)
                reached.append("duty desk by webhook")
        for country, slot in audience.contacts:
            contact = store.contact(conn, country, slot)
            if contact is None or not contact.active:
                reached.append(f"no active {slot.value} contact for {country}")
                continue
            if contact.email and settings.smtp_host:
                queue(Channel.EMAIL, contact.email, country, contact.id)
                reached.append(f"{country} {slot.value} contact by e-mail")
            if contact.webhook_url:
                queue(Channel.WEBHOOK, contact.webhook_url, country, contact.id)
                reached.append(f"{country} {slot.value} contact by webhook")
        return reached


def _text_body(subject: str, payload: dict[str, Any]) -> str:
    """An e-mail's text: the envelope of a request, or of a link alert (analysis.alert_channels)."""
    envelope = payload.get("request") or payload.get("alerts") or {}
    lines = [subject, ""]
    lines += [
        f"{key.replace('_', ' ')}: {', '.join(value) if isinstance(value, list) else value}"
        for key, value in envelope.items()
        if value
    ]
    lines += [
        "",
        "Open the request in canal to read its content."
        if "request" in payload
        else "Read the alerts in canal: what you may see of the new data is there.",
    ]
    return "\n".join(lines)


class DeliveryFailed(Exception):
    """One attempt did not get through; the message says why."""


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


class Deliverer:
    """Sends what the outbox holds. Safe to run in several workers at once: each delivery is
    leased with a conditional UPDATE before it is sent."""

    def __init__(self, *, database: Database, clock: Clock, settings: Settings) -> None:
        self.database = database
        self.clock = clock
        self.settings = settings

    def deliver_due(self, now: int) -> DeliveryReport:
        with self.database.read() as conn:
            due = store.due_deliveries(conn, now)
        sent = retrying = failed = 0
        for delivery_id in due:
            with write_unit(self.database, self.clock) as unit:
                claimed = store.claim_delivery(unit.conn, delivery_id, now, now + LEASE_MICROS)
            if claimed is None:
                continue
            error: str | None = None
            try:
                self._send(claimed)
            except DeliveryFailed as exc:
                error = str(exc)
            with write_unit(self.database, self.clock) as unit:
                if error is None:
                    store.finish_delivery(
                        unit.conn,
                        claimed.id,
                        {"state": DeliveryState.SENT.value, "sent_at": now, "last_error": None},
                    )
                    tag, final = EventTag.ASSIST_DELIVERY_SENT, True
                    sent += 1
                elif claimed.attempts >= self.settings.notify_max_attempts:
                    store.finish_delivery(
                        unit.conn,
                        claimed.id,
                        {"state": DeliveryState.FAILED.value, "last_error": error},
                    )
                    tag, final = EventTag.ASSIST_DELIVERY_FAILED, True
                    failed += 1
                else:
                    wait = min(
                        self.settings.notify_backoff_seconds * 2 ** (claimed.attempts - 1),
                        MAX_BACKOFF_SECONDS,
                    )
                    store.finish_delivery(
                        unit.conn,
                        claimed.id,
                        {"next_attempt_at": now + wait * 1_000_000, "last_error": error},
                    )
                    tag, final = EventTag.ASSIST_DELIVERY_FAILED, False
                    retrying += 1
                unit.log(
                    AuditEvent(
                        action=tag,
                        actor=SYSTEM_ACTOR,
                        org_id=None,
                        summary={
                            "delivery": claimed.id,
                            "channel": claimed.channel.value,
                            "request": claimed.request_id,
                            "attempt": claimed.attempts,
                            "final": final,
                            "error": error,
                        },
                    )
                )
        return DeliveryReport(sent=sent, retrying=retrying, failed=failed)

    def _send(self, delivery: store.Delivery) -> None:
        if delivery.channel is Channel.EMAIL:
            self._email(delivery)
        else:
            self._webhook(delivery)

    def _email(self, delivery: store.Delivery) -> None:
        s = self.settings
        if not s.smtp_host:
            raise DeliveryFailed("e-mail is not configured (CANAL_SMTP_HOST)")
        message = EmailMessage()
        message["From"] = s.smtp_from
        message["To"] = delivery.target
        message["Subject"] = f"[canal] {delivery.subject}"
        message["X-Canal-Event"] = delivery.kind.value
        message["X-Canal-Delivery"] = str(delivery.id)
        message.set_content(_text_body(delivery.subject, delivery.payload))
        timeout = s.webhook_timeout_seconds
        try:
            if s.smtp_tls == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.smtp_host, s.smtp_port, timeout=timeout, context=ssl.create_default_context()
                )
            else:
                smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=timeout)
            with smtp:
                if s.smtp_tls == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if s.smtp_user:
                    smtp.login(s.smtp_user, s.smtp_password)
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryFailed(f"SMTP {s.smtp_host}:{s.smtp_port}: {exc}") from exc

    def _webhook(self, delivery: store.Delivery) -> None:
        secret = self._secret_for(delivery)
        body = orjson.dumps(delivery.payload, option=orjson.OPT_SORT_KEYS)
        timestamp = str(to_micros(self.clock.now()) // 1_000_000)
        headers = {
            "Content-Type": "application/json",
            EVENT_HEADER: delivery.kind.value,
            DELIVERY_HEADER: str(delivery.id),
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(secret, timestamp, body),
        }
        try:
            response = httpx.post(
                delivery.target,
                content=body,
                headers=headers,
                timeout=self.settings.webhook_timeout_seconds,
                follow_redirects=False,
            )
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"{delivery.target}: {type(exc).__name__}: {exc}") from exc
        if not 200 <= response.status_code < 300:
            raise DeliveryFailed(f"{delivery.target}: HTTP {response.status_code}")

    def _secret_for(self, delivery: store.Delivery) -> str:
        if delivery.org_id is not None:  # a link alert: the org's own channel signs it
            with self.database.read() as conn:
                channels = channels_of(conn, delivery.org_id)
            if channels is None or not channels.webhook_secret:
                raise DeliveryFailed("the org's alert webhook was removed or has no signing key")
            return channels.webhook_secret
        if delivery.contact_id is None:
            if not self.settings.assist_desk_webhook_secret:
                raise DeliveryFailed("no signing key for the duty desk's webhook")
            return self.settings.assist_desk_webhook_secret
        with self.database.read() as conn:
            contact = store.contact_by_id(conn, delivery.contact_id)
        if contact is None or not contact.webhook_secret:
            raise DeliveryFailed("the contact was removed or has no signing key")
        return contact.webhook_secret
