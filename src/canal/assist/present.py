"""The 24/7 network's things as JSON, the same for the REST API and the CLI."""

from __future__ import annotations

from typing import Any

from canal.assist.service import AssistService, CountryFigures, Shown, View
from canal.model.assist import (
    ESCALATION_CHAIN,
    AssistanceRequest,
    Contact,
    RequestEvent,
    RequestState,
    Side,
    next_states,
    transition_side,
)
from canal.model.org import Principal
from canal.model.stix import format_micros
from canal.store.assist import Delivery, Notification


def ts(value: int | None) -> str | None:
    return None if value is None else format_micros(value)


def contact_json(contact: Contact, principal: Principal) -> dict[str, Any]:
    out: dict[str, Any] = {
        "country": contact.country,
        "slot": contact.slot.value,
        "name": contact.name,
        "phone": contact.phone,
        "email": contact.email,
        "webhook": contact.webhook_url is not None,
        "hours": contact.hours,
        "languages": list(contact.languages),
        "active": contact.active,
        "updated": ts(contact.updated_at),
        "updated_by": contact.updated_by,
    }
    # The endpoint is the country's own business; the signing key is never shown.
    if AssistService.may_manage_contacts(principal, contact.country):
        out["webhook_url"] = contact.webhook_url
    return out


def _overdue(request: AssistanceRequest, now: int) -> dict[str, bool]:
    waiting = request.state in {
        RequestState.SUBMITTED,
        RequestState.ACKNOWLEDGED,
        RequestState.IN_PROGRESS,
    }
    return {
        "acknowledgement": request.state is RequestState.SUBMITTED
        and request.ack_due is not None
        and request.ack_due <= now,
        "response": waiting and request.response_due is not None and request.response_due <= now,
    }


def event_json(event: RequestEvent, *, full: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "at": ts(event.at),
        "kind": event.kind.value,
        "actor": event.actor,
        "side": event.side.value,
        "from": None if event.from_state is None else event.from_state.value,
        "to": None if event.to_state is None else event.to_state.value,
    }
    if full:
        out["reason"] = event.reason
        out["details"] = event.details
    elif "level" in event.details:
        out["details"] = {"level": event.details["level"]}
    return out


def request_json(
    shown: Shown, names: dict[int, str], *, now: int, detail: bool = True
) -> dict[str, Any]:
    r = shown.request
    full = shown.view == View.FULL
    out: dict[str, Any] = {
        "id": r.id,
        "type": r.type.value,
        "urgency": r.urgency.value,
        "state": r.state.value,
        "requesting_country": r.requesting_country,
        "requesting_org": names.get(r.requesting_org_id),
        "requested_country": r.requested_country,
        "tlp": "TLP:" + r.tlp.upper(),
        "share_with_secretariat": r.share_with_secretariat,
        "view": shown.view,
        "your_side": None if shown.side is None else shown.side.value,
        "created": ts(r.created_at),
        "submitted": ts(r.submitted_at),
        "acknowledged": ts(r.acknowledged_at),
        "answered": ts(r.answered_at),
        "closed": ts(r.closed_at),
        "deadlines": {
            "acknowledge_by": ts(r.ack_due),
            "respond_by": ts(r.response_due),
            "preserved_until": ts(r.preserved_until),
        },
        "overdue": _overdue(r, now),
        "escalation": {
            "level": r.escalation_level,
            "paged": ESCALATION_CHAIN.get(r.escalation_level),
            "next_at": ts(r.next_escalation_at),
        },
        "next_states": _next(shown),
    }
    if full:
        out["content"] = {
            **r.fields,
            "answer": r.answer,
            "refusal_ground": None if r.refusal_ground is None else r.refusal_ground.value,
            "mla_reference": r.mla_reference,
        }
    if detail:
        if full:
            out["links"] = [
                {
                    "id": seen.record.stix_id,
                    "type": seen.record.stix_type,
                    "name": seen.record.object.get("name"),
                    "tlp": seen.record.handling.tlp.label,
                }
                for seen in shown.links
            ]
        out["history"] = [event_json(e, full=full) for e in shown.events]
    return out


def _next(shown: Shown) -> list[str]:
    """The states the caller itself may move the request to."""
    if shown.side is None:
        return []
    request = shown.request
    out = []
    for target in next_states(request.type, request.state):
        side = transition_side(request.type, request.state, target)
        if side is Side.SYSTEM:
            continue
        if shown.side is Side.EITHER or side is Side.EITHER or side is shown.side:
            out.append(target.value)
    return out


def figures_json(figures: CountryFigures) -> dict[str, Any]:
    return {
        "country": figures.country,
        "received": figures.received,
        "acknowledged": figures.acknowledged,
        "answered": figures.answered,
        "open": figures.open,
        "median_seconds_to_acknowledge": figures.median_seconds_to_acknowledge,
        "median_seconds_to_answer": figures.median_seconds_to_answer,
        "overdue": {
            "acknowledgement": figures.acknowledgement_overdue,
            "response": figures.response_overdue,
        },
        "escalated": figures.escalated,
    }


def notification_json(n: Notification) -> dict[str, Any]:
    return {
        "id": n.id,
        "kind": n.kind.value,
        "request": n.request_id,
        "subject": n.subject,
        "body": n.body,
        "created": ts(n.created_at),
        "read": ts(n.read_at),
    }


def delivery_json(d: Delivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "channel": d.channel.value,
        "target": d.target,
        "country": d.country,
        "request": d.request_id,
        "kind": d.kind.value,
        "subject": d.subject,
        "state": d.state.value,
        "attempts": d.attempts,
        "next_attempt": ts(d.next_attempt_at) if d.state.value == "pending" else None,
        "last_error": d.last_error,
        "created": ts(d.created_at),
        "sent": ts(d.sent_at),
    }
