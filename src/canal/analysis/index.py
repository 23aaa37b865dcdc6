"""The observable index and the clusters, kept current as records are stored.

Each normalised value is stored once (`observables`), with the records that carry it
(`record_observables`); references between objects are kept beside (`record_refs`). Two records
link when they share a value that is neither warninglisted nor a hub, or when one references
the other. Clusters are the connected sets of linked records; ingest merges them as new links
appear, in the same transaction as the records. `canal correlate` rebuilds them from scratch
(and is the only way a cluster splits: a revoked or deleted record leaves its cluster whole
until then).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)

from canal.analysis.blind import hub_token
from canal.analysis.observables import Observable, ObservableType, observables_of
from canal.analysis.warninglists import LocalLists, Warninglists
from canal.clock import Clock
from canal.store.database import Database
from canal.store.sql import bulk_insert, driver_cursor, insert_returning, one_of, rows_where_in
from canal.store.tables import (
    cluster_members,
    clusters,
    local_lists,
    observables,
    record_observables,
    record_refs,
    records,
)
from canal.store.unit import write_unit

IN_CHUNK = 500

#: References that say who made, marked or saw an object, not what it is about: they would
#: link everything one producer or sensor ever reported.
NOT_LINKS = frozenset(
    {"created_by_ref", "object_marking_refs", "marking_ref", "sample_refs", "where_sighted_refs"}
)

#: Objects that are shared context rather than part of an offence: a country, an ATT&CK
#: technique, a CVE, a common tool. Pointing at one links nothing.
CONTEXT_TYPES = frozenset(
    {
        "location",
        "attack-pattern",
        "vulnerability",
        "tool",
        "course-of-action",
        "marking-definition",
        "extension-definition",
        "language-content",
    }
)

LOCAL_ALLOW = "local-allow"

#: Values too common across unrelated crimes to link them by themselves (invoice.pdf.exe, a
#: browser's user agent, a TLS library's JA3, a hosting provider's AS): searchable, and a hit
#: in a lookup, but no link.
WEAK_TYPES = frozenset(
    {ObservableType.FILENAME, ObservableType.USER_AGENT, ObservableType.JA3, ObservableType.ASN}
)
WEAK_KINDS = frozenset(t.value for t in WEAK_TYPES)


def references_of(obj: dict[str, Any]) -> set[str]:
    """The STIX ids an object points at, through the properties that carry meaning."""
    found: set[str] = set()
    for key, value in obj.items():
        if key in NOT_LINKS:
            continue
        if key.endswith("_ref") and isinstance(value, str):
            found.add(value)
        elif key.endswith("_refs") and isinstance(value, list):
            found.update(v for v in value if isinstance(v, str))
    found.discard(obj.get("id", ""))
    return {ref for ref in found if ref.partition("--")[0] not in CONTEXT_TYPES}


@dataclass(frozen=True, slots=True)
class Derived:
    """What the index takes from an object alone, without the store: worked out before the
    write lock is taken, so that writers hold it for the database work only."""

    observables: tuple[Observable, ...]
    refs: frozenset[str]


@dataclass(frozen=True, slots=True)
class StoredRow:
    """A record row just written, as the index needs it."""

    pk: int
    stix_id: str
    date_added: int
    source_org_id: int
    #: The object; None only where `derived` is given.
    obj: dict[str, Any] | None
    is_latest: bool
    revoked: bool
    #: `ObservableIndex.derive(obj)` when the writer worked it out beforehand.
    derived: Derived | None = None
    #: Whether this write took the latest flag from an earlier version of the same id (whose
    #: row then leaves its cluster). True when the writer does not know.
    superseded: bool = True


class UnionFind:
    """Disjoint sets over arbitrary hashable keys, with path halving and union by size."""

    def __init__(self) -> None:
        self.parent: dict[Any, Any] = {}
        self.size: dict[Any, int] = {}

    def find(self, key: Any) -> Any:
        parent = self.parent
        if key not in parent:
            parent[key] = key
            self.size[key] = 1
            return key
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    def union(self, a: Any, b: Any) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]

    def groups(self) -> dict[Any, list[Any]]:
        out: dict[Any, list[Any]] = {}
        for key in self.parent:
            out.setdefault(self.find(key), []).append(key)
        return out


def column_by_key(
    conn: Connection, key: ColumnElement[Any], column: ColumnElement[Any], keys: Sequence[Any]
) -> dict[Any, Any]:
    """{key: column} of the rows whose key is among `keys`, searched IN_CHUNK at a time."""
    out: dict[Any, Any] = {}
    for start in range(0, len(keys), IN_CHUNK):
        out.update(
            conn.execute(
                select(key, column).where(one_of(key, keys[start : start + IN_CHUNK]))
            ).all()
        )
    return out


def read_local_lists(conn: Connection) -> LocalLists:
    allow: set[str] = set()
    deny: set[str] = set()
    for kind, key in conn.execute(select(local_lists.c.kind, local_lists.c.observable_key)).all():
        (allow if kind == "allow" else deny).add(key)
    return LocalLists(allow=frozenset(allow), deny=frozenset(deny))


# Every indexed write runs it, on the driver's cursor (store.sql.rows_where_in).
_FIND_OBSERVABLES = (
    "SELECT value, id, flag, records FROM observables WHERE kind = {mark} AND value IN ({marks})"
)


def by_kind(wanted: Iterable[Observable]) -> dict[str, dict[str, Observable]]:
    """Observables by type, then by value: the index is searched one type at a time, because
    "kind = ? AND value IN (...)" searches the (kind, value) index, where a row-value IN over
    both columns makes SQLite scan the table."""
    out: dict[str, dict[str, Observable]] = {}
    for o in wanted:
        out.setdefault(o.type.value, {})[o.value] = o
    return out


class ObservableIndex:
    """Maintains observables, references and clusters for records as they are written."""

    def __init__(
        self, *, warninglists: Warninglists, hub_threshold: int, blind_secret: bytes
    ) -> None:
        self.warninglists = warninglists
        self.hub_threshold = hub_threshold
        self.blind_secret = blind_secret

    # -- observables ---------------------------------------------------------------------

    @staticmethod
    def derive(obj: dict[str, Any]) -> Derived:
        # Warninglist flags are not worked out here: only values new to the store need one,
        # and which are new is known only under the lock.
        return Derived(tuple(observables_of(obj)), frozenset(references_of(obj)))

    def observable_ids(
        self, conn: Connection, carried: Mapping[Observable, int]
    ) -> tuple[dict[Observable, tuple[int, str | None, int]], set[int]]:
        """(id, flag, records) of each observable a write's rows carry (`carried`: how many of
        them carry each), inserting the ones not yet known, and the ids inserted. `records`
        counts the carriers before this write: 0 for the new ones, which go in with their
        count, flagged against the warninglists and the local lists."""
        wanted = list(carried)
        found = self.find_observables(conn, wanted)
        missing = [o for o in wanted if o not in found]
        inserted: set[int] = set()
        if missing:
            local = read_local_lists(conn)
            by_key = {(o.type.value, o.value): o for o in missing}
            flags = {key: self.warninglists.flag(o, local) for key, o in by_key.items()}
            new_rows = [
                {
                    "kind": kind,
                    "value": value,
                    "flag": flags[kind, value],
                    "records": carried[o],
                }
                for (kind, value), o in by_key.items()
            ]
            for oid, kind, value in insert_returning(
                conn, observables, new_rows, ("id", "kind", "value")
            ):
                found[by_key[kind, value]] = (oid, flags[kind, value], 0)
                inserted.add(oid)
        return found, inserted

    @staticmethod
    def find_observables(
        conn: Connection, wanted: Sequence[Observable]
    ) -> dict[Observable, tuple[int, str | None, int]]:
        out: dict[Observable, tuple[int, str | None, int]] = {}
        for kind, by_value in by_kind(wanted).items():
            for value, oid, flag, count in rows_where_in(
                conn, _FIND_OBSERVABLES, (kind,), list(by_value), chunk=IN_CHUNK
            ):
                out[by_value[value]] = (oid, flag, count)
        return out

    def fill_blind_tokens(self, conn: Connection, *, limit: int | None = None) -> int:
        """Compute the blind-lookup tokens of values that have none yet. An elliptic-curve
        multiplication each (about 0.1 ms), so it runs off the ingest path: before a blind
        lookup, and in `canal correlate`."""
        query = select(observables.c.id, observables.c.kind, observables.c.value).where(
            observables.c.blind.is_(None)
        )
        if limit is not None:
            query = query.limit(limit)
        rows = conn.execute(query).all()
        if rows:
            conn.execute(
                update(observables)
                .where(observables.c.id == bindparam("oid"))
                .values(blind=bindparam("token")),
                [
                    {"oid": oid, "token": hub_token(self.blind_secret, f"{kind}:{value}")}
                    for oid, kind, value in rows
                ],
            )
        return len(rows)

    def ensure_blind_tokens(self, database: Database, clock: Clock) -> int:
        """Fill missing blind tokens, taking the write lock only when some are missing."""
        with database.read() as conn:
            missing = conn.execute(
                select(observables.c.id).where(observables.c.blind.is_(None)).limit(1)
            ).first()
        if missing is None:
            return 0
        with write_unit(database, clock) as unit:
            return self.fill_blind_tokens(unit.conn)

    def linkable(self, kind: str, flag: str | None, count: int) -> bool:
        return flag is None and count <= self.hub_threshold and kind not in WEAK_KINDS

    # -- the ingest hook -----------------------------------------------------------------

    def index(self, conn: Connection, rows: Sequence[StoredRow], *, now: int) -> list[Link]:
        """Index the rows just written and merge the clusters they link. Returns the new links
        between a new record and one held before (for link alerts)."""
        if not rows:
            return []
        derived = {row.pk: self._derived(row) for row in rows}
        per_row = {pk: d.observables for pk, d in derived.items()}
        carried = Counter(o for found in per_row.values() for o in found)
        ids, inserted = self.observable_ids(conn, carried)
        ro_rows = [
            {"observable_id": ids[o][0], "record_pk": pk}
            for pk, found in per_row.items()
            for o in found
        ]
        if ro_rows:
            bulk_insert(conn, record_observables, ro_rows)
            # Values inserted by this write already hold their count.
            counts = {ids[o][0]: n for o, n in carried.items() if ids[o][0] not in inserted}
            if counts:
                with driver_cursor(conn) as (cursor, mark):
                    cursor.executemany(
                        f"UPDATE observables SET records = records + {mark} WHERE id = {mark}",
                        [(added, oid) for oid, added in counts.items()],
                    )
        refs = {pk: d.refs for pk, d in derived.items()}
        ref_rows = [
            {"record_pk": pk, "target_id": t} for pk, targets in refs.items() for t in targets
        ]
        if ref_rows:
            bulk_insert(conn, record_refs, ref_rows)
        self._forget_demoted(conn, [row.stix_id for row in rows if row.superseded])
        live = [row for row in rows if row.is_latest and not row.revoked]
        if not live:
            return []
        # A value no record carried before this write is carried only by this write's rows
        # (most values of a bulk import): its carriers are known without asking the database.
        held_ids: set[int] = set()
        batch_only: dict[int, list[int]] = {}
        for stored in live:
            for o in per_row[stored.pk]:
                oid, flag, count = ids[o]
                if not self.linkable(o.type.value, flag, count + 1):
                    continue
                if count == 0:
                    batch_only.setdefault(oid, []).append(stored.pk)
                else:
                    held_ids.add(oid)
        return self._merge(conn, live, held_ids, batch_only, refs, now=now)

    def _derived(self, row: StoredRow) -> Derived:
        if row.derived is not None:
            return row.derived
        if row.obj is None:
            raise ValueError(f"{row.stix_id}: neither the object nor what it yields was given")
        return self.derive(row.obj)

    @staticmethod
    def _forget_demoted(conn: Connection, stix_ids: Sequence[str]) -> None:
        """Rows that stopped being the latest version leave their cluster."""
        unique = list(dict.fromkeys(stix_ids))
        for start in range(0, len(unique), IN_CHUNK):
            chunk = unique[start : start + IN_CHUNK]
            stale = select(records.c.pk).where(
                and_(one_of(records.c.stix_id, chunk), records.c.is_latest.is_(False))
            )
            conn.execute(delete(cluster_members).where(cluster_members.c.record_pk.in_(stale)))

    def _merge(
        self,
        conn: Connection,
        live: Sequence[StoredRow],
        held_ids: set[int],
        batch_only: dict[int, list[int]],
        refs: dict[int, frozenset[str]],
        *,
        now: int,
    ) -> list[Link]:
        """Union the new rows with what they share values with: `held_ids`, linkable values
        that records held before carry too; `batch_only`, linkable values carried only by the
        new rows, with those rows."""
        uf = UnionFind()
        new_pks = {row.pk for row in live}
        links: list[Link] = []
        # Records sharing a linkable value with the new ones.
        by_value: dict[int, list[int]] = dict(batch_only)
        ids = sorted(held_ids)
        for start in range(0, len(ids), IN_CHUNK):
            chunk = ids[start : start + IN_CHUNK]
            for oid, pk in conn.execute(
                select(record_observables.c.observable_id, record_observables.c.record_pk)
                .join(records, records.c.pk == record_observables.c.record_pk)
                .where(
                    one_of(record_observables.c.observable_id, chunk),
                    records.c.is_latest.is_(True),
                    records.c.revoked.is_(False),
                )
            ).all():
                by_value.setdefault(oid, []).append(pk)
        for oid, pks in by_value.items():
            first = pks[0]
            for pk in pks[1:]:
                uf.union(first, pk)
            fresh = [pk for pk in pks if pk in new_pks]
            held = [pk for pk in pks if pk not in new_pks]
            links.extend(Link(new, old, oid) for new in fresh for old in held)
        # References, both ways: what the new records point at, and what points at them.
        pointing: dict[str, list[int]] = {}
        for row in live:
            for target in refs.get(row.pk, ()):
                pointing.setdefault(target, []).append(row.pk)
        targets = sorted(pointing)
        by_id = {row.stix_id: row.pk for row in live}
        for start in range(0, len(targets), IN_CHUNK):
            wanted_ids = targets[start : start + IN_CHUNK]
            for pk, stix_id in conn.execute(
                select(records.c.pk, records.c.stix_id).where(
                    one_of(records.c.stix_id, wanted_ids),
                    records.c.is_latest.is_(True),
                    records.c.revoked.is_(False),
                )
            ).all():
                for source_pk in pointing[stix_id]:
                    uf.union(source_pk, pk)
                    if pk not in new_pks:
                        links.append(Link(source_pk, pk, None))
        own_ids = sorted(by_id)
        for start in range(0, len(own_ids), IN_CHUNK):
            own_chunk = own_ids[start : start + IN_CHUNK]
            for pk, target in conn.execute(
                select(record_refs.c.record_pk, record_refs.c.target_id)
                .join(records, records.c.pk == record_refs.c.record_pk)
                .where(
                    one_of(record_refs.c.target_id, own_chunk),
                    records.c.is_latest.is_(True),
                    records.c.revoked.is_(False),
                )
            ).all():
                uf.union(pk, by_id[target])
                if pk not in new_pks:
                    links.append(Link(by_id[target], pk, None))
        self._apply(conn, uf, {row.pk for row in live}, now=now)
        return links

    def _apply(self, conn: Connection, uf: UnionFind, new_rows: set[int], *, now: int) -> None:
        """Write the merged groups: each joins the oldest cluster among its members' (the one
        of the lowest number), or starts one numbered by its lowest record number, as a rebuild
        numbers it. Set-based: a handful of statements per chunk, whatever the number of
        groups. `new_rows`: the record numbers this write added, which are in no cluster yet."""
        linked = [members for members in uf.groups().values() if len(members) > 1]
        if not linked:
            return
        involved = [pk for members in linked for pk in members]
        held = [pk for pk in involved if pk not in new_rows]
        current: dict[int, int] = column_by_key(
            conn, cluster_members.c.record_pk, cluster_members.c.cluster_no, held
        )
        # Records already in a cluster bring the whole cluster along: two groups touching the
        # same cluster are one group.
        for pk, no in current.items():
            uf.union(pk, ("cluster", no))
        groups = [
            [key for key in members if isinstance(key, int)] for members in uf.groups().values()
        ]
        groups = [members for members in groups if len(members) > 1]
        new_clusters: list[int] = []
        relabel: dict[int, int] = {}
        fresh: list[dict[str, object]] = []
        touched: set[int] = set()
        for members in groups:
            existing = {current[pk] for pk in members if pk in current}
            target = min(existing | {min(members)})
            if target not in existing:
                new_clusters.append(target)
            for no in existing - {target}:
                relabel[no] = target
            fresh.extend(
                {"record_pk": pk, "cluster_no": target} for pk in members if pk not in current
            )
            touched.add(target)
        # A number may still be held by a cluster all of whose members were deleted (TAXII
        # DELETE leaves the cluster's row to the next rebuild), and SQLite gives the number of
        # the newest record deleted to the next one stored: that cluster is taken up again.
        left_over = column_by_key(conn, clusters.c.no, clusters.c.no, new_clusters)
        new_clusters = [no for no in new_clusters if no not in left_over]
        if new_clusters:
            conn.execute(
                insert(clusters),
                [{"no": no, "size": 0, "updated_at": now} for no in new_clusters],
            )
        if relabel:
            conn.execute(
                update(cluster_members)
                .where(cluster_members.c.cluster_no == bindparam("old"))
                .values(cluster_no=bindparam("new")),
                [{"old": old, "new": new} for old, new in relabel.items()],
            )
            conn.execute(delete(clusters).where(clusters.c.no.in_(list(relabel))))
        if fresh:
            bulk_insert(conn, cluster_members, fresh)
        targets = sorted(touched - set(relabel))
        sizes: dict[int, int] = {}
        for start in range(0, len(targets), IN_CHUNK):
            sizes.update(
                conn.execute(
                    select(cluster_members.c.cluster_no, func.count())
                    .where(one_of(cluster_members.c.cluster_no, targets[start : start + IN_CHUNK]))
                    .group_by(cluster_members.c.cluster_no)
                ).all()
            )
        if sizes:
            conn.execute(
                update(clusters)
                .where(clusters.c.no == bindparam("cluster"))
                .values(size=bindparam("size"), updated_at=now),
                [{"cluster": no, "size": size} for no, size in sizes.items()],
            )


@dataclass(frozen=True, slots=True)
class Link:
    """A new record linked to one held before: through a shared value, or a reference."""

    new_pk: int
    old_pk: int
    observable_id: int | None
