"""Search over records (REST `GET /api/v1/search`), through RecordService like every read."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import ColumnElement, String, and_, cast, func, literal, select
from sqlalchemy.dialects.postgresql import JSONB

from canal.model.handling import Purpose, Tlp
from canal.model.org import Principal
from canal.records.service import Page, RecordService
from canal.store.database import Database
from canal.store.records import RecordQuery
from canal.store.tables import handlings, records


@dataclass(frozen=True, slots=True)
class Search:
    """Every field narrows the result; empty fields do not filter."""

    types: frozenset[str] = frozenset()
    #: A case-insensitive substring of the object as stored (an IP, a domain, a hash: wherever
    #: it sits, in a pattern, a value, a name or hashes).
    value: str | None = None
    #: Free text: every word must appear, case-insensitively, in the name or the description.
    text: str | None = None
    source_org_ids: frozenset[int] = frozenset()
    tlps: frozenset[Tlp] = frozenset()
    added_after: int | None = None
    added_before: int | None = None
    all_versions: bool = False

    def summary(self) -> dict[str, Any]:
        return {
            "type": sorted(self.types),
            "value": self.value,
            "text": self.text,
            "source": sorted(self.source_org_ids),
            "tlp": sorted(t.value for t in self.tlps),
            "added_after": self.added_after,
            "added_before": self.added_before,
            "all_versions": self.all_versions,
        }


class SearchService:
    def __init__(self, *, database: Database, records: RecordService) -> None:
        self.database = database
        self.records = records

    def _property(self, name: str) -> ColumnElement[str]:
        if self.database.is_sqlite:
            return func.coalesce(
                cast(func.json_extract(records.c.object, f"$.{name}"), String), literal("")
            )
        return func.coalesce(cast(records.c.object, JSONB)[name].astext, literal(""))

    def query(self, search: Search) -> RecordQuery:
        extra: list[ColumnElement[bool]] = []
        if search.value:
            extra.append(
                func.lower(records.c.object).contains(search.value.lower(), autoescape=True)
            )
        if search.text:
            words = func.lower(self._property("name") + " " + self._property("description"))
            extra.extend(
                words.contains(word.lower(), autoescape=True) for word in search.text.split()
            )
        if search.tlps:
            profiles = select(handlings.c.id).where(
                handlings.c.tlp.in_(sorted(t.value for t in search.tlps))
            )
            extra.append(records.c.handling_id.in_(profiles))
        return RecordQuery(
            types=search.types,
            source_org_ids=search.source_org_ids,
            added_after=search.added_after,
            added_before=search.added_before,
            latest_only=not search.all_versions,
            extra=(and_(*extra),) if extra else (),
        )

    def _any_open_profile(
        self, principal: Principal, tlps: frozenset[Tlp], purpose: Purpose
    ) -> bool:
        """Whether any handling profile of these TLPs holds records `principal` may see in
        some state (a question for the small handlings table)."""
        statement = (
            select(handlings.c.id)
            .where(
                handlings.c.tlp.in_(sorted(t.value for t in tlps)),
                self.records.policy.open_profiles(principal, purpose=purpose),
            )
            .limit(1)
        )
        with self.database.read() as conn:
            return conn.execute(statement).first() is not None

    def page(
        self,
        principal: Principal,
        search: Search,
        *,
        limit: int,
        after: int | None,
        purpose: Purpose | None,
    ) -> Page:
        purpose = self.records.purpose_of(principal, purpose)
        query = self.query(search)
        if search.tlps and not self._any_open_profile(principal, search.tlps, purpose):
            # Without an index on the records' profiles (docs/policy.md), a search for a TLP
            # the reader may see none of would read the whole table to find nothing.
            query = replace(query, matches_nothing=True)
        return self.records.page(
            principal,
            query,
            limit=limit,
            after=after,
            purpose=purpose,
            filters={"search": search.summary()},
        )
