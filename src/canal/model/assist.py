"""The 24/7 network (DOMAIN.md §3): points of contact, assistance requests and their workflow.

Plain types and pure rules: which fields a request needs (R24, R34), which transitions the
state machine allows and which side takes each (R25).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any


class AssistError(ValueError):
    """A request or contact value canal cannot accept; names the field and why."""

    def __init__(self, field_name: str, reason: str) -> None:
        self.field_name = field_name
        self.reason = reason
        super().__init__(f"{field_name}: {reason}")


class _Parsed(StrEnum):
    @classmethod
    def parse(cls, raw: object, what: str) -> Any:
        text = str(raw).strip().lower().replace("_", "-")
        try:
            return cls(text)
        except ValueError:
            allowed = ", ".join(m.value for m in cls)
            raise AssistError(what, f"{raw!r} is not one of {allowed}") from None


class ContactSlot(_Parsed):
    PRIMARY = "primary"
    BACKUP = "backup"


class RequestType(_Parsed):
    PRESERVATION = "preservation"
    EMERGENCY_DISCLOSURE = "emergency-disclosure"
    INCIDENT_ASSISTANCE = "incident-assistance"
    POST_INCIDENT_SUPPORT = "post-incident-support"
    TECHNICAL_ADVICE = "technical-advice"
    LOCATE_SUSPECT = "locate-suspect"
    LEGAL_INFO = "legal-info"
    STOP_PAYMENT = "stop-payment"


class Urgency(_Parsed):
    EMERGENCY = "emergency"  # significant and imminent risk to the life or safety of a person
    URGENT = "urgent"  # volatile evidence, or an attack in progress
    ROUTINE = "routine"


class RequestState(_Parsed):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in-progress"
    EXECUTED = "executed"
    PARTIALLY_EXECUTED = "partially-executed"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"
    PRESERVED = "preserved"
    MLA_PENDING = "mla-pending"
    MLA_RECEIVED = "mla-received"
    CLOSED = "closed"
    EXPIRED = "expired"


class Side(StrEnum):
    """Who takes a transition."""

    REQUESTING = "requesting"
    REQUESTED = "requested"
    EITHER = "either"
    SYSTEM = "system"


class RefusalGround(_Parsed):
    """The grounds on which a 24/7 request may be refused (Budapest Art. 29(5)-(6))."""

    POLITICAL_OFFENCE = "political-offence"
    ESSENTIAL_INTERESTS = "sovereignty-security-ordre-public"
    WOULD_PREJUDICE = "would-prejudice-investigation"


S = RequestState
#: The state machine (DOMAIN.md §3.3, R25) and the side that takes each step.
TRANSITIONS: dict[tuple[RequestState, RequestState], Side] = {
    (S.DRAFT, S.SUBMITTED): Side.REQUESTING,
    (S.DRAFT, S.WITHDRAWN): Side.REQUESTING,
    (S.SUBMITTED, S.ACKNOWLEDGED): Side.REQUESTED,
    (S.SUBMITTED, S.WITHDRAWN): Side.REQUESTING,
    (S.ACKNOWLEDGED, S.IN_PROGRESS): Side.REQUESTED,
    (S.ACKNOWLEDGED, S.REFUSED): Side.REQUESTED,
    (S.ACKNOWLEDGED, S.WITHDRAWN): Side.REQUESTING,
    (S.IN_PROGRESS, S.EXECUTED): Side.REQUESTED,
    (S.IN_PROGRESS, S.PARTIALLY_EXECUTED): Side.REQUESTED,
    (S.IN_PROGRESS, S.PRESERVED): Side.REQUESTED,
    (S.IN_PROGRESS, S.REFUSED): Side.REQUESTED,
    (S.IN_PROGRESS, S.WITHDRAWN): Side.REQUESTING,
    # Preservation: the formal request is filed (mla-pending), received, decided (closed); or
    # nothing is filed in time and the preservation lapses (expired).
    (S.PRESERVED, S.MLA_PENDING): Side.REQUESTING,
    (S.PRESERVED, S.WITHDRAWN): Side.REQUESTING,
    (S.PRESERVED, S.EXPIRED): Side.SYSTEM,
    (S.MLA_PENDING, S.MLA_RECEIVED): Side.REQUESTED,
    (S.MLA_PENDING, S.WITHDRAWN): Side.REQUESTING,
    (S.MLA_RECEIVED, S.CLOSED): Side.EITHER,
    # The requesting country closes a request once it has read the answer.
    (S.EXECUTED, S.CLOSED): Side.REQUESTING,
    (S.PARTIALLY_EXECUTED, S.CLOSED): Side.REQUESTING,
    (S.REFUSED, S.CLOSED): Side.REQUESTING,
}
del S

PRESERVATION_ONLY = frozenset({RequestState.PRESERVED})
NOT_FOR_PRESERVATION = frozenset({RequestState.EXECUTED, RequestState.PARTIALLY_EXECUTED})
#: No transition leaves these.
TERMINAL = frozenset({RequestState.WITHDRAWN, RequestState.CLOSED, RequestState.EXPIRED})
#: Reaching one of these answers the request (time to answer, "answer" notifications).
ANSWERS = frozenset(
    {
        RequestState.EXECUTED,
        RequestState.PARTIALLY_EXECUTED,
        RequestState.REFUSED,
        RequestState.PRESERVED,
    }
)
#: Still waiting for the requested country to act: its deadlines run.
AWAITING_REQUESTED = frozenset(
    {RequestState.SUBMITTED, RequestState.ACKNOWLEDGED, RequestState.IN_PROGRESS}
)


def transition_side(
    request_type: RequestType, current: RequestState, target: RequestState
) -> Side | None:
    """Who may move a request of `request_type` from `current` to `target`; None if no one."""
    side = TRANSITIONS.get((current, target))
    if side is None:
        return None
    preservation = request_type is RequestType.PRESERVATION
    if target in PRESERVATION_ONLY and not preservation:
        return None
    if target in NOT_FOR_PRESERVATION and preservation:
        return None
    return side


def next_states(request_type: RequestType, current: RequestState) -> list[RequestState]:
    return [
        target
        for (source, target) in TRANSITIONS
        if source is current and transition_side(request_type, current, target) is not None
    ]


# -- request content (DOMAIN.md §3.2) -------------------------------------------------------

#: Free-text fields and their longest accepted length.
TEXT_FIELDS: dict[str, int] = {
    "offence": 500,
    "facts": 20_000,
    "contact_phone": 40,
    "contact_name": 200,
    # preservation, Art. 29(2) a-f
    "authority": 500,
    "data_description": 5_000,
    "data_relation": 5_000,
    "custodian_location": 2_000,
    "necessity": 5_000,
    # emergency
    "risk_nature": 5_000,
    "persons_at_risk": 2_000,
    "why_not_mla": 5_000,
    # stop-payment
    "victim_country": 2,
    "amount": 32,
    "currency": 3,
    "beneficiary_account": 64,
    "beneficiary_bank": 300,
    "transaction_reference": 200,
    "transaction_date": 10,
    "expected_mla_date": 10,
}
BOOL_FIELDS = frozenset({"mla_intended"})
ALL_FIELDS = frozenset(TEXT_FIELDS) | BOOL_FIELDS

COMMON_REQUIRED = ("offence", "facts", "contact_phone")
#: Budapest Art. 29(2): a preservation request shall specify all of these (R24).
PRESERVATION_ELEMENTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("(a) the authority seeking the preservation", ("authority",)),
    ("(b) the offence and a brief summary of the facts", ("offence", "facts")),
    (
        "(c) the stored data to be preserved and its relationship to the offence",
        ("data_description", "data_relation"),
    ),
    ("(d) the custodian of the data or the location of the system", ("custodian_location",)),
    ("(e) the necessity of the preservation", ("necessity",)),
    ("(f) that a mutual assistance request will be submitted", ("mla_intended",)),
)
EMERGENCY_REQUIRED = ("risk_nature", "persons_at_risk", "why_not_mla")
STOP_PAYMENT_REQUIRED = (
    "victim_country",
    "amount",
    "currency",
    "beneficiary_account",
    "beneficiary_bank",
)

_AMOUNT = re.compile(r"^\d{1,15}(\.\d{1,4})?$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


def clean_fields(raw: dict[str, Any]) -> dict[str, Any]:
    """The request's content fields, type-checked and trimmed (not yet checked complete)."""
    out: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in ALL_FIELDS:
            raise AssistError(name, "is not a field of an assistance request")
        if value is None:
            continue
        if name in BOOL_FIELDS:
            if not isinstance(value, bool):
                raise AssistError(name, "must be true or false")
            out[name] = value
            continue
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise AssistError(name, "must be text")
        text = str(value).strip()
        if len(text) > TEXT_FIELDS[name]:
            raise AssistError(name, f"is longer than {TEXT_FIELDS[name]} characters")
        if not text:
            continue
        if name in {"transaction_date", "expected_mla_date"}:
            try:
                date.fromisoformat(text)
            except ValueError:
                raise AssistError(name, f"{text!r} is not a date (YYYY-MM-DD)") from None
        if name == "amount" and not _AMOUNT.match(text):
            raise AssistError(name, f"{text!r} is not an amount such as 125000.00")
        if name == "currency":
            text = text.upper()
            if not _CURRENCY.match(text):
                raise AssistError(name, f"{text!r} is not an ISO 4217 code such as EUR")
        if name == "victim_country":
            text = text.upper()
        out[name] = text
    return out


def missing_for_submission(
    request_type: RequestType, urgency: Urgency, fields: dict[str, Any]
) -> list[str]:
    """What a request still lacks before it may be submitted, each named; [] when complete."""

    def filled(name: str) -> bool:
        value = fields.get(name)
        return value is True if name in BOOL_FIELDS else bool(value)

    missing = [name for name in COMMON_REQUIRED if not filled(name)]
    if request_type is RequestType.PRESERVATION:
        for label, names in PRESERVATION_ELEMENTS:
            lacking = [n for n in names if not filled(n)]
            if lacking:
                missing.append(f"Art. 29(2){label} ({', '.join(lacking)})")
    if request_type is RequestType.STOP_PAYMENT:
        missing += [name for name in STOP_PAYMENT_REQUIRED if not filled(name)]
    elif urgency is Urgency.EMERGENCY or request_type is RequestType.EMERGENCY_DISCLOSURE:
        missing += [name for name in EMERGENCY_REQUIRED if not filled(name)]
    return list(dict.fromkeys(missing))


# -- stored things ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Contact:
    """One 24/7 point of contact of a member country."""

    id: int
    country: str
    slot: ContactSlot
    name: str
    phone: str | None
    email: str | None
    webhook_url: str | None
    #: The key that signs webhooks to this contact; never shown back.
    webhook_secret: str | None
    hours: str
    languages: tuple[str, ...]
    active: bool
    updated_at: int
    updated_by: str


@dataclass(frozen=True, slots=True)
class AssistanceRequest:
    id: str
    requesting_org_id: int
    requesting_country: str
    requested_country: str
    type: RequestType
    urgency: Urgency
    state: RequestState
    tlp: str
    share_with_secretariat: bool
    fields: dict[str, Any]
    links: tuple[str, ...]
    created_by: str
    created_at: int
    submitted_at: int | None = None
    acknowledged_at: int | None = None
    answered_at: int | None = None
    closed_at: int | None = None
    ack_due: int | None = None
    response_due: int | None = None
    respond_by: int | None = None
    escalation_level: int = 0
    next_escalation_at: int | None = None
    response_overdue: bool = False
    preserved_until: int | None = None
    reminders_sent: int = 0
    next_reminder_at: int | None = None
    mla_reference: str | None = None
    answer: str | None = None
    refusal_ground: RefusalGround | None = None


class EventKind(StrEnum):
    CREATED = "created"
    TRANSITION = "transition"
    EDITED = "edited"
    ESCALATION = "escalation"
    OVERDUE = "overdue"
    REMINDER = "reminder"


@dataclass(frozen=True, slots=True)
class RequestEvent:
    """One line of a request's history: who did what, when, and why."""

    id: int
    request_id: str
    kind: EventKind
    at: int
    actor: str
    org_id: int | None
    side: Side
    from_state: RequestState | None = None
    to_state: RequestState | None = None
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


#: The escalation chain when an acknowledgement is late (R26): level -> who is paged.
ESCALATION_CHAIN = {
    1: "the backup 24/7 contact of the requested country",
    2: "the duty officers of the requested country's NCB",
    3: "the secretariat's duty desk",
}
TOP_ESCALATION = max(ESCALATION_CHAIN)


class NotificationKind(StrEnum):
    NEW_REQUEST = "new-request"
    ESCALATION = "escalation"
    OVERDUE = "overdue"
    REMINDER = "reminder"
    ANSWER = "answer"
    UPDATE = "update"
    EXPIRED = "expired"
    #: New data links to the recipient's records (analysis.alerts), outside any request.
    LINK_ALERT = "link-alert"


class DeliveryState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class Channel(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"
