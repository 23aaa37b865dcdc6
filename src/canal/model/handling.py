"""Handling: the rules the source of a record sets (DOMAIN.md §2).

Every field of DOMAIN.md §2.5 is a typed field here. Parsing accepts the notations found in the
field (``TLP:WHITE``, ``tlp:amber``, ``PAP:WHITE``) and stores one canonical value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Self

import pycountry


class HandlingError(ValueError):
    """A handling value that is not one of the allowed ones; the message names the field."""

    def __init__(self, field_name: str, value: object, allowed: str) -> None:
        self.field_name = field_name
        self.value = value
        self.allowed = allowed
        super().__init__(f"{field_name}: {value!r} is not allowed; expected {allowed}")


def _label(raw: str, prefix: str) -> str:
    text = raw.strip().lower()
    return text.removeprefix(prefix.lower() + ":")


class Tlp(StrEnum):
    """TLP 2.0 labels. TLP:WHITE (1.0) is read as CLEAR on input only (R13)."""

    CLEAR = "clear"
    GREEN = "green"
    AMBER = "amber"
    AMBER_STRICT = "amber+strict"
    RED = "red"

    @classmethod
    def parse(cls, raw: str) -> Tlp:
        text = _label(raw, "tlp")
        if text == "white":
            return cls.CLEAR
        try:
            return cls(text)
        except ValueError:
            raise HandlingError("tlp", raw, "clear, green, amber, amber+strict or red") from None

    @property
    def rank(self) -> int:
        """Higher is more restrictive."""
        return _TLP_RANK[self]

    @property
    def label(self) -> str:
        return "TLP:" + self.value.upper()


_TLP_RANK = {Tlp.CLEAR: 0, Tlp.GREEN: 1, Tlp.AMBER: 2, Tlp.AMBER_STRICT: 3, Tlp.RED: 4}


class Pap(StrEnum):
    """Permissible Actions Protocol. PAP:WHITE is an alias of CLEAR."""

    CLEAR = "clear"
    GREEN = "green"
    AMBER = "amber"
    RED = "red"

    @classmethod
    def parse(cls, raw: str) -> Pap:
        text = _label(raw, "pap")
        if text == "white":
            return cls.CLEAR
        try:
            return cls(text)
        except ValueError:
            raise HandlingError("pap", raw, "clear, green, amber or red") from None

    @property
    def rank(self) -> int:
        return ("clear", "green", "amber", "red").index(self.value)


class HandlingCode(StrEnum):
    """SIENA-style handling codes. H3 ("other restrictions") carries free text in `h3_text`."""

    H0 = "H0"  # use only for preventing and combating crime
    H1 = "H1"  # not to be used in judicial proceedings without the source's permission
    H2 = "H2"  # not to be disseminated further without the source's permission
    H3 = "H3"  # other restrictions, in free text

    @classmethod
    def parse(cls, raw: str) -> HandlingCode:
        try:
            return cls(raw.strip().upper())
        except ValueError:
            raise HandlingError("handling code", raw, "H0, H1, H2 or H3") from None


class Audience(StrEnum):
    """Who the record may reach at most: the police community, or the partners as well."""

    LAW_ENFORCEMENT = "law-enforcement"
    PARTNERS = "partners"

    @classmethod
    def parse(cls, raw: str) -> Audience:
        try:
            return cls(raw.strip().lower())
        except ValueError:
            raise HandlingError("audience", raw, "law-enforcement or partners") from None


class Purpose(StrEnum):
    """Processing purposes (the closed list of the data-processing rules, DOMAIN.md §1.2 c)."""

    LOCATE_ARREST = "locate-arrest"
    LOCATE_PERSON_OBJECT = "locate-person-object"
    CRIMINAL_INVESTIGATION = "criminal-investigation"
    WARNING = "warning"
    IDENTIFICATION = "identification"
    FORENSIC_ANALYSIS = "forensic-analysis"
    SECURITY_CHECK = "security-check"
    THREAT_ANALYSIS = "threat-analysis"
    BORDER_MANAGEMENT = "border-management"

    @classmethod
    def parse(cls, raw: str) -> Purpose:
        try:
            return cls(raw.strip().lower())
        except ValueError:
            allowed = ", ".join(p.value for p in cls)
            raise HandlingError("purpose", raw, allowed) from None

    @property
    def bit(self) -> int:
        """Its bit in the purposes mask stored for fast SQL filtering."""
        return 1 << list(Purpose).index(self)


def purposes_mask(purposes: frozenset[Purpose]) -> int:
    mask = 0
    for purpose in purposes:
        mask |= purpose.bit
    return mask


def purposes_from_mask(mask: int) -> frozenset[Purpose]:
    return frozenset(p for p in Purpose if mask & p.bit)


class Confidentiality(IntEnum):
    """Confidentiality level chosen by the source; a principal needs at least this clearance."""

    OFFICIAL_USE = 1
    RESTRICTED = 2
    CONFIDENTIAL = 3

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", "-")

    @classmethod
    def parse(cls, raw: str | int) -> Confidentiality:
        if isinstance(raw, int):
            try:
                return cls(raw)
            except ValueError:
                pass
        else:
            key = raw.strip().upper().replace("-", "_").replace(" ", "_")
            if key in cls.__members__:
                return cls[key]
        raise HandlingError("confidentiality", raw, "official-use, restricted or confidential")


class Reliability(StrEnum):
    """Source reliability, 4x4 grading (A, B, C, X)."""

    A = "A"  # no doubt as to authenticity, trustworthiness and competence
    B = "B"  # mostly reliable
    C = "C"  # mostly unreliable
    X = "X"  # cannot be assessed

    @classmethod
    def parse(cls, raw: str) -> Reliability:
        try:
            return cls(raw.strip().upper())
        except ValueError:
            raise HandlingError("source reliability", raw, "A, B, C or X") from None


class Credibility(StrEnum):
    """Information credibility, 4x4 grading (1 to 4)."""

    CONFIRMED = "1"  # not in doubt
    KNOWN_TO_SOURCE = "2"  # known personally to the source, not to the official passing it on
    CORROBORATED = "3"  # not known to the source, corroborated by what is already recorded
    UNCORROBORATED = "4"  # not known to the source and cannot be corroborated

    @classmethod
    def parse(cls, raw: str | int) -> Credibility:
        try:
            return cls(str(raw).strip())
        except ValueError:
            raise HandlingError("information credibility", raw, "1, 2, 3 or 4") from None


# The 4x4 grades are stored; MISP and OpenCTI speak the 6x6 Admiralty scale. The table is a
# design decision (DOMAIN.md §2.5): 4x4 -> 6x6 is injective, and 6x6 -> 4x4 maps each grade to
# the nearest 4x4 grade, so that 4x4 -> 6x6 -> 4x4 is the identity.
RELIABILITY_TO_ADMIRALTY = {
    Reliability.A: "A",
    Reliability.B: "B",
    Reliability.C: "D",
    Reliability.X: "F",
}
ADMIRALTY_TO_RELIABILITY = {
    "A": Reliability.A,
    "B": Reliability.B,
    "C": Reliability.B,
    "D": Reliability.C,
    "E": Reliability.C,
    "F": Reliability.X,
}
CREDIBILITY_TO_ADMIRALTY = {
    Credibility.CONFIRMED: "1",
    Credibility.KNOWN_TO_SOURCE: "2",
    Credibility.CORROBORATED: "3",
    Credibility.UNCORROBORATED: "6",
}
ADMIRALTY_TO_CREDIBILITY = {
    "1": Credibility.CONFIRMED,
    "2": Credibility.KNOWN_TO_SOURCE,
    "3": Credibility.CORROBORATED,
    "4": Credibility.UNCORROBORATED,
    "5": Credibility.UNCORROBORATED,
    "6": Credibility.UNCORROBORATED,
}


class ReviewState(StrEnum):
    """Where a record stands in the retention review (DOMAIN.md R6, R7)."""

    ACTIVE = "active"
    REVIEW_DUE = "review-due"
    RETAINED = "retained"


class Art3Status(StrEnum):
    """Neutrality review: a record is disseminated only once cleared (DOMAIN.md R4)."""

    CLEARED = "cleared"
    PENDING = "pending"
    BLOCKED = "blocked"


_COUNTRY = re.compile(r"^[A-Z]{2}$")
COUNTRY_CODES = frozenset(c.alpha_2 for c in pycountry.countries)


def parse_country(raw: str) -> str:
    code = raw.strip().upper()
    if not _COUNTRY.match(code) or code not in COUNTRY_CODES:
        raise HandlingError("country", raw, "an ISO 3166-1 alpha-2 code such as FR or BR")
    return code


def is_country_token(raw: str) -> bool:
    """In allow/deny lists a two-letter token names a country; anything longer names an org."""
    return len(raw.strip()) == 2


@dataclass(frozen=True, slots=True)
class Handling:
    """The rules under which one record is kept and shared.

    `source_org_id` is the org that submitted it. Org allow/deny entries are org ids.
    """

    source_org_id: int
    tlp: Tlp = Tlp.AMBER
    pap: Pap = Pap.AMBER
    audience: Audience = Audience.LAW_ENFORCEMENT
    handling_codes: frozenset[HandlingCode] = frozenset()
    h3_text: str | None = None
    allow_countries: frozenset[str] = frozenset()
    allow_orgs: frozenset[int] = frozenset()
    deny_countries: frozenset[str] = frozenset()
    deny_orgs: frozenset[int] = frozenset()
    purposes: frozenset[Purpose] = frozenset(
        {
            Purpose.CRIMINAL_INVESTIGATION,
            Purpose.THREAT_ANALYSIS,
            Purpose.WARNING,
            Purpose.FORENSIC_ANALYSIS,
        }
    )
    source_reliability: Reliability = Reliability.X
    information_credibility: Credibility = Credibility.UNCORROBORATED
    personal_data: bool = False
    confidentiality: Confidentiality = Confidentiality.OFFICIAL_USE

    def with_changes(self, **changes: object) -> Self:
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def admiralty(self) -> str:
        """The 6x6 grade for MISP and OpenCTI, e.g. "B2"."""
        return (
            RELIABILITY_TO_ADMIRALTY[self.source_reliability]
            + CREDIBILITY_TO_ADMIRALTY[self.information_credibility]
        )


@dataclass(frozen=True, slots=True)
class HandlingDefaults:
    """Partial handling: what a submission, a collection or an org sets for objects that carry
    none. `None` means "not set here, look further down the chain"."""

    tlp: Tlp | None = None
    pap: Pap | None = None
    audience: Audience | None = None
    handling_codes: frozenset[HandlingCode] | None = None
    h3_text: str | None = None
    allow_countries: frozenset[str] | None = None
    allow_orgs: frozenset[int] | None = None
    deny_countries: frozenset[str] | None = None
    deny_orgs: frozenset[int] | None = None
    purposes: frozenset[Purpose] | None = None
    source_reliability: Reliability | None = None
    information_credibility: Credibility | None = None
    personal_data: bool | None = None
    confidentiality: Confidentiality | None = None
    retention_until: datetime | None = None

    def over(self, lower: HandlingDefaults) -> HandlingDefaults:
        """These defaults, with unset fields taken from `lower`."""
        merged = {
            name: getattr(self, name) if getattr(self, name) is not None else getattr(lower, name)
            for name in _DEFAULT_FIELDS
        }
        return HandlingDefaults(**merged)

    def apply(self, source_org_id: int) -> Handling:
        """A full handling: set fields from here, the rest from canal's defaults."""
        values = {
            name: getattr(self, name)
            for name in _DEFAULT_FIELDS
            if name != "retention_until" and getattr(self, name) is not None
        }
        return Handling(source_org_id=source_org_id, **values)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for name in _DEFAULT_FIELDS:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, frozenset):
                out[name] = sorted(str(v) if not isinstance(v, int) else v for v in value)
            elif isinstance(value, Confidentiality):
                out[name] = value.label
            elif isinstance(value, datetime):
                out[name] = value.isoformat()
            else:
                out[name] = value if isinstance(value, bool) else str(value)
        return out

    @classmethod
    def from_json(cls, data: dict[str, object]) -> HandlingDefaults:
        def strs(key: str) -> list[str]:
            value = data.get(key)
            return [str(v) for v in value] if isinstance(value, list) else []

        def get(key: str) -> str | None:
            value = data.get(key)
            return None if value is None else str(value)

        tlp, pap, aud = get("tlp"), get("pap"), get("audience")
        rel, cred, conf = (
            get("source_reliability"),
            get("information_credibility"),
            get("confidentiality"),
        )
        retention = get("retention_until")
        return cls(
            tlp=Tlp.parse(tlp) if tlp else None,
            pap=Pap.parse(pap) if pap else None,
            audience=Audience.parse(aud) if aud else None,
            handling_codes=frozenset(HandlingCode.parse(c) for c in strs("handling_codes"))
            if "handling_codes" in data
            else None,
            h3_text=get("h3_text"),
            allow_countries=frozenset(parse_country(c) for c in strs("allow_countries"))
            if "allow_countries" in data
            else None,
            allow_orgs=frozenset(int(o) for o in strs("allow_orgs"))
            if "allow_orgs" in data
            else None,
            deny_countries=frozenset(parse_country(c) for c in strs("deny_countries"))
            if "deny_countries" in data
            else None,
            deny_orgs=frozenset(int(o) for o in strs("deny_orgs")) if "deny_orgs" in data else None,
            purposes=frozenset(Purpose.parse(p) for p in strs("purposes"))
            if "purposes" in data
            else None,
            source_reliability=Reliability.parse(rel) if rel else None,
            information_credibility=Credibility.parse(cred) if cred else None,
            personal_data=bool(data["personal_data"]) if "personal_data" in data else None,
            confidentiality=Confidentiality.parse(conf) if conf else None,
            retention_until=datetime.fromisoformat(retention) if retention else None,
        )


_DEFAULT_FIELDS = tuple(f for f in HandlingDefaults.__dataclass_fields__)

NO_DEFAULTS = HandlingDefaults()
