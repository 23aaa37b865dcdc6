"""TAXII 2.1 collections: what each means, who may read and write it, and the reads and writes
behind the endpoints. Every read goes through RecordService (the policy's filter and decision,
and the processing log); every write through IngestService. See docs/taxii.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import orjson
from sqlalchemy import ColumnElement, and_, delete, exists, false, func, or_, select, update

from canal.clock import Clock
from canal.errors import CanalError, Forbidden, InvalidInput, NotFound
from canal.exchange.ransomware import RansomwareIndex
from canal.ingest.service import IngestService, ObjectResult, ObjectStatus
from canal.model.audit import AuditEvent, EventTag
from canal.model.handling import Audience, HandlingDefaults, Purpose, Tlp
from canal.model.org import Principal, Role
from canal.model.stix import ID_RE, TIMESTAMP_RE, TYPE_RE, format_micros, to_micros
from canal.policy import Action, Policy
from canal.records.service import Page, RecordService, Seen
from canal.store.database import Database
from canal.store.records import RecordQuery
from canal.store.tables import handlings, records, taxii_status
from canal.store.tables import ransomware_links as links
from canal.store.unit import write_unit

T21 = "application/taxii+json;version=2.1"
STIX21 = "application/stix+json;version=2.1"
#: The most objects one page holds; a larger `limit` gets this many (TAXII 2.1 §3.5 lets the
#: server return fewer than asked).
MAX_PAGE = 1000


class CollectionKind(StrEnum):
    LAW_ENFORCEMENT = "law-enforcement"
    PARTNERS = "partners"
    OWN = "own"
    RANSOMWARE = "ransomware"


@dataclass(frozen=True, slots=True)
class CollectionDef:
    kind: CollectionKind
    #: Stable UUIDv4 identifiers: clients store them.
    id: str
    title: str
    description: str
    #: Handling for what is written here and carries none of its own.
    defaults: HandlingDefaults


COLLECTIONS: tuple[CollectionDef, ...] = (
    CollectionDef(
        CollectionKind.LAW_ENFORCEMENT,
        "0f3c5f1e-7a2b-4c8e-9d41-6b2f8e1a9c37",
        "Law enforcement",
        "Every record the caller may read for its purpose: the law-enforcement community's "
        "channel. Written objects default to TLP:AMBER, law enforcement only.",
        HandlingDefaults(tlp=Tlp.AMBER, audience=Audience.LAW_ENFORCEMENT),
    ),
    CollectionDef(
        CollectionKind.PARTNERS,
        "5b8d2a64-3e1f-4f7a-8c26-d94e0b7f1a52",
        "Partners",
        "Records whose source opened them to the private partners. Written objects default to "
        "TLP:GREEN, audience partners.",
        HandlingDefaults(tlp=Tlp.GREEN, audience=Audience.PARTNERS),
    ),
    CollectionDef(
        CollectionKind.OWN,
        "a41e9c07-52d8-4b63-b1f5-7c3d26e8f0a9",
        "Own submissions",
        "What the caller's organisation submitted, under any handling. Written objects take "
        "the organisation's own defaults.",
        HandlingDefaults(),
    ),
    CollectionDef(
        CollectionKind.RANSOMWARE,
        "c7f20b3d-9a14-4e5c-8b67-2d0e5f9a1b84",
        "Ransomware",
        "Ransomware: malware typed or known as a ransomware family, objects about ransomware, "
        "what references them, and the far ends of their relationships and sightings, as far "
        "as the caller may read them. Written objects default to TLP:AMBER, law enforcement "
        "only.",
        HandlingDefaults(tlp=Tlp.AMBER, audience=Audience.LAW_ENFORCEMENT),
    ),
)
COLLECTIONS_BY_ID = {c.id: c for c in COLLECTIONS}
_ALIASES = {c.kind.value: c for c in COLLECTIONS}


@dataclass(frozen=True, slots=True)
class Access:
    collection: CollectionDef
    can_read: bool
    can_write: bool


def access(principal: Principal, collection: CollectionDef) -> Access | None:
    """What `principal` may do with `collection`; None when it may not know it exists."""
    role = principal.role
    if role is Role.AUDITOR:
        # Auditors read the processing log, never records.
        return None
    if role is Role.PARTNER:
        if collection.kind is CollectionKind.LAW_ENFORCEMENT:
            return None
        writable = collection.kind is not CollectionKind.RANSOMWARE
        return Access(collection, can_read=True, can_write=writable)
    return Access(collection, can_read=True, can_write=True)


# -- filters ----------------------------------------------------------------------------------

_SPEC_VERSION = "2.1"
_KEYWORDS = frozenset({"first", "last", "all"})


class Endpoint(StrEnum):
    OBJECTS = "objects"
    MANIFEST = "manifest"
    OBJECT = "object"
    VERSIONS = "versions"
    DELETE = "delete"


#: The parameters each endpoint reads (TAXII 2.1 §5); others are ignored (§3.4.1 lets a server
#: ignore what it does not support).
_PARAMS: dict[Endpoint, frozenset[str]] = {
    Endpoint.OBJECTS: frozenset(
        {
            "added_after",
            "limit",
            "next",
            "match[id]",
            "match[type]",
            "match[version]",
            "match[spec_version]",
        }
    ),
    Endpoint.MANIFEST: frozenset(
        {
            "added_after",
            "limit",
            "next",
            "match[id]",
            "match[type]",
            "match[version]",
            "match[spec_version]",
        }
    ),
    Endpoint.OBJECT: frozenset(
        {"added_after", "limit", "next", "match[version]", "match[spec_version]"}
    ),
    Endpoint.VERSIONS: frozenset({"added_after", "limit", "next", "match[spec_version]"}),
    Endpoint.DELETE: frozenset({"match[version]", "match[spec_version]"}),
}


@dataclass(frozen=True, slots=True)
class Filters:
    added_after: int | None = None
    limit: int = MAX_PAGE
    next: str | None = None
    ids: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    #: Keywords (first, last, all) and timestamps in microseconds; empty means the default.
    version_keywords: frozenset[str] = frozenset()
    version_times: frozenset[int] = frozenset()
    spec_versions: frozenset[str] = frozenset()

    def binding(self) -> tuple[object, ...]:
        """What a `next` cursor stays bound to (not the page size: clients change it)."""
        return (
            self.added_after,
            sorted(self.ids),
            sorted(self.types),
            sorted(self.version_keywords),
            sorted(self.version_times),
            sorted(self.spec_versions),
        )

    def summary(self) -> dict[str, Any]:
        """For the processing log."""
        out: dict[str, Any] = {}
        if self.added_after is not None:
            out["added_after"] = format_micros(self.added_after)
        if self.ids:
            out["id"] = sorted(self.ids)
        if self.types:
            out["type"] = sorted(self.types)
        versions = sorted(self.version_keywords) + [format_micros(t) for t in self.version_times]
        if versions:
            out["version"] = versions
        if self.spec_versions:
            out["spec_version"] = sorted(self.spec_versions)
        return out


def _timestamp(name: str, raw: str) -> int:
    if TIMESTAMP_RE.match(raw) is None:
        raise InvalidInput(name, f"{raw!r} is not a timestamp (YYYY-MM-DDTHH:MM:SS[.ssssss]Z)")
    try:
        return to_micros(datetime.fromisoformat(raw))
    except ValueError as exc:
        raise InvalidInput(name, f"{raw!r} is not a real date ({exc})") from None


def _values(name: str, raw: str) -> list[str]:
    values = raw.split(",")
    if any(not v or v != v.strip() for v in values):
        raise InvalidInput(name, "values are comma-separated, without spaces or empty items")
    if len(set(values)) != len(values):
        raise InvalidInput(name, "a value is repeated")
    return values


def parse_filters(params: Iterable[tuple[str, str]], endpoint: Endpoint) -> Filters:
    """The query parameters of a TAXII request; InvalidInput (400) names a malformed one."""
    known = _PARAMS[endpoint]
    given: dict[str, str] = {}
    for name, value in params:
        if name not in known:
            continue
        if name in given:
            raise InvalidInput(name, "appears more than once")
        given[name] = value
    values: dict[str, Any] = {}
    if "added_after" in given:
        values["added_after"] = _timestamp("added_after", given["added_after"])
    if "limit" in given:
        raw = given["limit"]
        if not raw.isdigit() or int(raw) <= 0:
            raise InvalidInput("limit", f"{raw!r} is not a positive integer")
        values["limit"] = min(int(raw), MAX_PAGE)
    if "next" in given:
        if not given["next"]:
            raise InvalidInput("next", "is empty")
        values["next"] = given["next"]
    if "match[id]" in given:
        ids = _values("match[id]", given["match[id]"])
        bad = [v for v in ids if ID_RE.match(v) is None]
        if bad:
            raise InvalidInput("match[id]", f"{bad[0]!r} is not a STIX identifier")
        values["ids"] = frozenset(ids)
    if "match[type]" in given:
        types = _values("match[type]", given["match[type]"])
        bad = [v for v in types if TYPE_RE.match(v) is None]
        if bad:
            raise InvalidInput("match[type]", f"{bad[0]!r} is not a STIX type name")
        values["types"] = frozenset(types)
    if "match[version]" in given:
        items = _values("match[version]", given["match[version]"])
        keywords = frozenset(v for v in items if v in _KEYWORDS)
        if "all" in keywords and len(items) > 1:
            raise InvalidInput("match[version]", "'all' cannot be combined with other values")
        times = [_timestamp("match[version]", v) for v in items if v not in _KEYWORDS]
        if len(set(times)) != len(times):
            raise InvalidInput("match[version]", "a timestamp is repeated")
        values["version_keywords"] = keywords
        values["version_times"] = frozenset(times)
    if "match[spec_version]" in given:
        specs = _values("match[spec_version]", given["match[spec_version]"])
        bad = [
            v
            for v in specs
            if len(v) != 3 or not (v[0].isdigit() and v[1] == "." and v[2].isdigit())
        ]
        if bad:
            raise InvalidInput("match[spec_version]", f"{bad[0]!r} is not a version like 2.1")
        values["spec_versions"] = frozenset(specs)
    return Filters(**values)


# -- status -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatusResource:
    id: str
    request_timestamp: int
    successes: list[dict[str, str]]
    failures: list[dict[str, str]]
    pendings: list[dict[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The TAXII status resource (§4.3.1); empty lists are left out (§2)."""
        out: dict[str, Any] = {
            "id": self.id,
            "status": "pending" if self.pendings else "complete",
            "request_timestamp": format_micros(self.request_timestamp),
            "total_count": len(self.successes) + len(self.failures) + len(self.pendings),
            "success_count": len(self.successes),
            "failure_count": len(self.failures),
            "pending_count": len(self.pendings),
        }
        for key in ("successes", "failures", "pendings"):
            items = getattr(self, key)
            if items:
                out[key] = items
        return out


_MESSAGES = {
    ObjectStatus.CREATED: "created",
    ObjectStatus.NEW_VERSION: "stored as a new version",
    ObjectStatus.DUPLICATE: "already held: an exact duplicate",
}


def _detail(result: ObjectResult, obj: Any, fallback_version: str) -> dict[str, str]:
    version = None if result.version is None else format_micros(result.version)
    if version is None and isinstance(obj, dict):
        raw = obj.get("modified", obj.get("created"))
        version = raw if isinstance(raw, str) else None
    message = result.reason or _MESSAGES.get(result.status, result.status.value)
    return {
        "id": result.stix_id or f"object {result.index}",
        "version": version or fallback_version,
        "message": message,
    }


# -- ransomware -------------------------------------------------------------------------------


def _ransomware_clause(
    policy: Policy, principal: Principal, purpose: Purpose, now: datetime
) -> ColumnElement[bool]:
    """Members of the ransomware collection whose seed (and relationship, when the membership
    comes through one) the caller may read: membership never hints at a hidden record."""
    seed = records.alias("rw_seed")
    via = records.alias("rw_via")
    seed_visible = policy.visible_clause(principal, purpose=purpose, now=now, table=seed)
    via_visible = policy.visible_clause(principal, purpose=purpose, now=now, table=via)
    seed_exists = exists(
        select(seed.c.pk).where(
            and_(
                seed.c.stix_id == links.c.seed_id,
                *(() if seed_visible is None else (seed_visible,)),
            )
        )
    )
    via_exists = exists(
        select(via.c.pk).where(
            and_(via.c.stix_id == links.c.via_id, *(() if via_visible is None else (via_visible,)))
        )
    )
    members = select(links.c.stix_id).where(
        and_(seed_exists, or_(links.c.via_id == "", via_exists))
    )
    return records.c.stix_id.in_(members)


# -- the service ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ObjectsPage:
    items: list[Seen]
    more: bool
    #: Position to resume after (a date_added), when `more`.
    next_after: int | None


class TaxiiService:
    def __init__(
        self,
        *,
        database: Database,
        clock: Clock,
        policy: Policy,
        records: RecordService,
        ingest: IngestService,
        status_days: int,
    ) -> None:
        self.database = database
        self.clock = clock
        self.policy = policy
        self.records = records
        self.ingest = ingest
        self.status_days = status_days
        self.ransomware = RansomwareIndex(database=database, clock=clock)

    # Collections

    def collections(self, principal: Principal) -> list[Access]:
        """The collections `principal` may know of, always in the same order (§3.3)."""
        found = [access(principal, c) for c in COLLECTIONS]
        return [a for a in found if a is not None]

    def collection(self, principal: Principal, collection_id: str) -> Access:
        """NotFound for a collection that does not exist or that the caller may not know."""
        found = COLLECTIONS_BY_ID.get(collection_id) or _ALIASES.get(collection_id)
        granted = None if found is None else access(principal, found)
        if granted is None:
            raise NotFound("collection", collection_id)
        return granted

    @staticmethod
    def require_read(granted: Access) -> None:
        if not granted.can_read:
            raise Forbidden(f"the collection {granted.collection.title!r} cannot be read")

    @staticmethod
    def require_write(granted: Access) -> None:
        if not granted.can_write:
            raise Forbidden(f"the collection {granted.collection.title!r} cannot be written")

    def _collection_clause(
        self, principal: Principal, collection: CollectionDef, purpose: Purpose
    ) -> list[ColumnElement[bool]]:
        kind = collection.kind
        if kind is CollectionKind.PARTNERS:
            partner_profiles = select(handlings.c.id).where(
                handlings.c.audience == Audience.PARTNERS.value
            )
            return [records.c.handling_id.in_(partner_profiles)]
        if kind is CollectionKind.OWN:
            if principal.is_admin:
                return []
            return [records.c.source_org_id == principal.org.id]
        if kind is CollectionKind.RANSOMWARE:
            self.ransomware.refresh()
            return [_ransomware_clause(self.policy, principal, purpose, self.clock.now())]
        return []

    def _version_clause(
        self, principal: Principal, filters: Filters, purpose: Purpose
    ) -> tuple[bool, list[ColumnElement[bool]]]:
        """(latest_only, clauses) for match[version]; the default is the latest version."""
        keywords, times = filters.version_keywords, filters.version_times
        if not keywords and not times:
            return True, []
        if "all" in keywords:
            return False, []
        if keywords == {"last"} and not times:
            return True, []
        options: list[ColumnElement[bool]] = []
        if "last" in keywords:
            options.append(records.c.is_latest.is_(True))
        if "first" in keywords:
            earlier = records.alias("earlier_version")
            visible = self.policy.visible_clause(
                principal, purpose=purpose, now=self.clock.now(), table=earlier
            )
            conditions = [
                earlier.c.stix_id == records.c.stix_id,
                earlier.c.version < records.c.version,
            ]
            if visible is not None:
                conditions.append(visible)
            options.append(~exists(select(earlier.c.pk).where(and_(*conditions))))
        if times:
            options.append(records.c.version.in_(sorted(times)))
        return False, [or_(*options)]

    def query(
        self,
        principal: Principal,
        collection: CollectionDef,
        filters: Filters,
        *,
        purpose: Purpose | None,
        stix_id: str | None = None,
        all_versions: bool = False,
    ) -> RecordQuery:
        chosen = self.records.purpose_of(principal, purpose)
        extra = self._collection_clause(principal, collection, chosen)
        latest_only = False
        if not all_versions:
            latest_only, version_clauses = self._version_clause(principal, filters, chosen)
            extra += version_clauses
        # canal holds STIX 2.1 only (2.0 is refused on the way in).
        if filters.spec_versions and _SPEC_VERSION not in filters.spec_versions:
            extra.append(false())
        ids = filters.ids
        if stix_id is not None:
            ids = frozenset({stix_id})
        return RecordQuery(
            types=filters.types,
            stix_ids=ids,
            added_after=filters.added_after,
            latest_only=latest_only,
            extra=tuple(extra),
        )

    def page(
        self,
        principal: Principal,
        granted: Access,
        filters: Filters,
        *,
        after: int | None,
        purpose: Purpose | None,
        stix_id: str | None = None,
        all_versions: bool = False,
        endpoint: Endpoint = Endpoint.OBJECTS,
    ) -> ObjectsPage:
        """One page of a collection, oldest added first, through the policy and logged."""
        self.require_read(granted)
        query = self.query(
            principal,
            granted.collection,
            filters,
            purpose=purpose,
            stix_id=stix_id,
            all_versions=all_versions,
        )
        log_filters = {
            "taxii": endpoint.value,
            "collection": granted.collection.kind.value,
            **filters.summary(),
        }
        page: Page = self.records.page(
            principal, query, limit=filters.limit, after=after, purpose=purpose, filters=log_filters
        )
        if stix_id is not None and not page.items and after is None:
            self._require_object(principal, granted, stix_id, purpose)
        return ObjectsPage(page.items, page.next_after is not None, page.next_after)

    def _require_object(
        self, principal: Principal, granted: Access, stix_id: str, purpose: Purpose | None
    ) -> None:
        """NotFound unless the collection holds some version of `stix_id` the caller may see
        (filters that match none of its versions give an empty page, not a 404)."""
        query = self.query(
            principal,
            granted.collection,
            Filters(),
            purpose=purpose,
            stix_id=stix_id,
            all_versions=True,
        )
        found = self.records.page(
            principal, query, limit=1, purpose=purpose, filters={"taxii": "object-exists"}
        )
        if not found.items:
            raise NotFound("object", stix_id)

    # Writes

    def add(
        self,
        principal: Principal,
        granted: Access,
        envelope: Any,
    ) -> StatusResource:
        """Add Objects (§5.5): each object goes through ingest on its own; exact duplicates
        count as successes. The status is stored for `status_days`."""
        self.require_write(granted)
        objects = _envelope_objects(envelope)
        request_time = to_micros(self.clock.now())
        report = self.ingest.ingest_objects(
            objects, principal=principal, source=principal.org, defaults=granted.collection.defaults
        )
        fallback = format_micros(request_time)
        successes: list[dict[str, str]] = []
        failures: list[dict[str, str]] = []
        for result in report.results:
            detail = _detail(result, objects[result.index], fallback)
            if result.status is ObjectStatus.REJECTED:
                failures.append(detail)
            else:
                successes.append(detail)
        status = StatusResource(str(uuid.uuid4()), request_time, successes, failures)
        self._save_status(principal, granted.collection, status)
        return status

    def _save_status(
        self, principal: Principal, collection: CollectionDef, status: StatusResource
    ) -> None:
        body = status.to_json()
        details = {k: body[k] for k in ("successes", "failures", "pendings") if k in body}
        horizon = to_micros(self.clock.now() - timedelta(days=self.status_days))
        with self.database.write() as conn:
            # Expired statuses go as new ones come: no sweeper to schedule.
            conn.execute(delete(taxii_status).where(taxii_status.c.created_at < horizon))
            conn.execute(
                taxii_status.insert().values(
                    id=status.id,
                    org_id=principal.org.id,
                    collection_id=collection.id,
                    created_at=status.request_timestamp,
                    status=body["status"],
                    total_count=body["total_count"],
                    success_count=body["success_count"],
                    failure_count=body["failure_count"],
                    pending_count=body["pending_count"],
                    details=orjson.dumps(details).decode(),
                )
            )

    def status(self, principal: Principal, status_id: str) -> dict[str, Any]:
        """A stored status, for the org that made the request; NotFound for anyone else and
        once expired."""
        horizon = to_micros(self.clock.now() - timedelta(days=self.status_days))
        with self.database.read() as conn:
            row = conn.execute(select(taxii_status).where(taxii_status.c.id == status_id)).first()
        if row is None or row.created_at < horizon:
            raise NotFound("status", status_id)
        if not principal.is_admin and row.org_id != principal.org.id:
            raise NotFound("status", status_id)
        out: dict[str, Any] = {
            "id": row.id,
            "status": row.status,
            "request_timestamp": format_micros(row.created_at),
            "total_count": row.total_count,
            "success_count": row.success_count,
            "failure_count": row.failure_count,
            "pending_count": row.pending_count,
        }
        out.update(orjson.loads(row.details))
        return out

    def delete(
        self,
        principal: Principal,
        granted: Access,
        stix_id: str,
        filters: Filters,
        *,
        purpose: Purpose | None,
    ) -> int:
        """Delete an object (§5.7): the versions the caller's org holds that match, removed from
        the store (every collection is a view of it). Only the source may; anyone else who may
        see the object gets Forbidden, and NotFound otherwise. Returns the versions deleted."""
        if not granted.can_read and not granted.can_write:
            raise NotFound("collection", granted.collection.id)
        if not (granted.can_read and granted.can_write):
            raise Forbidden(f"the collection {granted.collection.title!r} allows no deletion")
        version_filters = filters
        if not filters.version_keywords and not filters.version_times:
            # Without match[version], the object leaves: every version of it goes.
            version_filters = Filters(
                version_keywords=frozenset({"all"}), spec_versions=filters.spec_versions
            )
        query = self.query(
            principal, granted.collection, version_filters, purpose=purpose, stix_id=stix_id
        )
        chosen = self.records.purpose_of(principal, purpose)
        now = self.clock.now()
        seen = list(self.records.iterate(principal, query, purpose=purpose, action=Action.READ))
        if not seen:
            raise NotFound("object", stix_id)
        mine = [
            s.record
            for s in seen
            if self.policy.decide(principal, Action.DELETE, s.record, purpose=chosen, now=now)
        ]
        if not mine:
            raise Forbidden("only the source of an object may delete it")
        self._delete_rows(principal, stix_id, [r.pk for r in mine])
        return len(mine)

    def _delete_rows(self, principal: Principal, stix_id: str, pks: Sequence[int]) -> None:
        with write_unit(self.database, self.clock) as unit:
            gone = unit.conn.execute(
                select(records.c.source_org_id, records.c.version).where(records.c.pk.in_(pks))
            ).all()
            unit.conn.execute(delete(records).where(records.c.pk.in_(pks)))
            for source_org_id in {row[0] for row in gone}:
                _promote_latest(unit.conn, stix_id, source_org_id)
            unit.log(
                AuditEvent(
                    action=EventTag.RECORD_DELETE,
                    actor=principal.label,
                    org_id=principal.org.id or None,
                    summary={
                        "via": "taxii",
                        "versions": sorted(format_micros(row[1]) for row in gone),
                    },
                    subjects=(stix_id,),
                )
            )


def _promote_latest(conn: Any, stix_id: str, source_org_id: int) -> None:
    """After a deletion, the newest remaining version of the source's chain is its latest."""
    mine = and_(records.c.stix_id == stix_id, records.c.source_org_id == source_org_id)
    has_latest = conn.execute(
        select(func.count()).select_from(records).where(and_(mine, records.c.is_latest.is_(True)))
    ).scalar_one()
    if has_latest:
        return
    newest = conn.execute(
        select(records.c.pk).where(mine).order_by(records.c.version.desc()).limit(1)
    ).first()
    if newest is not None:
        conn.execute(update(records).where(records.c.pk == newest[0]).values(is_latest=True))


class EnvelopeError(CanalError):
    """The body is JSON but not an envelope canal can process (TAXII answers 422)."""

    code = "unprocessable"


def _envelope_objects(envelope: Any) -> list[Any]:
    if not isinstance(envelope, dict):
        raise EnvelopeError('the body must be a TAXII envelope: {"objects": [...]}')
    objects = envelope.get("objects")
    if not isinstance(objects, list):
        raise EnvelopeError("the envelope's 'objects' must be a list of STIX objects")
    if not objects:
        raise EnvelopeError("the envelope holds no objects")
    return objects
