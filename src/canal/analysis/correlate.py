"""`canal correlate`: rebuild links and clusters from the index, from scratch.

It reads the index as arrays of record numbers (the current records, each (value, record) pair,
each reference resolved to the record it names), finds the connected sets with scipy's
connected_components, and writes back the clusters that differ from those held. Values on a
warninglist link nothing; values carried by more than the hub threshold of records, and records
referenced by more, link nothing either and are reported as hubs with their count (MISP drops
them silently past 20). At 11M records, a Python object per row or per record was most of the
time: the rows go from the database to numpy arrays without one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Connection, func, select, update

from canal.analysis.index import WEAK_KINDS, ObservableIndex, column_by_key, read_local_lists
from canal.analysis.observables import Observable, ObservableType
from canal.clock import Clock
from canal.errors import Conflict
from canal.model.audit import AuditEvent, EventTag
from canal.model.org import Principal
from canal.store.arrays import IntColumns, SharedReads, gathered
from canal.store.database import Database
from canal.store.sql import driver_cursor, driver_rows, insert_rows
from canal.store.tables import (
    audit_log,
    cluster_members,
    clusters,
    observables,
    records,
    sequencer,
)
from canal.store.unit import write_unit

Ints = NDArray[np.int64]

# What a rebuild reads, as arrays of integers.

#: The record number of each current record, from ix_records_current (walked in the order of
#: its date_added, whose entries hold the record number).
CURRENT_RECORDS = IntColumns(("pk",), "records WHERE is_latest AND NOT revoked", key="date_added")
_WEAK = ", ".join(f"'{kind}'" for kind in sorted(WEAK_KINDS))
#: The ids of the values that may link: on no list, of a kind that links.
LINKABLE_VALUES = IntColumns(
    ("id",), f"observables WHERE flag IS NULL AND kind NOT IN ({_WEAK})", key="id"
)
#: (value id, record number) of each value a record carries, from the primary key.
VALUE_CARRIERS = IntColumns(
    ("observable_id", "record_pk"), "record_observables WHERE 1 = 1", key="observable_id"
)
#: (cluster number, record number) of each member held, from the table in the order of its
#: record numbers (its row ids on SQLite: read in sequence from the disk).
HELD_MEMBERS = IntColumns(
    ("cluster_no", "record_pk"), "cluster_members WHERE 1 = 1", key="record_pk"
)
#: (referring, referenced) record numbers: every record of the id a reference names, each
#: version, current or not. The references drive the join (CROSS JOIN keeps SQLite to that
#: order), read from their (target_id, record_pk) index in the order of their targets, each
#: target found in the (stix_id, version, source) index, which holds the record number too:
#: searched in order, its pages stay at hand (three times faster than in the order written).
REFERENCES = IntColumns(
    ("rr.record_pk", "target.pk"),
    "record_refs rr CROSS JOIN records target WHERE target.stix_id = rr.target_id",
    key="rr.target_id",
    ranges_over="record_refs rr WHERE 1 = 1",
)


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


@dataclass(frozen=True)
class Clusters:
    """Clusters as a rebuild finds them, each numbered by its anchor: its lowest record number,
    which is its earliest record (`no` in the clusters table)."""

    #: The record number of each cluster's anchor, and its number of members.
    anchors: Ints
    sizes: Ints
    #: For each record number, the number of its cluster; -1 for a record in none.
    cluster_of: Ints


@dataclass(frozen=True)
class LinkGraph:
    """Every link between current records, by record number (records.pk)."""

    #: Whether each record number is a current record's.
    current: NDArray[np.bool_]
    sources: Ints
    targets: Ints

    def clusters(self) -> Clusters:
        """The connected sets of two records or more, each anchored on its earliest member."""
        # scipy only here: it takes longer to import than most commands take to run.
        from scipy.sparse import coo_matrix  # noqa: PLC0415
        from scipy.sparse.csgraph import connected_components  # noqa: PLC0415

        n = len(self.current)
        edges = np.ones(len(self.sources), dtype=bool)
        graph = coo_matrix((edges, (self.sources, self.targets)), shape=(n, n))
        _count, labels = connected_components(graph, directed=False)
        sizes = np.bincount(labels)
        members = np.flatnonzero(sizes[labels] >= 2)
        runs = labels[members]
        # Each cluster's anchor: its lowest record number.
        anchor_of = np.full(len(sizes), n, dtype=np.int64)
        np.minimum.at(anchor_of, runs, members)
        anchors = np.unique(anchor_of[runs])
        cluster_of = np.full(n, -1, dtype=np.int64)
        cluster_of[members] = anchor_of[runs]
        return Clusters(anchors=anchors, sizes=sizes[labels[anchors]], cluster_of=cluster_of)


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
        # A record's values and references never change once written: they are read in
        # ranges that this thread and a helper share (SQLite runs each range's statement
        # without the GIL, so the two read on both cores). The current records come from this
        # thread's one transaction; the helper first reads the clusters held, meanwhile.
        for _attempt in range(_ATTEMPTS):
            with self.database.read() as conn:
                shared = _shared_reads(conn)
                read_after = _last_log_seq(conn)
            snapshot: Future[HeldClusters] | None = None
            helper: Future[list[tuple[IntColumns, Ints]]] | None = None
            with ThreadPoolExecutor(max_workers=1) as pool:
                if self.database.concurrent_reads:
                    snapshot = pool.submit(self._read_held)
                    helper = pool.submit(self._read_shared, shared)
                with self.database.read(bulk=True) as conn:
                    graph = self.read_links(conn, report, say, shared=shared, helper=helper)
            say("finding the connected sets")
            found = graph.clusters()
            say("writing clusters")
            try:
                self._write(
                    found,
                    principal,
                    report,
                    snapshot.result() if snapshot else None,
                    read_after=read_after,
                )
            except RecordsDeleted:
                say("records were deleted while the index was read; reading it again")
                report.hubs.clear()
                continue
            report.seconds = time.perf_counter() - started
            return report
        raise RecordsDeleted(_ATTEMPTS)

    def read_links(
        self,
        conn: Connection,
        report: CorrelationReport,
        say: Callable[[str], None] = lambda _msg: None,
        *,
        shared: SharedReads | None = None,
        helper: Future[list[tuple[IntColumns, Ints]]] | None = None,
    ) -> LinkGraph:
        """Every link between current records, as of this transaction. `shared`: the values
        and references left to read, shared with `helper`, which reads in a transaction of its
        own (a record it sees that this one does not is left out, as one added since)."""
        record_end = (conn.execute(select(func.max(records.c.pk))).scalar_one() or 0) + 1
        value_end = (conn.execute(select(func.max(observables.c.id))).scalar_one() or 0) + 1
        report.observables = conn.execute(
            select(func.count()).select_from(observables)
        ).scalar_one()
        current_pks = CURRENT_RECORDS.read(conn)[:, 0]
        current = np.zeros(record_end, dtype=bool)
        current[current_pks] = True
        report.records = len(current_pks)
        say(f"{report.records:,} current records; reading values and references")
        if shared is None:
            shared = _shared_reads(conn)
        parts = shared.read(conn)
        if helper is not None:
            parts += helper.result()
        linkable_ids = gathered(parts, LINKABLE_VALUES)[:, 0]
        linkable = np.zeros(value_end, dtype=bool)
        linkable[linkable_ids[linkable_ids < value_end]] = True
        pairs = _within(gathered(parts, VALUE_CARRIERS), value_end, record_end)
        pairs = pairs[linkable[pairs[:, 0]] & current[pairs[:, 1]]]
        oids, carriers = pairs[:, 0], pairs[:, 1]
        # Each value links its carriers to the first of them (the lowest record number).
        carried = np.bincount(oids, minlength=value_end)
        first = np.full(value_end, record_end, dtype=np.int64)
        np.minimum.at(first, oids, carriers)
        hub = carried > self.index.hub_threshold
        by_value = ~hub[oids] & (carriers != first[oids])
        report.links_by_value = int(by_value.sum())
        hub_ids = np.flatnonzero(hub).tolist()
        keyed = observables.c.kind + ":" + observables.c.value
        for oid, key in column_by_key(conn, observables.c.id, keyed, hub_ids).items():
            report.hubs.append((key, int(carried[oid])))
        refs = _within(gathered(parts, REFERENCES), record_end, record_end)
        refs = refs[current[refs[:, 0]] & current[refs[:, 1]] & (refs[:, 0] != refs[:, 1])]
        referrers = np.bincount(refs[:, 1], minlength=record_end)
        hub_target = referrers > self.index.hub_threshold
        by_reference = ~hub_target[refs[:, 1]]
        report.links_by_reference = int(by_reference.sum())
        hub_pks = np.flatnonzero(hub_target).tolist()
        for pk, stix_id in column_by_key(conn, records.c.pk, records.c.stix_id, hub_pks).items():
            report.hubs.append((stix_id, int(referrers[pk])))
        report.hubs.sort(key=lambda hub: -hub[1])
        return LinkGraph(
            current=current,
            sources=np.concatenate([first[oids[by_value]], refs[by_reference, 1]]),
            targets=np.concatenate([carriers[by_value], refs[by_reference, 0]]),
        )

    def _read_held(self) -> HeldClusters:
        with self.database.read(bulk=True) as conn:
            return HeldClusters.read(conn)

    def _read_shared(self, shared: SharedReads) -> list[tuple[IntColumns, Ints]]:
        with self.database.read(bulk=True) as conn:
            return shared.read(conn)

    def _write(
        self,
        found: Clusters,
        principal: Principal,
        report: CorrelationReport,
        snapshot: HeldClusters | None = None,
        *,
        read_after: int,
    ) -> None:
        """Write what differs from the clusters held: ingest keeps them current, so a rebuild
        mostly finds them as it would write them (at 1M records, rewriting every membership was
        more than half of the rebuild). Clusters whose membership changed are stamped.

        Held clusters are matched to those found by number: a cluster is numbered by its
        anchor, its lowest record number, so memberships are compared as numbers.
        `snapshot`: the clusters held, read before the write lock was taken; read again under
        it where they changed since. `read_after`: the processing log's last entry before the
        index was read; RecordsDeleted, and nothing written, where records were deleted since
        (their numbers are in the clusters found)."""
        # Every record number written is one the rebuild read as current, and none was
        # deleted since (checked first, under the lock): the members' search into the records
        # table, per row, is left out. The large page cache: the members' cluster index takes
        # millions of keys.
        with write_unit(self.database, self.clock, bulk=True, check_references=False) as unit:
            now, conn = unit.now, unit.conn
            if _deleted_since(conn, read_after):
                raise RecordsDeleted(1)
            # What ingest merged since the rebuild read the index is replaced by the rebuild's
            # view, as a whole rewrite would.
            if snapshot is None or not snapshot.current(conn):
                snapshot = HeldClusters.read(conn)
            if snapshot.damaged:
                mend(conn)
                snapshot = HeldClusters.read(conn)
            held = snapshot.sizes()
            sizes = dict(zip(found.anchors.tolist(), found.sizes.tolist(), strict=True))
            will = found.cluster_of
            was = np.full(len(will), -1, dtype=np.int64)
            members = snapshot.members
            # A record added since the rebuild's read is in no cluster found: it leaves.
            beyond = members[members[:, 1] >= len(will), 1].tolist()
            members = members[members[:, 1] < len(will)]
            was[members[:, 1]] = members[:, 0]
            left = np.flatnonzero((was >= 0) & (will < 0))
            differs = np.flatnonzero((will >= 0) & (will != was))
            joined = differs[was[differs] < 0]
            moved = differs[was[differs] >= 0]
            changed = set(was[left].tolist()) | set(was[moved].tolist())
            changed.update(will[differs].tolist())
            report.clusters = len(sizes)
            report.clustered_records = sum(sizes.values())
            # Members changed in their millions (a store whose clusters were emptied, or the
            # first rebuild after a large load, whose clusters ingest had joined through values
            # that became hubs since): rewritten in the order of their record numbers, without
            # the cluster index, which is built after them, sorting them once, where it would
            # take them in random order (at 10.5M members from no cluster held, 70 s instead of
            # 108). SQLite only: on PostgreSQL the drop would hold readers back.
            touched = len(left) + len(beyond) + len(differs)
            rewrite = conn.dialect.name == "sqlite" and touched > max(
                _REWRITE_ABOVE, snapshot.member_rows // 4
            )
            if rewrite:
                MEMBERS_BY_CLUSTER.drop(conn)
                gone: list[int] = []
                moves: list[tuple[int, int]] = []
                joined = np.flatnonzero(will >= 0)
                conn.exec_driver_sql("DELETE FROM cluster_members")
            else:
                gone = left.tolist() + beyond
                moves = list(zip(will[moved].tolist(), moved.tolist(), strict=True))
            with driver_cursor(conn) as (cursor, mark):
                cursor.executemany(
                    f"DELETE FROM cluster_members WHERE record_pk = {mark}", [(pk,) for pk in gone]
                )
                cursor.executemany(
                    f"UPDATE cluster_members SET cluster_no = {mark} WHERE record_pk = {mark}",
                    moves,
                )
                cursor.executemany(
                    f"DELETE FROM clusters WHERE no = {mark}",
                    [(no,) for no in held if no not in sizes],
                )
                cursor.executemany(
                    f"UPDATE clusters SET size = {mark}, updated_at = {mark} WHERE no = {mark}",
                    [
                        (size, now, no)
                        for no, size in sizes.items()
                        if no in held and (held[no] != size or no in changed)
                    ],
                )
            insert_rows(
                conn,
                clusters,
                ("no", "size", "updated_at"),
                ((no, size, now) for no, size in sizes.items() if no not in held),
            )
            insert_rows(
                conn,
                cluster_members,
                ("record_pk", "cluster_no"),
                zip(joined.tolist(), will[joined].tolist(), strict=True),
            )
            if rewrite:
                MEMBERS_BY_CLUSTER.create(conn)
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


class RecordsDeleted(Conflict):
    """Records were deleted (TAXII DELETE) each time the rebuild read the index, before it could
    write what it found; nothing was written."""

    def __init__(self, attempts: int) -> None:
        super().__init__(
            f"records were deleted while the rebuild read the index ({attempts} times); "
            "nothing was written: run it again"
        )


#: Reads of the index a rebuild makes before giving up, where deletions keep overtaking it.
_ATTEMPTS = 3


def _last_log_seq(conn: Connection) -> int:
    return int(conn.execute(select(sequencer.c.last_log_seq)).scalar_one())


def _deleted_since(conn: Connection, seq: int) -> bool:
    """Whether a record was deleted after the processing log's entry `seq`: every deletion is
    logged in the transaction that makes it, and only the entries since are searched."""
    return (
        conn.execute(
            select(audit_log.c.seq)
            .where(audit_log.c.seq > seq, audit_log.c.action == EventTag.RECORD_DELETE.value)
            .limit(1)
        ).first()
        is not None
    )


#: Members to change past which a rebuild (on SQLite) writes them all afresh, and the members'
#: cluster index after them, where a quarter of those held change too.
_REWRITE_ABOVE = 100_000
MEMBERS_BY_CLUSTER = next(
    index for index in cluster_members.indexes if index.name == "ix_cluster_members_cluster_no"
)


def _shared_reads(conn: Connection) -> SharedReads:
    """The values and references to read, in ranges any thread may take."""
    shared = SharedReads()
    for columns in (REFERENCES, VALUE_CARRIERS, LINKABLE_VALUES):
        shared.add(conn, columns)
    return shared


def _within(pairs: Ints, first_end: int, second_end: int) -> Ints:
    """The pairs whose numbers are below the ends this transaction saw (a helper's transaction
    may have begun after a write)."""
    return pairs[(pairs[:, 0] < first_end) & (pairs[:, 1] < second_end)]


_CLUSTER_ROWS = "SELECT no, size, updated_at FROM clusters ORDER BY no"
_MEMBER_COUNT = "SELECT count(*) FROM cluster_members"


@dataclass(frozen=True)
class HeldClusters:
    """The clusters held, as one transaction saw them."""

    #: (number, size, updated_at) of each cluster, in the order of their numbers.
    rows: list[tuple[int, int, int]]
    #: (cluster number, record number) of each member.
    members: Ints

    @classmethod
    def read(cls, conn: Connection) -> HeldClusters:
        return cls(
            rows=[tuple(row) for row in driver_rows(conn, _CLUSTER_ROWS)],
            members=HELD_MEMBERS.read(conn),
        )

    @property
    def member_rows(self) -> int:
        return len(self.members)

    def current(self, conn: Connection) -> bool:
        """Whether the store still holds these clusters. Every write to the members changes
        a cluster's row (ingest stamps the clusters it adds members to or merges, and deletes
        the clusters merged away) or their number (a record deleted or superseded leaves), so
        the clusters' rows and the members' number tell, without reading the members again."""
        return (
            driver_rows(conn, _MEMBER_COUNT)[0][0] == self.member_rows
            and [tuple(row) for row in driver_rows(conn, _CLUSTER_ROWS)] == self.rows
        )

    @property
    def damaged(self) -> bool:
        """A member of no cluster held: never made by canal, but a store edited by hand may
        hold one."""
        numbers = np.array([row[0] for row in self.rows], dtype=np.int64)
        return not bool(np.isin(self.members[:, 0], numbers).all())

    def sizes(self) -> dict[int, int]:
        return {no: size for no, size, _stamp in self.rows}


def mend(conn: Connection) -> None:
    """Take out what a damaged store holds (HeldClusters.damaged): the members of no cluster
    held; the rebuild writes them again."""
    conn.execute(
        cluster_members.delete().where(cluster_members.c.cluster_no.not_in(select(clusters.c.no)))
    )
