"""The canal ransomware-incident extension: DOMAIN.md §4 as a property extension on STIX
`incident`, published as an `extension-definition` by canal's identity.

`incident_problems(ext)` checks an extension body and returns one message per bad field, each
starting with the field's path ("victim.country: ...", "extortion.wallet_addresses[1].chain:
..."), so that ingest can reject the incident with every reason at once (R28). docs/ransomware.md
lists the fields.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

import pycountry

from canal.model.extension import CANAL_IDENTITY_ID
from canal.model.handling import COUNTRY_CODES
from canal.model.stix import parse_timestamp

__all__ = [
    "CRYPTO_TICKERS",
    "RANSOMWARE_EXTENSION_DEFINITION",
    "RANSOMWARE_EXTENSION_ID",
    "AccessVector",
    "DataType",
    "Sector",
    "SizeBand",
    "WalletCheck",
    "incident_problems",
    "ransomware_extension",
]

RANSOMWARE_EXTENSION_ID: Final = "extension-definition--62c34465-6437-4b40-aa03-3fccf627eb1e"
_PUBLISHED: Final = "2026-12-01T00:00:00.000Z"

RANSOMWARE_EXTENSION_DEFINITION: Final[dict[str, Any]] = {
    "type": "extension-definition",
    "spec_version": "2.1",
    "id": RANSOMWARE_EXTENSION_ID,
    "created_by_ref": CANAL_IDENTITY_ID,
    "created": _PUBLISHED,
    "modified": _PUBLISHED,
    "name": "canal ransomware incident",
    "description": (
        "One victim's ransomware incident on a STIX incident: the actor (family resolved "
        "through the MISP ransomware galaxy, group, affiliate, RaaS), the victim (name, "
        "country, critical-infrastructure sector, size band), dates, initial access vector "
        "and CVEs, ATT&CK techniques, extortion (ransom demanded and paid, wallets, "
        "negotiation and leak-site URLs, ransom note hash, contacts) and impact."
    ),
    "schema": "https://canal.example.org/docs/ransomware.md",
    "version": "1.0.0",
    "extension_types": ["property-extension"],
}


class Sector(StrEnum):
    """CISA's 16 critical-infrastructure sectors (PPD-21), plus "other"."""

    CHEMICAL = "chemical"
    COMMERCIAL_FACILITIES = "commercial-facilities"
    COMMUNICATIONS = "communications"
    CRITICAL_MANUFACTURING = "critical-manufacturing"
    DAMS = "dams"
    DEFENSE_INDUSTRIAL_BASE = "defense-industrial-base"
    EMERGENCY_SERVICES = "emergency-services"
    ENERGY = "energy"
    FINANCIAL_SERVICES = "financial-services"
    FOOD_AND_AGRICULTURE = "food-and-agriculture"
    GOVERNMENT_FACILITIES = "government-facilities"
    HEALTHCARE_AND_PUBLIC_HEALTH = "healthcare-and-public-health"
    INFORMATION_TECHNOLOGY = "information-technology"
    NUCLEAR = "nuclear-reactors-materials-and-waste"
    TRANSPORTATION_SYSTEMS = "transportation-systems"
    WATER_AND_WASTEWATER = "water-and-wastewater-systems"
    OTHER = "other"


class SizeBand(StrEnum):
    """Staff headcount bands of the EU SME definition (Recommendation 2003/361/EC)."""

    MICRO = "micro"  # fewer than 10
    SMALL = "small"  # 10 to 49
    MEDIUM = "medium"  # 50 to 249
    LARGE = "large"  # 250 or more


class AccessVector(StrEnum):
    PHISHING = "phishing"
    EXPOSED_REMOTE_SERVICE = "exposed-rdp-vpn"
    VULNERABILITY_EXPLOIT = "vulnerability-exploit"
    VALID_ACCOUNTS = "valid-accounts"
    SUPPLY_CHAIN = "supply-chain"
    OTHER = "other"


class DataType(StrEnum):
    """Kinds of data exposed; "personal-data" covers what the GDPR calls personal data."""

    PERSONAL_DATA = "personal-data"
    HEALTH_DATA = "health-data"
    FINANCIAL_DATA = "financial-data"
    CREDENTIALS = "credentials"
    INTELLECTUAL_PROPERTY = "intellectual-property"
    GOVERNMENT_DATA = "government-data"
    CUSTOMER_DATA = "customer-data"
    EMPLOYEE_DATA = "employee-data"
    OTHER = "other"


#: Crypto-currency tickers taken as a currency beside ISO 4217 codes.
CRYPTO_TICKERS: Final = frozenset(
    {"BTC", "ETH", "XMR", "LTC", "BCH", "USDT", "USDC", "DAI", "TRX", "DASH", "ZEC", "DOGE",
     "BNB", "SOL", "TON"}
)  # fmt: skip
_ISO_4217: Final = frozenset(c.alpha_3 for c in pycountry.currencies)

#: Given a wallet's chain and address, None or what is wrong (a checksum check, say). The
#: model cannot normalise wallets itself (that lives in analysis); ingest passes one in.
WalletCheck = Callable[[str, str], "str | None"]

# A check appends "path: problem" messages for the value at `path`.
_Check = Callable[[Any, str, list[str]], None]

_MAX_TEXT: Final = 2000


def _text(max_length: int = _MAX_TEXT) -> _Check:
    def check(value: Any, path: str, out: list[str]) -> None:
        if type(value) is not str:
            out.append(f"{path}: must be a string")
        elif not value.strip():
            out.append(f"{path}: must not be blank")
        elif len(value) > max_length:
            out.append(f"{path}: longer than {max_length} characters")

    return check


def _boolean(value: Any, path: str, out: list[str]) -> None:
    if type(value) is not bool:
        out.append(f"{path}: must be true or false")


def _enum(kind: type[StrEnum]) -> _Check:
    allowed = frozenset(member.value for member in kind)
    wanted = "must be one of " + ", ".join(sorted(allowed))

    def check(value: Any, path: str, out: list[str]) -> None:
        if type(value) is not str or value not in allowed:
            out.append(f"{path}: {value!r} {wanted}" if type(value) is str else f"{path}: {wanted}")

    return check


def _matching(pattern: str, wanted: str) -> _Check:
    regex = re.compile(pattern)

    def check(value: Any, path: str, out: list[str]) -> None:
        if type(value) is not str or regex.fullmatch(value) is None:
            shown = f" {value[:80]!r}" if type(value) is str else ""
            out.append(f"{path}:{shown} {wanted}")

    return check


def _country(value: Any, path: str, out: list[str]) -> None:
    if type(value) is not str or value not in COUNTRY_CODES:
        shown = f" {value[:16]!r}" if type(value) is str else ""
        out.append(f"{path}:{shown} must be an ISO 3166-1 alpha-2 code in capitals (FR, BR)")


def _currency(value: Any, path: str, out: list[str]) -> None:
    if type(value) is not str or (value not in _ISO_4217 and value not in CRYPTO_TICKERS):
        shown = f" {value[:16]!r}" if type(value) is str else ""
        out.append(
            f"{path}:{shown} must be an ISO 4217 code (USD, EUR) or a crypto-currency ticker "
            f"({', '.join(sorted(CRYPTO_TICKERS))}), in capitals"
        )


def _number(*, positive: bool) -> _Check:
    wanted = "must be a number greater than 0" if positive else "must be a number of at least 0"

    def check(value: Any, path: str, out: list[str]) -> None:
        if (
            type(value) not in (int, float)
            or not math.isfinite(value)
            or value < 0
            or (positive and value == 0)
        ):
            out.append(f"{path}: {wanted}")

    return check


def _timestamp(value: Any, path: str, out: list[str]) -> None:
    if type(value) is not str:
        out.append(f"{path}: must be a STIX timestamp (YYYY-MM-DDTHH:MM:SS[.s]Z)")
        return
    try:
        parse_timestamp(value)
    except ValueError:
        out.append(f"{path}: {value[:40]!r} is not a STIX timestamp of a real date")


def _list_of(item: _Check, *, max_items: int = 1000) -> _Check:
    def check(value: Any, path: str, out: list[str]) -> None:
        if type(value) is not list or not value:
            out.append(f"{path}: must be a non-empty list (leave the field out when empty)")
            return
        if len(value) > max_items:
            out.append(f"{path}: more than {max_items} items")
            return
        for index, element in enumerate(value):
            item(element, f"{path}[{index}]", out)

    return check


@dataclass(frozen=True, slots=True)
class _Object:
    fields: Mapping[str, _Check]
    required: tuple[str, ...] = ()

    def __call__(self, value: Any, path: str, out: list[str]) -> None:
        if type(value) is not dict:
            out.append(f"{path}: must be an object")
            return
        prefix = f"{path}." if path else ""
        out.extend(
            f"{prefix}{name}: required and missing" for name in self.required if name not in value
        )
        for name, element in value.items():
            check = self.fields.get(name)
            if check is None:
                if not (path == "" and name == "extension_type"):
                    out.append(f"{prefix}{name}: not a field of the ransomware extension")
                continue
            if element is None:
                out.append(f"{prefix}{name}: must not be null (leave the field out)")
                continue
            check(element, f"{prefix}{name}", out)


def _url(value: Any, path: str, out: list[str]) -> None:
    # Leak sites and negotiation chats are web pages, over Tor or not.
    if type(value) is not str or _URL_RE.fullmatch(value) is None:
        shown = f" {value[:80]!r}" if type(value) is str else ""
        out.append(f"{path}:{shown} must be an http or https URL (onion included)")


_URL_RE: Final = re.compile(r"(?i)https?://[^\s/?#@]+(?:[/?#][^\s]*)?")
_CVE: Final = _matching(r"CVE-[0-9]{4}-[0-9]{4,}", "must be a CVE id (CVE-2023-4966)")
_TECHNIQUE: Final = _matching(
    r"T[0-9]{4}(?:\.[0-9]{3})?", "must be an ATT&CK technique id (T1486 or T1078.002)"
)
_HASH: Final = _matching(
    r"[0-9a-fA-F]{32}|[0-9a-fA-F]{40}|[0-9a-fA-F]{64}|[0-9a-fA-F]{128}",
    "must be an MD5, SHA-1, SHA-256 or SHA-512 digest in hex",
)
_EMAIL: Final = _matching(
    r"[a-zA-Z0-9_.+-]+@[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)+", "must be an e-mail address"
)
_CHAIN: Final = _matching(
    r"[a-z][a-z0-9-]{1,31}", "must be a chain name in lower case (btc, eth, xmr, ...)"
)
_ADDRESS: Final = _matching(r"\S{8,256}", "must be an address without spaces")
_GALAXY_UUID: Final = _matching(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "must be a lower-case uuid"
)
_TOX_RE: Final = re.compile(r"[0-9A-Fa-f]{76}")


def _tox_id(value: Any, path: str, out: list[str]) -> None:
    """76 hex digits: public key (32 bytes), nospam (4), checksum (2) = XOR of the 2-byte
    words before it, as toxcore computes it."""
    if type(value) is not str or _TOX_RE.fullmatch(value) is None:
        out.append(f"{path}: must be a Tox id (76 hex digits)")
        return
    raw = bytes.fromhex(value)
    checksum = [0, 0]
    for index, byte in enumerate(raw[:36]):
        checksum[index % 2] ^= byte
    if bytes(checksum) != raw[36:]:
        out.append(f"{path}: bad Tox id checksum")


_MONEY: Final = _Object(
    {"amount": _number(positive=True), "currency": _currency}, ("amount", "currency")
)
_PAID: Final = _Object(
    {"amount": _number(positive=True), "currency": _currency, "date": _timestamp},
    ("amount", "currency"),
)
_WALLET: Final = _Object({"chain": _CHAIN, "address": _ADDRESS}, ("chain", "address"))

_DATES: Final = (
    "first_intrusion",
    "encryption",
    "detected",
    "reported",
    "leak_post_discovered",
    "leak_post_published",
)

_BODY: Final = _Object(
    {
        "actor": _Object(
            {
                "family": _text(200),
                "family_aliases": _list_of(_text(200)),
                "family_galaxy_uuid": _GALAXY_UUID,
                "group": _text(200),
                "affiliate": _text(200),
                "raas": _boolean,
            },
            ("family",),
        ),
        "victim": _Object(
            {
                "name": _text(500),
                "name_personal_data": _boolean,
                "name_commercially_sensitive": _boolean,
                "website": _text(500),
                "country": _country,
                "sector": _enum(Sector),
                "sector_detail": _text(200),
                "size_band": _enum(SizeBand),
            }
        ),
        "dates": _Object(dict.fromkeys(_DATES, _timestamp)),
        "initial_access": _Object(
            {"vector": _enum(AccessVector), "cves": _list_of(_CVE)}, ("vector",)
        ),
        "ttps": _list_of(_TECHNIQUE),
        "extortion": _Object(
            {
                "encryption": _boolean,
                "exfiltration": _boolean,
                "ddos": _boolean,
                "ransom_demanded": _MONEY,
                "ransom_paid": _PAID,
                "wallet_addresses": _list_of(_WALLET),
                "negotiation_url": _url,
                "leak_site_url": _url,
                "ransom_note_hash": _HASH,
                "contact_emails": _list_of(_EMAIL),
                "tox_ids": _list_of(_tox_id),
            }
        ),
        "impact": _Object(
            {
                "downtime_hours": _number(positive=False),
                "data_types_exposed": _list_of(_enum(DataType)),
                "estimated_loss": _MONEY,
                "critical_service_disruption": _boolean,
            }
        ),
    },
    ("actor",),
)


def _stamp(value: Any) -> datetime | None:
    if type(value) is not str:
        return None
    try:
        return parse_timestamp(value)
    except ValueError:
        return None


def _section(ext: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = ext.get(name)
    return value if isinstance(value, dict) else {}


def _order_problems(ext: Mapping[str, Any], out: list[str]) -> None:
    """Dates that cannot be in this order: nothing before the first intrusion, no report
    before detection."""
    dates = _section(ext, "dates")
    stamps = {name: _stamp(dates.get(name)) for name in _DATES}
    paid = _stamp(_section(_section(ext, "extortion"), "ransom_paid").get("date"))
    first = stamps["first_intrusion"]
    if first is not None:
        for name in _DATES[1:]:
            at = stamps[name]
            if at is not None and at < first:
                out.append(f"dates.{name}: earlier than dates.first_intrusion")
        if paid is not None and paid < first:
            out.append("extortion.ransom_paid.date: earlier than dates.first_intrusion")
    detected, reported = stamps["detected"], stamps["reported"]
    if detected is not None and reported is not None and reported < detected:
        out.append("dates.reported: earlier than dates.detected")


def incident_problems(ext: Any, *, wallet_check: WalletCheck | None = None) -> list[str]:
    """Every problem with a ransomware extension body, each naming its field; [] when valid.

    `wallet_check` adds a per-chain address check (checksums) to the shape checks here."""
    out: list[str] = []
    if type(ext) is not dict:
        return ["must be an object"]
    if ext.get("extension_type") != "property-extension":
        out.append("extension_type: must be property-extension")
    _BODY(ext, "", out)
    _order_problems(ext, out)
    access = _section(ext, "initial_access")
    if "cves" in access and access.get("vector") != AccessVector.VULNERABILITY_EXPLOIT:
        out.append("initial_access.cves: only with the vector vulnerability-exploit")
    if wallet_check is not None:
        wallets = _section(ext, "extortion").get("wallet_addresses")
        for index, wallet in enumerate(wallets if isinstance(wallets, list) else ()):
            chain = wallet.get("chain") if isinstance(wallet, dict) else None
            address = wallet.get("address") if isinstance(wallet, dict) else None
            where = f"extortion.wallet_addresses[{index}]"
            if any(p.startswith(where) for p in out):
                continue  # the shape is wrong already
            if type(chain) is str and type(address) is str:
                problem = wallet_check(chain, address)
                if problem is not None:
                    out.append(f"extortion.wallet_addresses[{index}].address: {problem}")
    return out


def ransomware_extension(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ransomware extension body on a STIX object, if it carries one."""
    extensions = obj.get("extensions")
    if not isinstance(extensions, dict):
        return None
    body = extensions.get(RANSOMWARE_EXTENSION_ID)
    return body if isinstance(body, dict) else None
