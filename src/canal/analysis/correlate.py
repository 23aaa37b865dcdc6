"""`canal correlate`: rebuild links and clusters from the index, from scratch.

It reads each (value, record) and (record, reference) pair once, joins records in a union-find,
and writes back the clusters that differ from those held. Values on a warninglist link nothing;
values carried by more than the hub threshold of records link nothing either and are reported
as hubs with their count (MISP drops them silently past 20).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, select, update

from canal.analysis.index import WEAK_KINDS, ObservableIndex, UnionFind, read_local_lists
from canal.analysis.observables import Observable, ObservableType
from canal.clock import Clock
from canal.model.audit import AuditEvent, EventTag
from canal.model.org import Principal
from canal.store.database import Database
from canal.store.sql import bulk_insert, driver_cursor
from canal.store.tables import (
    cluster_members,
    clusters,
    observables,
)
from canal.store.unit import write_unit


@dataclass
class CorrelationReport:
    records: int = 0
    observables: int = 0
    links_by_value: int = 0
    links_by_reference: int = 0
    clusters: int = 0
    clustered_records: int = 0
    flagged: int = 0
    tokens: int = 0
    hubs: list[tuple[str, int]] = field(default_factory=list)
    seconds: float = 0.0


class Correlator:
    def __init__(self, *, database: Database, clock: Clock, index: ObservableIndex) -> None:
        self.database = database
        self.clock = clock
        self.index = index

    def rebuild(
        self,
        principal: Principal,
        *,
        reflag: bool = False,
        blind_tokens: bool = False,
        progress: Callable[[str], None] | None = None,
    ) -> CorrelationReport:
        started = time.perf_counter()
        report = CorrelationReport()
        say = progress or (lambda _msg: None)
        if reflag:
            say("flagging values against the warninglists")
            report.flagged = self.reflag()
        if blind_tokens:
            # About 0.1 ms per value: a separate step, for stores that serve blind lookups.
            say("computing blind-lookup tokens")
            report.tokens = self.index.ensure_blind_tokens(self.database, self.clock)
        uf = UnionFind()
        with self.database.read() as conn:
            live = {
                pk: (stix_id, added)
                for pk, stix_id, added in _rows(
                    conn,
                    "SELECT pk, stix_id, date_added FROM records WHERE is_latest AND NOT revoked",
                )
            }
            report.records = len(live)
            say(f"{len(live):,} current records; reading shared values")
            weak = ", ".join(f"'{kind}'" for kind in sorted(WEAK_KINDS))
            linkable = {
                oid
                for (oid,) in _rows(
                    conn,
                    f"SELECT id FROM observables WHERE flag IS NULL AND kind NOT IN ({weak})",
                )
            }
            # Straight from the (observable_id, record_pk) primary key, in its order: each
            # value's carriers arrive together and are joined as they come.
            hub_ids: list[tuple[int, int]] = []
            current_oid: int | None = None
            carriers: list[int] = []
            for oid, pk in _rows(
                conn,
                "SELECT observable_id, record_pk FROM record_observables "
                "ORDER BY observable_id, record_pk",
            ):
                if oid != current_oid:
                    self._close(uf, current_oid, carriers, hub_ids, report)
                    current_oid, carriers = oid, []
                if oid in linkable and pk in live:
                    carriers.append(pk)
            self._close(uf, current_oid, carriers, hub_ids, report)
            for oid, count in hub_ids:
                kind, value = conn.execute(
                    select(observables.c.kind, observables.c.value).where(observables.c.id == oid)
                ).one()
                report.hubs.append((f"{kind}:{value}", count))
            report.observables = conn.execute(
                select(func.count()).select_from(observables)
            ).scalar_one()
            say("reading references")
            by_stix = {stix_id: pk for pk, (stix_id, _) in live.items()}
            referrers: dict[str, list[int]] = {}
            for pk, target in _rows(conn, "SELECT record_pk, target_id FROM record_refs"):
                if pk in live and target in by_stix:
                    referrers.setdefault(target, []).append(pk)
        for target, pks in referrers.items():
            if len(pks) > self.index.hub_threshold:
                report.hubs.append((target, len(pks)))
                continue
            target_pk = by_stix[target]
            for pk in pks:
                uf.union(target_pk, pk)
            report.links_by_reference += len(pks)
        report.hubs.sort(key=lambda hub: -hub[1])
        say("writing clusters")
        self._write(uf, live, principal, report)
        report.seconds = time.perf_counter() - started
        return report

    def _close(
        self,
        uf: UnionFind,
        oid: int | None,
        carriers: list[int],
        hub_ids: list[tuple[int, int]],
        report: CorrelationReport,
    ) -> None:
        """Link the records that carry one value, or note the value as a hub."""
        if oid is None or len(carriers) < 2:
            return
        if len(carriers) > self.index.hub_threshold:
            hub_ids.append((oid, len(carriers)))
            return
        first = carriers[0]
        for pk in carriers[1:]:
            uf.union(first, pk)
        report.links_by_value += len(carriers) - 1

    def _write(
        self,
        uf: UnionFind,
        live: dict[int, tuple[str, int]],
        principal: Principal,
        report: CorrelationReport,
    ) -> None:
        """Write what differs from the clusters held: ingest keeps them current, so a rebuild
        mostly finds them as it would write them (at 1M records, rewriting every membership was
        more than half of the rebuild). Clusters whose membership changed are stamped."""
        wanted: dict[str, tuple[int, int]] = {}  # cluster id -> (first added, size)
        member_of: dict[int, str] = {}
        for members in uf.groups().values():
            if len(members) < 2:
                continue
            anchor = min(members, key=lambda pk: live[pk][1])
            cluster_id, first_added = live[anchor]
            wanted[cluster_id] = (first_added, len(members))
            for pk in members:
                member_of[pk] = cluster_id
        report.clusters = len(wanted)
        report.clustered_records = len(member_of)
        with write_unit(self.database, self.clock) as unit:
            now, conn = unit.now, unit.conn
            # Read under the write lock: what ingest merged since the rebuild read the index is
            # replaced by the rebuild's view, as a whole rewrite would.
            held_members = dict(_rows(conn, "SELECT record_pk, cluster_id FROM cluster_members"))
            held = {
                cid: (first, size)
                for cid, first, size in _rows(conn, "SELECT id, first_added, size FROM clusters")
            }
            # One pass over each side: at 11M records, each pass is seconds under the lock.
            left = [pk for pk in held_members if pk not in member_of]
            changed = {held_members[pk] for pk in left}
            moved: list[tuple[str, int]] = []
            joined: list[dict[str, object]] = []
            for pk, cid in member_of.items():
                was = held_members.get(pk)
                if was == cid:
                    continue
                changed.add(cid)
                if was is None:
                    joined.append({"record_pk": pk, "cluster_id": cid})
                else:
                    changed.add(was)
                    moved.append((cid, pk))
            with driver_cursor(conn) as (cursor, mark):
                cursor.executemany(
                    f"DELETE FROM cluster_members WHERE record_pk = {mark}", [(pk,) for pk in left]
                )
                cursor.executemany(
                    f"UPDATE cluster_members SET cluster_id = {mark} WHERE record_pk = {mark}",
                    moved,
                )
                cursor.executemany(
                    f"DELETE FROM clusters WHERE id = {mark}",
                    [(cid,) for cid in held if cid not in wanted],
                )
                cursor.executemany(
                    f"UPDATE clusters SET first_added = {mark}, size = {mark}, updated_at = {mark}"
                    f" WHERE id = {mark}",
                    [
                        (first, size, now, cid)
                        for cid, (first, size) in wanted.items()
                        if cid in held and (held[cid] != (first, size) or cid in changed)
                    ],
                )
            bulk_insert(
                conn,
                clusters,
                [
                    {"id": cid, "first_added": first, "size": size, "updated_at": now}
                    for cid, (first, size) in wanted.items()
                    if cid not in held
                ],
            )
            bulk_insert(conn, cluster_members, joined)
            unit.log(
                AuditEvent(
                    action=EventTag.CORRELATION_REBUILD,
                    actor=principal.label,
                    org_id=principal.org.id or None,
                    summary={
                        "records": report.records,
                        "clusters": report.clusters,
                        "hubs": len(report.hubs),
                    },
                )
            )

    def reflag(self) -> int:
        """Flag every stored value again (after the warninglists or the local lists changed)."""
        changed = 0
        with write_unit(self.database, self.clock) as unit:
            local = read_local_lists(unit.conn)
            rows = unit.conn.execute(
                select(
                    observables.c.id, observables.c.kind, observables.c.value, observables.c.flag
                )
            ).all()
            for oid, kind, value, flag in rows:
                try:
                    new = self.index.warninglists.flag(
                        Observable(ObservableType(kind), value), local
                    )
                except ValueError:
                    new = flag
                if new != flag:
                    unit.conn.execute(
                        update(observables).where(observables.c.id == oid).values(flag=new)
                    )
                    changed += 1
        return changed


def _rows(conn: Connection, sql: str, *, batch: int = 20_000) -> Iterator[tuple[Any, ...]]:
    """Rows of a plain SELECT from the driver's cursor, in batches: a full rebuild reads
    millions, and SQLAlchemy's per-row processing would cost more than the reading."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql)
        while True:
            rows = cursor.fetchmany(batch)
            if not rows:
                return
            yield from rows
    finally:
        cursor.close()
