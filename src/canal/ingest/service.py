"""Ingest: check each object, resolve its handling, and store it as a new record or version.

Objects are written in chunks, one transaction each, with the chunk's processing-log entries in
the same transaction. A rejected object never takes its neighbours down: checks run before the
transaction, and if the database refuses a chunk the chunk is retried one object at a time.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson
from sqlalchemy import Connection, select
from sqlalchemy.exc import DBAPIError

from canal.analysis.index import Derived, StoredRow
from canal.clock import Clock
from canal.ingest.aside import Checked, Rejected, check_one, checked_aside
from canal.ingest.errors import SubmissionError
from canal.ingest.stix import (
    CheckedObject,
    read_submission,
    without_handling,
)
from canal.model.audit import AuditEvent, EventTag
from canal.model.extension import defaults_from_extension
from canal.model.handling import Handling, HandlingDefaults, HandlingError
from canal.model.org import DEFAULT_PURPOSE, Org, OrgKind, Principal, Role
from canal.model.record import ReleaseState
from canal.model.stix import format_micros, to_micros
from canal.policy import Policy
from canal.store.database import Database
from canal.store.handlings import HandlingStore
from canal.store.orgs import list_orgs
from canal.store.proposals import insert_proposal
from canal.store.records import (
    RecordReader,
    StoredVersion,
    demote_latest,
    held_versions,
    insert_rows,
)
from canal.store.tables import records
from canal.store.unit import WriteUnit, write_unit


class ObjectStatus(StrEnum):
    CREATED = "created"
    NEW_VERSION = "new-version"
    DUPLICATE = "duplicate"
    #: A change to an object another source holds: stored as a proposal to that source (R1).
    PROPOSED = "proposed"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class ObjectResult:
    index: int
    stix_id: str | None
    status: ObjectStatus
    version: int | None = None
    date_added: int | None = None
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "id": self.stix_id, "status": self.status}
        if self.version is not None:
            out["version"] = format_micros(self.version)
        if self.reason:
            out["reason"] = self.reason
        return out


@dataclass
class IngestReport:
    submission_id: str
    source: str
    results: list[ObjectResult] = field(default_factory=list)

    def count(self, status: ObjectStatus) -> int:
        return sum(1 for r in self.results if r.status is status)

    @property
    def rejected(self) -> list[ObjectResult]:
        return [r for r in self.results if r.status is ObjectStatus.REJECTED]

    @property
    def accepted(self) -> int:
        return len(self.results) - len(self.rejected)

    def summary(self) -> dict[str, int]:
        return {status.value: self.count(status) for status in ObjectStatus}


@dataclass(slots=True)
class _HandlingContext:
    """What resolving handling needs for one submission."""

    source: Org
    fallback: HandlingDefaults
    org_ids: dict[str, int]
    ceiling: int
    resolved: dict[tuple[Any, ...], tuple[Handling, int | None]] = field(default_factory=dict)


@dataclass(slots=True)
class _Prepared:
    index: int
    checked: CheckedObject
    handling: Handling
    retention_until: int
    derived: Derived | None = None


#: Objects from which `aside` checks them in a second process (below, forking costs more than
#: it saves).
ASIDE_FROM = 5_000

#: A submission this large changes the tables enough for the planner's statistics to be stale.
ANALYZE_AFTER = 20_000


def years_later(at: datetime, years: int) -> datetime:
    try:
        return at.replace(year=at.year + years)
    except ValueError:  # 29 February in a year that has none
        return at.replace(year=at.year + years, day=28)


class IngestService:
    def __init__(
        self,
        *,
        database: Database,
        clock: Clock,
        handlings: HandlingStore,
        policy: Policy,
        retention_years: int,
        chunk_size: int,
        after_write: Callable[[WriteUnit, Sequence[StoredRow]], None] | None = None,
        derive: Callable[[dict[str, Any]], Derived] | None = None,
    ) -> None:
        self.database = database
        self.clock = clock
        self.handlings = handlings
        self.policy = policy
        self.reader = RecordReader(handlings)
        #: Runs in each chunk's transaction once its records are written (the observable
        #: index and clusters), so they are never out of step with the records.
        self.after_write = after_write
        #: What `after_write` needs of each object alone, worked out before the write lock is
        #: taken: other writers wait only for the database work.
        self.derive = derive
        self.retention_years = retention_years
        self.chunk_size = chunk_size

    def ingest_bytes(
        self,
        data: bytes | str,
        *,
        principal: Principal,
        source: Org,
        defaults: HandlingDefaults = HandlingDefaults(),
        where: str = "submission",
        progress: Callable[[int, int | None], None] | None = None,
        aside: bool = False,
    ) -> IngestReport:
        objects = read_submission(data, where=where)
        return self.ingest_objects(
            objects,
            principal=principal,
            source=source,
            defaults=defaults,
            progress=progress,
            aside=aside,
        )

    def ingest_objects(
        self,
        objects: Iterable[Any],
        *,
        principal: Principal,
        source: Org,
        defaults: HandlingDefaults = HandlingDefaults(),
        progress: Callable[[int, int | None], None] | None = None,
        aside: bool = False,
    ) -> IngestReport:
        """Store `objects` for `source`. `aside` checks them in a second process while this one
        writes (see ingest.aside: for processes that run no other threads, such as the CLI)."""
        if not principal.is_admin and principal.org.id != source.id:
            raise SubmissionError(
                "source", f"{principal.label} may not submit on behalf of {source.name!r}"
            )
        report = IngestReport(submission_id=str(uuid.uuid4()), source=source.name)
        with self.database.read() as conn:
            org_ids = {org.name: org.id for org in list_orgs(conn)}
        ctx = _HandlingContext(
            source=source,
            fallback=defaults.over(source.defaults),
            org_ids=org_ids,
            ceiling=to_micros(years_later(self.clock.now(), self.retention_years)),
        )
        chunk: list[_Prepared] = []
        seen = 0

        def flush() -> None:
            if chunk:
                report.results.extend(self._store(chunk, principal, source, report.submission_id))
                chunk.clear()

        total = len(objects) if isinstance(objects, Sequence) else None
        # A second process pays for itself only on bulk input.
        aside = aside and (total is None or total >= ASIDE_FROM)
        stream = (
            checked_aside(objects, derive=self.derive, id_of=_id_of)
            if aside
            else self._checked(objects)
        )
        # Checked aside, the first chunk is written as soon as a fifth of one is ready: the
        # writes start while the rest is being checked rather than after a whole chunk.
        limit = max(1, self.chunk_size // 5) if aside else self.chunk_size
        for index, item in enumerate(stream):
            seen += 1
            if isinstance(item, Rejected):
                report.results.append(
                    ObjectResult(index, item.stix_id, ObjectStatus.REJECTED, reason=item.reason)
                )
                continue
            try:
                handling, retention = self._handling(item.checked, ctx)
            except HandlingError as exc:
                report.results.append(
                    ObjectResult(
                        index, item.checked.stix_id, ObjectStatus.REJECTED, reason=str(exc)
                    )
                )
                continue
            chunk.append(_Prepared(index, item.checked, handling, retention, item.derived))
            if len(chunk) >= limit:
                flush()
                limit = self.chunk_size
                if progress:
                    progress(seen, total)
        flush()
        if progress:
            progress(seen, total)
        report.results.sort(key=lambda r: r.index)
        if seen >= ANALYZE_AFTER:
            self.database.analyze()
        return report

    def _checked(self, objects: Iterable[Any]) -> Iterator[Checked | Rejected]:
        derive = self.derive
        return (check_one(obj, derive, _id_of) for obj in objects)

    @staticmethod
    def _handling(checked: CheckedObject, ctx: _HandlingContext) -> tuple[Handling, int]:
        """The object's handling: its own markings, then the submission's defaults, then the
        source org's, then canal's. Cached per distinct marking set within a submission."""
        source, resolved = ctx.source, ctx.resolved
        ext = checked.extension
        key = (checked.tlp, None if ext is None else repr(sorted(ext.items())))
        found = resolved.get(key)
        if found is None:
            own = HandlingDefaults(tlp=checked.tlp)
            if ext is not None:
                own = HandlingDefaults(tlp=checked.tlp).over(
                    defaults_from_extension(ext, ctx.org_ids.__getitem__)
                )
            merged = own.over(ctx.fallback)
            given = None if merged.retention_until is None else to_micros(merged.retention_until)
            handling = merged.apply(source.id)
            if source.id in handling.deny_orgs or (
                source.country is not None and source.country in handling.deny_countries
            ):
                raise HandlingError("deny", source.name, "a list that does not name the source")
            found = (handling, given)
            resolved[key] = found
        handling, given_retention = found
        # The default period bounds what a source may ask for; it may shorten it (R6).
        retention = ctx.ceiling if given_retention is None else min(given_retention, ctx.ceiling)
        return handling, retention

    def _store(
        self, chunk: list[_Prepared], principal: Principal, source: Org, submission_id: str
    ) -> list[ObjectResult]:
        try:
            with write_unit(self.database, self.clock, bulk=True) as unit:
                return self._write(unit, chunk, principal, source, submission_id)
        except DBAPIError:
            if len(chunk) == 1:
                raise
        # The database refused the chunk (a concurrent writer, a constraint): store each object
        # on its own so that one failure cannot cost the others.
        results: list[ObjectResult] = []
        for item in chunk:
            try:
                with write_unit(self.database, self.clock, bulk=True) as unit:
                    results.extend(self._write(unit, [item], principal, source, submission_id))
            except DBAPIError as exc:
                results.append(
                    ObjectResult(
                        item.index,
                        item.checked.stix_id,
                        ObjectStatus.REJECTED,
                        reason=f"could not be stored: {exc.orig}",
                    )
                )
        return results

    @staticmethod
    def _stored(
        unit: WriteUnit,
        rows: Sequence[dict[str, Any]],
        objects: Sequence[dict[str, Any] | None],
        derived: Sequence[Derived | None],
        superseded: set[str],
    ) -> list[StoredRow]:
        """The rows just inserted, with their primary keys (found by their date_added, which
        this transaction allocated and nobody else can hold)."""
        first, last = rows[0]["date_added"], rows[-1]["date_added"]
        pks = dict(
            unit.conn.execute(
                select(records.c.date_added, records.c.pk).where(
                    records.c.date_added.between(first, last)
                )
            ).all()
        )
        return [
            StoredRow(
                pk=pks[row["date_added"]],
                stix_id=row["stix_id"],
                date_added=row["date_added"],
                source_org_id=row["source_org_id"],
                obj=obj,
                is_latest=row["is_latest"],
                revoked=row["revoked"],
                derived=found,
                superseded=row["stix_id"] in superseded,
            )
            for row, obj, found in zip(rows, objects, derived, strict=True)
        ]

    def _viewer(self, principal: Principal, source: Org) -> Principal:
        """Whose sight decides what an object from `source` may collide with: the submitter's
        when it acts for the source, else the source org's as a plain member of its kind."""
        if principal.org.id == source.id:
            return principal
        role = {OrgKind.MEMBER: Role.MEMBER, OrgKind.PARTNER: Role.PARTNER}.get(
            source.kind, Role.ANALYST
        )
        return Principal(org=source, role=role, name="ingest")

    def _visible_pks(self, conn: Connection, viewer: Principal, pks: list[int]) -> set[int]:
        now = self.clock.now()
        purpose = DEFAULT_PURPOSE[viewer.role]
        return {
            record.pk
            for record in self.reader.by_pks(conn, pks)
            if self.policy.may_read(viewer, record, purpose=purpose, now=now)
        }

    def _write(
        self,
        unit: WriteUnit,
        chunk: Sequence[_Prepared],
        principal: Principal,
        source: Org,
        submission_id: str,
    ) -> list[ObjectResult]:
        held = held_versions(unit.conn, [item.checked.stix_id for item in chunk])
        # Versions held by other sources count only where this source may see them: for
        # anyone else, an object they cannot see must behave as if it did not exist.
        foreign = [v.pk for found in held.values() for v in found if v.source_org_id != source.id]
        held_elsewhere = {
            (v.stix_id, v.version)
            for found in held.values()
            for v in found
            if v.source_org_id != source.id
        }
        if foreign:
            visible = self._visible_pks(unit.conn, self._viewer(principal, source), foreign)
            held = {
                stix_id: [v for v in found if v.source_org_id == source.id or v.pk in visible]
                for stix_id, found in held.items()
            }
        release = (
            ReleaseState.QUARANTINED if source.kind is OrgKind.PARTNER else ReleaseState.RELEASED
        )
        rows: list[dict[str, Any]] = []
        objects: list[dict[str, Any] | None] = []
        derived: list[Derived | None] = []
        # Objects resolved alike share one Handling instance: intern it once per chunk rather
        # than hashing its sets for every object.
        interned: dict[int, int] = {}
        demote: list[tuple[str, int]] = []
        # This chunk's rows that are their chain's latest, by id: a newer version later in the
        # same chunk takes the flag from them before they are inserted.
        latest_rows: dict[str, dict[str, Any]] = {}
        results: list[ObjectResult] = []
        created_ids: list[str] = []
        versioned_ids: list[str] = []
        revoked_ids: list[str] = []
        proposed_ids: list[str] = []
        for item in chunk:
            c = item.checked
            versions = held.setdefault(c.stix_id, [])
            decision = _decide(c, versions, source.id)
            if isinstance(decision, ObjectResult):
                if decision.status is ObjectStatus.PROPOSED:
                    owner = next(v.source_org_id for v in versions if v.source_org_id != source.id)
                    proposal = insert_proposal(
                        unit.conn,
                        stix_id=c.stix_id,
                        source_org_id=owner,
                        proposer_org_id=source.id,
                        proposer=principal.label,
                        object_text=c.text,
                        now=unit.now,
                    )
                    proposed_ids.append(c.stix_id)
                    decision = replace(
                        decision,
                        reason=f"held by its source: stored as proposal {proposal} for the "
                        "source to accept or reject",
                    )
                results.append(replace(decision, index=item.index, stix_id=c.stix_id))
                continue
            version, is_latest, first = decision
            date_added = unit.next_date_added()
            if version is None:
                version = date_added
            mine_latest = versions and [
                v for v in versions if v.source_org_id == source.id and v.is_latest
            ]
            if is_latest and mine_latest:
                demote.append((c.stix_id, source.id))
                versions[:] = [
                    replace(v, is_latest=False)
                    if v.source_org_id == source.id and v.is_latest
                    else v
                    for v in versions
                ]
            if is_latest and c.stix_id in latest_rows:
                latest_rows.pop(c.stix_id)["is_latest"] = False
            rows.append(
                {
                    "stix_id": c.stix_id,
                    "stix_type": c.stix_type,
                    "version": version,
                    "spec_version": c.spec_version,
                    "date_added": date_added,
                    "source_org_id": source.id,
                    "handling_id": interned.get(id(item.handling))
                    or interned.setdefault(
                        id(item.handling), self.handlings.intern(unit, item.handling)
                    ),
                    "is_latest": is_latest,
                    "revoked": c.revoked,
                    "retention_until": item.retention_until,
                    "review_state": "active",
                    "art3_status": "cleared",
                    "release_state": release.value,
                    "object": c.text,
                    "disseminator_org_id": None,
                    "release_note": None,
                    "has_twin": (c.stix_id, version) in held_elsewhere,
                }
            )
            if is_latest:
                latest_rows[c.stix_id] = rows[-1]
            versions.append(
                StoredVersion(0, c.stix_id, version, source.id, is_latest, c.revoked, c.text)
            )
            # The index needs the object itself only where its observables were not worked out
            # beforehand.
            objects.append(c.parsed if item.derived is not None else c.obj)
            derived.append(item.derived)
            status = ObjectStatus.CREATED if first else ObjectStatus.NEW_VERSION
            (created_ids if first else versioned_ids).append(c.stix_id)
            if c.revoked:
                revoked_ids.append(c.stix_id)
            results.append(
                ObjectResult(item.index, c.stix_id, status, version=version, date_added=date_added)
            )
        # Demote before inserting: the new latest rows must not be caught by the update.
        demote_latest(unit.conn, demote)
        insert_rows(unit.conn, rows)
        if self.after_write is not None and rows:
            superseded = {stix_id for stix_id, _source in demote}
            self.after_write(unit, self._stored(unit, rows, objects, derived, superseded))
        base: dict[str, object] = {"submission": submission_id, "source": source.name}
        if release is ReleaseState.QUARANTINED:
            base["quarantine"] = True
        for tag, ids in (
            (EventTag.RECORD_CREATE, created_ids),
            (EventTag.RECORD_VERSION, versioned_ids),
            (EventTag.RECORD_REVOKE, revoked_ids),
            (EventTag.PROPOSAL_CREATE, proposed_ids),
        ):
            if ids:
                unit.log(
                    AuditEvent(
                        action=tag,
                        actor=principal.label,
                        org_id=principal.org.id or None,
                        summary={**base, "count": len(ids)},
                        subjects=tuple(ids),
                    )
                )
        return results


def _same_content(stored_text: str, obj: dict[str, Any]) -> bool:
    return without_handling(orjson.loads(stored_text)) == without_handling(obj)


def _decide(
    c: CheckedObject, versions: list[StoredVersion], source_id: int
) -> ObjectResult | tuple[int | None, bool, bool]:
    """What to do with `c` given the versions already held of its id.

    Returns an ObjectResult for a duplicate or a rejection, else (version, is_latest, first):
    the version to store (None: the server assigns date_added), whether it becomes the latest
    of this source's chain, and whether it is this source's first version of the id.
    """
    if not versions:  # the usual case in bulk: a new object
        return c.version, True, True
    mine = [v for v in versions if v.source_org_id == source_id]
    if c.version is None:
        # Observables carry no version: equal content shares one server version across
        # sources; new content from this source becomes its newest version.
        same = [v for v in versions if _same_content(v.object_text, c.obj)]
        if any(v.source_org_id == source_id for v in same):
            held = next(v.version for v in same if v.source_org_id == source_id)
            return ObjectResult(0, c.stix_id, ObjectStatus.DUPLICATE, version=held)
        version = same[0].version if same else None
        newest_mine = max((v.version for v in mine), default=None)
        is_latest = version is None or newest_mine is None or version > newest_mine
        return version, is_latest, not mine
    at_version = [v for v in versions if v.version == c.version]
    if at_version:
        if _same_content(at_version[0].object_text, c.obj):
            return ObjectResult(0, c.stix_id, ObjectStatus.DUPLICATE, version=c.version)
        return ObjectResult(
            0,
            c.stix_id,
            ObjectStatus.REJECTED,
            reason=(
                f"a different object with this id and modified {format_micros(c.version)} is "
                "already held; a change needs a later modified"
            ),
        )
    if versions and not mine:
        # Another source holds it and this one may see it: a change is a proposal (R1).
        return ObjectResult(0, c.stix_id, ObjectStatus.PROPOSED, version=c.version)
    newest = max(mine, key=lambda v: v.version, default=None)
    if newest is not None and newest.revoked and c.version > newest.version:
        return ObjectResult(
            0,
            c.stix_id,
            ObjectStatus.REJECTED,
            reason="the object is revoked; a revoked object takes no new versions",
        )
    is_latest = newest is None or c.version > newest.version
    return c.version, is_latest, not mine


def _id_of(obj: Any) -> str | None:
    if isinstance(obj, dict):
        value = obj.get("id")
        if isinstance(value, str):
            return value[:300]
    return None
