"""`canal correlate`: rebuild links and clusters from the index, from scratch.

It reads each (value, record) and (record, reference) pair once, joins records in a union-find,
and writes the clusters back. Values on a warninglist link nothing; values carried by more than
the hub threshold of records link nothing either and are reported as hubs with their count
(MISP drops them silently past 20).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import delete, func, insert, select, update

from canal.analysis.index import WEAK_KINDS, ObservableIndex, UnionFind, read_local_lists
from canal.analysis.observables import Observable, ObservableType
from canal.clock import Clock
from canal.model.audit import AuditEvent, EventTag
from canal.model.org import Principal
from canal.store.database import Database
from canal.store.tables import (
    cluster_members,
    clusters,
    observables,
    record_observables,
    record_refs,
    records,
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
        progress: Callable[[str], None] | None = None,
    ) -> CorrelationReport:
        started = time.perf_counter()
        report = CorrelationReport()
        say = progress or (lambda _msg: None)
        if reflag:
            say("flagging values against the warninglists")
            report.flagged = self.reflag()
        with write_unit(self.database, self.clock) as unit:
            report.tokens = self.index.fill_blind_tokens(unit.conn)
        uf = UnionFind()
        hub_threshold = self.index.hub_threshold
        with self.database.read() as conn:
            live = {
                pk: (stix_id, added)
                for pk, stix_id, added in conn.execute(
                    select(records.c.pk, records.c.stix_id, records.c.date_added).where(
                        records.c.is_latest.is_(True), records.c.revoked.is_(False)
                    )
                )
            }
            report.records = len(live)
            say(f"{len(live):,} current records; reading shared values")
            current_oid: int | None = None
            carriers: list[int] = []
            names: dict[int, tuple[str, str]] = {}

            def close_value() -> None:
                if current_oid is None or len(carriers) < 2:
                    return
                if len(carriers) > hub_threshold:
                    kind, value = names[current_oid]
                    report.hubs.append((f"{kind}:{value}", len(carriers)))
                    return
                first = carriers[0]
                for pk in carriers[1:]:
                    uf.union(first, pk)
                report.links_by_value += len(carriers) - 1

            for oid, pk, kind, value in conn.execute(
                select(
                    record_observables.c.observable_id,
                    record_observables.c.record_pk,
                    observables.c.kind,
                    observables.c.value,
                )
                .join(observables, observables.c.id == record_observables.c.observable_id)
                .where(observables.c.flag.is_(None), observables.c.kind.not_in(WEAK_KINDS))
                .order_by(record_observables.c.observable_id)
            ):
                if oid != current_oid:
                    close_value()
                    current_oid, carriers = oid, []
                    names = {oid: (kind, value)}
                if pk in live:
                    carriers.append(pk)
            close_value()
            report.observables = conn.execute(
                select(func.count()).select_from(observables)
            ).scalar_one()
            say("reading references")
            by_stix = {stix_id: pk for pk, (stix_id, _) in live.items()}
            referrers: dict[str, list[int]] = {}
            for pk, target in conn.execute(
                select(record_refs.c.record_pk, record_refs.c.target_id)
            ):
                if pk in live and target in by_stix:
                    referrers.setdefault(target, []).append(pk)
        for target, pks in referrers.items():
            if len(pks) > hub_threshold:
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

    def _write(
        self,
        uf: UnionFind,
        live: dict[int, tuple[str, int]],
        principal: Principal,
        report: CorrelationReport,
    ) -> None:
        cluster_rows: list[dict[str, object]] = []
        member_rows: list[dict[str, object]] = []
        for members in uf.groups().values():
            if len(members) < 2:
                continue
            anchor = min(members, key=lambda pk: live[pk][1])
            cluster_id, first_added = live[anchor]
            cluster_rows.append(
                {
                    "id": cluster_id,
                    "first_added": first_added,
                    "size": len(members),
                    "updated_at": 0,
                }
            )
            member_rows.extend({"record_pk": pk, "cluster_id": cluster_id} for pk in members)
        report.clusters = len(cluster_rows)
        report.clustered_records = len(member_rows)
        with write_unit(self.database, self.clock) as unit:
            now = unit.now
            unit.conn.execute(delete(cluster_members))
            unit.conn.execute(delete(clusters))
            for row in cluster_rows:
                row["updated_at"] = now
            for start in range(0, len(cluster_rows), 20_000):
                unit.conn.execute(insert(clusters), cluster_rows[start : start + 20_000])
            for start in range(0, len(member_rows), 20_000):
                unit.conn.execute(insert(cluster_members), member_rows[start : start + 20_000])
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
