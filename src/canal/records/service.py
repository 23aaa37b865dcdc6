"""Reads of records, always through the policy module, and always in the processing log."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, select

from canal.clock import Clock
from canal.errors import NotFound
from canal.model.audit import AuditEvent, EventTag
from canal.model.extension import CANAL_EXTENSION_ID, extension_from_handling
from canal.model.handling import Purpose
from canal.model.org import DEFAULT_PURPOSE, Principal
from canal.model.record import Record
from canal.model.stix import TLP2_MARKING_IDS, TLP_BY_MARKING_ID, UNMARKED_TYPES
from canal.policy import Action, Policy, Redaction
from canal.store.database import Database
from canal.store.handlings import HandlingStore
from canal.store.orgs import list_orgs
from canal.store.records import RecordQuery, RecordReader
from canal.store.tables import records
from canal.store.unit import write_unit

log = logging.getLogger("canal.records")


@dataclass(frozen=True, slots=True)
class Seen:
    """A record as a principal may see it: the record and what to hide of it."""

    record: Record
    redactions: frozenset[Redaction] = frozenset()


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Seen]
    #: date_added of the last record, to ask for the next page; None when this is the last.
    next_after: int | None

    @property
    def records(self) -> list[Record]:
        return [item.record for item in self.items]


class RecordService:
    def __init__(
        self,
        *,
        database: Database,
        handlings: HandlingStore,
        policy: Policy,
        clock: Clock,
    ) -> None:
        self.database = database
        self.reader = RecordReader(handlings)
        self.policy = policy
        self.clock = clock

    @staticmethod
    def purpose_of(principal: Principal, purpose: Purpose | None) -> Purpose:
        return purpose or DEFAULT_PURPOSE[principal.role]

    def scoped(
        self, principal: Principal, query: RecordQuery, *, purpose: Purpose, now: datetime
    ) -> RecordQuery:
        """`query` narrowed to what `principal` may see for `purpose`, with each (id, version)
        once even when several sources hold it: the earliest copy the principal may see stands
        for it."""
        visible = self.policy.visible_clause(principal, purpose=purpose, now=now)
        earlier = records.alias("earlier")
        earlier_visible = self.policy.visible_clause(
            principal, purpose=purpose, now=now, table=earlier
        )
        conditions = [
            earlier.c.stix_id == records.c.stix_id,
            earlier.c.version == records.c.version,
            earlier.c.date_added < records.c.date_added,
        ]
        if earlier_visible is not None:
            conditions.append(earlier_visible)
        # Only rows written while another source held the same (id, version) can be hidden
        # copies; the check costs nothing for the others.
        not_a_copy = ~and_(
            records.c.has_twin, exists(select(earlier.c.pk).where(and_(*conditions)))
        )
        return replace(query, visible=visible, extra=(*query.extra, not_a_copy))

    def _seen(
        self,
        principal: Principal,
        found: Sequence[Record],
        *,
        action: Action,
        purpose: Purpose,
        now: datetime,
    ) -> list[Seen]:
        """Each record's decision, from the decision function. The SQL filter already kept only
        what the principal may see; a record it let through that the decision function refuses
        would be a defect in one of the two, so it is dropped and reported, never shown."""
        out: list[Seen] = []
        for record in found:
            decision = self.policy.decide(principal, action, record, purpose=purpose, now=now)
            if decision.allowed:
                out.append(Seen(record, decision.redactions))
            else:
                log.error(
                    "policy filter and decision disagree on %s for %s: %s",
                    record.stix_id,
                    principal.label,
                    decision.reason,
                )
        return out

    def _log(
        self,
        principal: Principal,
        action: EventTag,
        purpose: Purpose,
        stix_ids: Sequence[str],
        summary: dict[str, Any],
    ) -> None:
        with write_unit(self.database, self.clock) as unit:
            unit.log(
                AuditEvent(
                    action=action,
                    actor=principal.label,
                    org_id=principal.org.id or None,
                    purpose=purpose.value,
                    summary={**summary, "count": len(stix_ids)},
                    subjects=tuple(stix_ids),
                )
            )

    def page(
        self,
        principal: Principal,
        query: RecordQuery,
        *,
        limit: int,
        after: int | None = None,
        purpose: Purpose | None = None,
        filters: dict[str, Any] | None = None,
    ) -> Page:
        """One page of a search, in date_added order; logged as a search."""
        purpose = self.purpose_of(principal, purpose)
        now = self.clock.now()
        scoped = self.scoped(principal, query, purpose=purpose, now=now)
        with self.database.read() as conn:
            found = self.reader.page(conn, scoped, limit=limit + 1, after=after)
        more = len(found) > limit
        found = found[:limit]
        items = self._seen(principal, found, action=Action.SEARCH, purpose=purpose, now=now)
        self._log(
            principal,
            EventTag.RECORD_SEARCH,
            purpose,
            [item.record.stix_id for item in items],
            {"filters": filters or {}},
        )
        return Page(items, found[-1].date_added if more and found else None)

    def iterate(
        self,
        principal: Principal,
        query: RecordQuery,
        *,
        purpose: Purpose | None = None,
        action: Action = Action.EXPORT,
    ) -> Iterator[Seen]:
        """Every matching record the principal may see, streamed. The caller logs what it
        hands out (an export logs in batches as it streams)."""
        purpose = self.purpose_of(principal, purpose)
        now = self.clock.now()
        scoped = self.scoped(principal, query, purpose=purpose, now=now)
        with self.database.read() as conn:
            batch: list[Record] = []
            for record in self.reader.iterate(conn, scoped):
                batch.append(record)
                if len(batch) >= 500:
                    yield from self._seen(principal, batch, action=action, purpose=purpose, now=now)
                    batch = []
            yield from self._seen(principal, batch, action=action, purpose=purpose, now=now)

    def log_reads(
        self,
        principal: Principal,
        purpose: Purpose | None,
        stix_ids: Sequence[str],
        summary: dict[str, Any],
    ) -> None:
        """Log records shown to a principal by a read that is not a plain search (clusters,
        packages): one entry naming them all."""
        self._log(
            principal,
            EventTag.RECORD_SEARCH,
            self.purpose_of(principal, purpose),
            stix_ids,
            summary,
        )

    def log_export(
        self, principal: Principal, purpose: Purpose | None, stix_ids: Sequence[str], fmt: str
    ) -> None:
        if stix_ids:
            self._log(
                principal,
                EventTag.RECORD_EXPORT,
                self.purpose_of(principal, purpose),
                stix_ids,
                {"format": fmt},
            )

    def versions(
        self, principal: Principal, stix_id: str, *, purpose: Purpose | None = None
    ) -> list[Seen]:
        """Every version of `stix_id` the principal may see, oldest first; logged as a read.
        NotFound when there is none, whether the object does not exist or is not the
        principal's to see: the two answers are the same."""
        purpose = self.purpose_of(principal, purpose)
        now = self.clock.now()
        scoped = self.scoped(principal, RecordQuery(latest_only=False), purpose=purpose, now=now)
        with self.database.read() as conn:
            found = self.reader.versions(conn, stix_id, scoped)
        items = self._seen(principal, found, action=Action.READ, purpose=purpose, now=now)
        if not items:
            raise NotFound("object", stix_id)
        self._log(principal, EventTag.RECORD_READ, purpose, [stix_id], {"versions": len(items)})
        return items

    def org_names(self) -> dict[int, str]:
        with self.database.read() as conn:
            return {org.id: org.name for org in list_orgs(conn)}


def _source_name(seen: Seen, org_names: dict[int, str]) -> str:
    record = seen.record
    if Redaction.SOURCE in seen.redactions and record.disseminator_org_id is not None:
        return org_names.get(record.disseminator_org_id, "secretariat")
    return org_names.get(record.handling.source_org_id, str(record.handling.source_org_id))


def present(
    seen: Seen, org_names: dict[int, str], cache: dict[Any, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The object as canal hands it out: as received, with its handling carried by the TLP 2.0
    marking and the canal extension (DESIGN.md, "Handling travels with the data"). `cache`,
    kept for one page, shares the extension among records with the same handling."""
    record = seen.record
    obj = dict(record.object)
    if record.stix_type in UNMARKED_TYPES:
        return obj
    refs = [r for r in obj.get("object_marking_refs", ()) if r not in TLP_BY_MARKING_ID]
    obj["object_marking_refs"] = [TLP2_MARKING_IDS[record.handling.tlp], *refs]
    extensions = dict(obj.get("extensions") or {})
    key = (record.handling_id, record.retention_until, seen.redactions, record.disseminator_org_id)
    ext = None if cache is None else cache.get(key)
    if ext is None:
        ext = extension_from_handling(
            record.handling,
            org_name=lambda org_id: org_names.get(org_id, str(org_id)),
            retention_until=record.retention_until,
        )
        ext["source"] = _source_name(seen, org_names)
        if cache is not None:
            cache[key] = ext
    extensions[CANAL_EXTENSION_ID] = ext
    obj["extensions"] = extensions
    return obj


def handling_json(seen: Seen, org_names: dict[int, str]) -> dict[str, Any]:
    """The handling of a record for the REST API."""
    record = seen.record
    h = record.handling
    return {
        "source": _source_name(seen, org_names),
        "tlp": h.tlp.label,
        "pap": "PAP:" + h.pap.value.upper(),
        "audience": h.audience.value,
        "handling_codes": sorted(c.value for c in h.handling_codes),
        "h3_text": h.h3_text,
        "allow": sorted(h.allow_countries) + sorted(org_names.get(o, str(o)) for o in h.allow_orgs),
        "deny": sorted(h.deny_countries) + sorted(org_names.get(o, str(o)) for o in h.deny_orgs),
        "purposes": sorted(p.value for p in h.purposes),
        "source_reliability": h.source_reliability.value,
        "information_credibility": h.information_credibility.value,
        "admiralty": h.admiralty,
        "personal_data": h.personal_data,
        "confidentiality": h.confidentiality.label,
        "retention_until": record.retention_until.isoformat(),
        "review_state": record.review_state.value,
        "art3_status": record.art3_status.value,
        "release_state": record.release_state.value,
    }
