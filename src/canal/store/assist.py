"""Persistence of the 24/7 network: contacts, requests and their history, notifications and the
delivery outbox. Callers pass the connection of their WriteUnit so that a change and its
processing-log entry commit together. Every step the sweep takes is a conditional UPDATE whose
row count says whether this worker claimed it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    and_,
    delete,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from canal.model.assist import (
    AssistanceRequest,
    Channel,
    Contact,
    ContactSlot,
    DeliveryState,
    EventKind,
    NotificationKind,
    RefusalGround,
    RequestEvent,
    RequestState,
    RequestType,
    Side,
    Urgency,
)
from canal.store.errors import WriteConflict
from canal.store.tables import (
    assist_contacts,
    assist_events,
    assist_incident_closures,
    assist_links,
    assist_notifications,
    assist_outbox,
    assist_requests,
)

# -- contacts ---------------------------------------------------------------------------------


def _contact(row: Row[Any]) -> Contact:
    m = row._mapping  # noqa: SLF001 - SQLAlchemy's API
    return Contact(
        id=int(m["id"]),
        country=str(m["country"]),
        slot=ContactSlot(m["slot"]),
        name=str(m["name"]),
        phone=m["phone"],
        email=m["email"],
        webhook_url=m["webhook_url"],
        webhook_secret=m["webhook_secret"],
        hours=str(m["hours"]),
        languages=tuple(x for x in str(m["languages"]).split(",") if x),
        active=bool(m["active"]),
        updated_at=int(m["updated_at"]),
        updated_by=str(m["updated_by"]),
    )


def put_contact(conn: Connection, values: dict[str, Any]) -> Contact:
    """Create or replace the contact of (country, slot)."""
    row = dict(values)
    row["languages"] = ",".join(values["languages"])
    existing = conn.execute(
        select(assist_contacts.c.id).where(
            assist_contacts.c.country == row["country"], assist_contacts.c.slot == row["slot"]
        )
    ).first()
    if existing is None:
        try:
            with conn.begin_nested():
                conn.execute(insert(assist_contacts).values(**row))
        except IntegrityError:
            raise WriteConflict(
                f"the {row['slot']} contact of {row['country']} was set meanwhile; try again"
            ) from None
    else:
        conn.execute(
            update(assist_contacts).where(assist_contacts.c.id == existing[0]).values(**row)
        )
    found = contact(conn, row["country"], ContactSlot(row["slot"]))
    assert found is not None  # noqa: S101 - written just above
    return found


def contact(conn: Connection, country: str, slot: ContactSlot) -> Contact | None:
    row = conn.execute(
        select(assist_contacts).where(
            assist_contacts.c.country == country, assist_contacts.c.slot == slot.value
        )
    ).first()
    return None if row is None else _contact(row)


def contact_by_id(conn: Connection, contact_id: int) -> Contact | None:
    row = conn.execute(select(assist_contacts).where(assist_contacts.c.id == contact_id)).first()
    return None if row is None else _contact(row)


def delete_contact(conn: Connection, country: str, slot: ContactSlot) -> bool:
    result = conn.execute(
        delete(assist_contacts).where(
            assist_contacts.c.country == country, assist_contacts.c.slot == slot.value
        )
    )
    return bool(result.rowcount)


def list_contacts(conn: Connection, country: str | None = None) -> list[Contact]:
    query = select(assist_contacts).order_by(assist_contacts.c.country, assist_contacts.c.slot)
    if country is not None:
        query = query.where(assist_contacts.c.country == country)
    return [_contact(row) for row in conn.execute(query)]


# -- requests ---------------------------------------------------------------------------------


def _request(row: Row[Any], links: Sequence[str]) -> AssistanceRequest:
    m = row._mapping  # noqa: SLF001 - SQLAlchemy's API
    ground = m["refusal_ground"]
    return AssistanceRequest(
        id=str(m["id"]),
        requesting_org_id=int(m["requesting_org_id"]),
        requesting_country=str(m["requesting_country"]),
        requested_country=str(m["requested_country"]),
        type=RequestType(m["type"]),
        urgency=Urgency(m["urgency"]),
        state=RequestState(m["state"]),
        tlp=str(m["tlp"]),
        share_with_secretariat=bool(m["share_with_secretariat"]),
        fields=orjson.loads(m["fields"]),
        links=tuple(links),
        created_by=str(m["created_by"]),
        created_at=int(m["created_at"]),
        submitted_at=m["submitted_at"],
        acknowledged_at=m["acknowledged_at"],
        answered_at=m["answered_at"],
        closed_at=m["closed_at"],
        ack_due=m["ack_due"],
        response_due=m["response_due"],
        respond_by=m["respond_by"],
        escalation_level=int(m["escalation_level"]),
        next_escalation_at=m["next_escalation_at"],
        response_overdue=bool(m["response_overdue"]),
        preserved_until=m["preserved_until"],
        reminders_sent=int(m["reminders_sent"]),
        next_reminder_at=m["next_reminder_at"],
        mla_reference=m["mla_reference"],
        answer=m["answer"],
        refusal_ground=None if ground is None else RefusalGround(ground),
    )


def insert_request(conn: Connection, values: dict[str, Any], links: Sequence[str]) -> None:
    row = dict(values)
    row["fields"] = orjson.dumps(row["fields"], option=orjson.OPT_SORT_KEYS).decode()
    conn.execute(insert(assist_requests).values(**row))
    if links:
        conn.execute(insert(assist_links), [{"request_id": row["id"], "stix_id": s} for s in links])


def replace_links(conn: Connection, request_id: str, links: Sequence[str]) -> None:
    conn.execute(delete(assist_links).where(assist_links.c.request_id == request_id))
    if links:
        conn.execute(
            insert(assist_links), [{"request_id": request_id, "stix_id": s} for s in links]
        )


def _links_of(conn: Connection, ids: Sequence[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {i: [] for i in ids}
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        for request_id, stix_id in conn.execute(
            select(assist_links.c.request_id, assist_links.c.stix_id)
            .where(assist_links.c.request_id.in_(chunk))
            .order_by(assist_links.c.stix_id)
        ):
            out[request_id].append(stix_id)
    return out


def get_request(
    conn: Connection, request_id: str, *, lock: bool = False
) -> AssistanceRequest | None:
    query = select(assist_requests).where(assist_requests.c.id == request_id)
    if lock and conn.dialect.name != "sqlite":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        return None
    return _request(row, _links_of(conn, [request_id])[request_id])


def find_requests(
    conn: Connection, *clauses: ColumnElement[bool], limit: int | None = None
) -> list[AssistanceRequest]:
    query = select(assist_requests).order_by(assist_requests.c.created_at, assist_requests.c.id)
    if clauses:
        query = query.where(and_(*clauses))
    if limit is not None:
        query = query.limit(limit)
    rows = conn.execute(query).all()
    links = _links_of(conn, [str(r.id) for r in rows])
    return [_request(row, links[str(row.id)]) for row in rows]


def requests_linking(conn: Connection, stix_id: str) -> list[str]:
    return [
        str(r[0])
        for r in conn.execute(
            select(assist_links.c.request_id).where(assist_links.c.stix_id == stix_id)
        )
    ]


def update_request(
    conn: Connection, request_id: str, values: dict[str, Any], *, where: Iterable[Any] = ()
) -> bool:
    """Apply `values` if the row still matches `where` (the state or step the caller saw);
    False when another writer moved it first."""
    row = dict(values)
    if "fields" in row:
        row["fields"] = orjson.dumps(row["fields"], option=orjson.OPT_SORT_KEYS).decode()
    result = conn.execute(
        update(assist_requests).where(assist_requests.c.id == request_id, *where).values(**row)
    )
    return bool(result.rowcount)


def insert_event(
    conn: Connection,
    *,
    request_id: str,
    kind: EventKind,
    at: int,
    actor: str,
    org_id: int | None,
    side: Side,
    from_state: RequestState | None = None,
    to_state: RequestState | None = None,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    conn.execute(
        insert(assist_events).values(
            request_id=request_id,
            kind=kind.value,
            at=at,
            actor=actor,
            org_id=org_id,
            side=side.value,
            from_state=None if from_state is None else from_state.value,
            to_state=None if to_state is None else to_state.value,
            reason=reason,
            details=orjson.dumps(details or {}, option=orjson.OPT_SORT_KEYS).decode(),
        )
    )


def events_of(conn: Connection, request_ids: Sequence[str]) -> dict[str, list[RequestEvent]]:
    out: dict[str, list[RequestEvent]] = {i: [] for i in request_ids}
    for start in range(0, len(request_ids), 500):
        chunk = list(request_ids[start : start + 500])
        rows = conn.execute(
            select(assist_events)
            .where(assist_events.c.request_id.in_(chunk))
            .order_by(assist_events.c.id)
        )
        for row in rows:
            m = row._mapping  # noqa: SLF001 - SQLAlchemy's API
            out[str(m["request_id"])].append(
                RequestEvent(
                    id=int(m["id"]),
                    request_id=str(m["request_id"]),
                    kind=EventKind(m["kind"]),
                    at=int(m["at"]),
                    actor=str(m["actor"]),
                    org_id=m["org_id"],
                    side=Side(m["side"]),
                    from_state=None if m["from_state"] is None else RequestState(m["from_state"]),
                    to_state=None if m["to_state"] is None else RequestState(m["to_state"]),
                    reason=m["reason"],
                    details=orjson.loads(m["details"]),
                )
            )
    return out


# -- what the sweep looks for -----------------------------------------------------------------


def due_escalations(conn: Connection, now: int) -> list[str]:
    c = assist_requests.c
    return [
        str(r[0])
        for r in conn.execute(
            select(c.id)
            .where(c.state == RequestState.SUBMITTED.value, c.next_escalation_at <= now)
            .order_by(c.next_escalation_at)
        )
    ]


def due_overdue(conn: Connection, now: int, states: Iterable[RequestState]) -> list[str]:
    c = assist_requests.c
    return [
        str(r[0])
        for r in conn.execute(
            select(c.id)
            .where(
                c.state.in_([s.value for s in states]),
                c.response_due <= now,
                c.response_overdue.is_(False),
            )
            .order_by(c.response_due)
        )
    ]


def due_reminders(conn: Connection, now: int) -> list[str]:
    c = assist_requests.c
    return [
        str(r[0])
        for r in conn.execute(
            select(c.id)
            .where(c.state == RequestState.PRESERVED.value, c.next_reminder_at <= now)
            .order_by(c.next_reminder_at)
        )
    ]


def due_expiries(conn: Connection, now: int) -> list[str]:
    c = assist_requests.c
    return [
        str(r[0])
        for r in conn.execute(
            select(c.id)
            .where(c.state == RequestState.PRESERVED.value, c.preserved_until <= now)
            .order_by(c.preserved_until)
        )
    ]


# -- notifications ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Notification:
    id: int
    org_id: int
    role: str | None
    request_id: str | None
    kind: NotificationKind
    subject: str
    body: str
    created_at: int
    read_at: int | None


def insert_notification(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(assist_notifications).values(**values))


def notifications_for(
    conn: Connection, org_id: int, role: str, *, unread_only: bool = False, limit: int = 200
) -> list[Notification]:
    c = assist_notifications.c
    query = (
        select(assist_notifications)
        .where(c.org_id == org_id, or_(c.role.is_(None), c.role == role))
        .order_by(c.id.desc())
        .limit(limit)
    )
    if unread_only:
        query = query.where(c.read_at.is_(None))
    return [
        Notification(
            id=int(r.id),
            org_id=int(r.org_id),
            role=r.role,
            request_id=r.request_id,
            kind=NotificationKind(r.kind),
            subject=str(r.subject),
            body=str(r.body),
            created_at=int(r.created_at),
            read_at=r.read_at,
        )
        for r in conn.execute(query)
    ]


def mark_read(conn: Connection, notification_id: int, org_id: int, role: str, now: int) -> bool:
    c = assist_notifications.c
    result = conn.execute(
        update(assist_notifications)
        .where(c.id == notification_id, c.org_id == org_id, or_(c.role.is_(None), c.role == role))
        .values(read_at=now)
    )
    return bool(result.rowcount)


# -- the outbox -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    channel: Channel
    target: str
    country: str | None
    contact_id: int | None
    request_id: str | None
    kind: NotificationKind
    subject: str
    payload: dict[str, Any]
    state: DeliveryState
    attempts: int
    next_attempt_at: int
    last_error: str | None
    created_at: int
    sent_at: int | None
    #: A link alert's recipient org (its alert channel signs the webhook); None for requests.
    org_id: int | None = None


def _delivery(row: Row[Any]) -> Delivery:
    m = row._mapping  # noqa: SLF001 - SQLAlchemy's API
    return Delivery(
        id=int(m["id"]),
        channel=Channel(m["channel"]),
        target=str(m["target"]),
        country=m["country"],
        contact_id=m["contact_id"],
        request_id=m["request_id"],
        kind=NotificationKind(m["kind"]),
        subject=str(m["subject"]),
        payload=orjson.loads(m["payload"]),
        state=DeliveryState(m["state"]),
        attempts=int(m["attempts"]),
        next_attempt_at=int(m["next_attempt_at"]),
        last_error=m["last_error"],
        created_at=int(m["created_at"]),
        sent_at=m["sent_at"],
        org_id=m["org_id"],
    )


def enqueue(conn: Connection, values: dict[str, Any]) -> None:
    row = dict(values)
    row["payload"] = orjson.dumps(row["payload"], option=orjson.OPT_SORT_KEYS).decode()
    conn.execute(
        insert(assist_outbox).values(
            **row, state=DeliveryState.PENDING.value, attempts=0, next_attempt_at=row["created_at"]
        )
    )


def due_deliveries(conn: Connection, now: int, limit: int = 100) -> list[int]:
    c = assist_outbox.c
    return [
        int(r[0])
        for r in conn.execute(
            select(c.id)
            .where(
                c.state == DeliveryState.PENDING.value,
                c.next_attempt_at <= now,
                or_(c.claimed_until.is_(None), c.claimed_until <= now),
            )
            .order_by(c.next_attempt_at, c.id)
            .limit(limit)
        )
    ]


def claim_delivery(
    conn: Connection, delivery_id: int, now: int, lease_until: int
) -> Delivery | None:
    """Lease one due delivery to this worker; None when another worker holds or sent it."""
    c = assist_outbox.c
    result = conn.execute(
        update(assist_outbox)
        .where(
            c.id == delivery_id,
            c.state == DeliveryState.PENDING.value,
            c.next_attempt_at <= now,
            or_(c.claimed_until.is_(None), c.claimed_until <= now),
        )
        .values(claimed_until=lease_until, attempts=c.attempts + 1)
    )
    if not result.rowcount:
        return None
    return delivery(conn, delivery_id)


def delivery(conn: Connection, delivery_id: int) -> Delivery | None:
    row = conn.execute(select(assist_outbox).where(assist_outbox.c.id == delivery_id)).first()
    return None if row is None else _delivery(row)


def finish_delivery(conn: Connection, delivery_id: int, values: dict[str, Any]) -> None:
    conn.execute(
        update(assist_outbox)
        .where(assist_outbox.c.id == delivery_id)
        .values(claimed_until=None, **values)
    )


def list_deliveries(
    conn: Connection,
    *,
    country: str | None = None,
    state: DeliveryState | None = None,
    limit: int = 200,
) -> list[Delivery]:
    c = assist_outbox.c
    query = select(assist_outbox).order_by(c.id.desc()).limit(limit)
    if country is not None:
        query = query.where(c.country == country)
    if state is not None:
        query = query.where(c.state == state.value)
    return [_delivery(r) for r in conn.execute(query)]


# -- incident closures ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Closure:
    stix_id: str
    org_id: int
    closed_by: str
    closed_at: int
    note: str | None


def close_incident(conn: Connection, values: dict[str, Any]) -> bool:
    try:
        with conn.begin_nested():
            conn.execute(insert(assist_incident_closures).values(**values))
    except IntegrityError:
        return False
    return True


def closure(conn: Connection, stix_id: str) -> Closure | None:
    row = conn.execute(
        select(assist_incident_closures).where(assist_incident_closures.c.stix_id == stix_id)
    ).first()
    if row is None:
        return None
    return Closure(
        stix_id=str(row.stix_id),
        org_id=int(row.org_id),
        closed_by=str(row.closed_by),
        closed_at=int(row.closed_at),
        note=row.note,
    )
