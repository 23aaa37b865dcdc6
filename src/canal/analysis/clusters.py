"""Clusters as a principal may see them (R30).

A cluster is computed over every record; a principal sees, of each cluster, only its visible
members and the links between them: the connected parts of that visible subgraph. Two visible
records that are linked only through a record the principal may not see appear in separate
clusters, so no count, score or grouping reveals the hidden record. Each part is named by its
anchor: the STIX id of its earliest visible member (for the secretariat, who sees all, that is
the stored cluster's id).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, and_, select

from canal.analysis.index import IN_CHUNK, WEAK_KINDS, UnionFind
from canal.errors import InvalidInput, NotFound
from canal.model.handling import Purpose, Reliability
from canal.model.org import Principal
from canal.model.stix import to_micros
from canal.records.service import RecordService, Seen, handling_json
from canal.store.records import RecordQuery
from canal.store.tables import (
    cluster_members,
    observables,
    record_observables,
    record_refs,
    records,
)

_RELIABILITY_WEIGHT = {
    Reliability.A: 1.0,
    Reliability.B: 0.66,
    Reliability.C: 0.33,
    Reliability.X: 0.1,
}
_DAY = 86_400_000_000


@dataclass
class ClusterView:
    id: str
    members: list[Seen]
    shared_values: list[str]
    score: int
    factors: dict[str, float]
    sources: list[str]
    countries: list[str]
    first_added: int
    last_added: int
    member_ids: list[str] = field(default_factory=list)


def score_of(
    members: Sequence[Seen], org_info: dict[int, tuple[str, str | None, str]], now: datetime
) -> tuple[int, dict[str, float], list[str], list[str]]:
    """A score from 0 to 100 that a user can read factor by factor: how many distinct sources
    (30), countries (20) and kinds of org (10) reported the members, how recent the latest
    addition is (20), and how reliable the sources are (20)."""
    sources: set[str] = set()
    countries: set[str] = set()
    kinds: set[str] = set()
    reliability: list[float] = []
    for seen in members:
        record = seen.record
        source_id = record.handling.source_org_id
        if seen.redactions and record.disseminator_org_id is not None:
            source_id = record.disseminator_org_id
        name, country, kind = org_info.get(source_id, (str(source_id), None, "member"))
        sources.add(name)
        kinds.add(kind)
        if country:
            countries.add(country)
        reliability.append(_RELIABILITY_WEIGHT[record.handling.source_reliability])
    last = max(seen.record.date_added for seen in members)
    age_days = max(0.0, (to_micros(now) - last) / _DAY)
    recency = 1.0 if age_days <= 30 else max(0.0, 1 - (age_days - 30) / 335)
    factors = {
        "sources": round(30 * min(len(sources), 5) / 5, 1),
        "countries": round(20 * min(len(countries), 5) / 5, 1),
        "org_kinds": round(10 * len(kinds) / 3, 1),
        "recency": round(20 * recency, 1),
        "reliability": round(20 * sum(reliability) / len(reliability), 1),
    }
    return round(sum(factors.values())), factors, sorted(sources), sorted(countries)


class ClusterService:
    def __init__(self, *, records: RecordService, hub_threshold: int) -> None:
        self.records = records
        self.database = records.database
        self.hub_threshold = hub_threshold

    def _visible_members(
        self, principal: Principal, numbers: Sequence[int], purpose: Purpose
    ) -> dict[int, list[Seen]]:
        members = select(cluster_members.c.record_pk).where(
            cluster_members.c.cluster_no.in_(list(numbers))
        )
        query = RecordQuery(extra=(records.c.pk.in_(members),), include_revoked=False)
        seen = list(self.records.iterate(principal, query, purpose=purpose))
        if not seen:
            return {}
        with self.database.read() as conn:
            owner = dict(
                conn.execute(
                    select(cluster_members.c.record_pk, cluster_members.c.cluster_no).where(
                        cluster_members.c.record_pk.in_([s.record.pk for s in seen])
                    )
                ).all()
            )
        out: dict[int, list[Seen]] = {}
        for item in seen:
            out.setdefault(owner[item.record.pk], []).append(item)
        return out

    def _parts(self, conn: Connection, members: list[Seen]) -> list[tuple[list[Seen], list[str]]]:
        """The connected parts of the visible members, with the values linking each part."""
        by_pk = {seen.record.pk: seen for seen in members}
        by_stix = {seen.record.stix_id: seen.record.pk for seen in members}
        uf = UnionFind()
        for pk in by_pk:
            uf.find(pk)
        values: dict[int, tuple[str, list[int]]] = {}
        pks = list(by_pk)
        for start in range(0, len(pks), IN_CHUNK):
            chunk = pks[start : start + IN_CHUNK]
            for oid, pk, kind, value, _count in conn.execute(
                select(
                    record_observables.c.observable_id,
                    record_observables.c.record_pk,
                    observables.c.kind,
                    observables.c.value,
                    observables.c.records,
                )
                .join(observables, observables.c.id == record_observables.c.observable_id)
                .where(
                    and_(
                        record_observables.c.record_pk.in_(chunk),
                        observables.c.flag.is_(None),
                        observables.c.kind.not_in(WEAK_KINDS),
                        observables.c.records <= self.hub_threshold,
                    )
                )
            ):
                values.setdefault(oid, (f"{kind}:{value}", []))[1].append(pk)
            for pk, target in conn.execute(
                select(record_refs.c.record_pk, record_refs.c.target_id).where(
                    record_refs.c.record_pk.in_(chunk)
                )
            ):
                if target in by_stix:
                    uf.union(pk, by_stix[target])
        shared: dict[int, list[str]] = {}
        for key, carriers in values.values():
            if len(carriers) > 1:
                for pk in carriers[1:]:
                    uf.union(carriers[0], pk)
                shared.setdefault(carriers[0], []).append(key)
        parts: dict[int, list[int]] = uf.groups()
        out = []
        for members_pks in parts.values():
            if len(members_pks) < 2:
                continue
            roots = {uf.find(pk) for pk in members_pks}
            keys = sorted({k for pk, ks in shared.items() if uf.find(pk) in roots for k in ks})
            out.append((sorted((by_pk[pk] for pk in members_pks), key=_added), keys))
        return out

    def _views(
        self, principal: Principal, numbers: Sequence[int], purpose: Purpose
    ) -> list[ClusterView]:
        return self._views_of(numbers, self._visible_members(principal, numbers, purpose))

    def _views_of(
        self, numbers: Sequence[int], visible: dict[int, list[Seen]]
    ) -> list[ClusterView]:
        org_info = self._org_info()
        now = self.records.clock.now()
        views: list[ClusterView] = []
        with self.database.read() as conn:
            for number in numbers:
                for members, keys in self._parts(conn, visible.get(number, [])):
                    score, factors, sources, countries = score_of(members, org_info, now)
                    views.append(
                        ClusterView(
                            id=members[0].record.stix_id,
                            members=members,
                            shared_values=keys,
                            score=score,
                            factors=factors,
                            sources=sources,
                            countries=countries,
                            first_added=members[0].record.date_added,
                            last_added=max(s.record.date_added for s in members),
                            member_ids=[s.record.stix_id for s in members],
                        )
                    )
        return views

    def _org_info(self) -> dict[int, tuple[str, str | None, str]]:
        from canal.store.orgs import list_orgs  # noqa: PLC0415 - a small read, kept local

        with self.database.read() as conn:
            return {o.id: (o.name, o.country, o.kind.value) for o in list_orgs(conn)}

    def list(
        self,
        principal: Principal,
        *,
        purpose: Purpose | None = None,
        after: int | None = None,
        limit: int = 20,
        min_size: int = 2,
    ) -> tuple[list[ClusterView], int | None]:
        """Clusters with at least one member the principal may see, as the principal sees
        them, `limit` stored clusters a page. Returns the views and where the next page starts:
        the record number of a member the principal sees in the page's last cluster (`after`
        of the next call), or None on the last page.

        Pages are in the order of the stored clusters' numbers, which are the record numbers of
        their earliest members, visible or not: a page's position is therefore told by a member
        the principal may see, never by the stored number (R30)."""
        purpose = self.records.purpose_of(principal, purpose)
        now = self.records.clock.now()
        visible_clause = self.records.policy.visible_clause(principal, purpose=purpose, now=now)
        start = None if after is None else self._cluster_holding(after)
        views: list[ClusterView] = []
        next_after: int | None = None
        while True:
            query = (
                select(cluster_members.c.cluster_no)
                .join(records, records.c.pk == cluster_members.c.record_pk)
                .distinct()
                .order_by(cluster_members.c.cluster_no)
                .limit(limit + 1)
            )
            if visible_clause is not None:
                query = query.where(visible_clause)
            if start is not None:
                query = query.where(cluster_members.c.cluster_no > start)
            with self.database.read() as conn:
                numbers = list(conn.execute(query).scalars())
            more = len(numbers) > limit
            numbers = numbers[:limit]
            visible = self._visible_members(principal, numbers, purpose)
            views = [v for v in self._views_of(numbers, visible) if len(v.members) >= min_size]
            seen_in = [number for number in numbers if visible.get(number)]
            if not more:
                break
            if seen_in:
                next_after = visible[seen_in[-1]][0].record.pk
                break
            # None of the page's clusters showed a member to the principal after all (the
            # policy's own reading is the last word): the next stored clusters, on this page.
            start = numbers[-1]
        self.records.log_reads(
            principal,
            purpose,
            [sid for v in views for sid in v.member_ids],
            {"clusters": len(views)},
        )
        return views, next_after

    def _cluster_holding(self, record_pk: int) -> int:
        """The stored cluster of a record a page ended on, where the next page starts."""
        with self.database.read() as conn:
            number = conn.execute(
                select(cluster_members.c.cluster_no).where(cluster_members.c.record_pk == record_pk)
            ).scalar()
        if number is None:
            raise InvalidInput(
                "next", "the clusters changed since that page was given: start from the first page"
            )
        return int(number)

    def get(
        self, principal: Principal, anchor: str, *, purpose: Purpose | None = None
    ) -> ClusterView:
        """The cluster the principal sees around the record `anchor` (a STIX id it may see)."""
        purpose = self.records.purpose_of(principal, purpose)
        with self.database.read() as conn:
            number = conn.execute(
                select(cluster_members.c.cluster_no)
                .join(records, records.c.pk == cluster_members.c.record_pk)
                .where(records.c.stix_id == anchor)
                .limit(1)
            ).scalar()
        if number is not None:
            for view in self._views(principal, [number], purpose):
                if anchor in view.member_ids:
                    self.records.log_reads(
                        principal, purpose, view.member_ids, {"cluster": view.id}
                    )
                    return view
        raise NotFound("cluster", anchor)


def _added(seen: Seen) -> int:
    return seen.record.date_added


def view_json(view: ClusterView, org_names: dict[int, str], *, members: bool) -> dict[str, object]:
    out: dict[str, object] = {
        "id": view.id,
        "size": len(view.members),
        "score": view.score,
        "factors": view.factors,
        "sources": view.sources,
        "countries": view.countries,
        "shared_values": view.shared_values[:50],
    }
    if members:
        out["members"] = [
            {
                "id": seen.record.stix_id,
                "type": seen.record.stix_type,
                "name": seen.record.object.get("name"),
                "handling": handling_json(seen, org_names),
            }
            for seen in view.members
        ]
    return out
