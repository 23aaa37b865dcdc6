"""Reads and writes of records (one row per object version per source)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Connection,
    Result,
    Select,
    and_,
    false,
    func,
    select,
    update,
)

from canal.model.handling import Art3Status, ReviewState
from canal.model.record import Record, ReleaseState
from canal.model.stix import from_micros
from canal.store.handlings import HandlingStore
from canal.store.sql import bulk_insert, one_of
from canal.store.tables import records

#: Rows per IN (...) list: well under SQLite's variable limit and PostgreSQL's comfort zone.
IN_CHUNK = 500


@dataclass(frozen=True, slots=True)
class StoredVersion:
    """What ingest needs to know about a version already held."""

    pk: int
    stix_id: str
    version: int
    source_org_id: int
    is_latest: bool
    revoked: bool
    object_text: str


def held_versions(conn: Connection, stix_ids: Sequence[str]) -> dict[str, list[StoredVersion]]:
    """Every stored version of the given ids, by id."""
    out: dict[str, list[StoredVersion]] = {}
    unique = list(dict.fromkeys(stix_ids))
    cols = (
        records.c.pk,
        records.c.stix_id,
        records.c.version,
        records.c.source_org_id,
        records.c.is_latest,
        records.c.revoked,
        records.c.object,
    )
    for start in range(0, len(unique), IN_CHUNK):
        chunk = unique[start : start + IN_CHUNK]
        for row in conn.execute(select(*cols).where(one_of(records.c.stix_id, chunk))).all():
            out.setdefault(row[1], []).append(
                StoredVersion(row[0], row[1], row[2], row[3], bool(row[4]), bool(row[5]), row[6])
            )
    return out


def insert_rows(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Bulk insert of record rows (see bulk_insert)."""
    bulk_insert(conn, records, rows)


def demote_latest(conn: Connection, pairs: Sequence[tuple[str, int]]) -> None:
    """Clear is_latest on the current latest version of each (stix_id, source)."""
    by_source: dict[int, list[str]] = {}
    for stix_id, source_id in dict.fromkeys(pairs):
        by_source.setdefault(source_id, []).append(stix_id)
    # Per source: "stix_id IN (...)" searches the (stix_id, version, source) index, where a
    # row-value IN over two columns makes SQLite scan the table.
    for source_id, ids in by_source.items():
        for start in range(0, len(ids), IN_CHUNK):
            conn.execute(
                update(records)
                .where(
                    records.c.stix_id.in_(ids[start : start + IN_CHUNK]),
                    records.c.source_org_id == source_id,
                    records.c.is_latest.is_(True),
                )
                .values(is_latest=False)
            )


_WITHOUT_OBJECT = tuple(c for c in records.columns if c.name != "object")


@dataclass(frozen=True, slots=True)
class RecordQuery:
    """Filters over records; every field narrows the result."""

    types: frozenset[str] = frozenset()
    stix_ids: frozenset[str] = frozenset()
    source_org_ids: frozenset[int] = frozenset()
    added_after: int | None = None
    added_before: int | None = None
    latest_only: bool = True
    include_revoked: bool = True
    #: A policy visibility clause (see canal.policy); None only for the local administrator.
    visible: ColumnElement[bool] | None = None
    extra: tuple[ColumnElement[bool], ...] = field(default=())
    #: Set when a filter is known to leave nothing the reader may see (a search by a TLP none
    #: of whose profiles is open to it): readers answer without reading the records table.
    matches_nothing: bool = False

    def clauses(self) -> list[ColumnElement[bool]]:
        if self.matches_nothing:
            return [false()]
        out: list[ColumnElement[bool]] = []
        if self.types:
            out.append(records.c.stix_type.in_(sorted(self.types)))
        if self.stix_ids:
            out.append(records.c.stix_id.in_(sorted(self.stix_ids)))
        if self.source_org_ids:
            out.append(records.c.source_org_id.in_(sorted(self.source_org_ids)))
        if self.added_after is not None:
            out.append(records.c.date_added > self.added_after)
        if self.added_before is not None:
            out.append(records.c.date_added < self.added_before)
        if self.latest_only:
            out.append(records.c.is_latest.is_(True))
        if not self.include_revoked:
            out.append(records.c.revoked.is_(False))
        if self.visible is not None:
            out.append(self.visible)
        out.extend(self.extra)
        return out

    def select(self) -> Select[Any]:
        query = select(records)
        clauses = self.clauses()
        if clauses:
            query = query.where(and_(*clauses))
        return query


class RecordReader:
    """Turns rows into Records, resolving handling profiles through the shared cache."""

    def __init__(self, handling_store: HandlingStore) -> None:
        self.handlings = handling_store

    def records_of(self, conn: Connection, result: Result[Any]) -> list[Record]:
        """Every row of `result` as a Record."""
        # Positions resolved once per result rather than a mapping built per row: pages of a
        # thousand records spend more on building Records than on the query.
        at = {name: i for i, name in enumerate(result.keys())}
        pk, stix_id, stix_type = at["pk"], at["stix_id"], at["stix_type"]
        version, spec_version, date_added = at["version"], at["spec_version"], at["date_added"]
        handling_id, is_latest, revoked = at["handling_id"], at["is_latest"], at["revoked"]
        retention, review, art3 = at["retention_until"], at["review_state"], at["art3_status"]
        release, disseminator, note = (
            at["release_state"],
            at["disseminator_org_id"],
            at["release_note"],
        )
        content = at.get("object")
        handling_of = self.handlings.get
        review_states, art3_states, release_states = (
            # Dict lookups: Enum.__call__ costs more than the rest of a row.
            ReviewState._value2member_map_,
            Art3Status._value2member_map_,
            ReleaseState._value2member_map_,
        )
        return [
            Record(
                pk=row[pk],
                stix_id=row[stix_id],
                stix_type=row[stix_type],
                version=row[version],
                spec_version=row[spec_version],
                date_added=row[date_added],
                handling=handling_of(conn, row[handling_id]),
                handling_id=row[handling_id],
                object=orjson.loads(row[content]) if content is not None else {},
                is_latest=bool(row[is_latest]),
                revoked=bool(row[revoked]),
                retention_until=from_micros(row[retention]),
                review_state=review_states[row[review]],  # type: ignore[arg-type]
                art3_status=art3_states[row[art3]],  # type: ignore[arg-type]
                release_state=release_states[row[release]],  # type: ignore[arg-type]
                disseminator_org_id=row[disseminator],
                release_note=row[note],
            )
            for row in result.all()
        ]

    def page(
        self, conn: Connection, query: RecordQuery, *, limit: int, after: int | None = None
    ) -> list[Record]:
        """Up to `limit` records in date_added order, after the `after` date_added."""
        if query.matches_nothing:
            return []
        statement = query.select().order_by(records.c.date_added).limit(limit)
        if after is not None:
            statement = statement.where(records.c.date_added > after)
        return self.records_of(conn, conn.execute(statement))

    def iterate(
        self, conn: Connection, query: RecordQuery, *, batch: int = 2000
    ) -> Iterator[Record]:
        """Every matching record in date_added order, read in keyset pages: memory stays flat
        however large the store."""
        after: int | None = None
        while True:
            page = self.page(conn, query, limit=batch, after=after)
            yield from page
            if len(page) < batch:
                return
            after = page[-1].date_added

    def versions(self, conn: Connection, stix_id: str, query: RecordQuery) -> list[Record]:
        scoped = RecordQuery(
            stix_ids=frozenset({stix_id}),
            latest_only=False,
            visible=query.visible,
            extra=query.extra,
        )
        statement = scoped.select().order_by(records.c.version, records.c.date_added)
        return self.records_of(conn, conn.execute(statement))

    def by_pks(self, conn: Connection, pks: Sequence[int], *, content: bool = True) -> list[Record]:
        """The records with these keys. Without `content` the object is left out (an empty
        dict): what the policy needs to decide, at a fraction of the cost."""
        columns = records.columns if content else _WITHOUT_OBJECT
        out: list[Record] = []
        unique = list(dict.fromkeys(pks))
        for start in range(0, len(unique), IN_CHUNK):
            chunk = unique[start : start + IN_CHUNK]
            out.extend(
                self.records_of(
                    conn, conn.execute(select(*columns).where(one_of(records.c.pk, chunk)))
                )
            )
        return out

    @staticmethod
    def count(conn: Connection, query: RecordQuery) -> int:
        statement = select(func.count()).select_from(records)
        clauses = query.clauses()
        if clauses:
            statement = statement.where(and_(*clauses))
        return int(conn.execute(statement).scalar_one())
