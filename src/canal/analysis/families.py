"""Ransomware family names resolved to one canonical family through the MISP galaxies.

`resolve_family(name)` looks the name up in the MISP ransomware galaxy, as pymispgalaxies ships
it: a family's value or one of its synonyms, compared blind to case, punctuation, spaces and
character width (NFKC): "LockBit 3.0" and "lockbit-3.0" are one key. Steps, the first that
finds one family wins:

1. the exact key among the galaxy's values, then among its synonyms;
2. the loose key (a version "3.0" read as "3"; a trailing "ransomware", "group", "gang",
   "team", "leak" or "leaks" dropped), values then synonyms;
3. the MITRE ATT&CK malware galaxy as a bridge: when the name is a name or synonym of an
   ATT&CK software entry ("LockBit Black" is a synonym of "LockBit 3.0 - S1202"), that entry's
   other names are looked up by steps 1 and 2, and taken if they agree on one family.

Several galaxy values under one key ("Red Alert", "RedAlert"): the entry literally named so
(for a loose key), then the one the galaxy documents most (synonyms, then references), then the
lowest uuid, so the pick does not depend on file order. A synonym the galaxy gives to several
families is ambiguous and resolves to none.

Fallback: a name the galaxies do not know (or that is ambiguous) is kept as given, trimmed
and with its spaces collapsed, and marked unresolved (`galaxy_uuid` None); nothing is guessed.
The galaxy files pymispgalaxies ships are read once per process (a fraction of a second).
"""

from __future__ import annotations

import importlib.util
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

import orjson

__all__ = [
    "Family",
    "FamilyCatalogue",
    "GalaxyEntry",
    "Match",
    "family_key",
    "galaxy_catalogue",
    "loose_key",
    "resolve_family",
]


class Match(StrEnum):
    """How a name was resolved."""

    VALUE = "value"
    SYNONYM = "synonym"
    LOOSE = "loose"
    MITRE = "mitre"
    AMBIGUOUS = "ambiguous"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class GalaxyEntry:
    value: str
    uuid: str
    synonyms: tuple[str, ...] = ()
    refs: int = 0


@dataclass(frozen=True, slots=True)
class Family:
    """A resolved family: the galaxy's value as `name` and its synonyms as `aliases` (plus the
    name as given, when it differs); or, unresolved, the name as given."""

    name: str
    aliases: tuple[str, ...]
    galaxy_uuid: str | None
    match: Match
    #: For an ambiguous name: the families it could be.
    candidates: tuple[str, ...] = ()

    @property
    def resolved(self) -> bool:
        return self.galaxy_uuid is not None


_NOT_ALNUM: Final = re.compile(r"[\W_]+")
_SPACES: Final = re.compile(r"\s+")
_DOT_ZERO: Final = re.compile(r"(\d+)\.0+(?!\d)")
_GENERIC_SUFFIXES: Final = ("ransomware", "group", "gang", "team", "leaks", "leak")
_MITRE_ID: Final = re.compile(r"\s+-\s+S\d{4}$")


def family_key(name: str) -> str:
    """The comparison key: NFKC, case-folded, letters and digits only."""
    return _NOT_ALNUM.sub("", unicodedata.normalize("NFKC", name).casefold())


def loose_key(name: str) -> str:
    """The key with "3.0" read as "3" and a generic trailing word dropped."""
    text = _DOT_ZERO.sub(r"\1", unicodedata.normalize("NFKC", name).casefold())
    key = _NOT_ALNUM.sub("", text)
    for suffix in _GENERIC_SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix) + 1:
            return key[: -len(suffix)]
    return key


def _tidy(name: str) -> str:
    return _SPACES.sub(" ", name).strip()


def _rank(entry: GalaxyEntry, key: str) -> tuple[bool, int, int, str]:
    # Under a loose key, the entry literally named so comes first ("medusa" before
    # "MedusaLocker" for "Medusa ransomware").
    return (family_key(entry.value) != key, -len(entry.synonyms), -entry.refs, entry.uuid)


@dataclass
class _Index:
    values: dict[str, GalaxyEntry] = field(default_factory=dict)
    synonyms: dict[str, set[str]] = field(default_factory=dict)  # key -> uuids

    def add_value(self, key: str, entry: GalaxyEntry) -> None:
        held = self.values.get(key)
        if held is None or _rank(entry, key) < _rank(held, key):
            self.values[key] = entry

    def add_synonym(self, key: str, entry: GalaxyEntry) -> None:
        self.synonyms.setdefault(key, set()).add(entry.uuid)


class FamilyCatalogue:
    """The lookup tables built from galaxy entries; `resolve` never touches the files."""

    def __init__(
        self, entries: Iterable[GalaxyEntry], bridges: Iterable[tuple[str, ...]] = ()
    ) -> None:
        self.by_uuid: dict[str, GalaxyEntry] = {}
        self.exact = _Index()
        self.loose = _Index()
        for entry in entries:
            self.by_uuid.setdefault(entry.uuid, entry)
            for index, key_of in ((self.exact, family_key), (self.loose, loose_key)):
                key = key_of(entry.value)
                if key:
                    index.add_value(key, entry)
                for synonym in entry.synonyms:
                    key = key_of(synonym)
                    if key:
                        index.add_synonym(key, entry)
        # ATT&CK software entries: key of each name -> the entry's names.
        self.bridges: dict[str, list[tuple[str, ...]]] = {}
        for names in bridges:
            for key in {family_key(n) for n in names} | {loose_key(n) for n in names}:
                if key:
                    self.bridges.setdefault(key, []).append(names)

    def _direct(self, name: str) -> tuple[GalaxyEntry | None, Match, tuple[str, ...]]:
        """Steps 1 and 2: the entry, how, and the candidates when ambiguous."""
        for index, key, match in (
            (self.exact, family_key(name), None),
            (self.loose, loose_key(name), Match.LOOSE),
        ):
            if not key:
                continue
            entry = index.values.get(key)
            if entry is not None:
                return entry, match or Match.VALUE, ()
            uuids = index.synonyms.get(key)
            if uuids:
                if len(uuids) == 1:
                    return self.by_uuid[next(iter(uuids))], match or Match.SYNONYM, ()
                names = tuple(sorted(self.by_uuid[u].value for u in uuids))
                return None, Match.AMBIGUOUS, names
        return None, Match.UNKNOWN, ()

    def _bridged(self, name: str) -> GalaxyEntry | None:
        keys = (family_key(name), loose_key(name))
        found: dict[str, GalaxyEntry] = {}
        for key in keys:
            for names in self.bridges.get(key, ()):
                for other in names:
                    if family_key(other) in keys:
                        continue
                    entry, _, _ = self._direct(other)
                    if entry is not None:
                        found[entry.uuid] = entry
        return next(iter(found.values())) if len(found) == 1 else None

    def resolve(self, name: str) -> Family:
        """The canonical family of `name`. Raises ValueError on a blank name."""
        given = _tidy(name)
        if not family_key(given):
            raise ValueError(f"family name {name!r} has no letters or digits")
        entry, match, candidates = self._direct(given)
        if entry is None and match is Match.UNKNOWN:
            entry = self._bridged(given)
            if entry is not None:
                match = Match.MITRE
        if entry is None:
            return Family(given, (), None, match, candidates)
        aliases = list(entry.synonyms)
        known = {family_key(a) for a in (entry.value, *aliases)}
        if family_key(given) not in known:
            aliases.append(given)
        return Family(entry.value, tuple(sorted(aliases, key=str.casefold)), entry.uuid, match)


def _synonyms(value: dict[str, Any]) -> tuple[str, ...]:
    meta = value.get("meta") or {}
    raw = (meta.get("synonyms") or ()) if isinstance(meta, dict) else ()
    return tuple(sorted({_tidy(str(s)) for s in raw} - {""}))


def _clusters_dir() -> Path | None:
    """Where pymispgalaxies keeps the galaxy clusters, found without importing it: its API
    imports jsonschema, which costs seconds at start-up."""
    spec = importlib.util.find_spec("pymispgalaxies")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "misp-galaxy" / "clusters"


def _values(clusters: Path, name: str) -> list[dict[str, Any]]:
    data = orjson.loads((clusters / f"{name}.json").read_bytes())
    return [v for v in data["values"] if isinstance(v, dict)]


def _galaxy_entries(clusters: Path) -> tuple[list[GalaxyEntry], list[tuple[str, ...]]]:
    entries: list[GalaxyEntry] = []
    for value in _values(clusters, "ransomware"):
        name = _tidy(str(value.get("value", "")))
        if name:
            meta = value.get("meta")
            refs = len(meta.get("refs") or ()) if isinstance(meta, dict) else 0
            entries.append(GalaxyEntry(name, str(value["uuid"]), _synonyms(value), refs))
    bridges: list[tuple[str, ...]] = []
    for value in _values(clusters, "mitre-malware"):
        names = (_MITRE_ID.sub("", _tidy(str(value.get("value", "")))), *_synonyms(value))
        if len(names) > 1:
            bridges.append(names)
    return entries, bridges


@lru_cache(maxsize=1)
def galaxy_catalogue() -> FamilyCatalogue:
    """The catalogue of the installed MISP galaxies, built once per process; empty (every
    name unresolved) when the galaxy data cannot be read."""
    clusters = _clusters_dir()
    if clusters is None:
        return FamilyCatalogue(())
    try:
        entries, bridges = _galaxy_entries(clusters)
    except (OSError, ValueError, KeyError, TypeError):
        return FamilyCatalogue(())
    return FamilyCatalogue(entries, bridges)


@lru_cache(maxsize=8192)
def resolve_family(name: str) -> Family:
    """`name` resolved through the installed MISP galaxies (see the module docstring)."""
    return galaxy_catalogue().resolve(name)
