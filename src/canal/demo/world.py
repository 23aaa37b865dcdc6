"""The demo world: a year of cybercrime as STIX 2.1 objects, as the demo orgs would share it.

About 30 member countries, the secretariat and five private partners report on criminal
networks that run ransomware campaigns (families taken from the MISP ransomware galaxy). Each
network reuses its infrastructure (C2 addresses, domains, payloads, ransom wallets, e-mail
addresses) across its campaigns, and several sources report the same values in objects of their
own, so correlation has real networks to find. `World.networks` keeps the ground truth.

Everything comes from seeded `random.Random` instances and a fixed calendar (the year from
2026-01-01T00:00:00Z): the same seed, scale and galaxy data give byte-identical objects.
`World.batches()` streams one source org's objects at a time; only the skeleton (orgs, networks,
their campaigns and infrastructure) is held for the whole world.

Incidents carry the ransomware facts of DOMAIN.md §4 as custom properties: `x_ransomware_family`,
`x_victim_country`, `x_victim_sector`, `x_initial_access_vector`, `x_extortion`,
`x_ransom_demanded` and `x_first_intrusion`. Crypto wallets are the custom observable
`x-crypto-wallet` (`value`, `chain`).
"""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Final, TypeVar

import orjson

from canal.model.extension import CANAL_EXTENSION_ID
from canal.model.handling import (
    Audience,
    Confidentiality,
    Credibility,
    HandlingDefaults,
    Pap,
    Purpose,
    Reliability,
    Tlp,
)
from canal.model.org import OrgKind
from canal.model.stix import TLP2_MARKING_IDS

DEFAULT_SEED: Final = 2021
BASE_DATE: Final = datetime(2026, 1, 1, tzinfo=UTC)
SECRETARIAT: Final = "Secretariat"

#: The STIX 2.1 namespace for deterministic observable ids (section 2.9).
SCO_NAMESPACE: Final = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")

_DAY: Final = 86_400_000  # milliseconds
_YEAR: Final = 365 * _DAY
# Indicators may stay valid up to a year after the demo year ends.
_CALENDAR_DAYS: Final = 2 * 366
_BATCH_OBJECTS: Final = 1_000
_NETWORKS_PER_SCALE: Final = 14
#: Draws in a row of addresses already used before _Mint takes the wider range.
_TAKEN_BEFORE_WIDENING: Final = 64


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# country, NCB city, country name, STIX region, zone, activity weight
_MEMBERS: Final = (
    ("US", "Washington", "United States", "northern-america", "americas", 10),
    ("CA", "Ottawa", "Canada", "northern-america", "americas", 5),
    ("BR", "Brasilia", "Brazil", "south-america", "americas", 5),
    ("MX", "Mexico City", "Mexico", "central-america", "americas", 3),
    ("AR", "Buenos Aires", "Argentina", "south-america", "americas", 3),
    ("CO", "Bogota", "Colombia", "south-america", "americas", 2),
    ("GB", "London", "United Kingdom", "northern-europe", "europe", 9),
    ("FR", "Paris", "France", "western-europe", "europe", 8),
    ("DE", "Wiesbaden", "Germany", "western-europe", "europe", 9),
    ("IT", "Rome", "Italy", "southern-europe", "europe", 6),
    ("ES", "Madrid", "Spain", "southern-europe", "europe", 6),
    ("NL", "The Hague", "Netherlands", "western-europe", "europe", 6),
    ("PL", "Warsaw", "Poland", "eastern-europe", "europe", 4),
    ("SE", "Stockholm", "Sweden", "northern-europe", "europe", 3),
    ("RO", "Bucharest", "Romania", "eastern-europe", "europe", 3),
    ("JP", "Tokyo", "Japan", "eastern-asia", "asia", 6),
    ("KR", "Seoul", "Korea, Republic of", "eastern-asia", "asia", 5),
    ("IN", "New Delhi", "India", "southern-asia", "asia", 5),
    ("SG", "Singapore", "Singapore", "south-eastern-asia", "asia", 5),
    ("ID", "Jakarta", "Indonesia", "south-eastern-asia", "asia", 3),
    ("PH", "Manila", "Philippines", "south-eastern-asia", "asia", 2),
    ("NG", "Abuja", "Nigeria", "western-africa", "africa", 4),
    ("ZA", "Pretoria", "South Africa", "southern-africa", "africa", 4),
    ("KE", "Nairobi", "Kenya", "eastern-africa", "africa", 3),
    ("MA", "Rabat", "Morocco", "northern-africa", "africa", 2),
    ("AU", "Canberra", "Australia", "australia-new-zealand", "oceania", 6),
    ("NZ", "Wellington", "New Zealand", "australia-new-zealand", "oceania", 2),
    ("AE", "Abu Dhabi", "United Arab Emirates", "western-asia", "middle-east", 4),
    ("TR", "Ankara", "Turkey", "western-asia", "middle-east", 3),
    ("JO", "Amman", "Jordan", "western-asia", "middle-east", 2),
)
_ZONES: Final = (
    ("europe", 35),
    ("americas", 30),
    ("asia", 15),
    ("africa", 7),
    ("oceania", 7),
    ("middle-east", 6),
)

# name, profile, STIX sector; invented companies
_PARTNERS: Final = (
    ("Bluefen Security Research", "vendor", "technology"),
    ("Kestrelmark Threat Intelligence", "vendor", "technology"),
    ("Orrin Vale Bank", "bank", "financial-services"),
    ("Stratoline Hosting", "hosting", "technology"),
    ("Coinmere Exchange", "exchange", "financial-services"),
)
# How likely each partner profile is to see a given network.
_PARTNER_REACH: Final = {"vendor": 0.6, "bank": 0.35, "hosting": 0.45, "exchange": 0.5}

# STIX industry-sector-ov values, with the label used in names, and how often they are hit.
_SECTORS: Final = (
    ("healthcare", "Healthcare", 14),
    ("manufacturing", "Manufacturing", 16),
    ("education", "Education", 10),
    ("government-local", "Local government", 9),
    ("financial-services", "Financial services", 7),
    ("technology", "Technology", 9),
    ("retail", "Retail", 8),
    ("construction", "Construction", 7),
    ("transportation", "Transport", 6),
    ("utilities", "Utilities", 4),
    ("energy", "Energy", 3),
    ("telecommunications", "Telecommunications", 3),
    ("hospitality-leisure", "Hospitality", 3),
    ("non-profit", "Non-profit", 2),
)
_ACCESS_VECTORS: Final = _words(
    "phishing exposed-rdp-vpn vulnerability-exploit valid-accounts supply-chain other"
)

# Known-benign values that show up in reports of unrelated networks (resolvers a sample
# queried, the empty file); correlation must not join networks through them.
_BENIGN_IPS: Final = ("8.8.8.8", "1.1.1.1", "9.9.9.9", "208.67.222.222")
_EMPTY_MD5: Final = "d41d8cd98f00b204e9800998ecf8427e"
_EMPTY_SHA256: Final = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

_WORDS: Final = _words(
    "update secure cdn login portal sync cloud files support mail api static track auth "
    "docs share vpn pay office service"
)
_HANDLES: Final = _words(
    "nightowl coldwire bytecrow silentfox ironmoth redkite glassfrog lowtide greyfin darkreed"
)
_CODENAME_A: Final = _words(
    "Amber Copper Slate Ivory Cobalt Ochre Umber Russet Pewter Saffron Teal Cinder"
)
_CODENAME_B: Final = _words(
    "Lantern Heron Quarry Orchard Anvil Harbour Thicket Beacon Spindle Furrow Marten Cairn"
)
_FILE_NAMES: Final = _words(
    "svchost_update.exe locker.exe encryptor.bin setup_x64.dll invoice_2026.pdf.exe "
    "payload.ps1 loader.dll decryptor_test.exe"
)
_URL_PATHS: Final = _words(
    "gate.php panel/login dl/update.bin invoice.zip files/payload.ps1 chat api/v2/beacon"
)
_BECH32: Final = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BASE58: Final = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_ALNUM: Final = "abcdefghijklmnopqrstuvwxyz0123456789"
_MONTHS: Final = _words(
    "January February March April May June July August September October November December"
)
# Galaxy entries that are jokes, fakes or notes rather than families.
_NOT_A_FAMILY: Final = re.compile(
    r"fake|fuck|official name|exercise|joke|prank|[\"?]", re.IGNORECASE
)

_DAY_PREFIXES: Final = tuple(
    (BASE_DATE + timedelta(days=d)).strftime("%Y-%m-%dT") for d in range(_CALENDAR_DAYS)
)


def timestamp(ms: int) -> str:
    """A STIX timestamp `ms` milliseconds after the base date, millisecond precision."""
    day, rest = divmod(ms, _DAY)
    hours, rest = divmod(rest, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{_DAY_PREFIXES[day]}{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}Z"


_UUID4_CLEAR: Final = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET: Final = (4 << 76) | (0x8000 << 48)


def _uuid4(rng: random.Random) -> str:
    """`str(uuid.UUID(int=rng.getrandbits(128), version=4))`, at a third of the cost: ids are
    most of the work of generating a large world."""
    n = f"{rng.getrandbits(128) & _UUID4_CLEAR | _UUID4_SET:032x}"
    return f"{n[:8]}-{n[8:12]}-{n[12:16]}-{n[16:20]}-{n[20:]}"


def sco_id(stix_type: str, contributing: dict[str, Any]) -> str:
    """The deterministic id STIX 2.1 gives an observable: UUIDv5 over the canonical JSON of its
    id-contributing properties. The same value gets the same id from every source."""
    name = orjson.dumps(contributing, option=orjson.OPT_SORT_KEYS).decode()
    return f"{stix_type}--{uuid.uuid5(SCO_NAMESPACE, name)}"


# The world's public shape


@dataclass(frozen=True, slots=True)
class OrgSpec:
    """A demo org: what `canal org add` needs, plus the identity its objects are created by."""

    name: str
    kind: OrgKind
    country: str | None
    #: member, secretariat, vendor, bank, hosting or exchange
    profile: str
    identity_id: str
    defaults: HandlingDefaults


@dataclass(frozen=True, slots=True)
class Batch:
    """Objects one source org submits together. Objects share their handling dicts: treat them
    as read-only."""

    source: OrgSpec
    objects: list[dict[str, Any]]


@dataclass(slots=True)
class Network:
    """Ground truth for one criminal network.

    `infrastructure` is fixed when the world is built; `values`, `sources` and `stix_ids` fill
    in as batches are generated and are complete once `World.batches()` has run to the end.
    Values are observable keys such as ``ipv4:203.0.113.7``, ``domain:x.example``, ``url:...``,
    ``email:...``, ``md5:...``, ``sha256:...`` and ``wallet:...``; known-benign values are in
    `World.benign`, never here.
    """

    id: str
    family: str
    intrusion_set: str
    infrastructure: frozenset[str]
    values: set[str] = field(default_factory=set)
    sources: set[str] = field(default_factory=set)
    #: Every object built around the network (with `track_ids`): its intrusion set, malware,
    #: campaigns, victims, incidents, indicators, observables, sightings and relationships.
    stix_ids: set[str] = field(default_factory=set)


# The skeleton


@dataclass(frozen=True, slots=True)
class _Value:
    kind: str  # ipv4, domain, url, email, file, wallet
    role: str
    keys: tuple[str, ...]
    sco: dict[str, Any]
    pattern: str
    label: str
    personal: bool = False


@dataclass(frozen=True, slots=True)
class _Family:
    name: str
    aliases: tuple[str, ...]
    galaxy_uuid: str
    malware_id: str


@dataclass(slots=True)
class _Campaign:
    id: str
    name: str
    start: int
    end: int
    values: list[_Value]
    by_kind: dict[str, list[_Value]]


@dataclass(slots=True)
class _Plan:
    network: Network
    family: _Family
    intrusion_set_id: str
    designation: str
    zone: str
    campaigns: list[_Campaign]
    anchors: dict[str, _Value]


@lru_cache(maxsize=1)
def galaxy_families() -> tuple[tuple[str, tuple[str, ...], str], ...]:
    """(name, synonyms, uuid) of the ransomware families in the MISP galaxy, entries with
    synonyms first, each group sorted by uuid so that seeded picks do not depend on file order."""
    from pymispgalaxies.api import Clusters  # noqa: PLC0415 - loading the galaxies takes ~2 s

    cluster = Clusters().get("ransomware")
    if cluster is None:
        raise RuntimeError("the MISP galaxy data has no ransomware cluster")
    rows: list[tuple[bool, str, str, tuple[str, ...]]] = []
    for entry in cluster.values():
        name = str(entry.value).strip()
        if len(name) < 3 or _NOT_A_FAMILY.search(name):
            continue
        raw = entry.meta.synonyms if entry.meta is not None and entry.meta.synonyms else ()
        synonyms = tuple(sorted({str(s).strip() for s in raw} - {name, ""}))
        rows.append((not synonyms, str(entry.uuid), name, synonyms))
    rows.sort()
    return tuple((name, synonyms, uid) for _, uid, name, synonyms in rows)


class _Mint:
    """Makes fresh infrastructure values, never the same twice in one world."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()
        # Documentation ranges first (RFC 5737); then the benchmarking range (RFC 2544), which
        # is as unroutable and large enough for a million-object world.
        doc = [
            f"{net}.{host}"
            for net in ("192.0.2", "198.51.100", "203.0.113")
            for host in range(1, 255)
        ]
        rng.shuffle(doc)
        self.doc_ips = doc
        # The benchmarking range holds 130,048 addresses: a world past a scale of about 1,000
        # fills it, and drawing there would never end. After this many draws in a row that
        # were taken, addresses come from the shared address space (RFC 6598, as unroutable
        # and on a warninglist alike, 4M addresses); smaller worlds never get there and stay
        # as they were.
        self.taken_in_a_row = 0
        self.wide = False

    def _fresh(self, key: str) -> bool:
        if key in self.used:
            return False
        self.used.add(key)
        return True

    def _alnum(self, n: int) -> str:
        return "".join(self.rng.choices(_ALNUM, k=n))

    def ipv4(self, role: str) -> _Value:
        while True:
            rng = self.rng
            if self.doc_ips:
                ip = self.doc_ips.pop()
            elif self.wide:
                ip = f"100.{64 + rng.randrange(64)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
            else:
                ip = f"198.{18 + rng.randrange(2)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
            if self._fresh(f"ipv4:{ip}"):
                self.taken_in_a_row = 0
                return _simple("ipv4", "ipv4-addr", ip, role, f"{role} {ip}")
            self.taken_in_a_row += 1
            self.wide = self.wide or self.taken_in_a_row >= _TAKEN_BEFORE_WIDENING

    def domain(self, role: str) -> _Value:
        rng = self.rng
        while True:
            shape = rng.random()
            if shape < 0.4:
                name = f"{rng.choice(_WORDS)}-{rng.choice(_WORDS)}{rng.randrange(10, 100)}.example"
            elif shape < 0.75:
                name = f"{rng.choice(_WORDS)}{self._alnum(5)}.test"
            else:
                name = f"{''.join(rng.choices(_ALNUM[:26], k=11))}.com"
            if self._fresh(f"domain:{name}"):
                return _simple("domain", "domain-name", name, role, f"{role} {name}")

    def url(self, role: str, host: str) -> _Value:
        while True:
            scheme = "https" if self.rng.random() < 0.6 else "http"
            path = self.rng.choice(_URL_PATHS)
            value = f"{scheme}://{host}/{path}?id={self._alnum(6)}"
            if self._fresh(f"url:{value}"):
                return _simple("url", "url", value, role, f"{role} {value}")

    def email(self, role: str, domain: str, *, personal: bool) -> _Value:
        while True:
            local = f"{self.rng.choice(_HANDLES)}{self.rng.randrange(10, 1000)}"
            value = f"{local}@{domain}"
            if self._fresh(f"email:{value}"):
                sco = {
                    "type": "email-addr",
                    "spec_version": "2.1",
                    "id": sco_id("email-addr", {"value": value}),
                    "value": value,
                }
                pattern = f"[email-addr:value = '{value}']"
                keys = (f"email:{value}",)
                return _Value("email", role, keys, sco, pattern, f"{role} {value}", personal)

    def file(self, role: str) -> _Value:
        rng = self.rng
        md5 = f"{rng.getrandbits(128):032x}"
        sha256 = f"{rng.getrandbits(256):064x}"
        name = rng.choice(_FILE_NAMES)
        self.used.add(f"sha256:{sha256}")
        hashes = {"MD5": md5, "SHA-256": sha256}
        sco = {
            "type": "file",
            "spec_version": "2.1",
            "id": sco_id("file", {"hashes": {"MD5": md5}, "name": name}),
            "hashes": hashes,
            "name": name,
            "size": rng.randrange(20_000, 4_000_000),
        }
        if rng.random() < 0.3:
            pattern = f"[file:hashes.MD5 = '{md5}' OR file:hashes.'SHA-256' = '{sha256}']"
        else:
            pattern = f"[file:hashes.'SHA-256' = '{sha256}']"
        keys = (f"sha256:{sha256}", f"md5:{md5}")
        return _Value("file", role, keys, sco, pattern, f"{role} {name} ({sha256[:12]}...)")

    def wallet(self, role: str) -> _Value:
        rng = self.rng
        while True:
            pick = rng.random()
            if pick < 0.7:
                chain, address = "bitcoin", "bc1q" + "".join(rng.choices(_BECH32, k=38))
            elif pick < 0.9:
                chain, address = "monero", "4" + "".join(rng.choices(_BASE58, k=94))
            else:
                chain, address = "ethereum", "0x" + f"{rng.getrandbits(160):040x}"
            if self._fresh(f"wallet:{address}"):
                break
        sco = {
            "type": "x-crypto-wallet",
            "spec_version": "2.1",
            "id": sco_id("x-crypto-wallet", {"value": address}),
            "value": address,
            "chain": chain,
        }
        pattern = f"[x-crypto-wallet:value = '{address}']"
        label = f"{role} ({chain}) {address}"
        return _Value("wallet", role, (f"wallet:{address}",), sco, pattern, label)


def _simple(kind: str, stix_type: str, value: str, role: str, label: str) -> _Value:
    sco = {
        "type": stix_type,
        "spec_version": "2.1",
        "id": sco_id(stix_type, {"value": value}),
        "value": value,
    }
    pattern = f"[{stix_type}:value = '{value}']"
    return _Value(kind, role, (f"{kind}:{value}",), sco, pattern, label)


def _benign_values() -> tuple[_Value, ...]:
    values = [_simple("ipv4", "ipv4-addr", ip, "Resolver", f"Resolver {ip}") for ip in _BENIGN_IPS]
    empty = {
        "type": "file",
        "spec_version": "2.1",
        "id": sco_id("file", {"hashes": {"MD5": _EMPTY_MD5}}),
        "hashes": {"MD5": _EMPTY_MD5, "SHA-256": _EMPTY_SHA256},
        "size": 0,
    }
    values.append(
        _Value(
            "file",
            "Dropped file",
            (f"sha256:{_EMPTY_SHA256}", f"md5:{_EMPTY_MD5}"),
            empty,
            f"[file:hashes.'SHA-256' = '{_EMPTY_SHA256}']",
            "Dropped file (empty)",
        )
    )
    return tuple(values)


# Handling, as each kind of source tends to set it


@dataclass(frozen=True, slots=True)
class _Handling:
    markings: list[str] | None
    extensions: dict[str, Any]
    #: The same handling for values that are personal data (e-mail addresses of suspects).
    personal: dict[str, Any]


_T = TypeVar("_T")


def _weighted(rng: random.Random, items: Sequence[tuple[_T, int | float]]) -> _T:
    return rng.choices([item for item, _ in items], weights=[w for _, w in items])[0]


_LE_PURPOSES: Final = (
    Purpose.CRIMINAL_INVESTIGATION,
    Purpose.THREAT_ANALYSIS,
    Purpose.WARNING,
    Purpose.FORENSIC_ANALYSIS,
    Purpose.IDENTIFICATION,
    Purpose.LOCATE_ARREST,
    Purpose.SECURITY_CHECK,
)
_PARTNER_PURPOSES: Final = (
    Purpose.THREAT_ANALYSIS,
    Purpose.WARNING,
    Purpose.SECURITY_CHECK,
    Purpose.CRIMINAL_INVESTIGATION,
)


def _personal_variant(ext: dict[str, Any]) -> dict[str, Any]:
    personal = dict(ext)
    personal["personal_data"] = True
    personal["audience"] = Audience.LAW_ENFORCEMENT.value
    if personal["confidentiality"] == Confidentiality.OFFICIAL_USE.label:
        personal["confidentiality"] = Confidentiality.RESTRICTED.label
    purposes = set(personal["purposes"]) | {Purpose.IDENTIFICATION.value}
    personal["purposes"] = sorted(purposes)
    return {CANAL_EXTENSION_ID: personal}


def _member_handling(
    rng: random.Random, country: str, peers: Sequence[str], strangers: Sequence[str]
) -> _Handling:
    tlp: Tlp | None = _weighted(
        rng,
        [
            (Tlp.AMBER, 40),
            (Tlp.GREEN, 30),
            (Tlp.AMBER_STRICT, 9),
            (Tlp.RED, 7),
            (Tlp.CLEAR, 6),
            (None, 8),  # left to the org's defaults
        ],
    )
    strict = tlp in {Tlp.RED, Tlp.AMBER_STRICT}
    open_ = tlp in {Tlp.GREEN, Tlp.CLEAR}
    audience = Audience.PARTNERS if open_ and rng.random() < 0.5 else Audience.LAW_ENFORCEMENT
    if tlp is Tlp.RED:
        pap = Pap.RED
    else:
        pap = _weighted(rng, [(Pap.AMBER, 50), (Pap.GREEN, 25), (Pap.RED, 15), (Pap.CLEAR, 10)])
    ext: dict[str, Any] = {"extension_type": "property-extension", "pap": pap.value}
    ext["audience"] = audience.value
    codes = _weighted(
        rng, [(("H0",), 45), (("H0", "H2"), 20), (("H1",), 10), ((), 20), (("H3",), 5)]
    )
    if codes:
        ext["handling_codes"] = list(codes)
    if "H3" in codes:
        ext["h3_text"] = "Not to be used in asset-recovery proceedings without consent."
    if rng.random() < (0.6 if tlp is Tlp.RED else 0.12):
        ext["allow"] = sorted(
            {country, *rng.sample(list(peers), k=min(len(peers), rng.randint(2, 5)))}
        )
    if rng.random() < 0.08:
        ext["deny"] = [rng.choice(strangers)]
    extra = rng.sample(_LE_PURPOSES[1:], k=rng.randint(0, 4))
    ext["purposes"] = sorted({Purpose.CRIMINAL_INVESTIGATION.value, *(p.value for p in extra)})
    ext["source_reliability"] = _weighted(
        rng, [(Reliability.A, 20), (Reliability.B, 50), (Reliability.C, 15), (Reliability.X, 15)]
    ).value
    ext["information_credibility"] = _weighted(
        rng,
        [
            (Credibility.CONFIRMED, 20),
            (Credibility.KNOWN_TO_SOURCE, 35),
            (Credibility.CORROBORATED, 30),
            (Credibility.UNCORROBORATED, 15),
        ],
    ).value
    ext["personal_data"] = False
    if tlp is Tlp.RED:
        confidentiality = _weighted(
            rng, [(Confidentiality.RESTRICTED, 60), (Confidentiality.CONFIDENTIAL, 40)]
        )
    elif strict:
        confidentiality = Confidentiality.RESTRICTED
    else:
        confidentiality = _weighted(
            rng,
            [
                (Confidentiality.OFFICIAL_USE, 62),
                (Confidentiality.RESTRICTED, 35),
                (Confidentiality.CONFIDENTIAL, 3),
            ],
        )
    ext["confidentiality"] = confidentiality.label
    markings = None if tlp is None else [TLP2_MARKING_IDS[tlp]]
    return _Handling(markings, {CANAL_EXTENSION_ID: ext}, _personal_variant(ext))


def _partner_handling(rng: random.Random) -> _Handling:
    tlp, audience = _weighted(
        rng,
        [
            ((Tlp.GREEN, Audience.PARTNERS), 72),
            ((Tlp.CLEAR, Audience.PARTNERS), 10),
            ((Tlp.AMBER, Audience.PARTNERS), 12),
            ((Tlp.AMBER, Audience.LAW_ENFORCEMENT), 6),
        ],
    )
    ext: dict[str, Any] = {
        "extension_type": "property-extension",
        "pap": _weighted(rng, [(Pap.GREEN, 50), (Pap.CLEAR, 25), (Pap.AMBER, 25)]).value,
        "audience": audience.value,
        "purposes": sorted(
            {
                Purpose.THREAT_ANALYSIS.value,
                *(p.value for p in rng.sample(_PARTNER_PURPOSES, k=rng.randint(1, 3))),
            }
        ),
        "source_reliability": _weighted(rng, [(Reliability.B, 70), (Reliability.A, 30)]).value,
        "information_credibility": _weighted(
            rng, [(Credibility.KNOWN_TO_SOURCE, 45), (Credibility.CORROBORATED, 55)]
        ).value,
        "personal_data": False,
        "confidentiality": Confidentiality.OFFICIAL_USE.label,
    }
    return _Handling([TLP2_MARKING_IDS[tlp]], {CANAL_EXTENSION_ID: ext}, _personal_variant(ext))


def _secretariat_handling(tlp: Tlp, audience: Audience) -> _Handling:
    ext: dict[str, Any] = {
        "extension_type": "property-extension",
        "pap": Pap.AMBER.value,
        "audience": audience.value,
        "handling_codes": ["H0"],
        "purposes": sorted(
            p.value
            for p in (Purpose.THREAT_ANALYSIS, Purpose.CRIMINAL_INVESTIGATION, Purpose.WARNING)
        ),
        "source_reliability": Reliability.A.value,
        "information_credibility": Credibility.CORROBORATED.value,
        "personal_data": False,
        "confidentiality": Confidentiality.OFFICIAL_USE.label,
    }
    return _Handling([TLP2_MARKING_IDS[tlp]], {CANAL_EXTENSION_ID: ext}, _personal_variant(ext))


_PUBLIC: Final = _secretariat_handling(Tlp.GREEN, Audience.PARTNERS)
_POLICE: Final = _secretariat_handling(Tlp.AMBER, Audience.LAW_ENFORCEMENT)


def _org_defaults(kind: OrgKind, rng: random.Random) -> HandlingDefaults:
    if kind is OrgKind.PARTNER:
        return HandlingDefaults(
            tlp=Tlp.GREEN,
            audience=Audience.PARTNERS,
            purposes=frozenset({Purpose.THREAT_ANALYSIS, Purpose.WARNING}),
            source_reliability=Reliability.B,
            information_credibility=Credibility.CORROBORATED,
        )
    if kind is OrgKind.SECRETARIAT:
        return HandlingDefaults(
            tlp=Tlp.AMBER,
            audience=Audience.LAW_ENFORCEMENT,
            source_reliability=Reliability.A,
            information_credibility=Credibility.CORROBORATED,
        )
    return HandlingDefaults(
        tlp=Tlp.AMBER,
        audience=Audience.LAW_ENFORCEMENT,
        handling_codes=frozenset(),
        source_reliability=rng.choice((Reliability.A, Reliability.B, Reliability.B, Reliability.C)),
        information_credibility=rng.choice((Credibility.KNOWN_TO_SOURCE, Credibility.CORROBORATED)),
    )


# The world


class World:
    """The demo world for one seed and scale. Building it makes the skeleton only; objects come
    from `batches()`, which may be run any number of times and always yields the same."""

    def __init__(self, *, seed: int = DEFAULT_SEED, scale: int = 1, track_ids: bool = True) -> None:
        if scale < 1:
            raise ValueError(f"scale must be at least 1, not {scale}")
        self.seed = seed
        self.scale = scale
        self.track_ids = track_ids
        rng = random.Random(f"canal-demo/{seed}/skeleton")  # noqa: S311 - demo data, not secrets
        self.orgs: tuple[OrgSpec, ...] = self._make_orgs(rng)
        self._members = [o for o in self.orgs if o.kind is OrgKind.MEMBER]
        self._member_info = {row[0]: row for row in _MEMBERS}
        self.location_ids = {row[0]: _uuid4_id("location", rng) for row in _MEMBERS}
        self._families: dict[str, _Family] = {}
        self._family_order: list[int] = []
        self._benign = _benign_values()
        self.benign: frozenset[str] = frozenset(k for v in self._benign for k in v.keys)
        #: Ids of the objects built around benign values (with `track_ids`).
        self.benign_ids: set[str] = set()
        self._plans = self._make_plans(rng)
        self.networks: dict[str, Network] = {p.network.id: p.network for p in self._plans}
        self._tasks = self._assign_reports(rng)

    # Skeleton

    def _make_orgs(self, rng: random.Random) -> tuple[OrgSpec, ...]:
        orgs = [
            OrgSpec(
                SECRETARIAT,
                OrgKind.SECRETARIAT,
                None,
                "secretariat",
                _uuid4_id("identity", rng),
                _org_defaults(OrgKind.SECRETARIAT, rng),
            )
        ]
        orgs.extend(
            OrgSpec(
                f"NCB {city} ({country})",
                OrgKind.MEMBER,
                country,
                "member",
                _uuid4_id("identity", rng),
                _org_defaults(OrgKind.MEMBER, rng),
            )
            for country, city, *_ in _MEMBERS
        )
        orgs.extend(
            OrgSpec(
                name,
                OrgKind.PARTNER,
                None,
                profile,
                _uuid4_id("identity", rng),
                _org_defaults(OrgKind.PARTNER, rng),
            )
            for name, profile, _ in _PARTNERS
        )
        return tuple(orgs)

    def _family(self, index: int, rng: random.Random) -> _Family:
        catalogue = galaxy_families()
        # Families with synonyms (the better documented ones) come first; past the catalogue's
        # end, families are shared between networks, as affiliates share a RaaS.
        name, synonyms, galaxy_uuid = catalogue[self._family_order[index % len(catalogue)]]
        family = self._families.get(name)
        if family is None:
            family = _Family(name, synonyms, galaxy_uuid, _uuid4_id("malware", rng))
            self._families[name] = family
        return family

    def _make_plans(self, rng: random.Random) -> list[_Plan]:
        catalogue = galaxy_families()
        documented = [i for i, row in enumerate(catalogue) if row[1]]
        others = [i for i, row in enumerate(catalogue) if not row[1]]
        rng.shuffle(documented)
        rng.shuffle(others)
        self._family_order = documented + others
        mint = _Mint(rng)
        plans: list[_Plan] = []
        for index in range(_NETWORKS_PER_SCALE * self.scale):
            family = self._family(index, rng)
            designation = f"CG-{index + 1:04d}"
            name = f"{rng.choice(_CODENAME_A)} {rng.choice(_CODENAME_B)}"
            portal = mint.domain("Negotiation portal")
            anchors = {
                "domain": portal,
                "wallet": mint.wallet("Ransom wallet"),
                "ipv4": mint.ipv4("C2 server"),
            }
            campaigns: list[_Campaign] = []
            start = rng.randrange(0, 200 * _DAY)
            previous: list[_Value] = []
            for _ in range(rng.randint(2, 4)):
                length = rng.randrange(30 * _DAY, 120 * _DAY)
                end = min(start + length, _YEAR - 1)
                values = self._campaign_values(mint, rng, previous)
                by_kind: dict[str, list[_Value]] = {}
                for value in values:
                    by_kind.setdefault(value.kind, []).append(value)
                month = _MONTHS[(BASE_DATE + timedelta(milliseconds=start)).month - 1]
                campaigns.append(
                    _Campaign(
                        _uuid4_id("campaign", rng),
                        f"{family.name} wave {month} 2026 ({designation})",
                        start,
                        end,
                        values,
                        by_kind,
                    )
                )
                previous = values
                start = min(start + rng.randrange(20 * _DAY, 90 * _DAY), _YEAR - 30 * _DAY)
            infrastructure = {k for v in anchors.values() for k in v.keys}
            infrastructure.update(k for c in campaigns for v in c.values for k in v.keys)
            network = Network(
                id=f"net-{index + 1:04d}",
                family=family.name,
                intrusion_set=name,
                infrastructure=frozenset(infrastructure),
            )
            zone = _weighted(rng, _ZONES)
            plans.append(
                _Plan(
                    network,
                    family,
                    _uuid4_id("intrusion-set", rng),
                    designation,
                    zone,
                    campaigns,
                    anchors,
                )
            )
        return plans

    def _campaign_values(
        self, mint: _Mint, rng: random.Random, previous: list[_Value]
    ) -> list[_Value]:
        # Criminals keep some servers and domains from one wave to the next.
        kept = [v for v in previous if v.kind in {"ipv4", "domain"} and rng.random() < 0.4]
        values = list(kept)
        ips = [mint.ipv4("C2 server") for _ in range(rng.randint(2, 4))]
        domains = [
            mint.domain(rng.choice(("C2 domain", "Phishing domain")))
            for _ in range(rng.randint(2, 3))
        ]
        values += ips + domains
        for _ in range(rng.randint(1, 3)):
            host = rng.choice(domains + ips).sco["value"]
            values.append(mint.url(rng.choice(("Payload URL", "Phishing URL", "C2 URL")), host))
        values += [
            mint.file(rng.choice(("Ransomware payload", "Loader", "Exfiltration tool")))
            for _ in range(rng.randint(2, 4))
        ]
        mail_domain = rng.choice(domains).sco["value"]
        values += [
            mint.email("Suspect e-mail address", mail_domain, personal=True)
            for _ in range(rng.randint(1, 2))
        ]
        values += [mint.wallet("Ransom wallet") for _ in range(rng.randint(0, 1))]
        return values

    def _assign_reports(self, rng: random.Random) -> dict[str, list[tuple[int, str]]]:
        """Which org reports what on which network: (plan index, report kind) per org name."""
        tasks: dict[str, list[tuple[int, str]]] = {o.name: [] for o in self.orgs}
        by_zone: dict[str, list[OrgSpec]] = {}
        for org in self._members:
            by_zone.setdefault(self._member_info[org.country or ""][4], []).append(org)
        weight = {o.name: self._member_info[o.country][5] for o in self._members if o.country}
        partners = [o for o in self.orgs if o.kind is OrgKind.PARTNER]
        for index, plan in enumerate(self._plans):
            home = by_zone[plan.zone]
            reporters: set[str] = set()
            for _ in range(rng.randint(1, 4)):
                reporters.add(_weighted(rng, [(o.name, weight[o.name]) for o in home]))
            while len(reporters) < 2 or rng.random() < 0.4:
                reporters.add(_weighted(rng, [(o.name, weight[o.name]) for o in self._members]))
            ordered = sorted(reporters)
            incidents = rng.randint(18, 40)
            # Every reporter files at least once; the rest follows activity.
            kinds = ["incident"] * incidents + ["suspects"] * rng.randint(1, 4)
            for position, kind in enumerate(kinds):
                if position < len(ordered):
                    name = ordered[position]
                else:
                    name = _weighted(rng, [(n, weight[n]) for n in ordered])
                tasks[name].append((index, kind))
            for partner in partners:
                if rng.random() < _PARTNER_REACH[partner.profile]:
                    tasks[partner.name].extend((index, "feed") for _ in range(rng.randint(2, 5)))
        # A small world still gives every member a case or two, on a network of its region.
        for org in self._members:
            if not tasks[org.name]:
                zone = self._member_info[org.country or ""][4]
                near = [i for i, p in enumerate(self._plans) if p.zone == zone]
                index = rng.choice(near or range(len(self._plans)))
                tasks[org.name].extend((index, "incident") for _ in range(rng.randint(1, 3)))
        return tasks

    # Generation

    def batches(self) -> Iterator[Batch]:
        """Every org's objects, the secretariat's first, in batches of about a thousand (small
        batches die young, which spares the garbage collector full passes over the skeleton)."""
        yield from self._secretariat_batches()
        for org in self.orgs:
            if org.kind is not OrgKind.SECRETARIAT:
                yield from _Reporter(self, org).run()

    def objects(self) -> Iterator[dict[str, Any]]:
        for batch in self.batches():
            yield from batch.objects

    def _secretariat_batches(self) -> Iterator[Batch]:
        org = self.orgs[0]
        rng = random.Random(f"canal-demo/{self.seed}/{org.name}")  # noqa: S311 - demo data
        created = timestamp(0)
        out: list[dict[str, Any]] = [_org_identity(org, created)]
        for country, _, name, region, *_ in _MEMBERS:
            out.append(
                {
                    "type": "location",
                    "spec_version": "2.1",
                    "id": self.location_ids[country],
                    "created_by_ref": org.identity_id,
                    "created": created,
                    "modified": created,
                    "name": name,
                    "country": country,
                    "region": region,
                    "object_marking_refs": _PUBLIC.markings,
                    "extensions": _PUBLIC.extensions,
                }
            )
        emitted: set[str] = set()
        for plan in self._plans:
            mark = len(out)
            family = plan.family
            if family.malware_id not in emitted:
                emitted.add(family.malware_id)
                malware: dict[str, Any] = {
                    "type": "malware",
                    "spec_version": "2.1",
                    "id": family.malware_id,
                    "created_by_ref": org.identity_id,
                    "created": created,
                    "modified": created,
                    "name": family.name,
                    "is_family": True,
                    "malware_types": ["ransomware"],
                    "external_references": [
                        {
                            "source_name": "misp-galaxy:ransomware",
                            "external_id": family.galaxy_uuid,
                        }
                    ],
                    "object_marking_refs": _PUBLIC.markings,
                    "extensions": _PUBLIC.extensions,
                }
                if family.aliases:
                    malware["aliases"] = list(family.aliases)
                out.append(malware)
            first = plan.campaigns[0].start
            last = plan.campaigns[-1].end
            seen_at = timestamp(first + rng.randrange(_DAY, 10 * _DAY))
            out.append(
                {
                    "type": "intrusion-set",
                    "spec_version": "2.1",
                    "id": plan.intrusion_set_id,
                    "created_by_ref": org.identity_id,
                    "created": seen_at,
                    "modified": seen_at,
                    "name": plan.network.intrusion_set,
                    "aliases": [plan.designation],
                    "description": f"Criminal network deploying {family.name} ransomware.",
                    "first_seen": timestamp(first),
                    "last_seen": timestamp(last),
                    "primary_motivation": "personal-gain",
                    "resource_level": "organization",
                    "object_marking_refs": _POLICE.markings,
                    "extensions": _POLICE.extensions,
                }
            )
            out.append(
                _relationship(
                    rng,
                    org,
                    "uses",
                    plan.intrusion_set_id,
                    family.malware_id,
                    at=seen_at,
                    handling=_POLICE,
                )
            )
            for campaign in plan.campaigns:
                at = timestamp(min(campaign.start + rng.randrange(_DAY, 15 * _DAY), campaign.end))
                out.append(
                    {
                        "type": "campaign",
                        "spec_version": "2.1",
                        "id": campaign.id,
                        "created_by_ref": org.identity_id,
                        "created": at,
                        "modified": at,
                        "name": campaign.name,
                        "first_seen": timestamp(campaign.start),
                        "last_seen": timestamp(campaign.end),
                        "objective": "Extortion through encryption and data theft.",
                        "object_marking_refs": _POLICE.markings,
                        "extensions": _POLICE.extensions,
                    }
                )
                out.append(
                    _relationship(
                        rng, org, "uses", campaign.id, family.malware_id, at=at, handling=_POLICE
                    )
                )
                out.append(
                    _relationship(
                        rng,
                        org,
                        "attributed-to",
                        campaign.id,
                        plan.intrusion_set_id,
                        at=at,
                        handling=_POLICE,
                    )
                )
            if self.track_ids:
                plan.network.stix_ids.update(o["id"] for o in out[mark:])
                plan.network.stix_ids.add(family.malware_id)
            if len(out) >= _BATCH_OBJECTS:
                yield Batch(org, out)
                out = []
        if out:
            yield Batch(org, out)


def _uuid4_id(stix_type: str, rng: random.Random) -> str:
    return f"{stix_type}--{_uuid4(rng)}"


def _org_identity(org: OrgSpec, created: str) -> dict[str, Any]:
    sector = {
        "member": "government-national",
        "secretariat": "government-national",
        "vendor": "technology",
        "hosting": "technology",
        "bank": "financial-services",
        "exchange": "financial-services",
    }[org.profile]
    identity: dict[str, Any] = {
        "type": "identity",
        "spec_version": "2.1",
        "id": org.identity_id,
        "created": created,
        "modified": created,
        "name": org.name,
        "identity_class": "organization",
        "sectors": [sector],
        "object_marking_refs": _PUBLIC.markings,
        "extensions": _PUBLIC.extensions,
    }
    if org.country:
        identity["x_country"] = org.country
    return identity


def _relationship(
    rng: random.Random,
    org: OrgSpec,
    relationship_type: str,
    source_ref: str,
    target_ref: str,
    *,
    at: str,
    handling: _Handling,
) -> dict[str, Any]:
    rel: dict[str, Any] = {
        "type": "relationship",
        "spec_version": "2.1",
        "id": f"relationship--{_uuid4(rng)}",
        "created_by_ref": org.identity_id,
        "created": at,
        "modified": at,
        "relationship_type": relationship_type,
        "source_ref": source_ref,
        "target_ref": target_ref,
        "extensions": handling.extensions,
    }
    if handling.markings is not None:
        rel["object_marking_refs"] = handling.markings
    return rel


_SECTOR_NAMES: Final = [s for s, _, _ in _SECTORS]
_SECTOR_WEIGHTS: Final = [w for _, _, w in _SECTORS]
_SECTOR_LABEL: Final = {s: label for s, label, _ in _SECTORS}
# What each partner profile sees of a network's infrastructure.
_PARTNER_KINDS: Final = {
    "vendor": ("ipv4", "domain", "url", "file"),
    "bank": ("domain", "url", "email"),
    "hosting": ("ipv4", "domain"),
    "exchange": ("wallet",),
}
_PARTNER_CONTEXT: Final = {
    "vendor": "{family} ransomware activity in customer telemetry",
    "bank": "phishing against our customers",
    "hosting": "abuse of our hosting services",
    "exchange": "ransom payments through our exchange",
}
_PARTNER_ANCHORS: Final = {
    "vendor": ("ipv4", "domain"),
    "bank": ("domain",),
    "hosting": ("ipv4", "domain"),
    "exchange": ("wallet",),
}


class _Reporter:
    """One member or partner org filing its reports over the year, in time order."""

    def __init__(self, world: World, org: OrgSpec) -> None:
        self.world = world
        self.org = org
        self.rng = random.Random(f"canal-demo/{world.seed}/{org.name}")  # noqa: S311 - demo data
        self.track = world.track_ids
        rng = self.rng
        if org.kind is OrgKind.MEMBER:
            country = org.country or ""
            zone = world._member_info[country][4]  # noqa: SLF001 - the world's own helper
            peers = [o.country or "" for o in world._members if o.country != country]  # noqa: SLF001
            near = [c for c in peers if world._member_info[c][4] == zone] or peers  # noqa: SLF001
            partners = [o.name for o in world.orgs if o.kind is OrgKind.PARTNER]
            strangers = [c for c in peers if c not in near] + partners
            self.handlings = [_member_handling(rng, country, near, strangers) for _ in range(6)]
        else:
            self.handlings = [_partner_handling(rng) for _ in range(4)]
        self.weights = [rng.randint(1, 10) for _ in self.handlings]
        self.indicators: dict[str, str] = {}
        self.scos: set[str] = set()
        self.networks_seen: set[int] = set()
        self.own_malware: dict[str, str] = {}
        self.out: list[dict[str, Any]] = []

    def run(self) -> Iterator[Batch]:
        world, rng = self.world, self.rng
        self.out.append(_org_identity(self.org, timestamp(0)))
        timed: list[tuple[int, int, int, str]] = []
        for plan_index, kind in world._tasks[self.org.name]:  # noqa: SLF001
            plan = world._plans[plan_index]  # noqa: SLF001
            campaign_index = rng.randrange(len(plan.campaigns))
            campaign = plan.campaigns[campaign_index]
            at = rng.randrange(campaign.start, campaign.end)
            timed.append((at, plan_index, campaign_index, kind))
        timed.sort()
        for at, plan_index, campaign_index, kind in timed:
            plan = world._plans[plan_index]  # noqa: SLF001
            first = plan_index not in self.networks_seen
            self.networks_seen.add(plan_index)
            mark = len(self.out)
            benign: list[dict[str, Any]] = []
            handling = rng.choices(self.handlings, weights=self.weights)[0]
            campaign = plan.campaigns[campaign_index]
            if kind == "incident":
                reported = self._incident(plan, campaign, at, handling, first=first, benign=benign)
            elif kind == "suspects":
                reported = self._suspects(plan, campaign, at, handling)
            else:
                reported = self._feed(plan, campaign, at, handling, first=first, benign=benign)
            network = plan.network
            if reported:
                network.sources.add(self.org.name)
            for value in reported:
                network.values.update(value.keys)
            if self.track:
                network.stix_ids.update(o["id"] for o in self.out[mark:])
                world.benign_ids.update(o["id"] for o in benign)
            self.out += benign
            if len(self.out) >= _BATCH_OBJECTS:
                yield Batch(self.org, self.out)
                self.out = []
        if self.out:
            yield Batch(self.org, self.out)

    # Pieces of reports

    def _pick(self, campaign: _Campaign, kinds: Sequence[str] | None, k: int) -> list[_Value]:
        if kinds is None:
            pool = campaign.values
        else:
            pool = [v for kind in kinds for v in campaign.by_kind.get(kind, ())]
        return self.rng.sample(pool, k=min(k, len(pool)))

    def _indicator(
        self,
        value: _Value,
        at: int,
        handling: _Handling,
        *,
        target: str | None,
        out: list[dict[str, Any]],
        context: str,
        indicator_type: str = "malicious-activity",
    ) -> str:
        """The org's indicator for `value`, filed with its observable the first time only."""
        key = value.keys[0]
        found = self.indicators.get(key)
        if found is not None:
            return found
        rng = self.rng
        extensions = handling.personal if value.personal else handling.extensions
        sco_id_ = value.sco["id"]
        if sco_id_ not in self.scos:
            self.scos.add(sco_id_)
            sco = dict(value.sco)
            sco["extensions"] = extensions
            if handling.markings is not None:
                sco["object_marking_refs"] = handling.markings
            out.append(sco)
        created = timestamp(at)
        indicator_id = f"indicator--{_uuid4(rng)}"
        indicator: dict[str, Any] = {
            "type": "indicator",
            "spec_version": "2.1",
            "id": indicator_id,
            "created_by_ref": self.org.identity_id,
            "created": created,
            "modified": created,
            "name": value.label,
            "description": f"{value.role} seen in {context}.",
            "indicator_types": [indicator_type],
            "pattern": value.pattern,
            "pattern_type": "stix",
            "pattern_version": "2.1",
            "valid_from": created,
            "confidence": rng.randrange(40, 101, 5),
            "extensions": extensions,
        }
        if rng.random() < 0.5:
            indicator["valid_until"] = timestamp(at + rng.randrange(90 * _DAY, 365 * _DAY))
        if handling.markings is not None:
            indicator["object_marking_refs"] = handling.markings
        out.append(indicator)
        if target is not None:
            rel = _relationship(
                rng, self.org, "indicates", indicator_id, target, at=created, handling=handling
            )
            if value.personal:
                rel["extensions"] = extensions
            out.append(rel)
        self.indicators[key] = indicator_id
        return indicator_id

    def _sighting(
        self, indicator_id: str, victim_id: str, at: int, handling: _Handling
    ) -> dict[str, Any]:
        rng = self.rng
        created = timestamp(at)
        sighting: dict[str, Any] = {
            "type": "sighting",
            "spec_version": "2.1",
            "id": f"sighting--{_uuid4(rng)}",
            "created_by_ref": self.org.identity_id,
            "created": created,
            "modified": created,
            "sighting_of_ref": indicator_id,
            "where_sighted_refs": [victim_id],
            "first_seen": timestamp(max(at - rng.randrange(3_600_000, 20 * _DAY), 0)),
            "last_seen": created,
            "count": rng.randint(1, 40),
            "extensions": handling.extensions,
        }
        if handling.markings is not None:
            sighting["object_marking_refs"] = handling.markings
        return sighting

    def _victim(self, country: str, sector: str, at: int, handling: _Handling, label: str) -> str:
        rng = self.rng
        created = timestamp(at)
        victim_id = f"identity--{_uuid4(rng)}"
        victim: dict[str, Any] = {
            "type": "identity",
            "spec_version": "2.1",
            "id": victim_id,
            "created_by_ref": self.org.identity_id,
            "created": created,
            "modified": created,
            "name": f"{label} {country}-{rng.getrandbits(20):05X}",
            "identity_class": "organization",
            "sectors": [sector],
            "x_country": country,
            "extensions": handling.extensions,
        }
        if handling.markings is not None:
            victim["object_marking_refs"] = handling.markings
        self.out.append(victim)
        location = self.world.location_ids[country]
        self.out.append(
            _relationship(
                rng, self.org, "located-at", victim_id, location, at=created, handling=handling
            )
        )
        return victim_id

    def _benign(
        self, at: int, handling: _Handling, victim_id: str | None, benign: list[dict[str, Any]]
    ) -> None:
        rng = self.rng
        value = rng.choice(self.world._benign)  # noqa: SLF001
        if rng.random() < 0.3 or victim_id is None:
            indicator_id = self._indicator(
                value,
                at,
                handling,
                target=None,
                out=benign,
                context="traffic of an analysed sample",
                indicator_type="anomalous-activity",
            )
            if victim_id is not None:
                benign.append(self._sighting(indicator_id, victim_id, at, handling))
        elif value.sco["id"] not in self.scos:
            self.scos.add(value.sco["id"])
            sco = dict(value.sco)
            sco["extensions"] = handling.extensions
            if handling.markings is not None:
                sco["object_marking_refs"] = handling.markings
            benign.append(sco)

    # Reports

    def _incident(
        self,
        plan: _Plan,
        campaign: _Campaign,
        at: int,
        handling: _Handling,
        *,
        first: bool,
        benign: list[dict[str, Any]],
    ) -> list[_Value]:
        rng, org, out = self.rng, self.org, self.out
        own = org.country or ""
        country = own if rng.random() < 0.85 else rng.choice(list(self.world.location_ids))
        sector = rng.choices(_SECTOR_NAMES, _SECTOR_WEIGHTS)[0]
        label = _SECTOR_LABEL[sector]
        victim_id = self._victim(country, sector, at, handling, f"{label} organisation")
        created = timestamp(at)
        incident_id = f"incident--{_uuid4(rng)}"
        family = plan.family.name
        extortion = ["encryption"]
        if rng.random() < 0.75:
            extortion.append("exfiltration")
        if rng.random() < 0.1:
            extortion.append("ddos")
        out.append(
            {
                "type": "incident",
                "spec_version": "2.1",
                "id": incident_id,
                "created_by_ref": org.identity_id,
                "created": created,
                "modified": created,
                "name": f"{family} attack on a {label.lower()} organisation in {country}",
                "x_ransomware_family": family,
                "x_victim_country": country,
                "x_victim_sector": sector,
                "x_initial_access_vector": rng.choice(_ACCESS_VECTORS),
                "x_extortion": extortion,
                "x_ransom_demanded": {
                    "amount": rng.randrange(50, 5000) * 1000,
                    "currency": "USD",
                },
                "x_first_intrusion": timestamp(max(at - rng.randrange(_DAY, 30 * _DAY), 0)),
                "extensions": handling.extensions,
            }
        )
        if handling.markings is not None:
            out[-1]["object_marking_refs"] = handling.markings
        attributed = campaign.id if rng.random() < 0.8 else plan.intrusion_set_id
        out.append(
            _relationship(
                rng, org, "attributed-to", incident_id, attributed, at=created, handling=handling
            )
        )
        out.append(
            _relationship(
                rng, org, "targets", incident_id, victim_id, at=created, handling=handling
            )
        )
        values = self._pick(campaign, None, rng.randint(2, 5))
        anchors = plan.anchors
        if first or rng.random() < 0.6:
            values.append(anchors["domain"])
        if first or rng.random() < 0.5:
            values.append(anchors["wallet"])
        if first:
            values.append(anchors["ipv4"])
        context = f"a {plan.family.name} ransomware attack"
        indicator_ids = [
            self._indicator(
                v, at, handling, target=plan.family.malware_id, out=out, context=context
            )
            for v in values
        ]
        for indicator_id in rng.sample(indicator_ids, k=min(len(indicator_ids), rng.randint(1, 2))):
            out.append(self._sighting(indicator_id, victim_id, at, handling))
        if rng.random() < 0.12:
            self._benign(at, handling, victim_id, benign)
        return values

    def _suspects(
        self, plan: _Plan, campaign: _Campaign, at: int, handling: _Handling
    ) -> list[_Value]:
        values = self._pick(campaign, ("email",), 2) + self._pick(campaign, ("wallet", "ipv4"), 2)
        if self.rng.random() < 0.5:
            values.append(plan.anchors["wallet"])
        for value in values:
            self._indicator(
                value,
                at,
                handling,
                target=plan.intrusion_set_id,
                out=self.out,
                context=f"an investigation of {plan.family.name} ransomware operators",
                indicator_type="attribution",
            )
        return values

    def _feed(
        self,
        plan: _Plan,
        campaign: _Campaign,
        at: int,
        handling: _Handling,
        *,
        first: bool,
        benign: list[dict[str, Any]],
    ) -> list[_Value]:
        rng, org, out = self.rng, self.org, self.out
        profile = org.profile
        values = self._pick(campaign, _PARTNER_KINDS[profile], rng.randint(2, 7))
        for kind in _PARTNER_ANCHORS[profile]:
            if first or rng.random() < 0.4:
                values.append(plan.anchors[kind])
        target = None
        if profile == "vendor":
            target = self._vendor_malware(plan, at, handling)
        context = _PARTNER_CONTEXT[profile].format(family=plan.family.name)
        indicator_ids = [
            self._indicator(v, at, handling, target=target, out=out, context=context)
            for v in values
        ]
        if indicator_ids and profile in {"vendor", "bank"} and rng.random() < 0.5:
            if profile == "vendor":
                sector = rng.choices(_SECTOR_NAMES, _SECTOR_WEIGHTS)[0]
                country = rng.choice(list(self.world.location_ids))
                where = self._victim(country, sector, at, handling, "Customer organisation")
            else:
                where = org.identity_id
            out.append(self._sighting(rng.choice(indicator_ids), where, at, handling))
        if profile == "vendor" and rng.random() < 0.15:
            self._benign(at, handling, None, benign)
        return values

    def _vendor_malware(self, plan: _Plan, at: int, handling: _Handling) -> str:
        """A vendor names the families it tracks in malware objects of its own."""
        family = plan.family
        found = self.own_malware.get(family.name)
        if found is not None:
            return found
        malware_id = f"malware--{_uuid4(self.rng)}"
        created = timestamp(at)
        malware: dict[str, Any] = {
            "type": "malware",
            "spec_version": "2.1",
            "id": malware_id,
            "created_by_ref": self.org.identity_id,
            "created": created,
            "modified": created,
            "name": family.name,
            "is_family": True,
            "malware_types": ["ransomware"],
            "extensions": handling.extensions,
        }
        if family.aliases:
            malware["aliases"] = list(family.aliases)
        if handling.markings is not None:
            malware["object_marking_refs"] = handling.markings
        self.out.append(malware)
        self.own_malware[family.name] = malware_id
        return malware_id
