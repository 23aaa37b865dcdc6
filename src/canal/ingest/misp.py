"""MISP events (JSON, single, restSearch or feed) to STIX 2.1 objects carrying canal handling.

One event becomes a `report` (published) or a `grouping` (not yet published) with the id of
the event's uuid, referencing everything made from the event. Attributes of the common types
take a fast path of canal's own: an `indicator` when `to_ids` is set, else an `observed-data`
with its observables. MISP objects and the rarer attribute types go through misp-stix, whose
output is checked and corrected (timestamps, observable ids, formats the OASIS validator
refuses); when misp-stix raises or its output cannot be made valid, canal's own generic form
stands in. Galaxy clusters become threat-actor, malware, attack-pattern, intrusion-set, tool or
course-of-action objects, sightings `sighting` objects, deleted attributes revoked versions.

Every STIX id derives from the MISP uuid, so that a re-import is a duplicate and an update a new
version. What MISP knows and STIX does not (type, category, object relation, template) rides in
`x_misp_*` properties, so that the MISP export can give the event back as it came.

Handling: TLP, PAP and admiralty-scale tags, the nearest level's tag winning (attribute, then
object, then event); distribution, the most restrictive of event, object and attribute, mapped
by the table in docs/formats.md; sharing groups to allow-lists of the canal orgs they name.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import logging
import re
import sys
import urllib.parse
import urllib.request
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from functools import cache, lru_cache
from importlib.util import find_spec, spec_from_loader
from pathlib import Path
from typing import Any

import idna
import orjson
from rfc3986_validator import validate_rfc3986

from canal.ingest.errors import SubmissionError
from canal.ingest.formats import Conversion, Problem
from canal.ingest.pattern import pattern_error
from canal.model.extension import CANAL_EXTENSION_ID
from canal.model.handling import (
    ADMIRALTY_TO_CREDIBILITY,
    ADMIRALTY_TO_RELIABILITY,
    Audience,
    Credibility,
    HandlingError,
    Pap,
    Reliability,
    Tlp,
)
from canal.model.org import OrgKind
from canal.model.stix import SCO_TYPES, TLP2_MARKING_IDS

#: Namespace of the uuids canal derives for MISP things that have none fit for STIX.
MISP_NAMESPACE = uuid.UUID("5b5f0d2e-2c1e-4c59-9d0c-2b7f1e0a6c31")
#: STIX 2.1's namespace for observable ids (section 2.9).
SCO_NAMESPACE = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")
#: created/modified of the org identities and galaxy objects made from MISP: they carry no
#: dates of their own, and a fixed one makes every import of them the same version.
REFERENCE_EPOCH = "2000-01-01T00:00:00.000Z"

_MAX_FEED_FILE = 256 * 1024 * 1024


@dataclass
class MispConversion(Conversion):
    """The STIX objects of one or more MISP events, and the problems met on the way."""

    #: Events converted (some of their items may have been dropped).
    events: int = 0


# -- lenient reading of MISP fields ----------------------------------------------------------


def _int(value: Any) -> int | None:
    """MISP numbers come as JSON numbers or strings."""
    if type(value) is str and value.isdigit():
        return int(value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return int(text)
    return None


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


def _bool(value: Any) -> bool | None:
    """Booleans as JSON booleans, numbers, or "0"/"1"/"true"/"false" strings (older exports)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    return None


def _str(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


_RFC4122 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def stix_uuid(raw: Any) -> str | None:
    """The uuid for a STIX id made from a MISP uuid: the same one when it is an RFC 4122 uuid
    of version 1 to 5 (what STIX requires), else one derived from it. None if not a uuid."""
    if type(raw) is not str:
        return None
    if _RFC4122.match(raw):
        return raw
    return _stix_uuid(raw.strip())


def _stix_uuid(text: str) -> str | None:
    try:
        parsed = uuid.UUID(text)
    except ValueError:
        return None
    if parsed.variant == uuid.RFC_4122 and parsed.version in {1, 2, 3, 4, 5}:
        return str(parsed)
    return str(uuid.uuid5(MISP_NAMESPACE, str(parsed)))


def derived_uuid(*parts: str) -> str:
    return str(uuid.uuid5(MISP_NAMESPACE, "\x1f".join(parts)))


@lru_cache(maxsize=65536)
def _stamp(millis: int) -> str:
    """A STIX timestamp with milliseconds (the validator wants at least three digits)."""
    at = datetime.fromtimestamp(millis / 1000, UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis % 1000:03d}Z"


def _seen_millis(value: Any) -> int | None:
    """first_seen/last_seen: ISO 8601 with a zone (MISP writes microseconds), or epoch."""
    if value is None or value == "":
        return None
    number = _int(value)
    if number is not None:
        return number * 1000
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return int(at.timestamp() * 1000)


def _date_millis(value: Any) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        day = date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


# -- MISP's type list --------------------------------------------------------------------------


@cache
def describe_types() -> dict[str, Any]:
    """MISP's describeTypes (types, categories, default category per type), as PyMISP ships
    it. Read from the package's data without importing PyMISP itself (slow to import)."""
    spec = find_spec("pymisp")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("pymisp is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "describeTypes.json"
    result: dict[str, Any] = orjson.loads(path.read_bytes())["result"]
    return result


@cache
def known_types() -> frozenset[str]:
    return frozenset(describe_types()["types"])


def default_category(misp_type: str) -> str:
    defaults: dict[str, Any] = describe_types()["sane_defaults"]
    found = defaults.get(misp_type)
    return str(found["default_category"]) if found else "Other"


# -- handling from tags and distribution -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TagMarks:
    """What tags say about handling. The nearest level's tag wins over the levels above."""

    tlp: Tlp | None = None
    pap: Pap | None = None
    reliability: Reliability | None = None
    credibility: Credibility | None = None

    def over(self, upper: TagMarks) -> TagMarks:
        return TagMarks(
            self.tlp if self.tlp is not None else upper.tlp,
            self.pap if self.pap is not None else upper.pap,
            self.reliability if self.reliability is not None else upper.reliability,
            self.credibility if self.credibility is not None else upper.credibility,
        )


@dataclass(frozen=True, slots=True)
class DistMarks:
    """What a distribution setting says; levels combine to the most restrictive."""

    tlp: Tlp | None = None
    audience: Audience | None = None
    allow: frozenset[str] | None = None

    def stricter(self, other: DistMarks) -> DistMarks:
        tlp = _stricter_tlp(self.tlp, other.tlp)
        audiences = {self.audience, other.audience}
        audience = (
            Audience.LAW_ENFORCEMENT
            if Audience.LAW_ENFORCEMENT in audiences
            else (Audience.PARTNERS if Audience.PARTNERS in audiences else None)
        )
        allow = self.allow
        if other.allow is not None:
            allow = other.allow if allow is None else allow & other.allow
        if allow is not None and not allow:
            # Two lists that name nobody in common: only the source (and analysts) remain.
            allow = None
            tlp = _stricter_tlp(tlp, Tlp.AMBER_STRICT)
        return DistMarks(tlp, audience, allow)


def _stricter_tlp(a: Tlp | None, b: Tlp | None) -> Tlp | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if a.rank >= b.rank else b


#: Distribution (0-3; 4 is the sharing group, 5 inherits) as canal handling. The TLP is a
#: floor: a tag may make it stricter, never looser. See docs/formats.md.
DISTRIBUTION_MARKS: dict[int, DistMarks] = {
    0: DistMarks(Tlp.AMBER_STRICT, Audience.LAW_ENFORCEMENT),  # your organisation only
    1: DistMarks(Tlp.GREEN, Audience.LAW_ENFORCEMENT),  # this community only
    2: DistMarks(Tlp.GREEN, Audience.LAW_ENFORCEMENT),  # connected communities
    3: DistMarks(Tlp.GREEN, Audience.PARTNERS),  # all communities
}
_UNRESOLVED_GROUP = DistMarks(Tlp.AMBER_STRICT, Audience.LAW_ENFORCEMENT)
_INHERIT = DistMarks()

_RELIABILITY_TAG = re.compile(
    r'^admiralty-scale:source-reliability\s*=\s*"?([a-f])"?$', re.IGNORECASE
)
_CREDIBILITY_TAG = re.compile(
    r'^admiralty-scale:information-credibility\s*=\s*"?([1-6])"?$', re.IGNORECASE
)


@lru_cache(maxsize=4096)
def handling_tag(name: str) -> TagMarks | None:
    """The handling a tag sets, or None when it is not a handling tag."""
    text = name.strip()
    lowered = text.lower()
    try:
        if lowered.startswith("tlp:"):
            return TagMarks(tlp=Tlp.parse(text))
        if lowered.startswith("pap:"):
            return TagMarks(pap=Pap.parse(text))
    except HandlingError:
        return None  # tlp:ex:chr, tlp:unclear and the like are ordinary labels
    found = _RELIABILITY_TAG.match(text)
    if found:
        return TagMarks(reliability=ADMIRALTY_TO_RELIABILITY[found.group(1).upper()])
    found = _CREDIBILITY_TAG.match(text)
    if found:
        return TagMarks(credibility=ADMIRALTY_TO_CREDIBILITY[found.group(1)])
    return None


def read_tags(raw: Any) -> tuple[TagMarks, list[str]]:
    """Handling from a Tag list, and the other tags as labels. Two TLP tags at one level: the
    stricter holds. Local tags steer handling but do not travel as labels."""
    marks = TagMarks()
    labels: list[str] = []
    for tag in _list(raw):
        name = tag.get("name") if isinstance(tag, dict) else tag
        if not isinstance(name, str) or not name.strip():
            continue
        found = handling_tag(name)
        if found is None:
            if not (isinstance(tag, dict) and _bool(tag.get("local"))) and name not in labels:
                labels.append(name)
            continue
        marks = TagMarks(
            _stricter_tlp(marks.tlp, found.tlp),
            found.pap if found.pap is not None else marks.pap,
            found.reliability if found.reliability is not None else marks.reliability,
            found.credibility if found.credibility is not None else marks.credibility,
        )
    return marks, labels


@dataclass(frozen=True, slots=True)
class Stamp:
    """How handling rides on an object: the TLP marking, and the canal extension."""

    marking_refs: list[str] | None
    extension: dict[str, Any] | None
    #: To order handlings: higher is more restrictive (TLP first, then audience, then lists).
    rank: tuple[int, int, int]


@lru_cache(maxsize=1024)
def stamp_for(tags: TagMarks, dist: DistMarks) -> Stamp:
    tlp = _stricter_tlp(tags.tlp, dist.tlp)
    ext: dict[str, Any] = {}
    if tags.pap is not None:
        ext["pap"] = tags.pap.value
    if dist.audience is not None:
        ext["audience"] = dist.audience.value
    if dist.allow is not None:
        ext["allow"] = sorted(dist.allow)
    if tags.reliability is not None:
        ext["source_reliability"] = tags.reliability.value
    if tags.credibility is not None:
        ext["information_credibility"] = tags.credibility.value
    extension = {"extension_type": "property-extension", **ext} if ext else None
    rank = (
        -1 if tlp is None else tlp.rank,
        1 if dist.audience is Audience.LAW_ENFORCEMENT else 0,
        1 if dist.allow is not None else 0,
    )
    return Stamp([TLP2_MARKING_IDS[tlp]] if tlp else None, extension, rank)


def _apply(obj: dict[str, Any], stamp: Stamp) -> dict[str, Any]:
    if stamp.marking_refs is not None:
        obj["object_marking_refs"] = stamp.marking_refs
    if stamp.extension is not None:
        extensions = obj.get("extensions")
        if extensions:
            obj["extensions"] = {**extensions, CANAL_EXTENSION_ID: stamp.extension}
        else:
            obj["extensions"] = {CANAL_EXTENSION_ID: stamp.extension}
    return obj


def _strictest(stamps: Iterable[Stamp]) -> Stamp | None:
    return max(stamps, key=lambda s: s.rank, default=None)


# -- observables and patterns ------------------------------------------------------------------


class InvalidValue(ValueError):
    """A value the type does not allow. `hard`: the value is wrong whatever the form (an IP
    that is not one); otherwise only the STIX observable refuses it (a domain with `_`)."""

    def __init__(self, message: str, *, hard: bool = True) -> None:
        super().__init__(message)
        self.hard = hard


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sco_id(sco_type: str, contributing: dict[str, Any]) -> str:
    """The deterministic STIX 2.1 id of an observable from its id-contributing properties, so
    that the same value reported anywhere has the same id (and links)."""
    return f"{sco_type}--{uuid.uuid5(SCO_NAMESPACE, _canonical(contributing))}"


@lru_cache(maxsize=65536)
def _value_sco_id(sco_type: str, key: str, value: str | int) -> str:
    return sco_id(sco_type, {key: value})


def _sco(sco_type: str, key: str, value: str | int) -> dict[str, Any]:
    return {
        "type": sco_type,
        "spec_version": "2.1",
        "id": _value_sco_id(sco_type, key, value),
        key: value,
    }


def literal(value: str) -> str:
    """A STIX pattern string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@lru_cache(maxsize=65536)
def parse_ip(value: str) -> tuple[str, str]:
    """(observable type, canonical text) of an address or a CIDR block."""
    text = value.strip()
    try:
        if "/" in text:
            interface = ipaddress.ip_interface(text)
            version, rendered = interface.version, str(interface)
        else:
            address = ipaddress.ip_address(text)
            version, rendered = address.version, str(address)
    except ValueError:
        raise InvalidValue(f"{value!r} is not an IP address") from None
    return ("ipv4-addr" if version == 4 else "ipv6-addr"), rendered


_IPV4_SCHEMA = re.compile(
    r"^(([0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5])\.){3}"
    r"([0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5])(/(3[0-2]|[1-2][0-9]|[0-9]))?$"
)


@lru_cache(maxsize=65536)
def domain_ok(value: str) -> bool:
    """What the validator's idn-hostname check accepts (IDNA 2008, as the `idna` package)."""
    if not value:
        return False
    try:
        idna.encode(value)
    except (idna.IDNAError, UnicodeError, ValueError):
        return False
    return True


@lru_cache(maxsize=65536)
def url_ok(value: str) -> bool:
    """What the validator's `uri` check accepts (RFC 3986, with a scheme)."""
    return bool(validate_rfc3986(value, rule="URI"))


def email_ok(value: str) -> bool:
    local, at, host = value.partition("@")
    return bool(at and local and host) and not any(c.isspace() for c in value)


_HEX = re.compile(r"^[0-9a-fA-F]+$")
#: MISP hash types canal reads itself, as (STIX hash name, hex length).
HASH_TYPES: dict[str, tuple[str, int]] = {
    "md5": ("MD5", 32),
    "sha1": ("SHA-1", 40),
    "sha256": ("SHA-256", 64),
    "sha512": ("SHA-512", 128),
    "sha3-256": ("SHA3-256", 64),
    "sha3-512": ("SHA3-512", 128),
}


def _hash(misp_type: str, value: str) -> tuple[str, str]:
    name, length = HASH_TYPES[misp_type]
    text = value.strip().lower()
    if len(text) != length or not _HEX.match(text):
        raise InvalidValue(f"{value!r} is not a {misp_type} hash ({length} hex digits)")
    return name, text


def hash_path(name: str) -> str:
    return f"file:hashes.{name}" if name.isalnum() else f"file:hashes.'{name}'"


_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


def _mac(value: str) -> str:
    text = value.strip().lower().replace("-", ":")
    if not _MAC.match(text):
        raise InvalidValue(f"{value!r} is not a MAC address")
    return text


def _asn(value: str) -> int:
    text = value.strip().upper().removeprefix("AS").strip()
    if not text.isdigit() or int(text) > 2**32 - 1:
        raise InvalidValue(f"{value!r} is not an AS number")
    return int(text)


def _port(value: str) -> int:
    text = value.strip()
    if not text.isdigit() or int(text) > 65535:
        raise InvalidValue(f"{value!r} is not a port number")
    return int(text)


#: STIX wants registry keys with the hive spelt out; MISP allows the abbreviations.
_HIVES = {
    "HKLM": "HKEY_LOCAL_MACHINE",
    "HKCU": "HKEY_CURRENT_USER",
    "HKCR": "HKEY_CLASSES_ROOT",
    "HKU": "HKEY_USERS",
    "HKCC": "HKEY_CURRENT_CONFIG",
}
#: The validator's test, alternation and all: an abbreviation anywhere in the key fails it.
_HIVE_ABBREVIATION = re.compile(r"^HKLM|HKCC|HKCR|HKCU|HKU|hklm|hkcc|hkcr|hkcu|hku")


def registry_key(value: str) -> str:
    head, sep, rest = value.strip().partition("\\")
    full = _HIVES.get(head.upper())
    key = full + sep + rest if full else value.strip()
    if not key:
        raise InvalidValue("empty registry key")
    return key


def _text(value: str, what: str) -> str:
    if not value.strip():
        raise InvalidValue(f"empty {what}")
    return value


@dataclass(frozen=True, slots=True)
class Observed:
    """The observables of one value: every object to emit, and the ones observed-data names."""

    objects: list[dict[str, Any]]
    refs: list[str]


def _single(sco: dict[str, Any]) -> Observed:
    return Observed([sco], [sco["id"]])


def _ip_observed(value: str) -> Observed:
    sco_type, text = parse_ip(value)
    if sco_type == "ipv4-addr" and not _IPV4_SCHEMA.match(text):
        raise InvalidValue(f"{value!r} is not an IPv4 address STIX accepts")
    return _single(_sco(sco_type, "value", text))


def _ip_pattern(value: str) -> str:
    sco_type, text = parse_ip(value)
    return f"[{sco_type}:value = {literal(text)}]"


def _domain_observed(value: str) -> Observed:
    text = _text(value, "domain").strip()
    if not domain_ok(text):
        raise InvalidValue(f"{value!r} is not a host name STIX accepts", hard=False)
    return _single(_sco("domain-name", "value", text))


def _domain_pattern(value: str) -> str:
    text = _text(value, "domain").strip()
    if any(c.isspace() for c in text):
        raise InvalidValue(f"{value!r} is not a host name")
    return f"[domain-name:value = {literal(text)}]"


def _url_observed(value: str) -> Observed:
    text = _text(value, "url").strip()
    if not url_ok(text):
        raise InvalidValue(f"{value!r} is not a URL STIX accepts", hard=False)
    return _single(_sco("url", "value", text))


def _url_pattern(value: str) -> str:
    return f"[url:value = {literal(_text(value, 'url').strip())}]"


def _email_observed(value: str) -> Observed:
    text = value.strip()
    if not email_ok(text):
        raise InvalidValue(f"{value!r} is not an email address")
    return _single(_sco("email-addr", "value", text))


def _email_pattern(value: str) -> str:
    text = value.strip()
    if not email_ok(text):
        raise InvalidValue(f"{value!r} is not an email address")
    return f"[email-addr:value = {literal(text)}]"


def _file(name: str | None, hashes: dict[str, str]) -> dict[str, Any]:
    contributing: dict[str, Any] = {}
    for preferred in ("MD5", "SHA-1", "SHA-256", "SHA-512"):
        if preferred in hashes:
            contributing["hashes"] = {preferred: hashes[preferred]}
            break
    else:
        if hashes:
            first = next(iter(hashes))
            contributing["hashes"] = {first: hashes[first]}
    if name is not None:
        contributing["name"] = name
    sco: dict[str, Any] = {
        "type": "file",
        "spec_version": "2.1",
        "id": sco_id("file", contributing),
    }
    if hashes:
        sco["hashes"] = hashes
    if name is not None:
        sco["name"] = name
    return sco


def _hash_handlers(misp_type: str) -> tuple[Callable[[str], str], Callable[[str], Observed]]:
    def pattern(value: str) -> str:
        name, text = _hash(misp_type, value)
        return f"[{hash_path(name)} = {literal(text)}]"

    def observed(value: str) -> Observed:
        name, text = _hash(misp_type, value)
        return _single(_file(None, {name: text}))

    return pattern, observed


def _split(value: str, misp_type: str) -> tuple[str, str]:
    left, sep, right = value.partition("|")
    if not sep:
        raise InvalidValue(f"{misp_type} needs a composite value 'a|b', got {value!r}")
    return left, right


def _filename_hash_handlers(
    misp_type: str,
) -> tuple[Callable[[str], str], Callable[[str], Observed]]:
    hash_type = misp_type.split("|", 1)[1]

    def pattern(value: str) -> str:
        filename, digest = _split(value, misp_type)
        name, text = _hash(hash_type, digest)
        return (
            f"[file:name = {literal(_text(filename, 'file name'))} AND "
            f"{hash_path(name)} = {literal(text)}]"
        )

    def observed(value: str) -> Observed:
        filename, digest = _split(value, misp_type)
        name, text = _hash(hash_type, digest)
        return _single(_file(_text(filename, "file name"), {name: text}))

    return pattern, observed


def _filename_pattern(value: str) -> str:
    return f"[file:name = {literal(_text(value, 'file name'))}]"


def _filename_observed(value: str) -> Observed:
    return _single(_file(_text(value, "file name"), {}))


def _domain_ip_pattern(value: str) -> str:
    domain, ip = _split(value, "domain|ip")
    _, address = parse_ip(ip)
    return (
        f"[domain-name:value = {literal(_text(domain, 'domain').strip())} AND "
        f"domain-name:resolves_to_refs[*].value = {literal(address)}]"
    )


def _domain_ip_observed(value: str) -> Observed:
    domain, ip = _split(value, "domain|ip")
    address = _ip_observed(ip).objects[0]
    name = _domain_observed(domain).objects[0]
    resolved = {**name, "resolves_to_refs": [address["id"]]}
    resolved["id"] = sco_id("domain-name", {"value": name["value"]})
    return Observed([address, resolved], [resolved["id"], address["id"]])


def _ip_port_handlers(side: str) -> tuple[Callable[[str], str], Callable[[str], Observed]]:
    misp_type = f"ip-{side}|port"

    def pattern(value: str) -> str:
        ip, port = _split(value, misp_type)
        _, address = parse_ip(ip)
        return (
            f"[network-traffic:{side}_ref.value = {literal(address)} AND "
            f"network-traffic:{side}_port = {_port(port)}]"
        )

    def observed(value: str) -> Observed:
        ip, port = _split(value, misp_type)
        address = _ip_observed(ip).objects[0]
        protocols = ["ipv4" if address["type"] == "ipv4-addr" else "ipv6"]
        traffic = _traffic(side, address["id"], _port(port), protocols)
        return Observed([address, traffic], [traffic["id"], address["id"]])

    return pattern, observed


def _traffic(side: str, ref: str, port: int, protocols: list[str]) -> dict[str, Any]:
    contributing = {f"{side}_ref": ref, f"{side}_port": port, "protocols": protocols}
    return {
        "type": "network-traffic",
        "spec_version": "2.1",
        "id": sco_id("network-traffic", contributing),
        **contributing,
    }


def _host_port_pattern(value: str) -> str:
    host, port = _split(value, "hostname|port")
    return (
        f"[network-traffic:dst_ref.value = {literal(_text(host, 'host').strip())} AND "
        f"network-traffic:dst_port = {_port(port)}]"
    )


def _host_port_observed(value: str) -> Observed:
    host, port = _split(value, "hostname|port")
    name = _domain_observed(host).objects[0]
    traffic = _traffic("dst", name["id"], _port(port), ["tcp"])
    return Observed([name, traffic], [traffic["id"], name["id"]])


def _simple(
    sco_type: str, key: str, read: Callable[[str], Any], path: str | None = None
) -> tuple[Callable[[str], str], Callable[[str], Observed]]:
    where = path or f"{sco_type}:{key}"

    def pattern(value: str) -> str:
        read_value = read(value)
        rendered = str(read_value) if isinstance(read_value, int) else literal(read_value)
        return f"[{where} = {rendered}]"

    def observed(value: str) -> Observed:
        return _single(_sco(sco_type, key, read(value)))

    return pattern, observed


def _regkey_observed(value: str) -> Observed:
    key = registry_key(value)
    if _HIVE_ABBREVIATION.search(key):
        raise InvalidValue(f"{value!r} is not a registry key STIX accepts", hard=False)
    return _single(_sco("windows-registry-key", "key", key))


def _subject_observed(value: str) -> Observed:
    subject = _text(value, "subject")
    sco = {
        "type": "email-message",
        "spec_version": "2.1",
        "id": sco_id("email-message", {"subject": subject}),
        "is_multipart": False,
        "subject": subject,
    }
    return _single(sco)


def _strip(value: str) -> str:
    return _text(value, "value").strip()


#: The attribute types canal converts itself (the common ones, on the hot path), as
#: (pattern maker, observables maker). Everything else known to MISP goes through misp-stix.
FAST_TYPES: dict[str, tuple[Callable[[str], str], Callable[[str], Observed]]] = {
    "ip-src": (_ip_pattern, _ip_observed),
    "ip-dst": (_ip_pattern, _ip_observed),
    "ip-src|port": _ip_port_handlers("src"),
    "ip-dst|port": _ip_port_handlers("dst"),
    "domain": (_domain_pattern, _domain_observed),
    "hostname": (_domain_pattern, _domain_observed),
    "domain|ip": (_domain_ip_pattern, _domain_ip_observed),
    "hostname|port": (_host_port_pattern, _host_port_observed),
    "url": (_url_pattern, _url_observed),
    "link": (_url_pattern, _url_observed),
    "filename": (_filename_pattern, _filename_observed),
    "email": (_email_pattern, _email_observed),
    "email-src": (_email_pattern, _email_observed),
    "email-dst": (_email_pattern, _email_observed),
    "target-email": (_email_pattern, _email_observed),
    "whois-registrant-email": (_email_pattern, _email_observed),
    "dns-soa-email": (_email_pattern, _email_observed),
    "email-reply-to": (_email_pattern, _email_observed),
    "email-subject": (
        lambda v: f"[email-message:subject = {literal(_text(v, 'subject'))}]",
        _subject_observed,
    ),
    "mac-address": _simple("mac-addr", "value", _mac),
    "AS": _simple("autonomous-system", "number", _asn),
    "mutex": _simple("mutex", "name", _strip),
    "regkey": (
        lambda v: f"[windows-registry-key:key = {literal(registry_key(v))}]",
        _regkey_observed,
    ),
    # No STIX 2.1 observable exists for these; the names are OpenCTI's, for interoperability.
    "btc": _simple("cryptocurrency-wallet", "value", _strip),
    "xmr": _simple("cryptocurrency-wallet", "value", _strip),
    "dash": _simple("cryptocurrency-wallet", "value", _strip),
    "phone-number": _simple("phone-number", "value", _strip),
    "whois-registrant-phone": _simple("phone-number", "value", _strip),
}
for _hash_type in HASH_TYPES:
    FAST_TYPES[_hash_type] = _hash_handlers(_hash_type)
    FAST_TYPES[f"filename|{_hash_type}"] = _filename_hash_handlers(f"filename|{_hash_type}")


# -- checking what goes out --------------------------------------------------------------------

_STIX_ID = re.compile(
    r"^[a-z][a-z0-9-]+[a-z0-9]--[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-5][0-9a-fA-F]{3}-"
    r"[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$"
)
_CORE_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3,}Z$")
_ANY_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
_RELATIONSHIP_TYPE = re.compile(r"^[a-z0-9-]+$")
_HASH_FORMS = {
    "MD5": re.compile(r"^[a-fA-F0-9]{32}$"),
    "SHA-1": re.compile(r"^[a-fA-F0-9]{40}$"),
    "SHA-256": re.compile(r"^[a-fA-F0-9]{64}$"),
    "SHA-512": re.compile(r"^[a-fA-F0-9]{128}$"),
    "SHA3-256": re.compile(r"^[a-fA-F0-9]{64}$"),
    "SHA3-512": re.compile(r"^[a-fA-F0-9]{128}$"),
    "SSDEEP": re.compile(r"^[a-zA-Z0-9/+:.]{1,128}$"),
    "TLSH": re.compile(r"^[a-zA-Z0-9]{70}$"),
}
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_CPE = re.compile(r"^cpe:2\.3:[aho*\-](:(?:[^:\\]|\\.)+){10}$")
_CVE = re.compile(r"^CVE-\d{4}-(0\d{3}|[1-9]\d{3,})$")
_CAPEC = re.compile(r"^CAPEC-\d+$")
_MIME = re.compile(
    r"^(application|audio|font|image|message|model|multipart|text|video)/[a-zA-Z0-9.+_-]+"
)
_BASE64 = re.compile(
    r"^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2}==)$"
)
_TIME_KEYS = frozenset(
    {
        "valid_from",
        "valid_until",
        "first_seen",
        "last_seen",
        "first_observed",
        "last_observed",
        "published",
        "start",
        "end",
        "ctime",
        "mtime",
        "atime",
        "date",
        "created_time",
        "modified_time",
    }
)


def _hashes_problem(hashes: Any, where: str) -> str | None:
    if not isinstance(hashes, dict) or not hashes:
        return f"{where}: must be a non-empty dictionary"
    for name, value in hashes.items():
        form = _HASH_FORMS.get(name)
        if form is not None and not (isinstance(value, str) and form.match(value)):
            return f"{where}.{name}: {value!r} is not a {name} value"
    return None


def _reference_problem(ref: dict[str, Any]) -> str | None:
    source = ref.get("source_name")
    external_id = ref.get("external_id")
    if source == "cve" and not (isinstance(external_id, str) and _CVE.match(external_id)):
        return f"external_references: {external_id!r} is not a CVE id"
    if source == "capec" and not (isinstance(external_id, str) and _CAPEC.match(external_id)):
        return f"external_references: {external_id!r} is not a CAPEC id"
    url = ref.get("url")
    if url is not None and not (isinstance(url, str) and url_ok(url)):
        return f"external_references: {url!r} is not a URL"
    if "hashes" in ref:
        return _hashes_problem(ref["hashes"], "external_references.hashes")
    return None


def stix_problem(obj: dict[str, Any]) -> str | None:
    """What the OASIS validator (3.3.2) would refuse in `obj`, for the checks it makes on what
    MISP content turns into; None when the object passes them."""
    stix_id = obj.get("id")
    if not isinstance(stix_id, str) or not _STIX_ID.match(stix_id):
        return f"id: {stix_id!r} is not a STIX identifier with an RFC 4122 uuid"
    sco = obj.get("type") in SCO_TYPES or "created" not in obj
    if not sco:
        for key in ("created", "modified"):
            value = obj.get(key)
            if not isinstance(value, str) or not _CORE_STAMP.match(value):
                return f"{key}: {value!r} is not a timestamp with milliseconds"
    for key, value in obj.items():
        if key in _TIME_KEYS and isinstance(value, str) and not _ANY_STAMP.match(value):
            return f"{key}: {value!r} is not a STIX timestamp"
        if key.endswith("_ref") and not (isinstance(value, str) and _STIX_ID.match(value)):
            return f"{key}: {value!r} is not a STIX identifier"
        if key.endswith("_refs") and not (
            isinstance(value, list)
            and value
            and all(isinstance(v, str) and _STIX_ID.match(v) for v in value)
        ):
            return f"{key}: must be a non-empty list of STIX identifiers"
    for ref in _list(obj.get("external_references")):
        problem = _reference_problem(ref) if isinstance(ref, dict) else "external_references"
        if problem:
            return problem
    return _type_problem(obj)


def _type_problem(obj: dict[str, Any]) -> str | None:
    stix_type = obj.get("type")
    value = obj.get("value")
    if stix_type == "ipv4-addr" and not (isinstance(value, str) and _IPV4_SCHEMA.match(value)):
        return f"value: {value!r} is not an IPv4 address"
    if stix_type == "ipv6-addr":
        try:
            parse_ip(str(value))
        except InvalidValue:
            return f"value: {value!r} is not an IPv6 address"
    if stix_type == "domain-name" and not (isinstance(value, str) and domain_ok(value)):
        return f"value: {value!r} is not a host name"
    if stix_type == "url" and not (isinstance(value, str) and url_ok(value)):
        return f"value: {value!r} is not a URL"
    if stix_type == "email-addr" and not (isinstance(value, str) and email_ok(value)):
        return f"value: {value!r} is not an email address"
    if stix_type == "mac-addr" and not (isinstance(value, str) and _MAC.match(value)):
        return f"value: {value!r} is not a MAC address"
    if stix_type == "windows-registry-key":
        key = obj.get("key")
        if isinstance(key, str) and _HIVE_ABBREVIATION.search(key):
            return f"key: {key!r} abbreviates its hive"
    if stix_type in {"file", "artifact", "x509-certificate"} and "hashes" in obj:
        problem = _hashes_problem(obj["hashes"], "hashes")
        if problem:
            return problem
    if stix_type == "artifact":
        mime = obj.get("mime_type")
        if mime is not None and not (isinstance(mime, str) and _MIME.match(mime)):
            return f"mime_type: {mime!r} is not a MIME type"
        payload = obj.get("payload_bin")
        if payload is not None and not (isinstance(payload, str) and _BASE64.match(payload)):
            return "payload_bin: not base64"
    if stix_type == "software":
        for language in _list(obj.get("languages")):
            if not (isinstance(language, str) and _LANGUAGE.match(language)):
                return f"languages: {language!r} is not an RFC 5646 code"
        cpe = obj.get("cpe")
        if cpe is not None and not (isinstance(cpe, str) and _CPE.match(cpe)):
            return f"cpe: {cpe!r} is not a CPE 2.3 name"
    http = (obj.get("extensions") or {}).get("http-request-ext")
    if isinstance(http, dict) and any(
        not isinstance(v, list) for v in (http.get("request_header") or {}).values()
    ):
        return "extensions.http-request-ext.request_header: values must be lists"
    if stix_type == "indicator" and obj.get("pattern_type") == "stix":
        problem = pattern_error(str(obj.get("pattern")))
        if problem is not None:
            return f"pattern: {problem}"
    if stix_type == "relationship":
        kind = obj.get("relationship_type")
        if not (isinstance(kind, str) and _RELATIONSHIP_TYPE.match(kind)):
            return f"relationship_type: {kind!r} contains invalid characters"
    return None


# -- galaxies ----------------------------------------------------------------------------------

#: Galaxy (cluster) types as the STIX object each names; others stay labels (the cluster tag).
GALAXY_OBJECT_TYPES: dict[str, str] = {
    **dict.fromkeys(
        (
            "threat-actor",
            "360net-threat-actor",
            "microsoft-activity-group",
            "mitre-ics-groups",
        ),
        "threat-actor",
    ),
    **dict.fromkeys(
        (
            "intrusion-set",
            "mitre-intrusion-set",
            "mitre-enterprise-attack-intrusion-set",
            "mitre-mobile-attack-intrusion-set",
            "mitre-pre-attack-intrusion-set",
        ),
        "intrusion-set",
    ),
    **dict.fromkeys(
        (
            "attack-pattern",
            "mitre-attack-pattern",
            "mitre-enterprise-attack-attack-pattern",
            "mitre-mobile-attack-attack-pattern",
            "mitre-pre-attack-attack-pattern",
            "mitre-ics-techniques",
            "cmtmf-attack-pattern",
        ),
        "attack-pattern",
    ),
    **dict.fromkeys(
        (
            "malware",
            "ransomware",
            "malpedia",
            "android",
            "backdoor",
            "banker",
            "stealer",
            "cryptominers",
            "mitre-malware",
            "mitre-enterprise-attack-malware",
            "mitre-mobile-attack-malware",
            "mitre-ics-software",
        ),
        "malware",
    ),
    **dict.fromkeys(
        (
            "tool",
            "botnet",
            "rat",
            "exploit-kit",
            "tds",
            "mitre-tool",
            "mitre-enterprise-attack-tool",
            "mitre-mobile-attack-tool",
        ),
        "tool",
    ),
    **dict.fromkeys(
        (
            "course-of-action",
            "mitre-course-of-action",
            "mitre-enterprise-attack-course-of-action",
            "mitre-mobile-attack-course-of-action",
        ),
        "course-of-action",
    ),
}
_ALIASED = frozenset({"threat-actor", "intrusion-set", "malware", "tool"})
#: What an indicator "indicates" (STIX 2.1 relationship table); other links are "related-to".
_INDICATED = frozenset({"attack-pattern", "intrusion-set", "malware", "threat-actor", "tool"})


def relationship_type(raw: Any) -> str:
    """A MISP relationship name in STIX form (lower case, `-` between words)."""
    text = re.sub(r"[^a-z0-9]+", "-", str(raw or "").lower()).strip("-")
    return text or "related-to"


# -- misp-stix ---------------------------------------------------------------------------------

_ATTRIBUTE_KEYS = (
    "uuid",
    "type",
    "category",
    "value",
    "to_ids",
    "timestamp",
    "comment",
    "first_seen",
    "last_seen",
    "data",
    "object_relation",
    "disable_correlation",
)
_OBJECT_KEYS = (
    "name",
    "meta-category",
    "description",
    "template_uuid",
    "template_version",
    "uuid",
    "timestamp",
    "comment",
    "first_seen",
    "last_seen",
)
_DROPPED_FROM_MISP_STIX = frozenset({"identity", "report", "grouping", "marking-definition"})


@cache
def _misp_stix() -> type[Any]:
    # Heavy to import (stix2, cybox, maec...), and only objects and rare types need it.
    from misp_stix_converter import MISPtoSTIX21Parser  # noqa: PLC0415

    # PyMISP logs its validation messages; canal reports them as problems instead.
    logging.getLogger("pymisp").addHandler(logging.NullHandler())
    _modernise_six_importers()
    parser: type[Any] = MISPtoSTIX21Parser
    return parser


def _modernise_six_importers() -> None:
    """mixbox (under misp-stix) vendors six 1.15, whose meta-path importer has no find_spec:
    from then on every import that fails warns (ImportWarning), an error where warnings are.
    Give it the three methods six 1.16 added, as six 1.16 writes them."""
    for finder in sys.meta_path:
        importer: Any = finder
        if type(importer).__name__ != "_SixMetaPathImporter" or hasattr(importer, "find_spec"):
            continue

        def find_spec(
            fullname: str, path: Any = None, target: Any = None, *, _importer: Any = importer
        ) -> Any:
            del path, target
            known = fullname in _importer.known_modules
            return spec_from_loader(fullname, _importer) if known else None

        importer.find_spec = find_spec
        importer.create_module = lambda spec, _importer=importer: _importer.load_module(spec.name)
        importer.exec_module = lambda _module: None


def _clean_attribute(raw: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in _ATTRIBUTE_KEYS:
        value = raw.get(key)
        if value is None:
            continue
        if key in {"to_ids", "disable_correlation"}:
            value = bool(_bool(value))
        elif key == "timestamp":
            value = str(_int(value) or 0)
        out[key] = value
    out.setdefault("category", default_category(str(raw.get("type"))))
    return out


def misp_stix_convert(
    event: dict[str, Any], *, attributes: list[dict[str, Any]], objects: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[str]]:
    """misp-stix's STIX 2.1 objects for the given attributes and objects, in an event with the
    given header, and its messages. Raises whatever misp-stix raises."""
    wrapper = {"Event": {**event, "Attribute": attributes, "Object": objects}}
    with warnings.catch_warnings():
        # misp-stix and its imports (stix, cybox, mixbox) warn about deprecated APIs.
        warnings.simplefilter("ignore")
        parser = _misp_stix()()
        parser.parse_misp_event(wrapper)
        bundle = parser.bundle
    # One line each: misp-stix puts whole tracebacks in some of its messages.
    messages = [
        str(m).strip().splitlines()[0][:300]
        for found in (*parser.errors.values(), *parser.warnings.values())
        for m in found
        if str(m).strip()
    ]
    objects_out: list[dict[str, Any]] = orjson.loads(bundle.serialize())["objects"]
    return objects_out, messages


#: Observable id-contributing properties (STIX 2.1 section 6), for re-deriving misp-stix's ids.
_CONTRIBUTING: dict[str, tuple[str, ...]] = {
    "artifact": ("hashes", "payload_bin"),
    "autonomous-system": ("number",),
    "directory": ("path",),
    "domain-name": ("value",),
    "email-addr": ("value",),
    "email-message": ("from_ref", "subject", "body"),
    "file": ("hashes", "name", "extensions", "parent_directory_ref"),
    "ipv4-addr": ("value",),
    "ipv6-addr": ("value",),
    "mac-addr": ("value",),
    "mutex": ("name",),
    "network-traffic": (
        "start",
        "end",
        "src_ref",
        "dst_ref",
        "src_port",
        "dst_port",
        "protocols",
        "extensions",
    ),
    "software": ("name", "cpe", "swid", "vendor", "version"),
    "url": ("value",),
    "user-account": ("account_type", "user_id", "account_login"),
    "windows-registry-key": ("key", "values"),
    "x509-certificate": ("hashes", "serial_number"),
}


def _remap(value: Any, ids: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return ids.get(value, value)
    if isinstance(value, list):
        return [_remap(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _remap(v, ids) for k, v in value.items()}
    return value


def _contributing(obj: dict[str, Any]) -> dict[str, Any] | None:
    keys = _CONTRIBUTING.get(obj["type"])
    if not keys:
        return None
    found: dict[str, Any] = {}
    for key in keys:
        if key not in obj:
            continue
        value = obj[key]
        if key == "hashes" and isinstance(value, dict) and value:
            chosen = next((h for h in ("MD5", "SHA-1", "SHA-256", "SHA-512") if h in value), None)
            name = chosen or next(iter(value))
            value = {name: value[name]}
        found[key] = value
    return found or None


def deterministic_sco_ids(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The objects with every observable's id re-derived from its contents (misp-stix names
    observables after MISP uuids, so the same value would never link across events).
    Observables referring to others get their ids after the ones they refer to."""
    ids: dict[str, str] = {}
    pending = [o for o in objects if o.get("type") in SCO_TYPES]
    for _ in range(4):  # reference chains in MISP objects are at most a few deep
        waiting: list[dict[str, Any]] = []
        for obj in pending:
            current = _remap(obj, ids)
            refs = [
                v
                for k, v in current.items()
                if k.endswith("_ref") and isinstance(v, str) and v.split("--")[0] in SCO_TYPES
            ]
            if any(r in {o["id"] for o in waiting} for r in refs):
                waiting.append(obj)
                continue
            contributing = _contributing(current)
            if contributing is not None:
                ids[obj["id"]] = sco_id(obj["type"], contributing)
        if not waiting or len(waiting) == len(pending):
            break
        pending = waiting
    return [_remap(obj, ids) for obj in objects] if ids else objects


# -- the converter -----------------------------------------------------------------------------


@dataclass
class _Event:
    """What converting one event needs to know about it."""

    misp_uuid: str
    uuid: str
    where: str
    header: dict[str, Any]
    tags: TagMarks
    dist: DistMarks
    stamp: Stamp
    created: int
    modified: int
    creator_id: str | None
    group: dict[str, Any] | None
    group_id: int | None
    out: list[dict[str, Any]] = field(default_factory=list)
    members: list[str] = field(default_factory=list)
    #: MISP uuid of an attribute or object -> (STIX id it became, its stamp).
    primaries: dict[str, tuple[str, Stamp]] = field(default_factory=dict)
    #: (ObjectReference, STIX id of its object, the object's stamp, where, modified).
    references: list[tuple[Any, str, Stamp, str, int]] = field(default_factory=list)


@dataclass(slots=True)  # not frozen: a frozen dataclass is slower to build, on the hot path
class _Item:
    """One attribute, read and checked."""

    misp_uuid: str
    uuid: str
    type: str
    value: str
    to_ids: bool
    deleted: bool
    created: int
    modified: int
    first_seen: int | None
    last_seen: int | None
    tags: TagMarks
    dist: DistMarks
    stamp: Stamp
    labels: list[str]
    #: What MISP knows and STIX does not, for the export (x_misp_attribute).
    payload: dict[str, Any]
    raw: dict[str, Any]
    #: (where the list is, index in it): spelt out only for a problem.
    at: tuple[str, int]

    @property
    def where(self) -> str:
        return _where(self.at, self.misp_uuid)


def _where(at: tuple[str, int], misp_uuid: Any) -> str:
    return f"{at[0]}[{at[1]}] ({misp_uuid})"


#: Distribution values that inherit from the level above.
_INHERITING = frozenset({5, "5"})
_NO_LABELS: list[str] = []


class MispConverter:
    """Converts MISP events one at a time, keeping what it already emitted (observables, org
    identities, galaxy objects shared across events go out once: the first use's handling)."""

    def __init__(self, *, orgs: Mapping[str, OrgKind] | None = None) -> None:
        self.orgs = {name.lower(): (name, kind) for name, kind in (orgs or {}).items()}
        self.emitted: set[str] = set()
        #: What the event being converted added to `emitted`, undone if it fails.
        self._added: list[str] = []

    def _mark(self, stix_id: str) -> None:
        self.emitted.add(stix_id)
        self._added.append(stix_id)

    # -- entry points ------------------------------------------------------------------------

    def convert(self, data: Any, *, where: str = "misp") -> MispConversion:
        """Every event in a MISP document: {"Event": ...}, a bare event, {"response": [...]},
        or a list of any of these."""
        result = MispConversion()
        for at, event in events_of(data, where=where, problems=result.problems):
            self.convert_event(event, where=at, into=result)
        return result

    def convert_event(
        self, event: Any, *, where: str, into: MispConversion | None = None
    ) -> MispConversion:
        result = into if into is not None else MispConversion()
        self._added = []
        try:
            objects = self._event(event, where, result.problems)
        except (InvalidValue, HandlingError, ValueError, TypeError, KeyError) as exc:
            # What this event marked as sent never went out: a later event must send it.
            self.emitted.difference_update(self._added)
            result.problems.append(Problem(where, f"event not converted: {exc}"))
            return result
        if objects is not None:
            result.objects.extend(objects)
            result.events += 1
        return result

    # -- events ------------------------------------------------------------------------------

    def _event(self, raw: Any, where: str, problems: list[Problem]) -> list[dict[str, Any]] | None:
        if isinstance(raw, dict) and isinstance(raw.get("Event"), dict):
            raw = raw["Event"]
        if not isinstance(raw, dict):
            problems.append(Problem(where, f"an event must be a JSON object, not {_kind(raw)}"))
            return None
        misp_uuid = raw.get("uuid")
        event_uuid = stix_uuid(misp_uuid)
        if event_uuid is None:
            problems.append(Problem(where, f"uuid: {misp_uuid!r} is missing or not a uuid"))
            return None
        where = f"{where} (event {misp_uuid})"
        info = raw.get("info")
        if not isinstance(info, str) or not info.strip():
            problems.append(Problem(where, "info: missing; named after the uuid", dropped=False))
            info = f"MISP event {misp_uuid}"
        modified = _int(raw.get("timestamp"))
        day = _date_millis(raw.get("date"))
        if modified is None:
            fallback = _int(raw.get("publish_timestamp"))
            if fallback is None and day is None:
                problems.append(Problem(where, "timestamp and date: missing", dropped=False))
            modified_ms = fallback * 1000 if fallback else (day or 0)
        else:
            modified_ms = modified * 1000
        if day is None:
            if raw.get("date") is not None:
                problems.append(
                    Problem(where, f"date: {raw.get('date')!r} is not YYYY-MM-DD", dropped=False)
                )
            day = modified_ms - modified_ms % 86_400_000
        tags, labels = read_tags(raw.get("Tag"))
        group = raw.get("SharingGroup") if isinstance(raw.get("SharingGroup"), dict) else None
        dist = self._distribution(raw, where, problems, level="event", group=group)
        stamp = stamp_for(tags, dist)
        creator = self._creator(raw.get("Orgc"), stamp)
        published = bool(_bool(raw.get("published")))
        publish = _int(raw.get("publish_timestamp")) or 0
        ev = _Event(
            misp_uuid=str(misp_uuid),
            uuid=event_uuid,
            where=where,
            header=self._misp_stix_header(raw, event_uuid),
            tags=tags,
            dist=dist,
            stamp=stamp,
            created=min(day, modified_ms),
            modified=modified_ms,
            creator_id=creator[0] if creator else None,
            group=group,
            group_id=_int(raw.get("sharing_group_id")),
        )
        if creator:
            ev.members.append(creator[0])
            ev.out.extend(creator[1])
        attributes = raw.get("Attribute", [])
        if not isinstance(attributes, list):
            problems.append(Problem(where, "Attribute: not a list; no attributes read"))
            attributes = []
        at = f"{where} Attribute"
        for index, attribute in enumerate(attributes):
            self._attribute(ev, attribute, (at, index), problems)
        objects = raw.get("Object", [])
        if not isinstance(objects, list):
            problems.append(Problem(where, "Object: not a list; no objects read"))
            objects = []
        for index, misp_object in enumerate(objects):
            self._object(ev, misp_object, f"{where} Object[{index}]", problems)
        for ref, source_id, source_stamp, where_ref, modified_ref in ev.references:
            self._reference(
                ev,
                ref,
                source=(source_id, source_stamp),
                where=where_ref,
                modified=modified_ref,
                problems=problems,
            )
        event_galaxies = self._galaxies(ev, raw.get("Galaxy"), ev.stamp, problems, where)
        ev.members.extend(sdo for sdo, _ in event_galaxies)
        container_type = "report" if published else "grouping"
        container_id = f"{container_type}--{event_uuid}"
        for index, report in enumerate(_list(raw.get("EventReport"))):
            self._event_report(ev, report, container_id, f"{where} EventReport[{index}]", problems)
        members = list(dict.fromkeys(ev.members))
        if not members:
            problems.append(Problem(where, "the event holds nothing canal can convert"))
            return None
        payload: dict[str, Any] = {
            "uuid": misp_uuid,
            "date": _stamp(day)[:10],
            "timestamp": modified_ms // 1000,
            "published": published,
            "publish_timestamp": publish,
        }
        # Distribution is not kept: it is in the handling, and the export derives it from there.
        for key in ("threat_level_id", "analysis"):
            number = _int(raw.get(key))
            if number is not None:
                payload[key] = number
        orgc = raw.get("Orgc")
        if isinstance(orgc, dict) and isinstance(orgc.get("name"), str):
            payload["orgc"] = {k: orgc[k] for k in ("name", "uuid") if isinstance(orgc.get(k), str)}
        if event_galaxies:
            payload["galaxies"] = [cluster for _, cluster in event_galaxies]
        if isinstance(raw.get("extends_uuid"), str) and raw["extends_uuid"]:
            payload["extends_uuid"] = raw["extends_uuid"]
        container: dict[str, Any] = {
            "type": container_type,
            "spec_version": "2.1",
            "id": container_id,
        }
        if ev.creator_id:
            container["created_by_ref"] = ev.creator_id
        container["created"] = _stamp(ev.created)
        container["modified"] = _stamp(ev.modified)
        container["name"] = info
        if published:
            container["published"] = _stamp(publish * 1000 if publish else ev.modified)
            container["report_types"] = ["threat-report"]
        else:
            container["context"] = "suspicious-activity"
        container["object_refs"] = members
        if labels:
            container["labels"] = labels
        container["x_misp_event"] = payload
        return [_apply(container, ev.stamp), *ev.out]

    def _misp_stix_header(self, raw: dict[str, Any], event_uuid: str) -> dict[str, Any]:
        header: dict[str, Any] = {
            "uuid": event_uuid,
            "info": "canal",
            "date": "2000-01-01",
            "timestamp": "946684800",
            "published": True,
            "publish_timestamp": "946684800",
            "threat_level_id": "4",
            "analysis": "0",
            "distribution": "0",
        }
        orgc = raw.get("Orgc")
        if isinstance(orgc, dict) and isinstance(orgc.get("name"), str):
            header["Orgc"] = {
                "name": orgc["name"],
                "uuid": orgc.get("uuid") or derived_uuid(orgc["name"]),
            }
        return header

    def _creator(self, orgc: Any, stamp: Stamp) -> tuple[str, list[dict[str, Any]]] | None:
        """The identity of an org (Orgc, a sighter), and what to emit: the identity unless it
        already went out."""
        if not isinstance(orgc, dict) or not isinstance(orgc.get("name"), str):
            return None
        name = orgc["name"].strip()
        if not name:
            return None
        org_uuid = stix_uuid(orgc.get("uuid")) or derived_uuid("org", name)
        identity = {
            "type": "identity",
            "spec_version": "2.1",
            "id": f"identity--{org_uuid}",
            "created": REFERENCE_EPOCH,
            "modified": REFERENCE_EPOCH,
            "name": name,
            "identity_class": "organization",
        }
        if identity["id"] in self.emitted:
            return identity["id"], []
        self._mark(identity["id"])
        return identity["id"], [_apply(identity, stamp)]

    def _distribution(
        self,
        raw: dict[str, Any],
        where: str,
        problems: list[Problem],
        *,
        level: str,
        group: dict[str, Any] | None = None,
        event: _Event | None = None,
    ) -> DistMarks:
        value = raw.get("distribution")
        if value is None:
            return _INHERIT
        number = _int(value)
        highest = 4 if level == "event" else 5
        if number is None or not 0 <= number <= highest:
            problems.append(
                Problem(
                    where,
                    f"distribution: {value!r} is not 0-{highest}; read as 0 (your organisation)",
                    dropped=False,
                )
            )
            number = 0
        if number == 5:
            return _INHERIT
        if number < 4:
            return DISTRIBUTION_MARKS[number]
        own = raw.get("SharingGroup") if isinstance(raw.get("SharingGroup"), dict) else None
        if own is None and group is not None:
            own = group
        # Local ids mean nothing across instances, but within one document they agree.
        if (
            own is None
            and event is not None
            and event.group is not None
            and _int(raw.get("sharing_group_id")) == event.group_id
        ):
            own = event.group
        return self._sharing_group(own, where, problems)

    def _sharing_group(
        self, group: dict[str, Any] | None, where: str, problems: list[Problem]
    ) -> DistMarks:
        if group is None:
            problems.append(
                Problem(
                    where,
                    "distribution 4 without its SharingGroup: kept as TLP:AMBER+STRICT",
                    dropped=False,
                )
            )
            return _UNRESOLVED_GROUP
        names: list[str] = []
        owner = group.get("Organisation")
        if isinstance(owner, dict) and isinstance(owner.get("name"), str):
            names.append(owner["name"])
        for member in _list(group.get("SharingGroupOrg")):
            org = member.get("Organisation") if isinstance(member, dict) else None
            if isinstance(org, dict) and isinstance(org.get("name"), str):
                names.append(org["name"])
        matched = [self.orgs[n.strip().lower()] for n in names if n.strip().lower() in self.orgs]
        label = group.get("name") or group.get("uuid") or "?"
        if not matched:
            problems.append(
                Problem(
                    where,
                    f"sharing group {label!r}: none of its orgs is a canal org; "
                    "kept as TLP:AMBER+STRICT",
                    dropped=False,
                )
            )
            return _UNRESOLVED_GROUP
        partners = any(kind is OrgKind.PARTNER for _, kind in matched)
        return DistMarks(
            None,
            Audience.PARTNERS if partners else Audience.LAW_ENFORCEMENT,
            frozenset(name for name, _ in matched),
        )

    # -- attributes --------------------------------------------------------------------------

    def _read_attribute(
        self,
        ev: _Event,
        raw: Any,
        at: tuple[str, int],
        problems: list[Problem],
        *,
        parent_tags: TagMarks,
        parent_dist: DistMarks,
        parent_stamp: Stamp,
        parent_modified: int,
    ) -> _Item | None:
        """One attribute, checked; None when it is dropped (a problem says why). On the hot
        path: the place it came from is only spelt out when there is a problem."""
        if not isinstance(raw, dict):
            where = f"{at[0]}[{at[1]}]"
            problems.append(Problem(where, f"an attribute must be a JSON object, not {_kind(raw)}"))
            return None
        misp_uuid = raw.get("uuid")
        own_uuid = stix_uuid(misp_uuid)
        if own_uuid is None:
            where = f"{at[0]}[{at[1]}]"
            problems.append(Problem(where, f"uuid: {misp_uuid!r} is missing or not a uuid"))
            return None
        misp_type = raw.get("type")
        if misp_type not in known_types():
            problems.append(
                Problem(_where(at, misp_uuid), f"type: {misp_type!r} is not a MISP attribute type")
            )
            return None
        value = raw.get("value")
        if type(value) is not str:
            value = _str(value)
        if not value or not value.strip():
            problems.append(
                Problem(_where(at, misp_uuid), f"value: missing or empty for {misp_type}")
            )
            return None
        if "|" in misp_type and "|" not in value and misp_type != "malware-sample":
            problems.append(
                Problem(
                    _where(at, misp_uuid),
                    f"{misp_type} needs a composite value 'a|b', got {value!r}",
                )
            )
            return None
        raw_to_ids = raw.get("to_ids")
        to_ids = raw_to_ids if type(raw_to_ids) is bool else _bool(raw_to_ids)
        if to_ids is None:
            if raw_to_ids is not None:
                problems.append(
                    Problem(
                        _where(at, misp_uuid),
                        f"to_ids: {raw_to_ids!r} read as false",
                        dropped=False,
                    )
                )
            to_ids = False
        deleted = raw.get("deleted") is True or bool(_bool(raw.get("deleted")))
        stamp_s = _int(raw.get("timestamp"))
        modified = stamp_s * 1000 if stamp_s is not None else parent_modified
        created = min(ev.created, modified)
        if deleted:
            modified += 1  # a revocation must be a later version than what it revokes
        raw_tags = raw.get("Tag")
        distribution = raw.get("distribution")
        if not raw_tags and (distribution is None or distribution in _INHERITING):
            tags, labels, dist, stamp = parent_tags, _NO_LABELS, parent_dist, parent_stamp
        else:
            own_tags, labels = read_tags(raw_tags)
            tags = own_tags.over(parent_tags)
            dist = parent_dist.stricter(
                self._distribution(
                    raw, _where(at, misp_uuid), problems, level="attribute", event=ev
                )
            )
            stamp = stamp_for(tags, dist)
        payload: dict[str, Any] = {"type": misp_type, "value": value}
        if misp_uuid != own_uuid:
            payload["uuid"] = misp_uuid
        category = raw.get("category")
        if category and category != default_category(misp_type):
            payload["category"] = category
        for key in ("comment", "object_relation", "first_seen", "last_seen"):
            found = raw.get(key)
            if found:
                payload[key] = found
        first_seen = _seen_millis(payload.get("first_seen"))
        last_seen = _seen_millis(payload.get("last_seen"))
        if raw.get("disable_correlation") is True:
            payload["disable_correlation"] = True
        return _Item(
            misp_uuid=str(misp_uuid),
            uuid=own_uuid,
            type=misp_type,
            value=value,
            to_ids=to_ids,
            deleted=deleted,
            created=created,
            modified=modified,
            first_seen=first_seen,
            last_seen=last_seen,
            tags=tags,
            dist=dist,
            stamp=stamp,
            labels=labels,
            payload=payload,
            raw=raw,
            at=at,
        )

    def _attribute(
        self, ev: _Event, raw: Any, at: tuple[str, int], problems: list[Problem]
    ) -> None:
        item = self._read_attribute(
            ev,
            raw,
            at,
            problems,
            parent_tags=ev.tags,
            parent_dist=ev.dist,
            parent_stamp=ev.stamp,
            parent_modified=ev.modified,
        )
        if item is None:
            return
        stamp = item.stamp
        if "data" in item.raw and not _data_ok(item.raw["data"]):
            problems.append(
                Problem(
                    item.where,
                    "data: not valid base64; the attribute is kept without it",
                    dropped=False,
                )
            )
            item = replace(item, raw={k: v for k, v in item.raw.items() if k != "data"})
        galaxies = item.raw.get("Galaxy")
        clusters = self._item_galaxies(ev, item, stamp, problems) if galaxies else []
        fast = FAST_TYPES.get(item.type)
        if fast is not None:
            objects = self._fast_attribute(ev, item, fast, stamp, problems)
        else:
            objects = self._exotic_attribute(ev, item, stamp, problems)
        if objects is None:
            return
        primary = objects[0]["id"] if fast is not None else _primary(objects, item.uuid)
        ev.primaries[item.misp_uuid] = (primary, stamp)
        self._emit(ev, objects)
        if clusters or item.raw.get("Sighting"):
            self._attached(ev, item, primary, clusters=clusters, stamp=stamp, problems=problems)

    def _fast_attribute(
        self,
        ev: _Event,
        item: _Item,
        fast: tuple[Callable[[str], str], Callable[[str], Observed]],
        stamp: Stamp,
        problems: list[Problem],
    ) -> list[dict[str, Any]] | None:
        """canal's own conversion; None when the value is dropped (a problem says why)."""
        pattern_of, observed_of = fast
        try:
            if item.to_ids:
                return [self._indicator(ev, item, pattern_of(item.value), stamp)]
            observed = observed_of(item.value)
        except InvalidValue as exc:
            if exc.hard:
                problems.append(Problem(item.where, f"value: {exc}"))
                return None
            problems.append(
                Problem(item.where, f"{exc}; kept as a custom x-misp-attribute", dropped=False)
            )
            return [self._custom_attribute(ev, item, stamp)]
        out = [self._observed_data(ev, item, observed.refs, stamp)]
        if not item.deleted:
            out.extend(
                _apply(sco, stamp) for sco in observed.objects if sco["id"] not in self.emitted
            )
            for sco in observed.objects:
                self._mark(sco["id"])
        ev.members.extend(observed.refs)
        return out

    def _common(self, ev: _Event, item: _Item, stix_type: str) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "type": stix_type,
            "spec_version": "2.1",
            "id": f"{stix_type}--{item.uuid}",
        }
        if ev.creator_id:
            obj["created_by_ref"] = ev.creator_id
        obj["created"] = _stamp(item.created)
        obj["modified"] = _stamp(item.modified)
        return obj

    def _finish(self, obj: dict[str, Any], item: _Item, stamp: Stamp) -> dict[str, Any]:
        if item.labels:
            obj["labels"] = item.labels
        if item.deleted:
            obj["revoked"] = True
        obj["x_misp_attribute"] = item.payload
        return _apply(obj, stamp)

    def _indicator(self, ev: _Event, item: _Item, pattern: str, stamp: Stamp) -> dict[str, Any]:
        obj = self._common(ev, item, "indicator")
        obj["name"] = item.value if len(item.value) <= 256 else item.value[:253] + "..."
        comment = item.payload.get("comment")
        if comment:
            obj["description"] = comment
        obj["indicator_types"] = ["malicious-activity"]
        obj["pattern"] = pattern
        obj["pattern_type"] = "stix"
        valid_from = item.first_seen if item.first_seen is not None else item.created
        obj["valid_from"] = _stamp(valid_from)
        if item.last_seen is not None and item.last_seen > valid_from:
            obj["valid_until"] = _stamp(item.last_seen)
        return self._finish(obj, item, stamp)

    def _observed_data(
        self, ev: _Event, item: _Item, refs: list[str], stamp: Stamp
    ) -> dict[str, Any]:
        obj = self._common(ev, item, "observed-data")
        first = item.first_seen if item.first_seen is not None else item.modified
        last = item.last_seen if item.last_seen is not None and item.last_seen >= first else first
        obj["first_observed"] = _stamp(first)
        obj["last_observed"] = _stamp(last)
        obj["number_observed"] = 1
        obj["object_refs"] = refs
        return self._finish(obj, item, stamp)

    def _custom_attribute(self, ev: _Event, item: _Item, stamp: Stamp) -> dict[str, Any]:
        """canal's stand-in for what STIX has no form for: the attribute as a custom object."""
        item.payload["to_ids"] = item.to_ids
        obj = self._common(ev, item, "x-misp-attribute")
        obj["name"] = item.value if len(item.value) <= 256 else item.value[:253] + "..."
        return self._finish(obj, item, stamp)

    def _exotic_attribute(
        self, ev: _Event, item: _Item, stamp: Stamp, problems: list[Problem]
    ) -> list[dict[str, Any]]:
        """A type canal does not convert itself: misp-stix, checked; else the custom form."""
        if item.type == "uri" and not url_ok(item.value.strip()):
            # misp-stix writes relative URIs into url observables, which STIX refuses.
            if item.to_ids:
                return [self._indicator(ev, item, _url_pattern(item.value), stamp)]
            return [self._custom_attribute(ev, item, stamp)]
        item.payload["to_ids"] = item.to_ids
        cleaned = _clean_attribute(item.raw)
        adopted = self._adopt(
            ev,
            attributes=[cleaned],
            objects=[],
            item_uuid=item.uuid,
            created=item.created,
            modified=item.modified,
            valid_from=item.first_seen,
            valid_until=item.last_seen,
            revoked=item.deleted,
            labels=item.labels,
            payload=("x_misp_attribute", item.payload),
            stamp=stamp,
            where=item.where,
            problems=problems,
        )
        if adopted is not None:
            return adopted
        return [self._custom_attribute(ev, item, stamp)]

    def _adopt(
        self,
        ev: _Event,
        *,
        attributes: list[dict[str, Any]],
        objects: list[dict[str, Any]],
        item_uuid: str,
        created: int,
        modified: int,
        valid_from: int | None,
        valid_until: int | None,
        revoked: bool,
        labels: list[str],
        payload: tuple[str, dict[str, Any]],
        stamp: Stamp,
        where: str,
        problems: list[Problem],
    ) -> list[dict[str, Any]] | None:
        """misp-stix's conversion of one attribute or object, corrected: canal's timestamps,
        handling, labels and payload; content-derived observable ids. None when misp-stix
        raises, converts nothing, or leaves something the validator would refuse."""
        try:
            produced, messages = misp_stix_convert(
                ev.header, attributes=attributes, objects=objects
            )
        except Exception as exc:  # noqa: BLE001 - misp-stix raises anything; canal falls back
            problems.append(
                Problem(
                    where,
                    f"misp-stix failed ({type(exc).__name__}: {exc}); "
                    "converted by canal's generic form instead",
                    dropped=False,
                )
            )
            return None
        kept = [
            o
            for o in produced
            if o.get("type") not in _DROPPED_FROM_MISP_STIX and o.get("id") != f"note--{ev.uuid}"
        ]
        if not kept:
            detail = "; ".join(m.replace("\n", " ") for m in messages) or "nothing converted"
            problems.append(
                Problem(where, f"misp-stix: {detail}; kept as a custom object", dropped=False)
            )
            return None
        for obj in kept:
            _repair(obj)
        kept = deterministic_sco_ids(kept)
        first = _stamp(valid_from if valid_from is not None else created)
        out: list[dict[str, Any]] = []
        for obj in kept:
            obj.pop("object_marking_refs", None)
            obj.pop("granular_markings", None)
            if obj["type"] in SCO_TYPES or "created" not in obj:
                if obj["id"] in self.emitted:
                    ev.members.append(obj["id"])
                    continue
                self._mark(obj["id"])
                out.append(obj)
                continue
            obj.pop("labels", None)
            obj["created"] = _stamp(created)
            obj["modified"] = _stamp(modified)
            if ev.creator_id:
                obj["created_by_ref"] = ev.creator_id
            else:
                obj.pop("created_by_ref", None)
            if obj["type"] == "indicator":
                obj["valid_from"] = first
                if valid_until is not None and valid_until > (valid_from or created):
                    obj["valid_until"] = _stamp(valid_until)
                else:
                    obj.pop("valid_until", None)
            elif obj["type"] == "observed-data":
                obj["first_observed"] = first
                last = (
                    valid_until
                    if valid_until is not None and valid_until >= (valid_from or created)
                    else None
                )
                obj["last_observed"] = _stamp(last) if last is not None else first
            if obj["id"].endswith(item_uuid) and obj["type"] != "relationship":
                if labels:
                    obj["labels"] = labels
                obj[payload[0]] = payload[1]
            if revoked:
                obj["revoked"] = True
            out.append(obj)
        for obj in out:
            problem = stix_problem(obj)
            if problem is not None:
                for o in out:
                    self.emitted.discard(o["id"])
                problems.append(
                    Problem(
                        where,
                        f"misp-stix output refused ({obj['type']} {problem}); "
                        "converted by canal's generic form instead",
                        dropped=False,
                    )
                )
                return None
        if not any(o["id"].endswith(item_uuid) for o in out if o["type"] not in SCO_TYPES):
            problems.append(
                Problem(
                    where, "misp-stix gave no object for it; generic form instead", dropped=False
                )
            )
            return None
        return [_apply(o, stamp) for o in out]

    def _emit(self, ev: _Event, objects: list[dict[str, Any]]) -> None:
        ev.out.extend(objects)
        ev.members.extend(o["id"] for o in objects)

    def _item_galaxies(
        self, ev: _Event, item: _Item, stamp: Stamp, problems: list[Problem]
    ) -> list[tuple[str, str]]:
        """The attribute's galaxy clusters as objects, named in its payload for the export."""
        clusters = self._galaxies(ev, item.raw.get("Galaxy"), stamp, problems, item.where)
        if clusters:
            item.payload["galaxies"] = [cluster for _, cluster in clusters]
        return clusters

    def _attached(
        self,
        ev: _Event,
        item: _Item,
        primary: str,
        *,
        clusters: list[tuple[str, str]],
        stamp: Stamp,
        problems: list[Problem],
    ) -> None:
        """Links to the attribute's galaxy objects, and its sightings."""
        for sdo_id, _ in clusters:
            kind = (
                "indicates"
                if primary.startswith("indicator--") and sdo_id.split("--")[0] in _INDICATED
                else "related-to"
            )
            times = (item.created, item.modified)
            self._relationship(ev, primary, kind, sdo_id, times=times, stamp=stamp)
        for index, sighting in enumerate(_list(item.raw.get("Sighting"))):
            where = f"{item.where} Sighting[{index}]"
            self._sighting(
                ev,
                sighting,
                item=item,
                primary=primary,
                stamp=stamp,
                where=where,
                problems=problems,
            )

    def _relationship(
        self,
        ev: _Event,
        source: str,
        kind: str,
        target: str,
        *,
        times: tuple[int, int],
        stamp: Stamp,
        rel_uuid: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        rel: dict[str, Any] = {
            "type": "relationship",
            "spec_version": "2.1",
            "id": f"relationship--{rel_uuid or derived_uuid(source, kind, target)}",
        }
        if ev.creator_id:
            rel["created_by_ref"] = ev.creator_id
        created, modified = times
        rel["created"] = _stamp(min(created, modified))
        rel["modified"] = _stamp(modified)
        rel["relationship_type"] = kind
        rel["source_ref"] = source
        rel["target_ref"] = target
        if extra:
            rel.update(extra)
        self._emit(ev, [_apply(rel, stamp)])

    def _sighting(
        self,
        ev: _Event,
        raw: Any,
        *,
        item: _Item,
        primary: str,
        stamp: Stamp,
        where: str,
        problems: list[Problem],
    ) -> None:
        if not isinstance(raw, dict):
            problems.append(Problem(where, f"a sighting must be a JSON object, not {_kind(raw)}"))
            return
        kind = _int(raw.get("type"))
        kind = 0 if kind is None else kind
        seen = _int(raw.get("date_sighting"))
        seen_ms = seen * 1000 if seen is not None else item.modified
        source = str(raw["source"]) if isinstance(raw.get("source"), str) else ""
        org = raw.get("Organisation")
        org_name = org.get("name") if isinstance(org, dict) else None
        own = stix_uuid(raw.get("uuid")) or derived_uuid(
            "sighting", item.misp_uuid, str(seen_ms), source, str(org_name)
        )
        payload: dict[str, Any] = {
            "uuid": raw.get("uuid") or own,
            "type": kind,
            "date_sighting": seen_ms // 1000,
            "attribute_uuid": item.misp_uuid,
        }
        if source:
            payload["source"] = source
        if kind == 2:
            problems.append(Problem(where, "expiration sightings are not carried", dropped=False))
            return
        if kind == 1:
            obj: dict[str, Any] = {
                "type": "opinion",
                "spec_version": "2.1",
                "id": f"opinion--{own}",
                "created": _stamp(seen_ms),
                "modified": _stamp(seen_ms),
                "explanation": "MISP false-positive sighting" + (f" ({source})" if source else ""),
                "opinion": "strongly-disagree",
                "object_refs": [primary],
                "x_misp_sighting": payload,
            }
        else:
            obj = {
                "type": "sighting",
                "spec_version": "2.1",
                "id": f"sighting--{own}",
                "created": _stamp(seen_ms),
                "modified": _stamp(seen_ms),
                "first_seen": _stamp(seen_ms),
                "last_seen": _stamp(seen_ms),
                "count": 1,
                "sighting_of_ref": primary,
                "x_misp_sighting": payload,
            }
            if source:
                obj["description"] = source
            if isinstance(org_name, str) and org_name.strip():
                sighter = self._creator(org, stamp)
                if sighter:
                    obj["where_sighted_refs"] = [sighter[0]]
                    ev.members.append(sighter[0])
                    self._emit(ev, sighter[1])
        if ev.creator_id:
            obj["created_by_ref"] = ev.creator_id
        self._emit(ev, [_apply(obj, stamp)])

    # -- galaxies ----------------------------------------------------------------------------

    def _galaxies(
        self, ev: _Event, raw: Any, stamp: Stamp, problems: list[Problem], where: str
    ) -> list[tuple[str, str]]:
        """(STIX id, cluster uuid) of each cluster that names a STIX object kind."""
        found: list[tuple[str, str]] = []
        for galaxy in _list(raw):
            if not isinstance(galaxy, dict):
                problems.append(Problem(where, "Galaxy: an entry is not a JSON object"))
                continue
            meta = {
                k: galaxy[k]
                for k in ("uuid", "name", "type", "description", "version", "namespace")
                if k in galaxy and not isinstance(galaxy[k], dict | list)
            }
            for cluster in _list(galaxy.get("GalaxyCluster")):
                made = self._cluster(
                    ev,
                    cluster,
                    galaxy=galaxy,
                    meta=meta,
                    stamp=stamp,
                    problems=problems,
                    where=where,
                )
                if made is not None:
                    found.append(made)
        return found

    def _cluster(
        self,
        ev: _Event,
        cluster: Any,
        *,
        galaxy: dict[str, Any],
        meta: dict[str, Any],
        stamp: Stamp,
        problems: list[Problem],
        where: str,
    ) -> tuple[str, str] | None:
        if not isinstance(cluster, dict):
            problems.append(Problem(where, "GalaxyCluster: an entry is not a JSON object"))
            return None
        value = cluster.get("value")
        cluster_uuid = stix_uuid(cluster.get("uuid"))
        if not isinstance(value, str) or not value.strip() or cluster_uuid is None:
            problems.append(
                Problem(where, f"galaxy cluster {value!r}: needs a value and a uuid", dropped=False)
            )
            return None
        kind = str(cluster.get("type") or galaxy.get("type") or "")
        stix_type = GALAXY_OBJECT_TYPES.get(kind)
        if stix_type is None:
            return None  # its tag, when the event carries one, stays as a label
        sdo_id = f"{stix_type}--{cluster_uuid}"
        if sdo_id not in self.emitted:
            self._mark(sdo_id)
            self._emit(ev, [_apply(self._cluster_object(stix_type, sdo_id, meta, cluster), stamp)])
        else:
            ev.members.append(sdo_id)
        return sdo_id, str(cluster["uuid"])

    @staticmethod
    def _cluster_object(
        stix_type: str, sdo_id: str, meta: dict[str, Any], cluster: dict[str, Any]
    ) -> dict[str, Any]:
        sdo: dict[str, Any] = {
            "type": stix_type,
            "spec_version": "2.1",
            "id": sdo_id,
            "created": REFERENCE_EPOCH,
            "modified": REFERENCE_EPOCH,
            "name": cluster["value"].strip(),
        }
        if isinstance(cluster.get("description"), str) and cluster["description"]:
            sdo["description"] = cluster["description"]
        cluster_meta: dict[str, Any] = (
            cluster["meta"] if isinstance(cluster.get("meta"), dict) else {}
        )
        synonyms = [s for s in _list(cluster_meta.get("synonyms")) if isinstance(s, str) and s]
        if stix_type in _ALIASED and synonyms:
            sdo["aliases"] = synonyms
        if stix_type == "malware":
            sdo["is_family"] = True
        external = [
            {"source_name": "mitre-attack", "external_id": e}
            for e in _list(cluster_meta.get("external_id"))
            if isinstance(e, str) and e
        ]
        if external and stix_type in {"attack-pattern", "course-of-action"}:
            sdo["external_references"] = external
        if isinstance(cluster.get("tag_name"), str) and cluster["tag_name"]:
            sdo["labels"] = [cluster["tag_name"]]
        keep = {
            k: cluster[k]
            for k in (
                "uuid",
                "type",
                "value",
                "tag_name",
                "description",
                "source",
                "authors",
                "version",
                "meta",
            )
            if k in cluster
        }
        sdo["x_misp_galaxy"] = {"galaxy": meta, "cluster": keep}
        return sdo

    # -- objects -----------------------------------------------------------------------------

    def _object(self, ev: _Event, raw: Any, where: str, problems: list[Problem]) -> None:
        if not isinstance(raw, dict):
            problems.append(Problem(where, f"an object must be a JSON object, not {_kind(raw)}"))
            return
        misp_uuid = raw.get("uuid")
        own_uuid = stix_uuid(misp_uuid)
        name = raw.get("name")
        if own_uuid is None:
            problems.append(Problem(where, f"uuid: {misp_uuid!r} is missing or not a uuid"))
            return
        where = f"{where} ({misp_uuid})"
        if not isinstance(name, str) or not name.strip():
            problems.append(Problem(where, "name: missing; the object is not converted"))
            return
        stamp_s = _int(raw.get("timestamp"))
        modified = stamp_s * 1000 if stamp_s is not None else ev.modified
        created = min(ev.created, modified)
        deleted = bool(_bool(raw.get("deleted")))
        if deleted:
            modified += 1
        own_tags, labels = read_tags(raw.get("Tag"))
        tags = own_tags.over(ev.tags)
        dist = ev.dist.stricter(self._distribution(raw, where, problems, level="object", event=ev))
        object_stamp = stamp_for(tags, dist)
        items: list[_Item] = []
        raw_attributes = raw.get("Attribute", [])
        if not isinstance(raw_attributes, list):
            problems.append(Problem(where, "Attribute: not a list; the object has no attributes"))
            raw_attributes = []
        for index, attribute in enumerate(raw_attributes):
            item = self._read_attribute(
                ev,
                attribute,
                (f"{where} Attribute", index),
                problems,
                parent_tags=tags,
                parent_dist=dist,
                parent_stamp=object_stamp,
                parent_modified=modified,
            )
            if item is not None:
                items.append(item)
        if not items:
            problems.append(Problem(where, f"{name} object: no valid attribute"))
            return
        live = [i for i in items if not i.deleted]
        # An object whose every attribute is deleted is deleted itself.
        revoked = deleted or not live
        converted = live or items
        # One STIX form carries every attribute's value: it takes the strictest of them.
        stamp = _strictest(i.stamp for i in converted) or object_stamp
        clusters = {i.misp_uuid: self._item_galaxies(ev, i, stamp, problems) for i in live}
        payload: dict[str, Any] = {
            "uuid": misp_uuid,
            "name": name,
            "timestamp": stamp_s if stamp_s is not None else ev.modified // 1000,
        }
        for key in (
            "meta-category",
            "description",
            "template_uuid",
            "template_version",
            "comment",
            "first_seen",
            "last_seen",
        ):
            value = raw.get(key)
            if value not in (None, ""):
                payload[key] = value
        if deleted:
            payload["deleted"] = True
        payload["attributes"] = [self._object_attribute_payload(i) for i in items]
        first_seen = _seen_millis(raw.get("first_seen"))
        last_seen = _seen_millis(raw.get("last_seen"))
        cleaned = {
            **{k: raw[k] for k in _OBJECT_KEYS if raw.get(k) not in (None, "")},
            "Attribute": [_clean_attribute(i.raw) for i in converted],
        }
        cleaned["timestamp"] = str(modified // 1000)
        objects = self._adopt(
            ev,
            attributes=[],
            objects=[cleaned],
            item_uuid=own_uuid,
            created=created,
            modified=modified,
            valid_from=first_seen,
            valid_until=last_seen,
            revoked=revoked,
            labels=labels,
            payload=("x_misp_object", payload),
            stamp=stamp,
            where=where,
            problems=problems,
        )
        if objects is None:
            objects = self._generic_object(
                ev,
                own_uuid,
                times=(created, modified),
                deleted=revoked,
                live=converted,
                labels=labels,
                payload=payload,
                stamp=stamp,
            )
        primary = _primary(objects, own_uuid)
        ev.primaries[str(misp_uuid)] = (primary, stamp)
        for item in items:
            ev.primaries.setdefault(item.misp_uuid, (primary, stamp))
        self._emit(ev, objects)
        for item in live:
            self._attached(
                ev, item, primary, clusters=clusters[item.misp_uuid], stamp=stamp, problems=problems
            )
        for index, ref in enumerate(_list(raw.get("ObjectReference"))):
            at = f"{where} ObjectReference[{index}]"
            ev.references.append((ref, primary, stamp, at, modified))

    @staticmethod
    def _object_attribute_payload(item: _Item) -> dict[str, Any]:
        out = {"uuid": item.misp_uuid, **item.payload, "to_ids": item.to_ids}
        if item.deleted:
            out["deleted"] = True
        tags = [t.get("name") if isinstance(t, dict) else t for t in _list(item.raw.get("Tag"))]
        names = [t for t in tags if isinstance(t, str) and t]
        if names:
            out["tags"] = names
        return out

    def _generic_object(
        self,
        ev: _Event,
        own_uuid: str,
        *,
        times: tuple[int, int],
        deleted: bool,
        live: list[_Item],
        labels: list[str],
        payload: dict[str, Any],
        stamp: Stamp,
    ) -> list[dict[str, Any]]:
        """canal's own form of a MISP object: observed-data of the values STIX has
        observables for, or a custom x-misp-object when there are none."""
        scos: list[dict[str, Any]] = []
        refs: list[str] = []
        for item in live:
            fast = FAST_TYPES.get(item.type)
            if fast is None:
                continue
            try:
                observed = fast[1](item.value)
            except InvalidValue:
                continue
            scos.extend(observed.objects)
            refs.extend(observed.refs)
        refs = list(dict.fromkeys(refs))
        created, modified = times
        stix_type = "observed-data" if refs else "x-misp-object"
        obj: dict[str, Any] = {
            "type": stix_type,
            "spec_version": "2.1",
            "id": f"{stix_type}--{own_uuid}",
        }
        if ev.creator_id:
            obj["created_by_ref"] = ev.creator_id
        obj["created"] = _stamp(created)
        obj["modified"] = _stamp(modified)
        if refs:
            obj["first_observed"] = _stamp(modified)
            obj["last_observed"] = _stamp(modified)
            obj["number_observed"] = 1
            obj["object_refs"] = refs
        else:
            obj["name"] = payload["name"]
        if labels:
            obj["labels"] = labels
        if deleted:
            obj["revoked"] = True
        obj["x_misp_object"] = payload
        out = [_apply(obj, stamp)]
        for sco in scos:
            if sco["id"] in self.emitted:
                ev.members.append(sco["id"])
                continue
            self._mark(sco["id"])
            out.append(_apply(sco, stamp))
        return out

    def _reference(
        self,
        ev: _Event,
        raw: Any,
        *,
        source: tuple[str, Stamp],
        where: str,
        modified: int,
        problems: list[Problem],
    ) -> None:
        if not isinstance(raw, dict):
            problems.append(Problem(where, "a reference must be a JSON object"))
            return
        source_id, source_stamp = source
        target_uuid = raw.get("referenced_uuid")
        target = ev.primaries.get(str(target_uuid)) if target_uuid else None
        if target is None:
            problems.append(
                Problem(where, f"referenced_uuid: {target_uuid!r} is not in this event")
            )
            return
        stamp = _strictest([source_stamp, target[1]]) or ev.stamp
        stamp_s = _int(raw.get("timestamp"))
        ref_modified = stamp_s * 1000 if stamp_s is not None else modified
        deleted = bool(_bool(raw.get("deleted")))
        payload: dict[str, Any] = {
            "referenced_uuid": target_uuid,
            "relationship_type": raw.get("relationship_type") or "related-to",
        }
        for key in ("uuid", "object_uuid", "comment"):
            if isinstance(raw.get(key), str) and raw[key]:
                payload[key] = raw[key]
        extra: dict[str, Any] = {"x_misp_reference": payload}
        if isinstance(raw.get("comment"), str) and raw["comment"]:
            extra["description"] = raw["comment"]
        if deleted:
            extra["revoked"] = True
        self._relationship(
            ev,
            source_id,
            relationship_type(raw.get("relationship_type")),
            target[0],
            times=(ev.created, ref_modified + (1 if deleted else 0)),
            stamp=stamp,
            rel_uuid=stix_uuid(raw.get("uuid")),
            extra=extra,
        )

    def _event_report(
        self, ev: _Event, raw: Any, container_id: str, where: str, problems: list[Problem]
    ) -> None:
        if not isinstance(raw, dict):
            problems.append(Problem(where, "an event report must be a JSON object"))
            return
        own = stix_uuid(raw.get("uuid"))
        content = raw.get("content")
        if own is None or not isinstance(content, str) or not content.strip():
            problems.append(Problem(where, "event report: needs a uuid and some content"))
            return
        stamp_s = _int(raw.get("timestamp"))
        modified = stamp_s * 1000 if stamp_s is not None else ev.modified
        deleted = bool(_bool(raw.get("deleted")))
        dist = ev.dist.stricter(self._distribution(raw, where, problems, level="report", event=ev))
        note: dict[str, Any] = {"type": "note", "spec_version": "2.1", "id": f"note--{own}"}
        if ev.creator_id:
            note["created_by_ref"] = ev.creator_id
        note["created"] = _stamp(min(ev.created, modified))
        note["modified"] = _stamp(modified + (1 if deleted else 0))
        if isinstance(raw.get("name"), str) and raw["name"]:
            note["abstract"] = raw["name"]
        note["content"] = content
        note["object_refs"] = [container_id]
        if deleted:
            note["revoked"] = True
        note["x_misp_event_report"] = {k: raw[k] for k in ("uuid", "name") if k in raw}
        self._emit(ev, [_apply(note, stamp_for(ev.tags, dist))])


def _repair(obj: dict[str, Any]) -> None:
    """What misp-stix writes that STIX 2.1 does not allow and canal can set right."""
    if obj.get("type") == "windows-registry-key" and isinstance(obj.get("key"), str):
        obj["key"] = registry_key(obj["key"])  # MISP allows HKLM\...; STIX spells it out
    http = (obj.get("extensions") or {}).get("http-request-ext")
    if isinstance(http, dict) and isinstance(http.get("request_header"), dict):
        # STIX 2.1 header values are lists of strings; misp-stix writes STIX 2.0's strings.
        http["request_header"] = {
            k: v if isinstance(v, list) else [v] for k, v in http["request_header"].items()
        }


def _data_ok(data: Any) -> bool:
    if not isinstance(data, str):
        return False
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _primary(objects: list[dict[str, Any]], own_uuid: str) -> str:
    """The object that stands for an attribute or MISP object: the indicator, else the
    observed-data, else whatever else carries its uuid."""
    own = [
        str(o["id"]) for o in objects if o["id"].endswith(own_uuid) and o["type"] != "relationship"
    ]
    for prefix in ("indicator--", "observed-data--"):
        for stix_id in own:
            if stix_id.startswith(prefix):
                return stix_id
    non_sco = [str(o["id"]) for o in objects if o["type"] not in SCO_TYPES]
    return own[0] if own else non_sco[0] if non_sco else str(objects[0]["id"])


def _kind(value: Any) -> str:
    return type(value).__name__.replace("str", "string").replace("NoneType", "null")


# -- reading documents and feeds ---------------------------------------------------------------


def events_of(data: Any, *, where: str, problems: list[Problem]) -> Iterator[tuple[str, Any]]:
    """(where, event) for each event of a MISP document in any of its envelopes."""
    if isinstance(data, bytes | str):
        try:
            data = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise SubmissionError(where, f"not valid JSON ({exc})") from None
    if isinstance(data, dict) and "response" in data:
        response = data["response"]
        if isinstance(response, dict):
            response = [response]
        if not isinstance(response, list):
            raise SubmissionError(where, "'response' is neither a list nor an event")
        items = [(f"{where} response[{i}]", e) for i, e in enumerate(response)]
    elif isinstance(data, dict) and isinstance(data.get("Event"), list):
        items = [(f"{where} Event[{i}]", e) for i, e in enumerate(data["Event"])]
    elif isinstance(data, dict):
        items = [(where, data)]
    elif isinstance(data, list):
        items = [(f"{where}[{i}]", e) for i, e in enumerate(data)]
    else:
        raise SubmissionError(
            where, f"expected a MISP event or a list of events, got {_kind(data)}"
        )
    for at, item in items:
        event = item.get("Event", item) if isinstance(item, dict) else item
        if isinstance(event, dict) and not (event.keys() & {"uuid", "info", "Attribute", "Object"}):
            problems.append(Problem(at, "not a MISP event (no uuid, info, Attribute or Object)"))
            continue
        yield at, event


def misp_to_stix(
    data: bytes | str | dict[str, Any] | list[Any],
    *,
    orgs: Mapping[str, OrgKind] | None = None,
    where: str = "misp",
) -> MispConversion:
    """The STIX objects of every event in a MISP JSON document, with the problems met."""
    return MispConverter(orgs=orgs).convert(data, where=where)


def _is_url(location: str) -> bool:
    return urllib.parse.urlsplit(location).scheme in {"http", "https", "file"}


def _fetch(base: str, name: str, *, timeout: float, limit: int) -> bytes:
    """One file of a feed, from a directory or a URL."""
    if not _is_url(base):
        path = Path(base) / name
        if path.stat().st_size > limit:
            raise OSError(f"{name} is larger than {limit} bytes")
        return path.read_bytes()
    parts = urllib.parse.urlsplit(base)
    if parts.scheme == "file":
        return _fetch(urllib.request.url2pathname(parts.path), name, timeout=timeout, limit=limit)
    url = base.rstrip("/") + "/" + urllib.parse.quote(name)
    request = urllib.request.Request(url, headers={"User-Agent": "canal"})  # noqa: S310 - http(s) only, checked above
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - same
        body: bytes = response.read(limit + 1)
    if len(body) > limit:
        raise OSError(f"{name} is larger than {limit} bytes")
    return body


def is_feed_location(location: str) -> bool:
    """A directory, or a URL: where a MISP feed lives."""
    return _is_url(location) or Path(location).is_dir()


def misp_feed_events(
    location: str | Path, *, timeout: float = 30.0, limit: int = _MAX_FEED_FILE
) -> Iterator[tuple[str, dict[str, Any]] | Problem]:
    """The events of a MISP feed, one at a time: (where, event), or a Problem for an event
    that cannot be read (a file the manifest names but that is missing, bad JSON). Reads
    `manifest.json`; a directory without one is read as its `*.json` files.
    Raises SubmissionError when the feed itself cannot be read."""
    base = str(location)
    try:
        manifest_raw = _fetch(base, "manifest.json", timeout=timeout, limit=limit)
    except (OSError, ValueError) as exc:
        if _is_url(base) and not base.startswith("file:"):
            raise SubmissionError(base, f"cannot read the feed's manifest.json ({exc})") from None
        yield from _directory_events(base, exc)
        return
    try:
        manifest = orjson.loads(manifest_raw)
    except orjson.JSONDecodeError as exc:
        raise SubmissionError(f"{base} manifest.json", f"not valid JSON ({exc})") from None
    if not isinstance(manifest, dict):
        raise SubmissionError(f"{base} manifest.json", "expected an object keyed by event uuid")
    for event_uuid in manifest:
        name = f"{event_uuid}.json"
        where = f"{base} {name}"
        if stix_uuid(event_uuid) is None:
            yield Problem(f"{base} manifest.json", f"{event_uuid!r} is not an event uuid")
            continue
        try:
            body = _fetch(base, name, timeout=timeout, limit=limit)
        except (OSError, ValueError) as exc:
            yield Problem(where, f"the manifest names this event but it cannot be read ({exc})")
            continue
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            yield Problem(where, f"not valid JSON ({exc})")
            continue
        event = parsed.get("Event", parsed) if isinstance(parsed, dict) else parsed
        if not isinstance(event, dict):
            yield Problem(where, "not a MISP event")
            continue
        yield where, event


class MispFeedObjects:
    """A MISP feed's STIX objects, event by event (memory stays flat). Problems (an event that
    cannot be read or converted as it came) gather in `problems`; where the objects are read in
    a second process (ingest.aside), it hands them back."""

    def __init__(
        self, location: str | Path, converter: MispConverter, *, limit: int = _MAX_FEED_FILE
    ) -> None:
        self.location = location
        self.converter = converter
        self.limit = limit
        self.problems: list[Problem] = []

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for item in misp_feed_events(self.location, limit=self.limit):
            if isinstance(item, Problem):
                self.problems.append(item)
                continue
            converted = self.converter.convert_event(item[1], where=item[0])
            self.problems.extend(converted.problems)
            yield from converted.objects


def _directory_events(
    base: str, cause: Exception
) -> Iterator[tuple[str, dict[str, Any]] | Problem]:
    directory = Path(base)
    if _is_url(base):
        directory = Path(urllib.request.url2pathname(urllib.parse.urlsplit(base).path))
    if not directory.is_dir():
        raise SubmissionError(base, f"not a MISP feed: no manifest.json ({cause})")
    yield Problem(f"{base}", "no manifest.json: reading every *.json file", dropped=False)
    for path in sorted(directory.glob("*.json")):
        if path.name in {"manifest.json", "hashes.json"}:
            continue
        try:
            parsed = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            yield Problem(str(path), f"cannot be read as JSON ({exc})")
            continue
        problems: list[Problem] = []
        try:
            found = list(events_of(parsed, where=str(path), problems=problems))
        except SubmissionError as exc:
            yield Problem(str(path), exc.reason)
            continue
        yield from problems
        yield from found
