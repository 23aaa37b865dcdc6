"""The processing log's vocabulary and its hash chain (pure functions; the store persists)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson

GENESIS_HASH = "0" * 64


class EventTag(StrEnum):
    """What happened, as "scope:subject:action"."""

    RECORD_CREATE = "data:record:create"
    RECORD_VERSION = "data:record:version"
    RECORD_REVOKE = "data:record:revoke"
    RECORD_READ = "data:record:read"
    RECORD_SEARCH = "data:record:search"
    RECORD_EXPORT = "data:record:export"
    RECORD_DELETE = "data:record:delete"
    RECORD_UPDATE = "data:record:update"
    RECORD_REVIEW = "data:record:review"
    RECORD_SHARE = "data:record:share"
    RECORD_RELEASE = "data:record:release"
    RECORD_REJECT = "data:record:reject"
    PROPOSAL_CREATE = "data:proposal:create"
    PROPOSAL_ACCEPT = "data:proposal:accept"
    PROPOSAL_REJECT = "data:proposal:reject"
    ORG_CREATE = "admin:org:create"
    ORG_UPDATE = "admin:org:update"
    LOOKUP = "data:observable:lookup"
    CORRELATION_REBUILD = "data:cluster:rebuild"
    LOCAL_LIST_UPDATE = "admin:local-list:update"
    BLOOM_EXPORT = "data:observable:bloom-export"
    BLOOM_ROTATE = "admin:bloom-key:rotate"
    ALERT_CHANNELS_SET = "admin:alert-channels:set"
    ALERT_CHANNELS_CLEAR = "admin:alert-channels:clear"
    SECURITY_RATE_LIMIT = "security:lookup:rate-limit"
    TOKEN_CREATE = "admin:token:create"  # noqa: S105 - an event name
    TOKEN_REVOKE = "admin:token:revoke"  # noqa: S105 - an event name
    ASSIST_CONTACT_SET = "assist:contact:set"
    ASSIST_CONTACT_REMOVE = "assist:contact:remove"
    ASSIST_REQUEST_CREATE = "assist:request:create"
    ASSIST_REQUEST_EDIT = "assist:request:edit"
    ASSIST_REQUEST_READ = "assist:request:read"
    ASSIST_REQUEST_TRANSITION = "assist:request:transition"
    ASSIST_REQUEST_ESCALATE = "assist:request:escalate"
    ASSIST_REQUEST_OVERDUE = "assist:request:overdue"
    ASSIST_REQUEST_REMIND = "assist:request:remind"
    ASSIST_NOTIFICATION_READ = "assist:notification:read"
    ASSIST_DELIVERY_SENT = "assist:delivery:sent"
    ASSIST_DELIVERY_FAILED = "assist:delivery:failed"
    ASSIST_DELIVERY_RETRY = "assist:delivery:retry"
    ASSIST_INCIDENT_CLOSE = "assist:incident:close"
    ASSIST_PACKAGE_CREATE = "assist:package:create"


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One operation, before it is placed in the chain."""

    action: EventTag
    actor: str
    org_id: int | None
    summary: dict[str, Any] = field(default_factory=dict)
    #: The STIX ids the operation concerned, indexed so a source can list them.
    subjects: tuple[str, ...] = ()
    purpose: str | None = None


@dataclass(frozen=True, slots=True)
class LogEntry:
    seq: int
    at: int
    actor: str
    org_id: int | None
    action: str
    purpose: str | None
    summary: str
    prev_hash: str
    hash: str


def summary_json(event: AuditEvent) -> str:
    body = dict(event.summary)
    if event.subjects:
        body["subjects"] = list(event.subjects)
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS).decode()


def entry_hash(
    *,
    prev_hash: str,
    seq: int,
    at: int,
    actor: str,
    org_id: int | None,
    action: str,
    purpose: str | None,
    summary: str,
) -> str:
    """The hash of one entry: it covers the previous entry's hash, so any edit, removal or
    reordering breaks every hash after it."""
    material = orjson.dumps([prev_hash, seq, at, actor, org_id, action, purpose, summary])
    return hashlib.sha256(material).hexdigest()
