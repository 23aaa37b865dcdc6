"""The post-event package (R36): once an incident is closed, a country that asked for help with
it (or the incident's source) gets what happened, for its resilience follow-up: a timeline, the
indicators it may see, the related incidents, the requests still open. As a STIX 2.1 bundle and
as a readable HTML document.

Everything in it is read through the record service as the caller: a record the caller may not
see is not in it, and neither is a relationship that points at one."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import jinja2

from canal.assist.service import AssistService, Shown
from canal.clock import Clock
from canal.errors import Conflict, Forbidden, InvalidInput, NotFound
from canal.exchange.stix_export import PREAMBLE
from canal.model.assist import TERMINAL, EventKind, RequestEvent
from canal.model.audit import AuditEvent, EventTag
from canal.model.extension import CANAL_IDENTITY_ID
from canal.model.handling import Tlp
from canal.model.org import Principal
from canal.model.stix import (
    TLP2_MARKING_IDS,
    format_micros,
    format_timestamp,
    from_micros,
    parse_timestamp,
    to_micros,
)
from canal.policy import Action
from canal.records.service import RecordService, Seen, present
from canal.store import assist as store
from canal.store.database import Database
from canal.store.records import RecordQuery
from canal.store.tables import records
from canal.store.unit import write_unit

#: Relationship objects looked at per hop; a hub with more is cut (and the package says so).
MAX_EDGES = 5000
_REF_KEYS = ("source_ref", "target_ref", "sighting_of_ref")
_REF_LIST_KEYS = ("where_sighted_refs", "observed_data_refs")
_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("canal.assist", "templates"),
    autoescape=jinja2.select_autoescape(default=True),
    undefined=jinja2.StrictUndefined,
)


def _refs(obj: dict[str, Any]) -> set[str]:
    out = {str(obj[k]) for k in _REF_KEYS if isinstance(obj.get(k), str)}
    for key in _REF_LIST_KEYS:
        value = obj.get(key)
        if isinstance(value, list):
            out.update(str(v) for v in value)
    return out


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    at: int
    what: str
    who: str = ""

    @property
    def when(self) -> str:
        return format_micros(self.at)


@dataclass(frozen=True, slots=True)
class Package:
    incident: Seen
    closed_at: int
    closed_by: str
    closure_note: str | None
    generated_at: int
    generated_by: str
    timeline: list[TimelineEntry]
    indicators: list[Seen]
    related_incidents: list[Seen]
    context: list[Seen]
    relationships: list[Seen]
    requests: list[Shown]
    truncated: bool = False
    org_names: dict[int, str] = field(default_factory=dict)

    @property
    def open_requests(self) -> list[Shown]:
        return [s for s in self.requests if s.request.state not in TERMINAL]

    @property
    def tlp(self) -> Tlp:
        """The most restrictive TLP of what the package holds."""
        levels = [s.record.handling.tlp for s in self._records()]
        levels += [Tlp(s.request.tlp) for s in self.requests]
        return max([Tlp.AMBER, *levels], key=lambda t: t.rank)

    def _records(self) -> Iterator[Seen]:
        yield self.incident
        yield from self.indicators
        yield from self.related_incidents
        yield from self.context
        yield from self.relationships


class PackageService:
    def __init__(
        self,
        *,
        database: Database,
        clock: Clock,
        records: RecordService,
        assist: AssistService,
    ) -> None:
        self.database = database
        self.clock = clock
        self.records = records
        self.assist = assist

    def _incident(self, principal: Principal, stix_id: str) -> Seen:
        found = self.records.page(
            principal,
            RecordQuery(stix_ids=frozenset({stix_id}), types=frozenset({"incident"})),
            limit=10,
            filters={"assist": "incident"},
        ).items
        if not found:
            raise NotFound("incident", stix_id)
        return found[-1]

    def close_incident(self, principal: Principal, stix_id: str, note: str | None) -> store.Closure:
        """Declare an incident closed. Only its source may (R1: only the source changes what is
        said of its record)."""
        incident = self._incident(principal, stix_id)
        if not principal.is_admin and incident.record.handling.source_org_id != principal.org.id:
            raise Forbidden(f"only the source of incident {stix_id} may close it")
        note = (note or "").strip() or None
        if note and len(note) > 5000:
            raise InvalidInput("note", "is longer than 5000 characters")
        source_org_id = incident.record.handling.source_org_id
        with write_unit(self.database, self.clock) as unit:
            values: dict[str, Any] = {
                "stix_id": stix_id,
                "org_id": source_org_id,
                "closed_by": principal.label,
                "closed_at": unit.now,
                "note": note,
            }
            if not store.close_incident(unit.conn, values):
                raise Conflict(f"incident {stix_id} is already closed")
            unit.log(
                AuditEvent(
                    action=EventTag.ASSIST_INCIDENT_CLOSE,
                    actor=principal.label,
                    org_id=principal.org.id or None,
                    summary={"note": note},
                    subjects=(stix_id,),
                )
            )
        return store.Closure(stix_id, source_org_id, principal.label, unit.now, note)

    def build(self, principal: Principal, stix_id: str) -> Package:
        incident = self._incident(principal, stix_id)
        with self.database.read() as conn:
            closure = store.closure(conn, stix_id)
        if closure is None:
            raise Conflict(
                f"incident {stix_id} is not closed; its source closes it first "
                f"(POST /api/v1/incidents/{stix_id}/close)"
            )
        requests = self.assist.requests_about(principal, stix_id)
        own = incident.record.handling.source_org_id == principal.org.id
        if not (principal.is_admin or own or requests):
            raise Forbidden(
                "the post-event package is for a country that asked for assistance about the "
                "incident, or for its source"
            )
        edges, nodes, truncated = self._neighbourhood(principal, stix_id)
        names = self.records.org_names()
        related = [s for s in nodes if s.record.stix_type == "incident"]
        indicators = [s for s in nodes if s.record.stix_type == "indicator"]
        context = [s for s in nodes if s.record.stix_type not in {"incident", "indicator"}]
        included = {stix_id} | {s.record.stix_id for s in nodes}
        kept = [e for e in edges if _refs(e.record.object) <= included]
        now = to_micros(self.clock.now())
        package = Package(
            incident=incident,
            closed_at=closure.closed_at,
            closed_by=closure.closed_by,
            closure_note=closure.note,
            generated_at=now,
            generated_by=principal.label,
            timeline=self._timeline(incident, closure, requests, names),
            indicators=indicators,
            related_incidents=related,
            context=context,
            relationships=kept,
            requests=requests,
            truncated=truncated,
            org_names=names,
        )
        handed_out = [s.record.stix_id for s in package._records()]  # noqa: SLF001 - own class
        self.records.log_export(principal, None, handed_out, "post-event-package")
        with write_unit(self.database, self.clock) as unit:
            unit.log(
                AuditEvent(
                    action=EventTag.ASSIST_PACKAGE_CREATE,
                    actor=principal.label,
                    org_id=principal.org.id or None,
                    summary={
                        "requests": [s.request.id for s in requests],
                        "records": len(handed_out),
                    },
                    subjects=(stix_id,),
                )
            )
        return package

    def _edges_touching(self, principal: Principal, ids: set[str]) -> tuple[list[Seen], bool]:
        """Relationships and sightings the principal may see that reference any of `ids`."""
        out: dict[str, Seen] = {}
        ordered = sorted(ids)
        for start in range(0, len(ordered), 50):
            chunk = ordered[start : start + 50]
            clause = records.c.object.contains(chunk[0], autoescape=True)
            for other in chunk[1:]:
                clause |= records.c.object.contains(other, autoescape=True)
            query = RecordQuery(types=frozenset({"relationship", "sighting"}), extra=(clause,))
            for seen in self.records.iterate(principal, query, action=Action.READ):
                if _refs(seen.record.object) & ids:
                    out.setdefault(seen.record.stix_id, seen)
                if len(out) >= MAX_EDGES:
                    return list(out.values()), True
        return list(out.values()), False

    def _neighbourhood(
        self, principal: Principal, stix_id: str
    ) -> tuple[list[Seen], list[Seen], bool]:
        """Two hops out of the incident over relationships and sightings: what it targets or is
        attributed to, and what else (indicators, incidents) touches those."""
        first, cut1 = self._edges_touching(principal, {stix_id})
        hop1 = set().union(*(_refs(e.record.object) for e in first)) - {stix_id} if first else set()
        second, cut2 = self._edges_touching(principal, hop1) if hop1 else ([], False)
        hop2: set[str] = set()
        for edge in second:
            hop2 |= _refs(edge.record.object)
        wanted = (hop1 | hop2) - {stix_id}
        nodes: dict[str, Seen] = {}
        ordered = sorted(wanted)
        for start in range(0, len(ordered), 500):
            query = RecordQuery(stix_ids=frozenset(ordered[start : start + 500]))
            for seen in self.records.iterate(principal, query, action=Action.READ):
                nodes[seen.record.stix_id] = seen
        # Keep what tells the story: the incident's direct neighbours, and the indicators and
        # incidents one hop further.
        kept = [
            s
            for s in nodes.values()
            if s.record.stix_id in hop1 or s.record.stix_type in {"indicator", "incident"}
        ]
        edges = {e.record.stix_id: e for e in [*first, *second]}
        return list(edges.values()), kept, cut1 or cut2

    @staticmethod
    def _timeline(
        incident: Seen,
        closure: store.Closure,
        requests: list[Shown],
        names: dict[int, str],
    ) -> list[TimelineEntry]:
        obj = incident.record.object
        source = names.get(incident.record.handling.source_org_id, "its source")
        entries: list[TimelineEntry] = []
        for key, label in (
            ("x_first_intrusion", "first intrusion"),
            ("first_seen", "first seen"),
            ("created", f"incident reported by {source}"),
        ):
            value = obj.get(key)
            if isinstance(value, str):
                try:
                    entries.append(TimelineEntry(to_micros(parse_timestamp(value)), label))
                except ValueError:
                    continue
        for shown in requests:
            request = shown.request
            label = (
                f"{request.urgency.value} {request.type.value} request "
                f"{request.requesting_country} to {request.requested_country}"
            )
            entries.extend(
                TimelineEntry(event.at, f"{label}: {_describe(event)}", event.actor)
                for event in shown.events
            )
        entries.append(
            TimelineEntry(
                closure.closed_at, "incident closed" + _note(closure.note), closure.closed_by
            )
        )
        return sorted(entries, key=lambda e: e.at)

    # -- renderings ---------------------------------------------------------------------------

    def stix_bundle(self, package: Package) -> dict[str, Any]:
        """The package as a STIX 2.1 bundle: the records as canal hands them out, a note per
        request and one for the timeline, and a report that holds them together."""
        names = package.org_names
        now = format_timestamp(from_micros(package.generated_at))
        incident_id = package.incident.record.stix_id
        objects: list[dict[str, Any]] = [
            present(seen, names)
            for seen in package._records()  # noqa: SLF001 - own class
        ]
        notes = [
            _note_object(
                now,
                f"Timeline of the incident (generated for {package.generated_by})",
                "\n".join(
                    f"{e.when}  {e.what}" + (f"  [{e.who}]" if e.who else "")
                    for e in package.timeline
                ),
                [incident_id],
                package.tlp,
            )
        ]
        for shown in package.requests:
            request = shown.request
            lines = [
                f"state: {request.state.value}",
                f"requesting country: {request.requesting_country}",
                f"requested country: {request.requested_country}",
            ]
            if request.answer:
                lines.append(f"answer: {request.answer}")
            if request.refusal_ground:
                lines.append(f"refusal ground: {request.refusal_ground.value}")
            if request.mla_reference:
                lines.append(f"formal request: {request.mla_reference}")
            if request.preserved_until:
                lines.append(f"preserved until: {format_micros(request.preserved_until)}")
            lines += [f"{format_micros(e.at)}  {_describe(e)}  [{e.actor}]" for e in shown.events]
            notes.append(
                _note_object(
                    now,
                    f"Assistance request {request.id} ({request.type.value}, "
                    f"{request.urgency.value}): {request.state.value}",
                    "\n".join(lines),
                    [incident_id],
                    Tlp(request.tlp),
                )
            )
        name = package.incident.record.object.get("name", incident_id)
        report = {
            "type": "report",
            "spec_version": "2.1",
            "id": f"report--{uuid.uuid4()}",
            "created_by_ref": CANAL_IDENTITY_ID,
            "created": now,
            "modified": now,
            "name": f"Post-event package: {name}",
            "description": (
                f"For {package.generated_by}. {len(package.indicators)} indicator(s), "
                f"{len(package.related_incidents)} related incident(s), "
                f"{len(package.open_requests)} open request(s)."
            ),
            "published": now,
            "report_types": ["threat-report"],
            "labels": ["post-event-package"],
            "object_refs": [o["id"] for o in objects] + [n["id"] for n in notes],
            "object_marking_refs": [TLP2_MARKING_IDS[package.tlp]],
        }
        return {
            "type": "bundle",
            "id": f"bundle--{uuid.uuid4()}",
            "objects": [*PREAMBLE, *objects, *notes, report],
        }

    @staticmethod
    def html(package: Package) -> str:
        names = package.org_names

        def source(seen: Seen) -> str:
            return names.get(seen.record.handling.source_org_id, "")

        return _ENV.get_template("package.html").render(
            package=package,
            incident=package.incident.record.object,
            generated=format_micros(package.generated_at),
            closed=format_micros(package.closed_at),
            tlp=package.tlp.label,
            source=source,
            when=format_micros,
            describe=_describe,
        )


def _note(text: str | None) -> str:
    return f": {text}" if text else ""


def _describe(event: RequestEvent) -> str:
    if event.kind is EventKind.TRANSITION and event.to_state is not None:
        text = f"{event.from_state.value if event.from_state else 'new'} -> {event.to_state.value}"
        ground = event.details.get("ground")
        if ground:
            text += f" (ground: {ground})"
        return text + _note(event.reason)
    if event.kind is EventKind.CREATED:
        return "filed"
    return event.kind.value + _note(event.reason)


def _note_object(
    now: str, abstract: str, content: str, refs: list[str], tlp: Tlp
) -> dict[str, Any]:
    return {
        "type": "note",
        "spec_version": "2.1",
        "id": f"note--{uuid.uuid4()}",
        "created_by_ref": CANAL_IDENTITY_ID,
        "created": now,
        "modified": now,
        "abstract": abstract,
        "content": content or "(nothing recorded)",
        "object_refs": refs,
        "object_marking_refs": [TLP2_MARKING_IDS[tlp]],
    }
