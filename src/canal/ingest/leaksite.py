"""Leak-site tracker posts as STIX incidents carrying canal's ransomware extension (R29).

Reads the post records of ransomwatch (`posts.json`: group_name, post_title, discovered) and
ransomware.live (API v1: the same plus published, post_url, website, country, activity,
description; API v2 names: group, victim, attackdate, claim_url, domain). A post is one victim
incident, keyed on (group, victim, published date): its id is a uuid5 of the submitting source
and the normalised key, so the same post always maps to the same incident.

- `leaksite_to_stix(data)` converts without looking at the store: a first version whose
  `created` and `modified` are the post's own earliest date.
- `LeaksiteImporter` converts and then settles each incident against what the source already
  holds: unchanged content takes the held `modified` (ingest reports a duplicate); changed
  content keeps the held `created` and gets a later `modified` (a new version). Re-importing a
  feed therefore never duplicates an incident.

A post without group, victim or a usable date is dropped with a problem naming it; a field
that does not fit the extension (a country that is no country) is left out with a warning.
docs/ransomware.md has the mapping.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson
import pycountry

from canal.analysis.families import resolve_family
from canal.ingest.errors import SubmissionError
from canal.ingest.formats import Conversion, Problem
from canal.ingest.service import IngestReport, IngestService
from canal.ingest.stix import without_handling
from canal.model.handling import COUNTRY_CODES, HandlingDefaults
from canal.model.org import Org, Principal
from canal.model.ransomware import (
    RANSOMWARE_EXTENSION_ID,
    Sector,
    incident_problems,
)
from canal.model.stix import format_timestamp, parse_timestamp
from canal.store.database import Database
from canal.store.records import held_versions

__all__ = [
    "LEAKSITE_NAMESPACE",
    "LeaksiteImport",
    "LeaksiteImporter",
    "incident_id",
    "is_leaksite",
    "latest_held",
    "leaksite_to_stix",
    "sector_of",
    "settle_versions",
]

LEAKSITE_NAMESPACE: Final = uuid.UUID("03c1d48f-e344-4b6c-8986-47ebbcecda16")

# Our field -> the names trackers give it, first found wins.
_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "group": ("group_name", "group"),
    "victim": ("post_title", "victim"),
    "published": ("published", "attackdate"),
    "discovered": ("discovered",),
    "post_url": ("post_url", "claim_url"),
    "website": ("website", "domain"),
    "country": ("country",),
    "activity": ("activity", "sector"),
    "description": ("description",),
}
_GROUP_KEYS: Final = frozenset(_FIELDS["group"])
_VICTIM_KEYS: Final = frozenset(_FIELDS["victim"])
_WRAPPERS: Final = ("posts", "victims", "data", "results")


def is_leaksite(parsed: Any) -> bool:
    """Whether parsed JSON looks like tracker posts: objects with a group and a victim."""
    if isinstance(parsed, list):
        first = next((item for item in parsed if isinstance(item, dict)), None)
        return first is not None and is_leaksite(first)
    return (
        isinstance(parsed, dict)
        and not parsed.keys().isdisjoint(_GROUP_KEYS)
        and not parsed.keys().isdisjoint(_VICTIM_KEYS)
    )


def _posts_of(parsed: Any, where: str) -> list[Any]:
    if isinstance(parsed, list):
        return parsed
    if isinstance(parsed, dict):
        for key in _WRAPPERS:
            if isinstance(parsed.get(key), list):
                return list(parsed[key])
        if is_leaksite(parsed):
            return [parsed]
    raise SubmissionError(
        where, "expected a JSON list of leak-site posts (group_name, post_title, published ...)"
    )


# --- normalisation -------------------------------------------------------------------------

_NOT_ALNUM: Final = re.compile(r"[\W_]+")
_SPACES: Final = re.compile(r"\s+")


def _compact(text: str) -> str:
    """NFKC, case-folded, letters and digits only: "ACME Corp." and "acme corp" are one."""
    return _NOT_ALNUM.sub("", unicodedata.normalize("NFKC", text).casefold())


def _tidy(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def incident_id(source: str | None, group: str, victim: str, published: datetime) -> str:
    """The incident of one post: (group, victim, published date) from one source."""
    key = "\x1f".join(
        (source or "", _compact(group), _compact(victim), published.date().isoformat())
    )
    return f"incident--{uuid.uuid5(LEAKSITE_NAMESPACE, key)}"


_FIRST_YEAR: Final = 1990


def _date(raw: Any) -> datetime | None:
    """A tracker date ("2024-01-10 10:33:32.000000", ISO 8601, a bare date) in UTC. Raises
    ValueError when it is not a date; None when absent or blank."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if not isinstance(raw, str):
        raise ValueError("not a string")  # noqa: TRY004 - the caller reads ValueError as "not a date"
    text = raw.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    at = datetime.fromisoformat(text)
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    if at.year < _FIRST_YEAR:
        raise ValueError("before any leak site")  # a placeholder such as 0001-01-01
    return at


# CISA sectors by the words of a tracker's activity label, first match wins; each word is the
# start of a word in the label (a trailing "\b": the whole word). Any other label is "other".
_SECTOR_TABLE: Final[tuple[tuple[Sector, tuple[str, ...]], ...]] = (
    # Before health care: "hospitality" starts with "hospital".
    (Sector.COMMERCIAL_FACILITIES, ("hospitality", "tourism", "hotel", "retail", "real estate",
                                    "entertainment", "sport", "leisure", "consumer", "commercial")),
    (Sector.HEALTHCARE_AND_PUBLIC_HEALTH, ("health", r"hospitals?\b", "medic", "pharma", "clinic",
                                           "biotech")),
    (Sector.FINANCIAL_SERVICES, ("financ", "bank", "insurance", "investment")),
    (Sector.GOVERNMENT_FACILITIES, ("government", "public sector", "municipal", "education",
                                    r"schools?\b", "universit", "college")),
    (Sector.INFORMATION_TECHNOLOGY, ("technology", "software", "information", r"it\b")),
    (Sector.COMMUNICATIONS, ("telecom", "communication", "media", "broadcast")),
    (Sector.ENERGY, ("energy", r"oil\b", r"gas\b", "electric", r"power\b", "utilit")),
    (Sector.WATER_AND_WASTEWATER, ("water", "wastewater")),
    (Sector.TRANSPORTATION_SYSTEMS, ("transport", "logistic", "aviation", r"airlines?\b",
                                     "shipping", "maritime", "rail")),
    (Sector.FOOD_AND_AGRICULTURE, ("agricultur", "food", "farming", "beverage")),
    (Sector.CHEMICAL, ("chemical",)),
    (Sector.DEFENSE_INDUSTRIAL_BASE, ("defence", "defense", "military", "aerospace")),
    (Sector.EMERGENCY_SERVICES, ("emergency",)),
    (Sector.NUCLEAR, ("nuclear",)),
    (Sector.CRITICAL_MANUFACTURING, ("manufactur", "industrial", "automotive", "machinery")),
)  # fmt: skip
_SECTOR_WORDS: Final = tuple(
    (re.compile(r"\b(?:" + "|".join(words) + ")", re.IGNORECASE), sector)
    for sector, words in _SECTOR_TABLE
)
_NO_SECTOR: Final = frozenset({"", "not found", "unknown", "n/a", "none", "-"})


def sector_of(activity: str) -> Sector | None:
    """The CISA sector of a tracker's activity label; None when the label says nothing."""
    label = _tidy(activity)
    if label.casefold() in _NO_SECTOR:
        return None
    for pattern, sector in _SECTOR_WORDS:
        if pattern.search(label):
            return sector
    return Sector.OTHER


# Trackers' country names that pycountry does not take.
_COUNTRY_ALIASES: Final = {"UK": "GB", "EL": "GR", "USA": "US"}


def _country(raw: str) -> str | None:
    text = _tidy(raw)
    code = _COUNTRY_ALIASES.get(text.upper(), text.upper())
    if code in COUNTRY_CODES:
        return code
    try:
        return str(pycountry.countries.lookup(text).alpha_2)
    except LookupError:
        return None


_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def _url(raw: str) -> str:
    text = raw.strip()
    # Trackers often give a leak-site address without its scheme; Tor sites are http.
    return text if _SCHEME.match(text) else "http://" + text


# --- posts to incidents --------------------------------------------------------------------


def _field(post: Mapping[str, Any], name: str) -> Any:
    for key in _FIELDS[name]:
        value = post.get(key)
        if value is not None and not (isinstance(value, str) and not value.strip()):
            return value
    return None


def _text(post: Mapping[str, Any], name: str) -> str | None:
    value = _field(post, name)
    return _tidy(value) if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class _Post:
    group: str
    victim: str
    published: datetime | None
    discovered: datetime | None
    #: The published date; ransomwatch posts carry only `discovered`, which stands in for it.
    key_date: datetime


def _read_post(post: Any, where: str, problems: list[Problem]) -> _Post | None:
    if not isinstance(post, dict):
        problems.append(Problem(where, "not a JSON object"))
        return None
    group, victim = _text(post, "group"), _text(post, "victim")
    missing = [
        f"{name} ({' or '.join(_FIELDS[name])})"
        for name, value in (("group", group), ("victim", victim))
        if not value or not _compact(value)
    ]
    if missing:
        problems.append(Problem(where, "missing or blank: " + ", ".join(missing)))
        return None
    dates: dict[str, datetime | None] = {}
    for name in ("published", "discovered"):
        raw = _field(post, name)
        try:
            dates[name] = _date(raw)
        except (ValueError, OverflowError):
            dates[name] = None
            shown = raw[:40] if isinstance(raw, str) else raw
            if name == "published":
                problems.append(Problem(where, f"published: {shown!r} is not a date"))
                return None
            problems.append(
                Problem(where, f"discovered: {shown!r} is not a date; left out", dropped=False)
            )
    published, discovered = dates["published"], dates["discovered"]
    key_date = published or discovered
    if key_date is None:
        problems.append(Problem(where, "no date: needs published (or discovered)"))
        return None
    return _Post(group or "", victim or "", published, discovered, key_date)


def _body(post: Mapping[str, Any], read: _Post) -> dict[str, Any]:
    family = resolve_family(read.group)
    actor: dict[str, Any] = {"family": family.name, "group": read.group}
    if family.aliases:
        actor["family_aliases"] = list(family.aliases)
    if family.galaxy_uuid is not None:
        actor["family_galaxy_uuid"] = family.galaxy_uuid
    victim: dict[str, Any] = {"name": read.victim}
    website = _text(post, "website")
    if website:
        victim["website"] = website
    country = _text(post, "country")
    if country:
        # An unknown country is kept as given here and dropped by the check, with a warning.
        victim["country"] = _country(country) or country
    activity = _text(post, "activity")
    sector = sector_of(activity) if activity else None
    if sector is not None and activity:
        victim["sector"] = sector.value
        victim["sector_detail"] = activity  # the tracker's own label, finer than the sector
    dates: dict[str, str] = {}
    if read.discovered is not None:
        dates["leak_post_discovered"] = format_timestamp(read.discovered)
    if read.published is not None:
        dates["leak_post_published"] = format_timestamp(read.published)
    # A post on a leak site claims that data was taken.
    extortion: dict[str, Any] = {"exfiltration": True}
    post_url = _text(post, "post_url")
    if post_url:
        extortion["leak_site_url"] = _url(post_url)
    body: dict[str, Any] = {
        "extension_type": "property-extension",
        "actor": actor,
        "victim": victim,
        "dates": dates,
        "extortion": extortion,
    }
    return {k: v for k, v in body.items() if v}


_REQUIRED_PATHS: Final = ("actor", "victim.name")


def _drop(body: dict[str, Any], path: str) -> None:
    """Remove the field a problem names ("victim.country: ...") and its section if emptied."""
    parts = re.split(r"[.\[]", path.partition(":")[0])
    section = body.get(parts[0])
    if len(parts) > 1 and isinstance(section, dict):
        section.pop(parts[1], None)
        if not section:
            body.pop(parts[0], None)
    else:
        body.pop(parts[0], None)


def _checked_body(body: dict[str, Any], where: str, problems: list[Problem]) -> bool:
    """Leave out what the extension refuses, with a warning; False when the post is lost."""
    for problem in incident_problems(body):
        if problem.startswith(_REQUIRED_PATHS):
            problems.append(Problem(where, problem))
            return False
        problems.append(Problem(where, f"{problem}; left out", dropped=False))
        _drop(body, problem)
    return True


def _incident(
    post: Mapping[str, Any], read: _Post, body: dict[str, Any], source: str | None
) -> dict[str, Any]:
    first = min(d for d in (read.published, read.discovered) if d is not None)
    stamp = format_timestamp(first)
    obj: dict[str, Any] = {
        "type": "incident",
        "spec_version": "2.1",
        "id": incident_id(source, read.group, read.victim, read.key_date),
        "created": stamp,
        "modified": stamp,
        "name": f"{read.victim[:200]} ({read.group[:50]})",
    }
    description = _text(post, "description")
    if description:
        obj["description"] = description
    obj["extensions"] = {RANSOMWARE_EXTENSION_ID: body}
    return obj


def _content(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: v for k, v in without_handling(dict(obj)).items() if k not in ("created", "modified")
    }


def leaksite_to_stix(
    data: bytes | str, *, where: str = "submission", source: str | None = None
) -> Conversion:
    """One incident per post; a second post with the same key is folded into the first."""
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise SubmissionError(where, f"not valid JSON ({exc})") from None
    result = Conversion()
    kept: dict[str, tuple[int, dict[str, Any]]] = {}
    for index, post in enumerate(_posts_of(parsed, where)):
        item = f"{where} item {index}"
        read = _read_post(post, item, result.problems)
        if read is None:
            continue
        body = _body(post, read)
        if not _checked_body(body, item, result.problems):
            continue
        obj = _incident(post, read, body, source)
        earlier = kept.get(obj["id"])
        if earlier is not None:
            if _content(earlier[1]) != _content(obj):
                result.problems.append(
                    Problem(
                        item,
                        f"same group, victim and published date as item {earlier[0]}: "
                        "folded into that incident",
                        dropped=False,
                    )
                )
            continue
        kept[obj["id"]] = (index, obj)
        result.objects.append(obj)
    return result


# --- settling against the store ------------------------------------------------------------

_TICK: Final = timedelta(milliseconds=1)


def settle_versions(
    objects: Iterable[dict[str, Any]], held: Mapping[str, Mapping[str, Any]], *, now: datetime
) -> list[dict[str, Any]]:
    """Each incident as the next step of what the source holds under its id (`held`: the
    newest held version by id): unchanged, the held version itself (a duplicate); changed,
    the held `created` and a `modified` later than the held one, at least `now`."""
    out: list[dict[str, Any]] = []
    for obj in objects:
        previous = held.get(str(obj.get("id")))
        if previous is None:
            out.append(obj)
            continue
        settled = dict(obj)
        settled["created"] = previous["created"]
        if _content(previous) == _content(obj):
            settled["modified"] = previous["modified"]
        else:
            after = parse_timestamp(str(previous["modified"])) + _TICK
            settled["modified"] = format_timestamp(max(now, after))
        out.append(settled)
    return out


def latest_held(database: Database, source_org_id: int, stix_ids: list[str]) -> dict[str, Any]:
    """The newest version the source holds of each id, as stored."""
    with database.read() as conn:
        found = held_versions(conn, stix_ids)
    out: dict[str, Any] = {}
    for stix_id, versions in found.items():
        mine = [v for v in versions if v.source_org_id == source_org_id]
        if mine:
            out[stix_id] = orjson.loads(max(mine, key=lambda v: v.version).object_text)
    return out


@dataclass(frozen=True, slots=True)
class LeaksiteImport:
    report: IngestReport
    problems: list[Problem]


class LeaksiteImporter:
    """Tracker posts into the store, as new incidents, new versions or duplicates."""

    def __init__(self, *, ingest: IngestService) -> None:
        self.ingest = ingest

    def ingest_bytes(
        self,
        data: bytes | str,
        *,
        principal: Principal,
        source: Org,
        defaults: HandlingDefaults = HandlingDefaults(),
        where: str = "submission",
        progress: Callable[[int, int | None], None] | None = None,
    ) -> LeaksiteImport:
        conversion = leaksite_to_stix(data, where=where, source=source.name)
        held = latest_held(
            self.ingest.database, source.id, [str(o["id"]) for o in conversion.objects]
        )
        objects = settle_versions(conversion.objects, held, now=self.ingest.clock.now())
        report = self.ingest.ingest_objects(
            objects, principal=principal, source=source, defaults=defaults, progress=progress
        )
        return LeaksiteImport(report, conversion.problems)
