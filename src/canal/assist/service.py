"""The 24/7 network (DOMAIN.md §3, R23-R27, R34): the directory of points of contact,
assistance requests and their workflow, deadlines and escalation, and the sweep that applies
them. Every change runs in a write unit with its processing-log entry; every read of a linked
record goes through the record service, so each party sees linked records only as the policy
lets it."""

from __future__ import annotations

import statistics
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import phonenumbers
import pycountry
from sqlalchemy import Connection

from canal.assist.notify import (
    SYSTEM_ACTOR,
    Audience,
    Deliverer,
    DeliveryReport,
    Notifier,
    body_text,
    checked_channels,
)
from canal.clock import Clock
from canal.config import Settings
from canal.errors import Conflict, Forbidden, InvalidInput, NotFound
from canal.model.assist import (
    ALL_FIELDS,
    ANSWERS,
    AWAITING_REQUESTED,
    ESCALATION_CHAIN,
    TERMINAL,
    TOP_ESCALATION,
    AssistanceRequest,
    AssistError,
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
    clean_fields,
    missing_for_submission,
    next_states,
    transition_side,
)
from canal.model.audit import AuditEvent, EventTag
from canal.model.handling import HandlingError, Tlp, parse_country
from canal.model.org import Org, OrgKind, Principal, Role
from canal.model.record import Record
from canal.model.stix import from_micros, parse_timestamp, to_micros
from canal.policy import Action, Policy
from canal.records.service import RecordService, Seen
from canal.store import assist as store
from canal.store import orgs as org_store
from canal.store.database import Database
from canal.store.errors import WriteConflict
from canal.store.records import RecordQuery
from canal.store.tables import assist_requests
from canal.store.unit import WriteUnit, write_unit

#: Roles that read the directory (partners and auditors do not).
DIRECTORY_READERS = frozenset(
    {Role.MEMBER, Role.DUTY_OFFICER, Role.NCB_ADMIN, Role.ANALYST, Role.ADMIN}
)
#: Roles that file requests and act for the requesting side.
FILERS = frozenset({Role.MEMBER, Role.DUTY_OFFICER})
MAX_LINKS = 100
_ENVELOPE_KEYS = frozenset(
    {
        "requested_country",
        "type",
        "urgency",
        "links",
        "tlp",
        "share_with_secretariat",
        "respond_by",
        "draft",
    }
)
_DAY = 86_400 * 1_000_000


def _invalid(exc: AssistError | HandlingError) -> InvalidInput:
    if isinstance(exc, AssistError):
        return InvalidInput(exc.field_name, exc.reason)
    return InvalidInput(exc.field_name, str(exc).split(": ", 1)[-1])


class View:
    """How much of a request a principal sees."""

    FULL = "full"
    #: The secretariat's view of a direct exchange between two countries that did not copy it
    #: and has not reached its duty desk: who, what kind, when, state; no content (RPD 22(6)).
    ENVELOPE = "envelope"


@dataclass(frozen=True, slots=True)
class Shown:
    """A request as one principal may see it."""

    request: AssistanceRequest
    view: str
    side: Side | None
    events: list[RequestEvent] = field(default_factory=list)
    #: The linked records this principal may see (through the record service).
    links: list[Seen] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Filed:
    shown: Shown
    #: Linked records the requested country cannot see: the requester may want to share them.
    hidden_from_requested: list[str]


@dataclass(frozen=True, slots=True)
class SweepReport:
    escalations: int = 0
    overdue: int = 0
    reminders: int = 0
    expired: int = 0
    delivery: DeliveryReport = field(default_factory=DeliveryReport)

    def to_json(self) -> dict[str, int]:
        return {
            "escalations": self.escalations,
            "overdue": self.overdue,
            "reminders": self.reminders,
            "expired": self.expired,
            "sent": self.delivery.sent,
            "retrying": self.delivery.retrying,
            "failed": self.delivery.failed,
        }


@dataclass(frozen=True, slots=True)
class CountryFigures:
    country: str
    received: int
    acknowledged: int
    answered: int
    open: int
    median_seconds_to_acknowledge: float | None
    median_seconds_to_answer: float | None
    acknowledgement_overdue: int
    response_overdue: int
    escalated: int


class AssistService:
    def __init__(
        self,
        *,
        database: Database,
        clock: Clock,
        settings: Settings,
        records: RecordService,
        policy: Policy,
    ) -> None:
        self.database = database
        self.clock = clock
        self.settings = settings
        self.records = records
        self.policy = policy
        self.notifier = Notifier(settings=settings)
        self.deliverer = Deliverer(database=database, clock=clock, settings=settings)

    # -- the directory (R23) ------------------------------------------------------------------

    @staticmethod
    def _require_reader(principal: Principal) -> None:
        if principal.role not in DIRECTORY_READERS:
            raise Forbidden(f"{principal.label} may not read the 24/7 directory")

    @staticmethod
    def _member_countries(conn: Connection) -> dict[str, list[Org]]:
        out: dict[str, list[Org]] = {}
        for org in org_store.list_orgs(conn):
            if org.kind is OrgKind.MEMBER and org.country:
                out.setdefault(org.country, []).append(org)
        return out

    def _country(self, conn: Connection, raw: object, what: str) -> str:
        try:
            country = parse_country(str(raw or ""))
        except HandlingError as exc:
            raise InvalidInput(what, str(exc).split(": ", 1)[-1]) from None
        if country not in self._member_countries(conn):
            raise InvalidInput(what, f"no member country {country} in canal")
        return country

    @staticmethod
    def may_manage_contacts(principal: Principal, country: str) -> bool:
        """The country's NCB administrator, and the local administrator."""
        if principal.is_admin:
            return True
        return (
            principal.role is Role.NCB_ADMIN
            and principal.org.kind is OrgKind.MEMBER
            and principal.org.country == country
        )

    def contacts(self, principal: Principal, country: str | None = None) -> list[Contact]:
        self._require_reader(principal)
        with self.database.read() as conn:
            if country is not None:
                country = self._country(conn, country, "country")
            return store.list_contacts(conn, country)

    def set_contact(
        self, principal: Principal, country: str, slot: str, body: dict[str, Any]
    ) -> Contact:
        """Create or replace the primary or backup contact of `country`."""
        try:
            contact_slot = ContactSlot.parse(slot, "slot")
        except AssistError as exc:
            raise _invalid(exc) from None
        with self.database.read() as conn:
            code = self._country(conn, country, "country")
            existing = store.contact(conn, code, contact_slot)
        if not self.may_manage_contacts(principal, code):
            raise Forbidden(
                f"{principal.label} may not change the contacts of {code}: only its NCB "
                "administrator may"
            )
        values = self._contact_values(body, existing)
        with write_unit(self.database, self.clock) as unit:
            saved = store.put_contact(
                unit.conn,
                {
                    **values,
                    "country": code,
                    "slot": contact_slot.value,
                    "updated_at": unit.now,
                    "updated_by": principal.label,
                },
            )
            unit.log(
                AuditEvent(
                    action=EventTag.ASSIST_CONTACT_SET,
                    actor=principal.label,
                    org_id=principal.org.id or None,
                    summary={
                        "country": code,
                        "slot": contact_slot.value,
                        "active": values["active"],
                        "channels": [
                            name for name in ("phone", "email", "webhook_url") if values[name]
                        ],
                    },
                )
            )
        return saved

    @staticmethod
    def _contact_values(body: dict[str, Any], existing: Contact | None) -> dict[str, Any]:
        unknown = set(body) - {
            "name",
            "phone",
            "email",
            "webhook_url",
            "webhook_secret",
            "hours",
            "languages",
            "active",
        }
        if unknown:
            raise InvalidInput(min(unknown), "is not a field of a 24/7 contact")

        name = body_text(body, "name", 200)
        if not name:
            raise InvalidInput("name", "a contact needs a name (a person or a desk)")
        raw_phone = body_text(body, "phone", 40)
        if not raw_phone:
            raise InvalidInput("phone", "a 24/7 point of contact needs a phone number")
        try:
            parsed = phonenumbers.parse(raw_phone, None)
            valid = phonenumbers.is_possible_number(parsed)
        except phonenumbers.NumberParseException:
            valid = False
        if not valid:
            raise InvalidInput("phone", f"{raw_phone!r} is not an international number (+CC ...)")
        phone = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        email, webhook, secret = checked_channels(
            body, existing.webhook_secret if existing is not None and existing.webhook_url else None
        )
        hours = body_text(body, "hours", 200) or "24/7"
        raw_languages = body.get("languages") or []
        if isinstance(raw_languages, str):
            raw_languages = raw_languages.split(",")
        if not isinstance(raw_languages, list):
            raise InvalidInput("languages", "must be a list of ISO 639-1 codes")
        languages: list[str] = []
        for item in raw_languages:
            code = str(item).strip().lower()
            if not code:
                continue
            if len(code) != 2 or pycountry.languages.get(alpha_2=code) is None:
                raise InvalidInput("languages", f"{item!r} is not an ISO 639-1 code such as en")
            languages.append(code)
        active = body.get("active", True)
        if not isinstance(active, bool):
            raise InvalidInput("active", "must be true or false")
        return {
            "name": name,
            "phone": phone,
            "email": email,
            "webhook_url": webhook,
            "webhook_secret": secret,
            "hours": hours,
            "languages": tuple(dict.fromkeys(languages)),
            "active": active,
        }

    def remove_contact(self, principal: Principal, country: str, slot: str) -> None:
        try:
            contact_slot = ContactSlot.parse(slot, "slot")
        except AssistError as exc:
            raise _invalid(exc) from None
        with self.database.read() as conn:
            code = self._country(conn, country, "country")
        if not self.may_manage_contacts(principal, code):
            raise Forbidden(f"{principal.label} may not change the contacts of {code}")
        with write_unit(self.database, self.clock) as unit:
            if not store.delete_contact(unit.conn, code, contact_slot):
                raise NotFound("contact", f"{code}/{contact_slot.value}")
            unit.log(
                AuditEvent(
                    action=EventTag.ASSIST_CONTACT_REMOVE,
                    actor=principal.label,
                    org_id=principal.org.id or None,
                    summary={"country": code, "slot": contact_slot.value},
                )
            )

    def missing_contacts(self, principal: Principal) -> list[dict[str, Any]]:
        """Member countries with no active 24/7 point of contact (R23)."""
        self._require_reader(principal)
        with self.database.read() as conn:
            countries = self._member_countries(conn)
            contacts = store.list_contacts(conn)
        active = {c.country for c in contacts if c.active}
        listed = {c.country for c in contacts}
        return [
            {
                "country": country,
                "orgs": sorted(o.name for o in orgs),
                "problem": "every contact is inactive" if country in listed else "no contact",
            }
            for country, orgs in sorted(countries.items())
            if country not in active
        ]

    # -- who sees and acts on a request -------------------------------------------------------

    @staticmethod
    def side_of(principal: Principal, request: AssistanceRequest) -> Side | None:
        """The side the principal acts for: the requesting or the requested country."""
        if principal.is_admin:
            return Side.EITHER
        if principal.org.kind is not OrgKind.MEMBER or principal.role not in FILERS:
            return None
        if principal.org.country == request.requesting_country:
            return Side.REQUESTING
        if principal.org.country == request.requested_country:
            return Side.REQUESTED
        return None

    def view_of(self, principal: Principal, request: AssistanceRequest) -> str | None:
        if self.side_of(principal, request) is not None:
            return View.FULL
        if principal.role is Role.ANALYST:
            if request.share_with_secretariat or request.escalation_level >= TOP_ESCALATION:
                return View.FULL
            return View.ENVELOPE
        return None

    def _visible(self, principal: Principal, request: AssistanceRequest | None, key: str) -> str:
        # A request the principal may not see answers as one that does not exist.
        view = None if request is None else self.view_of(principal, request)
        if view is None:
            raise NotFound("request", key)
        return view

    # -- filing -------------------------------------------------------------------------------

    def file(self, principal: Principal, body: dict[str, Any]) -> Filed:
        """File a request (submitted at once unless `draft` is true)."""
        org = principal.org
        if principal.is_admin or org.kind is not OrgKind.MEMBER or principal.role not in FILERS:
            raise Forbidden(
                f"{principal.label} may not file assistance requests: a member country's "
                "officer files them (with its token)"
            )
        unknown = set(body) - _ENVELOPE_KEYS - ALL_FIELDS
        if unknown:
            raise InvalidInput(min(unknown), "is not a field of an assistance request")
        draft = body.get("draft", False)
        if not isinstance(draft, bool):
            raise InvalidInput("draft", "must be true or false")
        now = self.clock.now()
        with self.database.read() as conn:
            requested = self._country(conn, body.get("requested_country"), "requested_country")
        if requested == org.country:
            raise InvalidInput("requested_country", "a country does not file requests to itself")
        try:
            request_type = RequestType.parse(body.get("type", ""), "type")
            default = "emergency" if request_type is RequestType.STOP_PAYMENT else ""
            urgency = Urgency.parse(body.get("urgency") or default, "urgency")
            fields = clean_fields({k: v for k, v in body.items() if k not in _ENVELOPE_KEYS})
        except AssistError as exc:
            raise _invalid(exc) from None
        _check_urgency(request_type, urgency)
        share = body.get("share_with_secretariat", False)
        if not isinstance(share, bool):
            raise InvalidInput("share_with_secretariat", "must be true or false")
        respond_by = self._respond_by(body.get("respond_by"), now)
        self._check_fields(principal, request_type, fields, now)
        if not draft:
            self._check_complete(request_type, urgency, fields)
        links = self._links(body.get("links"))
        seen = self._seen_links(principal, links)
        tlp = self._tlp(body.get("tlp"), seen)
        request_id = str(uuid.uuid4())
        with write_unit(self.database, self.clock) as unit:
            values: dict[str, Any] = {
                "id": request_id,
                "requesting_org_id": org.id,
                "requesting_country": org.country,
                "requested_country": requested,
                "type": request_type.value,
                "urgency": urgency.value,
                "state": RequestState.DRAFT.value,
                "tlp": tlp.value,
                "share_with_secretariat": share,
                "fields": fields,
                "created_by": principal.label,
                "created_at": unit.now,
                "respond_by": respond_by,
                "escalation_level": 0,
                "response_overdue": False,
                "reminders_sent": 0,
            }
            store.insert_request(unit.conn, values, links)
            store.insert_event(
                unit.conn,
                request_id=request_id,
                kind=EventKind.CREATED,
                at=unit.now,
                actor=principal.label,
                org_id=org.id,
                side=Side.REQUESTING,
                to_state=RequestState.DRAFT,
                details={"type": request_type.value, "urgency": urgency.value},
            )
            unit.log(
                AuditEvent(
                    action=EventTag.ASSIST_REQUEST_CREATE,
                    actor=principal.label,
                    org_id=org.id,
                    summary={
                        "request": request_id,
                        "type": request_type.value,
                        "urgency": urgency.value,
                        "requested_country": requested,
                    },
                    subjects=tuple(links),
                )
            )
            if not draft:
                self._apply(
                    unit,
                    principal,
                    request_id,
                    RequestState.SUBMITTED,
                    side=Side.REQUESTING,
                    reason=None,
                    extra={},
                )
        hidden = self._hidden_from(requested, [s.record for s in seen], now)
        return Filed(self.get(principal, request_id, log=False), hidden)

    def edit(self, principal: Principal, request_id: str, body: dict[str, Any]) -> Shown:
        """Change a draft: its fields, links, urgency, markings or deadline."""
        with self.database.read() as conn:
            request = store.get_request(conn, request_id)
        self._visible(principal, request, request_id)
        assert request is not None  # noqa: S101 - _visible raised otherwise
        if self.side_of(principal, request) not in {Side.REQUESTING, Side.EITHER}:
            raise Forbidden(f"only the requesting country ({request.requesting_country}) edits it")
        if request.state is not RequestState.DRAFT:
            raise Conflict(
                f"request {request_id} is {request.state.value}: only a draft can be edited"
            )
        allowed = _ENVELOPE_KEYS - {"requested_country", "type", "draft"}
        unknown = set(body) - allowed - ALL_FIELDS
        if unknown:
            name = min(unknown)
            reason = (
                "cannot change once filed; withdraw the draft and file a new one"
                if name in _ENVELOPE_KEYS
                else "is not a field of an assistance request"
            )
            raise InvalidInput(name, reason)
        now = self.clock.now()
        try:
            urgency = request.urgency
            if "urgency" in body:
                urgency = Urgency.parse(body["urgency"], "urgency")
            merged = dict(request.fields)
            for key in set(body) & ALL_FIELDS:
                merged[key] = body[key]
            fields = clean_fields(merged)
        except AssistError as exc:
            raise _invalid(exc) from None
        _check_urgency(request.type, urgency)
        self._check_fields(principal, request.type, fields, now)
        respond_by = request.respond_by
        if "respond_by" in body:
            respond_by = self._respond_by(body["respond_by"], now)
        links = list(request.links)
        if "links" in body:
            links = self._links(body["links"])
        seen = self._seen_links(principal, links)
        if "tlp" in body:
            tlp = self._tlp(body["tlp"], seen)
        else:
            # New links may raise the floor; the draft's own TLP is kept if it is higher.
            tlp = max(Tlp(request.tlp), self._tlp(None, seen), key=lambda t: t.rank)
        share = body.get("share_with_secretariat", request.share_with_secretariat)
        if not isinstance(share, bool):
            raise InvalidInput("share_with_secretariat", "must be true or false")
        with write_unit(self.database, self.clock) as unit:
            changed = store.update_request(
                unit.conn,
                request_id,
                {
                    "urgency": urgency.value,
                    "fields": fields,
                    "respond_by": respond_by,
                    "tlp": tlp.value,
                    "share_with_secretariat": share,
                },
                where=[assist_requests.c.state == RequestState.DRAFT.value],
            )
            if not changed:
                raise WriteConflict(f"request {request_id} changed meanwhile; read it again")
            store.replace_links(unit.conn, request_id, links)
            store.insert_event(
                unit.conn,
                request_id=request_id,
                kind=EventKind.EDITED,
                at=unit.now,
                actor=principal.label,
                org_id=principal.org.id or None,
                side=Side.REQUESTING,
                details={"changed": sorted(body)},
            )
            unit.log(
                AuditEvent(
                    action=EventTag.ASSIST_REQUEST_EDIT,
                    actor=principal.label,
                    org_id=principal.org.id or None,
                    summary={"request": request_id, "changed": sorted(body)},
                    subjects=tuple(links),
                )
            )
        return self.get(principal, request_id, log=False)

    @staticmethod
    def _respond_by(raw: object, now: datetime) -> int | None:
        if raw is None or raw == "":
            return None
        try:
            at = parse_timestamp(str(raw))
        except ValueError as exc:
            raise InvalidInput("respond_by", str(exc)) from None
        if at <= now:
            raise InvalidInput("respond_by", f"{raw} is in the past; give a time to come")
        return to_micros(at)

    @staticmethod
    def _check_fields(
        principal: Principal, request_type: RequestType, fields: dict[str, Any], now: datetime
    ) -> None:
        expected = fields.get("expected_mla_date")
        if expected and date.fromisoformat(expected) < now.date():
            raise InvalidInput(
                "expected_mla_date", f"{expected} is in the past; give a date to come"
            )
        victim = fields.get("victim_country")
        if victim:
            try:
                parse_country(victim)
            except HandlingError as exc:
                raise InvalidInput("victim_country", str(exc).split(": ", 1)[-1]) from None
        if request_type is RequestType.STOP_PAYMENT and victim and victim != principal.org.country:
            # R34: the victim country's NCB alone initiates a stop-payment.
            raise Forbidden(
                f"a stop-payment request is filed by the victim country's NCB ({victim}); "
                f"{principal.org.country} is not the victim country"
            )

    @staticmethod
    def _check_complete(
        request_type: RequestType, urgency: Urgency, fields: dict[str, Any]
    ) -> None:
        missing = missing_for_submission(request_type, urgency, fields)
        if not missing:
            return
        if request_type is RequestType.PRESERVATION and any("Art. 29" in m for m in missing):
            raise InvalidInput(
                "request",
                "a preservation request needs all six elements of Budapest Art. 29(2); missing: "
                + "; ".join(missing),
            )
        raise InvalidInput(
            "request",
            f"a {urgency.value} {request_type.value} request needs: " + ", ".join(missing),
        )

    @staticmethod
    def _links(raw: object) -> list[str]:
        if raw is None:
            return []
        if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
            raise InvalidInput("links", "must be a list of STIX ids")
        links = list(dict.fromkeys(x.strip() for x in raw if x.strip()))
        if len(links) > MAX_LINKS:
            raise InvalidInput("links", f"at most {MAX_LINKS} records per request")
        return links

    def _seen_links(self, principal: Principal, links: list[str]) -> list[Seen]:
        """The linked records as the filer sees them; a record it may not see is refused as if
        it did not exist."""
        if not links:
            return []
        page = self.records.page(
            principal,
            RecordQuery(stix_ids=frozenset(links)),
            limit=len(links) * 4,
            filters={"assist": "link"},
        )
        found = {seen.record.stix_id: seen for seen in page.items}
        for stix_id in links:
            if stix_id not in found:
                raise NotFound("object", stix_id)
        return [found[s] for s in links]

    @staticmethod
    def _tlp(raw: object, seen: list[Seen]) -> Tlp:
        """The request's TLP: as given, and never below what its linked records carry (the
        request inherits their handling) nor below AMBER (it is a police exchange)."""
        floor = max([Tlp.AMBER, *(s.record.handling.tlp for s in seen)], key=lambda t: t.rank)
        if raw is None or raw == "":
            return floor
        try:
            tlp = Tlp.parse(str(raw))
        except HandlingError as exc:
            raise InvalidInput("tlp", str(exc).split(": ", 1)[-1]) from None
        if tlp.rank < floor.rank:
            raise InvalidInput(
                "tlp", f"{tlp.label} is below {floor.label}, which the linked records carry"
            )
        return tlp

    def _hidden_from(self, country: str, records: list[Record], now: datetime) -> list[str]:
        """Which of `records` the requested country's officers may not read."""
        if not records:
            return []
        with self.database.read() as conn:
            orgs = self._member_countries(conn).get(country, [])
        out = []
        for record in records:
            readers = [
                Principal(org=org, role=Role.DUTY_OFFICER, name="duty-officer") for org in orgs
            ]
            if not any(
                self.policy.decide(
                    p, Action.READ, record, purpose=RecordService.purpose_of(p, None), now=now
                )
                for p in readers
            ):
                out.append(record.stix_id)
        return out

    # -- reading ------------------------------------------------------------------------------

    def get(self, principal: Principal, request_id: str, *, log: bool = True) -> Shown:
        with self.database.read() as conn:
            request = store.get_request(conn, request_id)
            view = self._visible(principal, request, request_id)
            assert request is not None  # noqa: S101 - _visible raised otherwise
            events = store.events_of(conn, [request_id])[request_id]
        links: list[Seen] = []
        if view == View.FULL and request.links:
            links = self.records.page(
                principal,
                RecordQuery(stix_ids=frozenset(request.links)),
                limit=len(request.links) * 4,
                filters={"assist": request_id},
            ).items
        if log:
            self._log_read(principal, [request_id])
        return Shown(request, view, self.side_of(principal, request), events, links)

    def find(
        self,
        principal: Principal,
        *,
        direction: str | None = None,
        state: str | None = None,
        limit: int = 200,
    ) -> list[Shown]:
        """The requests the principal may see: sent by or to its country (the secretariat sees
        every request's envelope)."""
        c = assist_requests.c
        clauses: list[Any] = []
        if state:
            try:
                clauses.append(c.state == RequestState.parse(state, "state").value)
            except AssistError as exc:
                raise _invalid(exc) from None
        country = principal.org.country
        if principal.is_admin or principal.role is Role.ANALYST:
            if direction is not None:
                raise InvalidInput("direction", "sent and received are for member countries")
        elif principal.org.kind is OrgKind.MEMBER and principal.role in FILERS and country:
            if direction == "sent":
                clauses.append(c.requesting_country == country)
            elif direction == "received":
                clauses.append(c.requested_country == country)
            elif direction is None:
                clauses.append((c.requesting_country == country) | (c.requested_country == country))
            else:
                raise InvalidInput("direction", f"{direction!r} is not sent or received")
        else:
            raise Forbidden(f"{principal.label} may not read assistance requests")
        with self.database.read() as conn:
            found = store.find_requests(conn, *clauses, limit=limit)
        shown = []
        for request in found:
            view = self.view_of(principal, request)
            if view is not None:
                shown.append(Shown(request, view, self.side_of(principal, request)))
        if shown:
            self._log_read(principal, [s.request.id for s in shown])
        return shown

    def _log_read(self, principal: Principal, ids: list[str]) -> None:
        with write_unit(self.database, self.clock) as unit:
            unit.log(
                AuditEvent(
                    action=EventTag.ASSIST_REQUEST_READ,
                    actor=principal.label,
                    org_id=principal.org.id or None,
                    summary={"requests": ids},
                )
            )

    # -- the workflow (R25) -------------------------------------------------------------------

    def transition(
        self,
        principal: Principal,
        request_id: str,
        to: str,
        *,
        reason: str | None = None,
        ground: str | None = None,
        answer: str | None = None,
        mla_reference: str | None = None,
    ) -> Shown:
        with self.database.read() as conn:
            request = store.get_request(conn, request_id)
        self._visible(principal, request, request_id)
        assert request is not None  # noqa: S101 - _visible raised otherwise
        try:
            target = RequestState.parse(to, "to")
        except AssistError as exc:
            raise _invalid(exc) from None
        side = transition_side(request.type, request.state, target)
        if side is None:
            possible = ", ".join(s.value for s in next_states(request.type, request.state))
            raise Conflict(
                f"request {request_id} is {request.state.value}; it cannot go to "
                f"{target.value}" + (f" (it may go to: {possible})" if possible else " (final)")
            )
        self._check_actor(principal, request, side, target)
        reason = (reason or "").strip() or None
        extra: dict[str, Any] = {}
        if target is RequestState.REFUSED:
            if not ground:
                allowed = ", ".join(g.value for g in RefusalGround)
                raise InvalidInput("ground", f"a refusal must give its ground: one of {allowed}")
            try:
                extra["refusal_ground"] = RefusalGround.parse(ground, "ground")
            except AssistError as exc:
                raise _invalid(exc) from None
        elif ground:
            raise InvalidInput("ground", "only a refusal carries a ground")
        if target in {RequestState.REFUSED, RequestState.WITHDRAWN} and not reason:
            raise InvalidInput("reason", f"say why the request is {target.value}")
        answer = (answer or "").strip() or None
        if target in ANSWERS - {RequestState.REFUSED} and not answer:
            raise InvalidInput("answer", f"say what was done ({target.value})")
        if answer:
            extra["answer"] = answer
        if target is RequestState.MLA_PENDING:
            mla_reference = (mla_reference or "").strip()
            if not mla_reference:
                raise InvalidInput(
                    "mla_reference", "give the reference of the formal mutual assistance request"
                )
            extra["mla_reference"] = mla_reference
        elif mla_reference:
            raise InvalidInput("mla_reference", "only linking the formal request carries one")
        if target is RequestState.SUBMITTED:
            self._check_complete(request.type, request.urgency, request.fields)
            if request.respond_by is not None and request.respond_by <= to_micros(self.clock.now()):
                raise InvalidInput("respond_by", "the draft's deadline has passed; edit it")
            self._check_fields(principal, request.type, request.fields, self.clock.now())
        with write_unit(self.database, self.clock) as unit:
            self._apply(
                unit,
                principal,
                request_id,
                target,
                side=self._acting_side(principal, request, side),
                reason=reason,
                extra=extra,
                expected=request.state,
            )
        return self.get(principal, request_id, log=False)

    def _check_actor(
        self, principal: Principal, request: AssistanceRequest, side: Side, target: RequestState
    ) -> None:
        if side is Side.SYSTEM:
            raise Forbidden(f"only the deadline sweep moves a request to {target.value}")
        mine = self.side_of(principal, request)
        if mine is Side.EITHER:
            return
        if mine is None:
            raise Forbidden(
                f"{principal.label} is not a party to request {request.id}: only "
                f"{request.requesting_country} and {request.requested_country} act on it"
            )
        if side is not Side.EITHER and mine is not side:
            country = (
                request.requested_country if side is Side.REQUESTED else request.requesting_country
            )
            raise Forbidden(
                f"only the {side.value} country ({country}) may move request {request.id} to "
                f"{target.value}; {principal.org.country} was not asked to"
                if side is Side.REQUESTED
                else f"only the {side.value} country ({country}) may move request {request.id} "
                f"to {target.value}"
            )
        acting = side if side is not Side.EITHER else mine
        if acting is Side.REQUESTED and principal.role is not Role.DUTY_OFFICER:
            raise Forbidden(
                f"only a 24/7 duty officer of {request.requested_country} acknowledges and "
                "answers requests"
            )

    def _acting_side(self, principal: Principal, request: AssistanceRequest, side: Side) -> Side:
        mine = self.side_of(principal, request)
        if side is Side.EITHER and mine is not None:
            return mine
        return side

    def _apply(
        self,
        unit: WriteUnit,
        principal: Principal | None,
        request_id: str,
        target: RequestState,
        *,
        side: Side,
        reason: str | None,
        extra: dict[str, Any],
        expected: RequestState | None = None,
    ) -> AssistanceRequest:
        """Move the request to `target` if it is still where the caller saw it; log it, and
        tell whoever needs to know."""
        conn = unit.conn
        request = store.get_request(conn, request_id, lock=True)
        assert request is not None  # noqa: S101 - callers looked it up
        current = request.state if expected is None else expected
        if request.state is not current:
            raise WriteConflict(
                f"request {request_id} moved to {request.state.value} meanwhile; read it again"
            )
        now = unit.now
        values: dict[str, Any] = {"state": target.value}
        if target is RequestState.SUBMITTED:
            submitted = from_micros(now)
            ack_due = to_micros(
                self.settings.assist_ack_deadlines.of(request.urgency).after(submitted)
            )
            response_due = request.respond_by or to_micros(
                self.settings.assist_response_deadlines.of(request.urgency).after(submitted)
            )
            values.update(
                submitted_at=now,
                ack_due=ack_due,
                response_due=response_due,
                next_escalation_at=ack_due,
                escalation_level=0,
            )
        elif target is RequestState.ACKNOWLEDGED:
            values.update(acknowledged_at=now, next_escalation_at=None)
        if target in ANSWERS and request.answered_at is None:
            values["answered_at"] = now
        if "answer" in extra:
            values["answer"] = extra["answer"]
        if "refusal_ground" in extra:
            values["refusal_ground"] = extra["refusal_ground"].value
        if target is RequestState.PRESERVED:
            until = now + self.settings.assist_preservation_days * _DAY
            values.update(
                preserved_until=until,
                reminders_sent=0,
                next_reminder_at=until - self.settings.assist_reminder_days[0] * _DAY,
            )
        if target is RequestState.MLA_PENDING:
            # R27: the preservation stays in force while the formal request is decided.
            values.update(mla_reference=extra["mla_reference"], next_reminder_at=None)
        if target in TERMINAL:
            values.update(closed_at=now, next_escalation_at=None, next_reminder_at=None)
        moved = store.update_request(
            conn, request_id, values, where=[assist_requests.c.state == current.value]
        )
        if not moved:
            raise WriteConflict(f"request {request_id} moved meanwhile; read it again")
        after = store.get_request(conn, request_id)
        assert after is not None  # noqa: S101 - just updated
        actor = SYSTEM_ACTOR if principal is None else principal.label
        org_id = None if principal is None else principal.org.id or None
        details: dict[str, Any] = {}
        if "refusal_ground" in extra:
            details["ground"] = extra["refusal_ground"].value
        if "mla_reference" in extra:
            details["mla_reference"] = extra["mla_reference"]
        if "answer" in extra:
            details["answer"] = extra["answer"]
        if target is RequestState.PRESERVED:
            details["preserved_until"] = after.preserved_until
        details["notified"] = self._notify_transition(unit, after, target, side)
        store.insert_event(
            conn,
            request_id=request_id,
            kind=EventKind.TRANSITION,
            at=now,
            actor=actor,
            org_id=org_id,
            side=side,
            from_state=current,
            to_state=target,
            reason=reason,
            details=details,
        )
        unit.log(
            AuditEvent(
                action=EventTag.ASSIST_REQUEST_TRANSITION,
                actor=actor,
                org_id=org_id,
                summary={
                    "request": request_id,
                    "from": current.value,
                    "to": target.value,
                    "side": side.value,
                    "reason": reason,
                    **({"ground": details["ground"]} if "ground" in details else {}),
                },
            )
        )
        return after

    def _notify_transition(
        self, unit: WriteUnit, request: AssistanceRequest, target: RequestState, side: Side
    ) -> list[str]:
        requested, requesting = request.requested_country, request.requesting_country
        label = f"{request.urgency.value} {request.type.value} request from {requesting}"
        if target is RequestState.SUBMITTED:
            return self.notifier.notify(
                unit,
                request,
                NotificationKind.NEW_REQUEST,
                f"New {label}: acknowledge it",
                Audience(
                    countries=((requested, None),),
                    contacts=((requested, ContactSlot.PRIMARY),),
                ),
            )
        if target in ANSWERS:
            return self.notifier.notify(
                unit,
                request,
                NotificationKind.ANSWER,
                f"{requested} answered your {request.type.value} request: {target.value}",
                Audience(
                    countries=((requesting, None),),
                    contacts=((requesting, ContactSlot.PRIMARY),),
                ),
            )
        if target is RequestState.EXPIRED:
            return self.notifier.notify(
                unit,
                request,
                NotificationKind.EXPIRED,
                f"Preservation for {requesting} expired without a formal request: release it",
                Audience(
                    countries=((requested, None), (requesting, None)),
                    contacts=((requested, ContactSlot.PRIMARY),),
                ),
            )
        other = requested if side is Side.REQUESTING else requesting
        contacts: tuple[tuple[str, ContactSlot], ...] = ()
        if target is RequestState.WITHDRAWN and request.submitted_at is not None:
            contacts = ((requested, ContactSlot.PRIMARY),)
        if target is RequestState.WITHDRAWN and request.submitted_at is None:
            return []  # a draft nobody else has seen
        return self.notifier.notify(
            unit,
            request,
            NotificationKind.UPDATE,
            f"{label} is now {target.value}",
            Audience(countries=((other, None),), contacts=contacts),
        )

    # -- deadlines (R26, R27) -----------------------------------------------------------------

    def sweep(self, now: datetime | None = None) -> SweepReport:
        """Apply every deadline due at `now` (default: the clock's time): escalate late
        acknowledgements, flag late answers, remind of preservations ending, expire lapsed
        ones, then deliver queued e-mails and webhooks. Each step is claimed with a conditional
        UPDATE, so several sweeps at once take each step once."""
        at = to_micros(now or self.clock.now())
        with self.database.read() as conn:
            escalations = store.due_escalations(conn, at)
            overdue = store.due_overdue(conn, at, AWAITING_REQUESTED)
            reminders = store.due_reminders(conn, at)
        counts = {
            "escalations": sum(self._escalate(i, at) for i in escalations),
            "overdue": sum(self._flag_overdue(i, at) for i in overdue),
            "reminders": sum(self._remind(i, at) for i in reminders),
        }
        with self.database.read() as conn:
            expiries = store.due_expiries(conn, at)
        counts["expired"] = sum(self._expire(i, at) for i in expiries)
        return SweepReport(**counts, delivery=self.deliverer.deliver_due(at))

    def _escalate(self, request_id: str, at: int) -> int:
        done = 0
        while True:
            with write_unit(self.database, self.clock) as unit:
                request = store.get_request(unit.conn, request_id, lock=True)
                if (
                    request is None
                    or request.state is not RequestState.SUBMITTED
                    or request.next_escalation_at is None
                    or request.next_escalation_at > at
                    or request.escalation_level >= TOP_ESCALATION
                ):
                    return done
                level = request.escalation_level + 1
                step = self.settings.assist_escalation_steps.of(request.urgency)
                due = request.next_escalation_at
                next_at = (
                    to_micros(step.after(from_micros(due))) if level < TOP_ESCALATION else None
                )
                c = assist_requests.c
                claimed = store.update_request(
                    unit.conn,
                    request_id,
                    {"escalation_level": level, "next_escalation_at": next_at},
                    where=[
                        c.escalation_level == request.escalation_level,
                        c.state == RequestState.SUBMITTED.value,
                    ],
                )
                if not claimed:
                    return done  # another sweep took this step
                after = store.get_request(unit.conn, request_id)
                assert after is not None  # noqa: S101 - just updated
                notified = self.notifier.notify(
                    unit,
                    after,
                    NotificationKind.ESCALATION,
                    f"Unacknowledged {request.urgency.value} {request.type.value} request from "
                    f"{request.requesting_country} to {request.requested_country}: escalated to "
                    f"{ESCALATION_CHAIN[level]}",
                    self._escalation_audience(request, level),
                )
                self._sweep_event(
                    unit,
                    after,
                    EventKind.ESCALATION,
                    EventTag.ASSIST_REQUEST_ESCALATE,
                    reason=f"not acknowledged by its deadline; paged {ESCALATION_CHAIN[level]}",
                    details={"level": level, "due": due, "as_of": at, "notified": notified},
                )
            done += 1

    @staticmethod
    def _escalation_audience(request: AssistanceRequest, level: int) -> Audience:
        requested, requesting = request.requested_country, request.requesting_country
        if level == 1:
            return Audience(
                countries=((requested, None),), contacts=((requested, ContactSlot.BACKUP),)
            )
        if level == 2:
            return Audience(
                countries=((requested, Role.DUTY_OFFICER), (requesting, None)),
                contacts=((requested, ContactSlot.PRIMARY), (requested, ContactSlot.BACKUP)),
            )
        return Audience(countries=((requesting, None),), desk=True)

    def _flag_overdue(self, request_id: str, at: int) -> int:
        with write_unit(self.database, self.clock) as unit:
            request = store.get_request(unit.conn, request_id, lock=True)
            if request is None or request.response_due is None or request.response_due > at:
                return 0
            c = assist_requests.c
            claimed = store.update_request(
                unit.conn,
                request_id,
                {"response_overdue": True},
                where=[
                    c.response_overdue.is_(False),
                    c.state.in_([s.value for s in AWAITING_REQUESTED]),
                ],
            )
            if not claimed:
                return 0
            notified = self.notifier.notify(
                unit,
                request,
                NotificationKind.OVERDUE,
                f"No answer by its deadline to the {request.urgency.value} "
                f"{request.type.value} request from {request.requesting_country} to "
                f"{request.requested_country}",
                Audience(
                    countries=(
                        (request.requested_country, Role.DUTY_OFFICER),
                        (request.requesting_country, None),
                    ),
                    desk=True,
                    contacts=((request.requested_country, ContactSlot.PRIMARY),),
                ),
            )
            self._sweep_event(
                unit,
                request,
                EventKind.OVERDUE,
                EventTag.ASSIST_REQUEST_OVERDUE,
                reason="no answer by the response deadline",
                details={"due": request.response_due, "as_of": at, "notified": notified},
            )
        return 1

    def _remind(self, request_id: str, at: int) -> int:
        done = 0
        days = self.settings.assist_reminder_days
        while True:
            with write_unit(self.database, self.clock) as unit:
                request = store.get_request(unit.conn, request_id, lock=True)
                if (
                    request is None
                    or request.state is not RequestState.PRESERVED
                    or request.next_reminder_at is None
                    or request.next_reminder_at > at
                    or request.preserved_until is None
                ):
                    return done
                sent = request.reminders_sent
                following = sent + 1
                next_at = (
                    request.preserved_until - days[following] * _DAY
                    if following < len(days)
                    else None
                )
                c = assist_requests.c
                claimed = store.update_request(
                    unit.conn,
                    request_id,
                    {"reminders_sent": following, "next_reminder_at": next_at},
                    where=[
                        c.reminders_sent == sent,
                        c.state == RequestState.PRESERVED.value,
                    ],
                )
                if not claimed:
                    return done
                notified = self.notifier.notify(
                    unit,
                    request,
                    NotificationKind.REMINDER,
                    f"Preservation by {request.requested_country} ends in {days[sent]} days: "
                    "file the formal mutual assistance request and link it",
                    Audience(
                        countries=((request.requesting_country, None),),
                        contacts=((request.requesting_country, ContactSlot.PRIMARY),),
                    ),
                )
                self._sweep_event(
                    unit,
                    request,
                    EventKind.REMINDER,
                    EventTag.ASSIST_REQUEST_REMIND,
                    reason=f"preservation ends in {days[sent]} days",
                    details={
                        "days_before": days[sent],
                        "preserved_until": request.preserved_until,
                        "as_of": at,
                        "notified": notified,
                    },
                )
            done += 1

    def _expire(self, request_id: str, at: int) -> int:
        with write_unit(self.database, self.clock) as unit:
            request = store.get_request(unit.conn, request_id, lock=True)
            if (
                request is None
                or request.state is not RequestState.PRESERVED
                or request.preserved_until is None
                or request.preserved_until > at
            ):
                return 0
            self._apply(
                unit,
                None,
                request_id,
                RequestState.EXPIRED,
                side=Side.SYSTEM,
                reason="no formal request was linked before the preservation ended",
                extra={},
                expected=RequestState.PRESERVED,
            )
        return 1

    @staticmethod
    def _sweep_event(
        unit: WriteUnit,
        request: AssistanceRequest,
        kind: EventKind,
        tag: EventTag,
        *,
        reason: str,
        details: dict[str, Any],
    ) -> None:
        store.insert_event(
            unit.conn,
            request_id=request.id,
            kind=kind,
            at=unit.now,
            actor=SYSTEM_ACTOR,
            org_id=None,
            side=Side.SYSTEM,
            reason=reason,
            details=details,
        )
        unit.log(
            AuditEvent(
                action=tag,
                actor=SYSTEM_ACTOR,
                org_id=None,
                summary={"request": request.id, "reason": reason, **details},
            )
        )

    # -- notifications and deliveries ---------------------------------------------------------

    def notifications(
        self, principal: Principal, *, unread_only: bool = False
    ) -> list[store.Notification]:
        if principal.is_admin or principal.org.id == 0:
            return []
        with self.database.read() as conn:
            return store.notifications_for(
                conn, principal.org.id, principal.role.value, unread_only=unread_only
            )

    def mark_read(self, principal: Principal, notification_id: int) -> None:
        with write_unit(self.database, self.clock) as unit:
            if not store.mark_read(
                unit.conn, notification_id, principal.org.id, principal.role.value, unit.now
            ):
                raise NotFound("notification", str(notification_id))
            unit.log(
                AuditEvent(
                    action=EventTag.ASSIST_NOTIFICATION_READ,
                    actor=principal.label,
                    org_id=principal.org.id or None,
                    summary={"notification": notification_id},
                )
            )

    def _delivery_scope(self, principal: Principal) -> str | None:
        """The country whose deliveries the principal may see; "" for all."""
        if principal.is_admin or principal.role is Role.ANALYST:
            return ""
        if principal.role is Role.NCB_ADMIN and principal.org.country:
            return principal.org.country
        raise Forbidden(f"{principal.label} may not read the delivery outbox")

    def deliveries(self, principal: Principal, *, state: str | None = None) -> list[store.Delivery]:
        """E-mails and webhooks, newest first: the secretariat sees all, an NCB administrator
        those to its country's contacts."""
        scope = self._delivery_scope(principal)
        try:
            wanted = None if not state else DeliveryState(state.strip().lower())
        except ValueError:
            raise InvalidInput("state", f"{state!r} is not pending, sent or failed") from None
        with self.database.read() as conn:
            return store.list_deliveries(conn, country=scope or None, state=wanted)

    def retry_delivery(self, principal: Principal, delivery_id: int) -> store.Delivery:
        scope = self._delivery_scope(principal)
        with write_unit(self.database, self.clock) as unit:
            found = store.delivery(unit.conn, delivery_id)
            if found is None or (scope and found.country != scope):
                raise NotFound("delivery", str(delivery_id))
            if found.state is not DeliveryState.FAILED:
                raise Conflict(f"delivery {delivery_id} is {found.state.value}, not failed")
            store.finish_delivery(
                unit.conn,
                delivery_id,
                {"state": DeliveryState.PENDING.value, "attempts": 0, "next_attempt_at": unit.now},
            )
            unit.log(
                AuditEvent(
                    action=EventTag.ASSIST_DELIVERY_RETRY,
                    actor=principal.label,
                    org_id=principal.org.id or None,
                    summary={"delivery": delivery_id},
                )
            )
            again = store.delivery(unit.conn, delivery_id)
        assert again is not None  # noqa: S101 - just updated
        return again

    # -- figures ------------------------------------------------------------------------------

    def figures(self, principal: Principal, now: datetime | None = None) -> list[CountryFigures]:
        """Per requested country: times to acknowledge and to answer, overdue counts. Member
        countries see their own line; the secretariat every line."""
        at = to_micros(now or self.clock.now())
        c = assist_requests.c
        clauses: list[Any] = [c.submitted_at.is_not(None)]
        if principal.is_admin or principal.role in {Role.ANALYST, Role.AUDITOR}:
            pass
        elif principal.org.kind is OrgKind.MEMBER and principal.org.country:
            clauses.append(c.requested_country == principal.org.country)
        else:
            raise Forbidden(f"{principal.label} may not read the network's figures")
        with self.database.read() as conn:
            found = store.find_requests(conn, *clauses)
            countries = sorted(self._member_countries(conn))
        if not (principal.is_admin or principal.role in {Role.ANALYST, Role.AUDITOR}):
            countries = [principal.org.country or ""]
        by_country: dict[str, list[AssistanceRequest]] = {c: [] for c in countries}
        for request in found:
            by_country.setdefault(request.requested_country, []).append(request)
        return [_figures(country, items, at) for country, items in sorted(by_country.items())]

    # -- incidents ----------------------------------------------------------------------------

    def requests_about(self, principal: Principal, stix_id: str) -> list[Shown]:
        """The requests linking `stix_id` that the principal's country is party to."""
        with self.database.read() as conn:
            ids = store.requests_linking(conn, stix_id)
            found = store.find_requests(conn, assist_requests.c.id.in_(ids)) if ids else []
            events = store.events_of(conn, [r.id for r in found])
        return [
            Shown(request, View.FULL, side, events[request.id])
            for request in found
            if (side := self.side_of(principal, request)) is not None
        ]


def _check_urgency(request_type: RequestType, urgency: Urgency) -> None:
    if request_type is RequestType.STOP_PAYMENT and urgency is not Urgency.EMERGENCY:
        # R34: a stop-payment follows the emergency deadlines.
        raise InvalidInput("urgency", "a stop-payment request is an emergency (R34)")


def _median(values: list[int]) -> float | None:
    return None if not values else statistics.median(values) / 1_000_000


def _figures(country: str, items: list[AssistanceRequest], at: int) -> CountryFigures:
    acked = [
        r.acknowledged_at - r.submitted_at for r in items if r.acknowledged_at and r.submitted_at
    ]
    answered = [r.answered_at - r.submitted_at for r in items if r.answered_at and r.submitted_at]
    return CountryFigures(
        country=country,
        received=len(items),
        acknowledged=sum(1 for r in items if r.acknowledged_at is not None),
        answered=sum(1 for r in items if r.answered_at is not None),
        open=sum(1 for r in items if r.state not in TERMINAL),
        median_seconds_to_acknowledge=_median(acked),
        median_seconds_to_answer=_median(answered),
        acknowledgement_overdue=sum(
            1
            for r in items
            if r.state is RequestState.SUBMITTED and r.ack_due is not None and r.ack_due <= at
        ),
        response_overdue=sum(
            1
            for r in items
            if r.state in AWAITING_REQUESTED and r.response_due is not None and r.response_due <= at
        ),
        escalated=sum(1 for r in items if r.escalation_level > 0),
    )
