"""Reads of records, always through the policy module."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import and_, exists, select

from canal.errors import NotFound
from canal.model.extension import CANAL_EXTENSION_ID, extension_from_handling
from canal.model.org import Principal
from canal.model.record import Record
from canal.model.stix import TLP2_MARKING_IDS, TLP_BY_MARKING_ID, UNMARKED_TYPES
from canal.policy import Policy
from canal.store.database import Database
from canal.store.handlings import HandlingStore
from canal.store.orgs import list_orgs
from canal.store.records import RecordQuery, RecordReader
from canal.store.tables import records


@dataclass(frozen=True, slots=True)
class Page:
    records: list[Record]
    #: date_added of the last record, to ask for the next page; None when this is the last.
    next_after: int | None


class RecordService:
    def __init__(self, *, database: Database, handlings: HandlingStore, policy: Policy) -> None:
        self.database = database
        self.reader = RecordReader(handlings)
        self.policy = policy

    def scoped(self, principal: Principal, query: RecordQuery) -> RecordQuery:
        """`query` narrowed to what `principal` may see, with each (id, version) once even when
        several sources hold it: the earliest copy the principal may see stands for it."""
        visible = self.policy.visible_clause(principal)
        earlier = records.alias("earlier")
        earlier_visible = self.policy.visible_clause(principal, earlier)
        conditions = [
            earlier.c.stix_id == records.c.stix_id,
            earlier.c.version == records.c.version,
            earlier.c.date_added < records.c.date_added,
        ]
        if earlier_visible is not None:
            conditions.append(earlier_visible)
        not_a_copy = ~exists(select(earlier.c.pk).where(and_(*conditions)))
        return replace(query, visible=visible, extra=(*query.extra, not_a_copy))

    def page(
        self, principal: Principal, query: RecordQuery, *, limit: int, after: int | None = None
    ) -> Page:
        scoped = self.scoped(principal, query)
        with self.database.read() as conn:
            found = self.reader.page(conn, scoped, limit=limit + 1, after=after)
        more = len(found) > limit
        found = found[:limit]
        return Page(found, found[-1].date_added if more and found else None)

    def iterate(self, principal: Principal, query: RecordQuery) -> Iterator[Record]:
        scoped = self.scoped(principal, query)
        with self.database.read() as conn:
            yield from self.reader.iterate(conn, scoped)

    def versions(self, principal: Principal, stix_id: str) -> list[Record]:
        """Every version of `stix_id` the principal may see, oldest first. NotFound when there
        is none, whether the object does not exist or is not the principal's to see."""
        scoped = self.scoped(principal, RecordQuery(latest_only=False))
        with self.database.read() as conn:
            found = self.reader.versions(conn, stix_id, scoped)
        if not found:
            raise NotFound("object", stix_id)
        return found

    def org_names(self) -> dict[int, str]:
        with self.database.read() as conn:
            return {org.id: org.name for org in list_orgs(conn)}


def present(record: Record, org_names: dict[int, str]) -> dict[str, Any]:
    """The object as canal hands it out: as received, with its handling carried by the TLP 2.0
    marking and the canal extension (DESIGN.md, "Handling travels with the data")."""
    obj = dict(record.object)
    if record.stix_type in UNMARKED_TYPES:
        return obj
    refs = [r for r in obj.get("object_marking_refs", ()) if r not in TLP_BY_MARKING_ID]
    obj["object_marking_refs"] = [TLP2_MARKING_IDS[record.handling.tlp], *refs]
    extensions = dict(obj.get("extensions") or {})
    extensions[CANAL_EXTENSION_ID] = extension_from_handling(
        record.handling,
        org_name=lambda org_id: org_names.get(org_id, str(org_id)),
        retention_until=record.retention_until,
    )
    obj["extensions"] = extensions
    return obj


def handling_json(record: Record, org_names: dict[int, str]) -> dict[str, Any]:
    """The handling of a record for the REST API."""
    h = record.handling
    return {
        "source": org_names.get(h.source_org_id, str(h.source_org_id)),
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
