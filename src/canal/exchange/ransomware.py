"""The derived index behind the "ransomware" TAXII collection.

A record is a **seed** by its own content: malware typed ransomware or named after a known
ransomware family (the MISP ransomware galaxy, names and synonyms), or any domain object whose
name, description, labels or aliases say "ransomware". Members are the seeds, the records that
reference a seed, and the far ends of the relationships and sightings that do (an indicator that
`indicates` a ransomware family). The index is refreshed from the records table in date_added
order, its position kept in the database, so that any worker can carry it on.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, and_, select

from canal.clock import Clock
from canal.model.stix import SCO_TYPES, UNMARKED_TYPES
from canal.store.database import Database
from canal.store.records import IN_CHUNK
from canal.store.sql import insert_skipping_duplicates
from canal.store.tables import index_positions, ransomware_links, records
from canal.store.unit import write_unit

INDEX_NAME = "ransomware"
BATCH = 2000
_WORD = "ransomware"
_NOT_SEEDS = SCO_TYPES | UNMARKED_TYPES | {"relationship", "sighting", "bundle"}
#: Properties that do not make an object about something (markings, authorship).
_IGNORED_REFS = frozenset({"created_by_ref", "object_marking_refs"})
#: The ends of relationships and sightings whose far side joins the collection.
_ENDS = {
    "relationship": ("source_ref", "target_ref"),
    "sighting": ("sighting_of_ref", "observed_data_refs"),
}


@lru_cache(maxsize=1)
def ransomware_families() -> frozenset[str]:
    """Known ransomware family names and synonyms, lower-cased (pymispgalaxies' data)."""
    try:
        import pymispgalaxies  # noqa: PLC0415 - only this index needs the galaxies

        path = (
            Path(pymispgalaxies.__file__).parent
            / "data"
            / "misp-galaxy"
            / "clusters"
            / "ransomware.json"
        )
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ImportError, OSError, ValueError):
        return frozenset()
    names: set[str] = set()
    for value in data.get("values", []):
        names.add(str(value.get("value", "")).strip().lower())
        names.update(str(s).strip().lower() for s in value.get("meta", {}).get("synonyms", []))
    names.discard("")
    return frozenset(names)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def is_seed(obj: dict[str, Any]) -> bool:
    """Whether the object is about ransomware by its own content."""
    stix_type = obj.get("type")
    if not isinstance(stix_type, str) or stix_type in _NOT_SEEDS:
        return False
    for key in ("name", "description", "labels", "malware_types", "aliases"):
        if any(_WORD in text.lower() for text in _strings(obj.get(key))):
            return True
    if stix_type == "malware":
        families = ransomware_families()
        names = _strings(obj.get("name")) + _strings(obj.get("aliases"))
        return any(name.strip().lower() in families for name in names)
    return False


def refs_of(obj: dict[str, Any]) -> set[str]:
    out: set[str] = set()
    for key, value in obj.items():
        if key in _IGNORED_REFS:
            continue
        if key.endswith("_ref") and isinstance(value, str):
            out.add(value)
        elif key.endswith("_refs"):
            out.update(_strings(value))
    return out


def _links_for(stix_id: str, obj: dict[str, Any], seed: str) -> set[tuple[str, str, str]]:
    """What `obj` referencing `seed` adds: itself, and the far ends when it is a relationship."""
    rows = {(stix_id, seed, "")}
    for key in _ENDS.get(str(obj.get("type")), ()):
        for end in _strings(obj.get(key)):
            if end != seed:
                rows.add((end, seed, stix_id))
    return rows


class RansomwareIndex:
    def __init__(self, *, database: Database, clock: Clock) -> None:
        self.database = database
        self.clock = clock

    def refresh(self) -> None:
        """Bring the index up to the newest record."""
        while True:
            with self.database.read() as conn:
                position = _position(conn)
                batch = conn.execute(
                    select(records.c.stix_id, records.c.object, records.c.date_added)
                    .where(records.c.date_added > position)
                    .order_by(records.c.date_added)
                    .limit(BATCH)
                ).all()
                if not batch:
                    return
                rows = self._links(conn, position, [(r[0], orjson.loads(r[1])) for r in batch])
            if not self._save(position, int(batch[-1][2]), rows):
                continue  # another worker indexed this batch first: carry on from its position
            if len(batch) < BATCH:
                return

    def _links(
        self, conn: Connection, position: int, parsed: list[tuple[str, dict[str, Any]]]
    ) -> set[tuple[str, str, str]]:
        new_seeds = {stix_id for stix_id, obj in parsed if is_seed(obj)}
        referenced = {ref for _, obj in parsed for ref in refs_of(obj)}
        known = _known_seeds(conn, referenced | new_seeds)
        seeds = known | new_seeds
        rows: set[tuple[str, str, str]] = {(s, s, "") for s in new_seeds}
        for stix_id, obj in parsed:
            for seed in refs_of(obj) & seeds:
                if seed != stix_id:
                    rows |= _links_for(stix_id, obj, seed)
        # A seed may come after what references it (references arrive in any order).
        for seed in new_seeds - known:
            earlier = conn.execute(
                select(records.c.stix_id, records.c.object).where(
                    and_(records.c.date_added <= position, records.c.object.contains(f'"{seed}"'))
                )
            )
            for stix_id, text in earlier:
                obj = orjson.loads(text)
                if stix_id != seed and seed in refs_of(obj):
                    rows |= _links_for(stix_id, obj, seed)
        return rows

    def _save(self, position: int, reached: int, rows: set[tuple[str, str, str]]) -> bool:
        with write_unit(self.database, self.clock) as unit:
            conn = unit.conn
            if _position(conn) != position:
                return False
            if rows:
                conn.execute(
                    insert_skipping_duplicates(conn, ransomware_links),
                    [{"stix_id": s, "seed_id": seed, "via_id": via} for s, seed, via in rows],
                )
            found = conn.execute(
                select(index_positions.c.name).where(index_positions.c.name == INDEX_NAME)
            ).first()
            if found is None:
                conn.execute(index_positions.insert().values(name=INDEX_NAME, position=reached))
            else:
                conn.execute(
                    index_positions.update()
                    .where(index_positions.c.name == INDEX_NAME)
                    .values(position=reached)
                )
        return True


def _position(conn: Connection) -> int:
    found = conn.execute(
        select(index_positions.c.position).where(index_positions.c.name == INDEX_NAME)
    ).first()
    return 0 if found is None else int(found[0])


def _known_seeds(conn: Connection, ids: Iterable[str]) -> set[str]:
    wanted = sorted(ids)
    out: set[str] = set()
    for start in range(0, len(wanted), IN_CHUNK):
        chunk = wanted[start : start + IN_CHUNK]
        out.update(
            row[0]
            for row in conn.execute(
                select(ransomware_links.c.seed_id).where(
                    and_(
                        ransomware_links.c.seed_id.in_(chunk),
                        ransomware_links.c.stix_id == ransomware_links.c.seed_id,
                    )
                )
            )
        )
    return out
