"""Streaming MISP export: what the principal may see, as MISP events.

Output: `{"response": [{"Event": {...}}, ...]}`, the form of MISP's restSearch, which MISP's
own import, PyMISP (`MISPEvent().load` of each item) and canal's MISP import all read.

Grouping: each STIX report or grouping the principal may see is an event with what it
references (a report made from a MISP event gives that event back with its uuid, attributes,
objects, references, tags, galaxies and sightings). The records no visible report references
go into one event per source per day of `date_added` (at most `max_attributes` records
each; a bigger day is split into parts), with a uuid derived from source, day and part, so that
a repeated export updates rather than duplicates.

Handling goes out as tags (tlp:, PAP:, admiralty-scale:) and distribution: event-level tags on
the event, and on an attribute only where its handling differs from the event's. Memory stays
flat: records are read in pages; the ids already placed in an event are kept in a temporary
SQLite file, not in memory; one event at a time is held.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from canal.exchange.csv_export import record_values, source_name
from canal.ingest.csv_in import KIND_TO_MISP_TYPE
from canal.ingest.misp import default_category, derived_uuid, known_types
from canal.model.handling import (
    CREDIBILITY_TO_ADMIRALTY,
    RELIABILITY_TO_ADMIRALTY,
    Audience,
    Handling,
    Purpose,
    Tlp,
)
from canal.model.org import Principal
from canal.model.record import Record
from canal.model.stix import SCO_TYPES, format_micros
from canal.policy import Redaction
from canal.records.service import RecordService, Seen
from canal.store.records import RecordQuery
from canal.store.tables import records as records_table

CONTAINER_TYPES = frozenset({"report", "grouping"})
_CLUSTER_TYPES = frozenset(
    {"threat-actor", "intrusion-set", "attack-pattern", "malware", "tool", "course-of-action"}
)
_DAY = 86_400_000_000
_ID_CHUNK = 500


def handling_tags(h: Handling) -> dict[str, str]:
    """The MISP tags of a handling, by facet."""
    return {
        "tlp": f"tlp:{h.tlp.value}",
        "pap": f"PAP:{h.pap.value.upper()}",
        "reliability": (
            "admiralty-scale:source-reliability="
            f'"{RELIABILITY_TO_ADMIRALTY[h.source_reliability].lower()}"'
        ),
        "credibility": (
            "admiralty-scale:information-credibility="
            f'"{CREDIBILITY_TO_ADMIRALTY[h.information_credibility]}"'
        ),
    }


def distribution(h: Handling) -> int:
    """MISP distribution of a handling (the inverse of the import table, docs/formats.md)."""
    if h.allow_orgs or h.allow_countries:
        return 4
    if h.tlp in {Tlp.AMBER_STRICT, Tlp.RED}:
        return 0
    if h.audience is Audience.PARTNERS and h.tlp in {Tlp.CLEAR, Tlp.GREEN}:
        return 3
    return 1


def sharing_group(h: Handling, org_names: dict[int, str]) -> dict[str, Any]:
    """The allow-list as a MISP sharing group: its orgs by name, its countries in the
    releasability text (a sharing group has no place for countries)."""
    names = sorted(org_names.get(o, str(o)) for o in h.allow_orgs)
    countries = sorted(h.allow_countries)
    releasability = "canal allow-list"
    if countries:
        releasability += ": countries " + ", ".join(countries)
    return {
        "uuid": derived_uuid("sharing-group", *names, *countries),
        "name": "canal allow-list " + ", ".join([*names, *countries]),
        "releasability": releasability,
        "roaming": False,
        "SharingGroupOrg": [{"Organisation": {"name": name}} for name in names],
        "SharingGroupServer": [],
    }


def _payload(obj: dict[str, Any], key: str, *required: str) -> dict[str, Any] | None:
    """A record's MISP payload when it has the shape canal's import gives it; else None (the
    record is exported as any other STIX)."""
    found = obj.get(key)
    if not isinstance(found, dict) or any(found.get(name) is None for name in required):
        return None
    return found


def _misp_type(kind: str, value: str) -> str:
    if kind == "crypto-wallet":
        if value[:1] in {"4", "8"} and len(value) in {95, 106}:
            return "xmr"
        if value.startswith("X") and len(value) == 34:
            return "dash"
    return KIND_TO_MISP_TYPE[kind]


def _seconds(micros: int) -> str:
    return str(micros // 1_000_000)


def _uuid_of(stix_id: str) -> str:
    return stix_id.split("--", 1)[1]


class _IdSet:
    """A set of ids on disk (a private temporary SQLite database), so that the export's memory
    does not grow with the store."""

    def __init__(self) -> None:
        self.conn = sqlite3.connect("")
        self.conn.execute("CREATE TABLE ids (id TEXT PRIMARY KEY)")

    def add(self, ids: Iterable[str]) -> None:
        self.conn.executemany("INSERT OR IGNORE INTO ids VALUES (?)", ((i,) for i in ids))

    def present(self, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), _ID_CHUNK):
            chunk = ids[start : start + _ID_CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(f"SELECT id FROM ids WHERE id IN ({marks})", chunk)
            found.update(row[0] for row in rows)
        return found

    def close(self) -> None:
        self.conn.close()


@dataclass
class _Loose:
    """One event of loose records being filled: (source as presented, day, part)."""

    source: str
    day: int
    part: int
    members: list[Record] = field(default_factory=list)
    attributes: int = 0
    #: Some member's source is hidden from the principal.
    redacted: bool = False


class MispExporter:
    def __init__(self, *, records: RecordService, max_attributes: int = 5000) -> None:
        self.records = records
        self.max_attributes = max_attributes

    def chunks(
        self,
        principal: Principal,
        query: RecordQuery,
        *,
        purpose: Purpose | None = None,
        log_batch: int = 5000,
    ) -> Iterator[bytes]:
        """The events as a stream of byte chunks; what went out is logged in batches."""
        run = _Run(
            principal=principal,
            query=query,
            purpose=purpose,
            org_names=self.records.org_names(),
            grouped=_IdSet(),
            log=_ExportLog(self.records, principal, purpose, log_batch),
        )
        first = True
        yield b'{"response":['
        try:
            for event in self._grouped(run):
                yield (b"" if first else b",") + orjson.dumps({"Event": event})
                first = False
            for event in self._loose(run):
                yield (b"" if first else b",") + orjson.dumps({"Event": event})
                first = False
        finally:
            run.grouped.close()
        run.log.flush()
        yield b"]}"

    # -- events of reports and groupings -------------------------------------------------------

    def _grouped(self, run: _Run) -> Iterator[dict[str, Any]]:
        principal, query, purpose, org_names = run.principal, run.query, run.purpose, run.org_names
        containers = RecordQuery(
            types=CONTAINER_TYPES,
            source_org_ids=query.source_org_ids,
            latest_only=query.latest_only,
        )
        member_types = query.types - CONTAINER_TYPES if query.types else frozenset()
        for seen in self.records.iterate(principal, containers, purpose=purpose):
            container = seen.record
            refs = [r for r in container.object.get("object_refs", []) if isinstance(r, str)]
            members: dict[str, Record] = {}
            for start in range(0, len(refs), _ID_CHUNK):
                chunk = frozenset(refs[start : start + _ID_CHUNK])
                scoped = replace(query, stix_ids=chunk, types=member_types)
                for item in self.records.iterate(principal, scoped, purpose=purpose):
                    held = members.get(item.record.stix_id)
                    if held is None or item.record.version >= held.version:
                        members[item.record.stix_id] = item.record
            if not members and (
                query.types
                or (query.added_after is not None and container.date_added <= query.added_after)
            ):
                continue
            run.grouped.add([container.stix_id, *members])
            builder = EventBuilder(
                org_names,
                source_name(seen, org_names),
                container=container,
                redacted=Redaction.SOURCE in seen.redactions,
            )
            event = builder.build(list(members.values()))
            run.log.add([container.stix_id, *members])
            yield event

    # -- loose records --------------------------------------------------------------------------

    def _loose(self, run: _Run) -> Iterator[dict[str, Any]]:
        org_names, log = run.org_names, run.log
        not_containers = records_table.c.stix_type.notin_(sorted(CONTAINER_TYPES))
        loose_query = replace(run.query, extra=(*run.query.extra, not_containers))
        open_events: dict[str, _Loose] = {}
        parts: dict[tuple[str, int], int] = {}
        page: list[Seen] = []

        def place(batch: list[Seen]) -> Iterator[dict[str, Any]]:
            taken = run.grouped.present([s.record.stix_id for s in batch])
            for seen in batch:
                record = seen.record
                if record.stix_id in taken:
                    continue
                source = source_name(seen, org_names)
                day = record.date_added // _DAY
                current = open_events.get(source)
                if current is not None and current.day != day:
                    yield from self._flush(open_events, org_names, log)
                    current = None
                if current is None:
                    parts[source, day] = parts.get((source, day), 0) + 1
                    current = _Loose(source, day, parts[source, day])
                    open_events[source] = current
                current.members.append(record)
                current.attributes += 1
                current.redacted = current.redacted or Redaction.SOURCE in seen.redactions
                if current.attributes >= self.max_attributes:
                    del open_events[source]
                    yield self._loose_event(current, org_names, log)

        for seen in self.records.iterate(run.principal, loose_query, purpose=run.purpose):
            page.append(seen)
            if len(page) >= _ID_CHUNK:
                yield from place(page)
                page = []
        yield from place(page)
        yield from self._flush(open_events, org_names, log)

    def _flush(
        self, open_events: dict[str, _Loose], org_names: dict[int, str], log: _ExportLog
    ) -> Iterator[dict[str, Any]]:
        for key in list(open_events):
            yield self._loose_event(open_events.pop(key), org_names, log)

    @staticmethod
    def _loose_event(loose: _Loose, org_names: dict[int, str], log: _ExportLog) -> dict[str, Any]:
        log.add([r.stix_id for r in loose.members])
        builder = EventBuilder(org_names, loose.source, loose=loose, redacted=loose.redacted)
        return builder.build(loose.members)


@dataclass
class _Run:
    """What one export run carries from start to end."""

    principal: Principal
    query: RecordQuery
    purpose: Purpose | None
    org_names: dict[int, str]
    grouped: _IdSet
    log: _ExportLog


class _ExportLog:
    """Processing-log entries for what went out, a batch at a time."""

    def __init__(
        self, records: RecordService, principal: Principal, purpose: Purpose | None, batch: int
    ) -> None:
        self.records = records
        self.principal = principal
        self.purpose = purpose
        self.batch = batch
        self.pending: list[str] = []

    def add(self, stix_ids: Iterable[str]) -> None:
        self.pending.extend(stix_ids)
        if len(self.pending) >= self.batch:
            self.flush()

    def flush(self) -> None:
        self.records.log_export(self.principal, self.purpose, self.pending, "misp")
        self.pending = []


# -- building one event ------------------------------------------------------------------------


class EventBuilder:
    """One MISP event from a report or grouping (or a day of loose records) and its members."""

    def __init__(
        self,
        org_names: dict[int, str],
        source: str,
        *,
        container: Record | None = None,
        loose: _Loose | None = None,
        redacted: bool = False,
    ) -> None:
        self.org_names = org_names
        #: The source as the principal may be told it.
        self.source = source
        #: The source is hidden from this principal: MISP's own org names (Orgc, sighters)
        #: would name it, so they do not go out.
        self.redacted = redacted
        self.container = container
        self.loose = loose
        self.payload: dict[str, Any] = (
            (_payload(container.object, "x_misp_event") or {}) if container else {}
        )
        self.handling = container.handling if container else None
        if container is not None:
            self.uuid = str(self.payload.get("uuid") or _uuid_of(container.stix_id))
        elif loose is not None:
            self.uuid = derived_uuid("canal-loose", source, str(loose.day), str(loose.part))
        else:
            raise ValueError("an event needs a container or a day of loose records")
        self.attributes: dict[str, dict[str, Any]] = {}
        self.objects: dict[str, dict[str, Any]] = {}
        #: STIX id of a record -> the attribute or object dict it became.
        self.by_stix: dict[str, dict[str, Any]] = {}
        #: MISP uuid of an attribute (in an object too) -> its dict.
        self.by_misp: dict[str, dict[str, Any]] = {}
        self.clusters: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        self.identities: dict[str, dict[str, Any]] = {}
        self.reports: list[dict[str, Any]] = []

    # -- handling ----------------------------------------------------------------------------

    def _tags(self, labels: Any, h: Handling, *, own: bool = False) -> list[dict[str, Any]]:
        names = [name for name in labels or () if isinstance(name, str)]
        mine = handling_tags(h)
        if own or self.handling is None:
            names.extend(mine.values())
        else:
            event = handling_tags(self.handling)
            names.extend(tag for facet, tag in mine.items() if event[facet] != tag)
        return [{"name": name} for name in dict.fromkeys(names)]

    def _distribution(self, target: dict[str, Any], h: Handling, *, inherit: bool) -> None:
        if inherit and self.handling is not None and h == self.handling:
            target["distribution"] = "5"
            target["sharing_group_id"] = "0"
            return
        number = distribution(h)
        target["distribution"] = str(number)
        target["sharing_group_id"] = "0"
        if number == 4:
            group = sharing_group(h, self.org_names)
            # A local id means nothing to the receiver (it resolves the group by uuid), but
            # MISP and PyMISP want one; the same group gets the same one within the document.
            target["sharing_group_id"] = str(int(group["uuid"].replace("-", "")[:6], 16) + 1)
            target["SharingGroup"] = group

    # -- members -----------------------------------------------------------------------------

    def build(self, members: list[Record]) -> dict[str, Any]:
        misp_origin = bool(self.payload)
        observed_refs = {
            ref
            for r in members
            if r.stix_type == "observed-data"
            for ref in r.object.get("object_refs", ())
        }
        deferred: list[Record] = []
        for record in members:
            obj = record.object
            attribute = _payload(obj, "x_misp_attribute", "type", "value")
            misp_object = _payload(obj, "x_misp_object", "name")
            galaxy = _payload(obj, "x_misp_galaxy", "cluster")
            if attribute is not None and str(attribute["type"]) in known_types():
                self._payload_attribute(record, attribute)
            elif misp_object is not None:
                self._payload_object(record, misp_object)
            elif galaxy is not None and isinstance(galaxy["cluster"], dict):
                cluster = galaxy["cluster"]
                key = str(cluster.get("uuid") or _uuid_of(record.stix_id))
                meta = galaxy.get("galaxy")
                self.clusters[key] = (dict(meta) if isinstance(meta, dict) else {}, dict(cluster))
            elif "x_misp_reference" in obj or record.stix_type in {"sighting", "opinion"}:
                deferred.append(record)
            elif _payload(obj, "x_misp_event_report") is not None:
                self._event_report(record)
            elif record.stix_type == "identity":
                self.identities[record.stix_id] = {
                    "name": str(obj.get("name", "")),
                    "uuid": _uuid_of(record.stix_id),
                }
            elif record.stix_type in _CLUSTER_TYPES:
                self._native_cluster(record)
            elif record.stix_type == "indicator" or (
                record.stix_type in SCO_TYPES | {"cryptocurrency-wallet", "phone-number"}
                and not misp_origin
                and record.stix_id not in observed_refs
            ):
                self._native_attributes(record)
        for record in deferred:
            if record.stix_type == "relationship":
                self._reference(record)
            else:
                self._sighting(record)
        return self._event()

    def _attribute_dict(self, record: Record, p: dict[str, Any], *, to_ids: bool) -> dict[str, Any]:
        misp_type = str(p["type"])
        attr: dict[str, Any] = {
            "uuid": str(p.get("uuid") or _uuid_of(record.stix_id)),
            "type": misp_type,
            "category": p.get("category") or default_category(misp_type),
            "value": str(p["value"]),
            "to_ids": to_ids,
            "timestamp": _seconds(record.version),
        }
        self._distribution(attr, record.handling, inherit=True)
        attr["comment"] = str(p.get("comment") or "")
        attr["deleted"] = record.revoked
        attr["disable_correlation"] = bool(p.get("disable_correlation", False))
        for key in ("first_seen", "last_seen"):
            if p.get(key):
                attr[key] = p[key]
        attr["Tag"] = self._tags(record.object.get("labels"), record.handling)
        self._galaxies_of(attr, p.get("galaxies"))
        return attr

    def _payload_attribute(self, record: Record, p: dict[str, Any]) -> None:
        to_ids = bool(p.get("to_ids", record.stix_type == "indicator"))
        attr = self._attribute_dict(record, p, to_ids=to_ids)
        held = self.attributes.get(attr["uuid"])
        # misp-stix may give one attribute as indicator and observed-data: keep one.
        if held is None or record.stix_type == "indicator":
            self.attributes[attr["uuid"]] = attr
            self.by_misp[attr["uuid"]] = attr
        self.by_stix[record.stix_id] = self.attributes[attr["uuid"]]

    def _payload_object(self, record: Record, p: dict[str, Any]) -> None:
        misp_uuid = str(p.get("uuid") or _uuid_of(record.stix_id))
        held = self.objects.get(misp_uuid)
        if held is not None:
            self.by_stix[record.stix_id] = held
            return
        obj: dict[str, Any] = {
            "uuid": misp_uuid,
            "name": p["name"],
            "meta-category": p.get("meta-category") or "misc",
            "description": p.get("description") or p["name"],
            "template_uuid": p.get("template_uuid") or derived_uuid("template", p["name"]),
            "template_version": str(p.get("template_version") or "1"),
            "timestamp": _seconds(record.version),
        }
        self._distribution(obj, record.handling, inherit=True)
        obj["comment"] = str(p.get("comment") or "")
        obj["deleted"] = record.revoked
        for key in ("first_seen", "last_seen"):
            if p.get(key):
                obj[key] = p[key]
        attributes = []
        for a in p.get("attributes", []):
            if not (isinstance(a, dict) and str(a.get("type")) in known_types() and "value" in a):
                continue  # not what canal's import writes: nothing MISP could load
            attr: dict[str, Any] = {
                "uuid": str(a.get("uuid") or derived_uuid(misp_uuid, str(a["value"]))),
                "object_relation": a.get("object_relation"),
                "type": a["type"],
                "category": a.get("category") or default_category(str(a["type"])),
                "value": str(a["value"]),
                "to_ids": bool(a.get("to_ids", False)),
                "timestamp": obj["timestamp"],
                "distribution": str(a.get("distribution", 5)),
                "sharing_group_id": "0",
                "comment": str(a.get("comment") or ""),
                "deleted": bool(a.get("deleted", False)),
                "disable_correlation": bool(a.get("disable_correlation", False)),
            }
            if str(attr["distribution"]) == "4":
                attr["distribution"] = "5"  # its group is the object's; it inherits
            for key in ("first_seen", "last_seen"):
                if a.get(key):
                    attr[key] = a[key]
            attr["Tag"] = [{"name": t} for t in a.get("tags", []) if isinstance(t, str)]
            self._galaxies_of(attr, a.get("galaxies"))
            attributes.append(attr)
            self.by_misp[attr["uuid"]] = attr
        obj["Attribute"] = attributes
        obj["ObjectReference"] = []
        self.objects[misp_uuid] = obj
        self.by_stix[record.stix_id] = obj

    def _galaxies_of(self, target: dict[str, Any], cluster_uuids: Any) -> None:
        if isinstance(cluster_uuids, list) and cluster_uuids:
            target["_galaxies"] = [str(u) for u in cluster_uuids]

    def _native_attributes(self, record: Record) -> None:
        obj = record.object
        values = record_values(obj)
        to_ids = record.stix_type == "indicator"
        if not values and to_ids and isinstance(obj.get("pattern"), str):
            values = [("stix2-pattern", obj["pattern"])]
        for kind, value in values:
            misp_type = kind if kind == "stix2-pattern" else _misp_type(kind, value)
            p = {
                "uuid": derived_uuid(self.uuid, record.stix_id, kind, value),
                "type": misp_type,
                "value": value,
            }
            if isinstance(obj.get("description"), str):
                p["comment"] = obj["description"]
            attr = self._attribute_dict(record, p, to_ids=to_ids)
            self.attributes[attr["uuid"]] = attr
            self.by_stix.setdefault(record.stix_id, attr)

    def _native_cluster(self, record: Record) -> None:
        obj = record.object
        name = str(obj.get("name") or _uuid_of(record.stix_id))
        galaxy_type = f"stix-2.1-{record.stix_type}"
        title = record.stix_type.replace("-", " ").title()
        meta: dict[str, Any] = {}
        if isinstance(obj.get("aliases"), list):
            meta["synonyms"] = obj["aliases"]
        external = [
            ref.get("external_id")
            for ref in obj.get("external_references", ())
            if isinstance(ref, dict) and ref.get("external_id")
        ]
        if external:
            meta["external_id"] = external
        self.clusters[_uuid_of(record.stix_id)] = (
            {
                "uuid": derived_uuid("galaxy", galaxy_type),
                "name": f"STIX 2.1 {title}",
                "type": galaxy_type,
                "namespace": "stix",
                "description": f"STIX 2.1 {title} objects",
                "version": "1",
            },
            {
                "uuid": _uuid_of(record.stix_id),
                "type": galaxy_type,
                "value": name,
                "tag_name": f'misp-galaxy:{galaxy_type}="{name}"',
                "description": str(obj.get("description") or ""),
                "meta": meta,
            },
        )

    def _reference(self, record: Record) -> None:
        p = _payload(record.object, "x_misp_reference", "referenced_uuid")
        if p is None:
            return
        source = self.by_stix.get(str(record.object.get("source_ref")))
        if source is None or "ObjectReference" not in source:
            return
        source["ObjectReference"].append(
            {
                "uuid": str(p.get("uuid") or _uuid_of(record.stix_id)),
                "object_uuid": source["uuid"],
                "referenced_uuid": str(p.get("referenced_uuid")),
                "relationship_type": str(p.get("relationship_type") or "related-to"),
                "comment": str(p.get("comment") or ""),
                "deleted": record.revoked,
                "timestamp": _seconds(record.version),
            }
        )

    def _sighting(self, record: Record) -> None:
        obj = record.object
        p = _payload(obj, "x_misp_sighting", "attribute_uuid")
        if p is not None:
            target = self.by_misp.get(str(p.get("attribute_uuid")))
            sighting: dict[str, Any] = {
                "uuid": str(p.get("uuid") or _uuid_of(record.stix_id)),
                "type": str(p.get("type", 0)),
                "date_sighting": str(p.get("date_sighting") or _seconds(record.version)),
                "source": str(p.get("source") or ""),
            }
        elif record.stix_type == "sighting":
            target = self.by_stix.get(str(obj.get("sighting_of_ref")))
            sighting = {
                "uuid": _uuid_of(record.stix_id),
                "type": "0",
                "date_sighting": _seconds(record.version),
                "source": str(obj.get("description") or ""),
            }
        else:
            return
        if target is None or "type" not in target:
            return
        where = obj.get("where_sighted_refs")
        if not self.redacted and isinstance(where, list) and where and where[0] in self.identities:
            sighting["Organisation"] = self.identities[where[0]]
        target.setdefault("Sighting", []).append(sighting)

    def _event_report(self, record: Record) -> None:
        obj = record.object
        p = obj["x_misp_event_report"]
        report: dict[str, Any] = {
            "uuid": str(p.get("uuid") or _uuid_of(record.stix_id)),
            "name": str(obj.get("abstract") or p.get("name") or "report"),
            "content": str(obj.get("content", "")),
            "timestamp": _seconds(record.version),
            "deleted": record.revoked,
        }
        self._distribution(report, record.handling, inherit=True)
        self.reports.append(report)

    # -- the event ---------------------------------------------------------------------------

    def _galaxy_list(self, cluster_uuids: Iterable[str]) -> list[dict[str, Any]]:
        galaxies: dict[str, dict[str, Any]] = {}
        for key in cluster_uuids:
            found = self.clusters.get(key)
            if found is None:
                continue
            meta, cluster = found
            galaxy_uuid = str(meta.get("uuid") or derived_uuid("galaxy", str(meta.get("type"))))
            galaxy = galaxies.setdefault(
                galaxy_uuid,
                {
                    "uuid": galaxy_uuid,
                    "name": meta.get("name") or meta.get("type") or "galaxy",
                    "type": meta.get("type") or cluster.get("type") or "galaxy",
                    "description": meta.get("description") or "",
                    "version": str(meta.get("version") or "1"),
                    **({"namespace": meta["namespace"]} if meta.get("namespace") else {}),
                    "GalaxyCluster": [],
                },
            )
            entry = {k: v for k, v in cluster.items() if v is not None}
            entry.setdefault("type", galaxy["type"])
            entry.setdefault("tag_name", f'misp-galaxy:{galaxy["type"]}="{cluster.get("value")}"')
            galaxy["GalaxyCluster"].append(entry)
        return list(galaxies.values())

    def _attach_galaxies(self, target: dict[str, Any], used: set[str]) -> None:
        keys = target.pop("_galaxies", None)
        if keys:
            used.update(keys)
            galaxies = self._galaxy_list(keys)
            if galaxies:
                target["Galaxy"] = galaxies

    def _event(self) -> dict[str, Any]:
        used: set[str] = set()
        for attr in self.attributes.values():
            self._attach_galaxies(attr, used)
        for obj in self.objects.values():
            for attr in obj["Attribute"]:
                self._attach_galaxies(attr, used)
        listed = self.payload.get("galaxies")
        event_level = [str(u) for u in listed] if isinstance(listed, list) else []
        event_level += [k for k in self.clusters if k not in used and k not in event_level]
        event: dict[str, Any] = {"uuid": self.uuid}
        event.update(self._header())
        event["Attribute"] = list(self.attributes.values())
        event["Object"] = list(self.objects.values())
        galaxies = self._galaxy_list(event_level)
        if galaxies:
            event["Galaxy"] = galaxies
        if self.reports:
            event["EventReport"] = self.reports
        return event

    def _header(self) -> dict[str, Any]:
        p = self.payload
        header: dict[str, Any] = {}
        if self.container is not None:
            c = self.container
            obj = c.object
            header["info"] = str(obj.get("name") or "canal report")
            modified = c.version
            header["date"] = str(p.get("date") or format_micros(modified)[:10])
            header["timestamp"] = _seconds(modified)
            published = c.stix_type == "report"
            header["published"] = bool(p.get("published", published))
            publish = p.get("publish_timestamp")
            header["publish_timestamp"] = str(publish if publish is not None else 0)
            header["threat_level_id"] = str(p.get("threat_level_id", 4))
            header["analysis"] = str(p.get("analysis", 2 if published else 0))
            self._distribution(header, c.handling, inherit=False)
            orgc = p.get("orgc") if not self.redacted else None
            if not (isinstance(orgc, dict) and isinstance(orgc.get("name"), str)):
                orgc = {"name": self.source, "uuid": derived_uuid("org", self.source)}
            header["Orgc"] = dict(orgc)
            header["Tag"] = self._tags(obj.get("labels"), c.handling, own=True)
            if p.get("extends_uuid"):
                header["extends_uuid"] = p["extends_uuid"]
            return header
        loose = self.loose
        if loose is None:  # pragma: no cover - guarded in __init__
            raise ValueError("no event header")
        source = self.source
        day = format_micros(loose.day * _DAY)[:10]
        part = f" (part {loose.part})" if loose.part > 1 else ""
        newest = max((r.date_added for r in loose.members), default=loose.day * _DAY)
        header["info"] = f"canal: {source}, {day}{part}"
        header["date"] = day
        header["timestamp"] = _seconds(newest)
        header["published"] = False
        header["publish_timestamp"] = "0"
        header["threat_level_id"] = "4"
        header["analysis"] = "0"
        # The event lets through the widest of its attributes; each keeps its own.
        numbers = [int(a["distribution"]) for a in self.attributes.values()]
        numbers += [int(o["distribution"]) for o in self.objects.values()]
        plain = [n for n in numbers if n < 4]
        header["distribution"] = str(max(plain) if plain else 1)
        header["sharing_group_id"] = "0"
        header["Orgc"] = {"name": source, "uuid": derived_uuid("org", source)}
        header["Tag"] = []
        return header
