"""Handling profiles: one row per distinct set of rules, shared by the records that carry it."""

from __future__ import annotations

import hashlib

from sqlalchemy import Connection, Row, insert, select

from canal.model.handling import (
    Audience,
    Confidentiality,
    Credibility,
    Handling,
    HandlingCode,
    Pap,
    Reliability,
    Tlp,
    purposes_from_mask,
    purposes_mask,
)
from canal.store.tables import handlings
from canal.store.unit import WriteUnit


def join_list(values: frozenset[str] | frozenset[int]) -> str:
    """ ",FR,DE," - delimited on both sides so a membership test is LIKE '%,FR,%'."""
    if not values:
        return ""
    return "," + ",".join(sorted(str(v) for v in values)) + ","


def split_list(text: str) -> list[str]:
    return [part for part in text.split(",") if part]


def handling_row(handling: Handling) -> dict[str, object]:
    return {
        "source_org_id": handling.source_org_id,
        "tlp": handling.tlp.value,
        "pap": handling.pap.value,
        "audience": handling.audience.value,
        "handling_codes": ",".join(sorted(c.value for c in handling.handling_codes)),
        "h3_text": handling.h3_text,
        "allow_countries": join_list(handling.allow_countries),
        "allow_orgs": join_list(handling.allow_orgs),
        "deny_countries": join_list(handling.deny_countries),
        "deny_orgs": join_list(handling.deny_orgs),
        "purposes": purposes_mask(handling.purposes),
        "source_reliability": handling.source_reliability.value,
        "information_credibility": handling.information_credibility.value,
        "personal_data": handling.personal_data,
        "confidentiality": int(handling.confidentiality),
    }


def handling_from_row(row: Row[tuple[object, ...]] | dict[str, object]) -> Handling:
    data = row if isinstance(row, dict) else row._mapping  # noqa: SLF001 - SQLAlchemy's API
    codes = str(data["handling_codes"])
    return Handling(
        source_org_id=int(str(data["source_org_id"])),
        tlp=Tlp(str(data["tlp"])),
        pap=Pap(str(data["pap"])),
        audience=Audience(str(data["audience"])),
        handling_codes=frozenset(HandlingCode(c) for c in codes.split(",") if c),
        h3_text=None if data["h3_text"] is None else str(data["h3_text"]),
        allow_countries=frozenset(split_list(str(data["allow_countries"]))),
        allow_orgs=frozenset(int(o) for o in split_list(str(data["allow_orgs"]))),
        deny_countries=frozenset(split_list(str(data["deny_countries"]))),
        deny_orgs=frozenset(int(o) for o in split_list(str(data["deny_orgs"]))),
        purposes=purposes_from_mask(int(str(data["purposes"]))),
        source_reliability=Reliability(str(data["source_reliability"])),
        information_credibility=Credibility(str(data["information_credibility"])),
        personal_data=bool(data["personal_data"]),
        confidentiality=Confidentiality(int(str(data["confidentiality"]))),
    )


def digest(row: dict[str, object]) -> str:
    material = "\x1f".join(f"{k}={row[k]}" for k in sorted(row))
    return hashlib.sha256(material.encode()).hexdigest()


class HandlingStore:
    """Interns handlings. Rows are immutable, so ids are cached in process once committed."""

    def __init__(self) -> None:
        self._ids: dict[Handling, int] = {}
        self._by_id: dict[int, Handling] = {}

    def intern(self, unit: WriteUnit, handling: Handling) -> int:
        cached = self._ids.get(handling)
        if cached is not None:
            return cached
        row = handling_row(handling)
        key = digest(row)
        found = unit.conn.execute(select(handlings.c.id).where(handlings.c.digest == key)).first()
        if found is not None:
            handling_id = int(found[0])
            self._remember(handling, handling_id)
            return handling_id
        result = unit.conn.execute(insert(handlings).values(digest=key, **row))
        handling_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        unit.after_commit(lambda: self._remember(handling, handling_id))
        return handling_id

    def _remember(self, handling: Handling, handling_id: int) -> None:
        self._ids[handling] = handling_id
        self._by_id[handling_id] = handling

    def get(self, conn: Connection, handling_id: int) -> Handling:
        cached = self._by_id.get(handling_id)
        if cached is not None:
            return cached
        row = conn.execute(select(handlings).where(handlings.c.id == handling_id)).one()
        handling = handling_from_row(row)
        self._remember(handling, handling_id)
        return handling
