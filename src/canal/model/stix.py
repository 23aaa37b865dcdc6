"""STIX 2.1 vocabulary canal relies on: object kinds, identifiers, timestamps, TLP markings."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from canal.model.handling import Tlp

SDO_TYPES = frozenset(
    {
        "attack-pattern",
        "campaign",
        "course-of-action",
        "grouping",
        "identity",
        "incident",
        "indicator",
        "infrastructure",
        "intrusion-set",
        "location",
        "malware",
        "malware-analysis",
        "note",
        "observed-data",
        "opinion",
        "report",
        "threat-actor",
        "tool",
        "vulnerability",
    }
)
SRO_TYPES = frozenset({"relationship", "sighting"})
SCO_TYPES = frozenset(
    {
        "artifact",
        "autonomous-system",
        "directory",
        "domain-name",
        "email-addr",
        "email-message",
        "file",
        "ipv4-addr",
        "ipv6-addr",
        "mac-addr",
        "mutex",
        "network-traffic",
        "process",
        "software",
        "url",
        "user-account",
        "windows-registry-key",
        "x509-certificate",
    }
)
META_TYPES = frozenset({"language-content", "marking-definition", "extension-definition"})
KNOWN_TYPES = SDO_TYPES | SRO_TYPES | SCO_TYPES | META_TYPES

#: Objects that describe markings and extensions themselves: they carry no canal handling.
UNMARKED_TYPES = frozenset({"marking-definition", "extension-definition"})

# RFC 4122 reads hex digits case-insensitively, and real bundles (OASIS examples included)
# carry upper-case ones.
UUID_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
TYPE_RE = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?!-)){1,248}[a-z0-9]$")
ID_RE = re.compile(r"^([a-z0-9][a-z0-9-]{1,248}[a-z0-9])--(" + UUID_PATTERN + r")$")
TIMESTAMP_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z$")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


def parse_timestamp(raw: str) -> datetime:
    """A STIX timestamp as an aware datetime. Raises ValueError naming the problem."""
    if not TIMESTAMP_RE.match(raw):
        raise ValueError(f"{raw!r} is not a STIX timestamp (YYYY-MM-DDTHH:MM:SS[.s+]Z)")
    return datetime.fromisoformat(raw)


def to_micros(at: datetime) -> int:
    """Microseconds since the epoch: how versions and date_added are stored and compared."""
    return (at - _EPOCH) // _MICRO


def from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def format_micros(micros: int) -> str:
    """The TAXII timestamp form: UTC with exactly six fractional digits."""
    return from_micros(micros).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_timestamp(at: datetime) -> str:
    """A STIX timestamp with millisecond precision, as most producers write them."""
    text = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return text[:-3] + "Z"


# TLP 2.0 marking definitions, as published by OASIS (cti-stix-common-objects).
TLP2_EXTENSION_ID = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
TLP2_MARKING_IDS: dict[Tlp, str] = {
    Tlp.CLEAR: "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    Tlp.GREEN: "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    Tlp.AMBER: "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    Tlp.AMBER_STRICT: "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    Tlp.RED: "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
# TLP 1.0 marking definitions predefined by STIX 2.1; read on input only (WHITE becomes CLEAR).
TLP1_MARKING_IDS: dict[str, Tlp] = {
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": Tlp.CLEAR,
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": Tlp.GREEN,
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": Tlp.AMBER,
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": Tlp.RED,
}
TLP_BY_MARKING_ID: dict[str, Tlp] = {
    **TLP1_MARKING_IDS,
    **{marking_id: tlp for tlp, marking_id in TLP2_MARKING_IDS.items()},
}


def tlp2_marking_definition(tlp: Tlp) -> dict[str, object]:
    """The TLP 2.0 marking-definition object for `tlp`, to ship beside objects that use it."""
    return {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": TLP2_MARKING_IDS[tlp],
        "created": "2022-10-01T00:00:00.000Z",
        "name": tlp.label,
        "extensions": {
            TLP2_EXTENSION_ID: {"extension_type": "property-extension", "tlp_2_0": tlp.value}
        },
    }


#: Properties each type must carry besides type and id (STIX 2.1, sections 4 to 7).
#: A tuple inside the tuple means "at least one of these".
REQUIRED_PROPERTIES: dict[str, tuple[str | tuple[str, ...], ...]] = {
    "attack-pattern": ("name",),
    "campaign": ("name",),
    "course-of-action": ("name",),
    "grouping": ("context", "object_refs"),
    "identity": ("name",),
    "incident": ("name",),
    "indicator": ("pattern", "pattern_type", "valid_from"),
    "infrastructure": ("name",),
    "intrusion-set": ("name",),
    "location": (("region", "country", "latitude"),),
    "malware": ("is_family",),
    "malware-analysis": ("product", ("result", "analysis_sco_refs")),
    "note": ("content", "object_refs"),
    "observed-data": ("first_observed", "last_observed", "number_observed"),
    "opinion": ("opinion", "object_refs"),
    "report": ("name", "published", "object_refs"),
    "threat-actor": ("name",),
    "tool": ("name",),
    "vulnerability": ("name",),
    "relationship": ("relationship_type", "source_ref", "target_ref"),
    "sighting": ("sighting_of_ref",),
    "language-content": ("object_ref", "contents"),
    "marking-definition": (("definition", "extensions"),),
    "extension-definition": ("name", "schema", "version", "extension_types", "created_by_ref"),
    "artifact": (("payload_bin", "url"),),
    "autonomous-system": ("number",),
    "directory": ("path",),
    "domain-name": ("value",),
    "email-addr": ("value",),
    "email-message": ("is_multipart",),
    "file": (("hashes", "name"),),
    "ipv4-addr": ("value",),
    "ipv6-addr": ("value",),
    "mac-addr": ("value",),
    "mutex": ("name",),
    "network-traffic": ("protocols",),
    "software": ("name",),
    "url": ("value",),
}

#: Timestamp-valued properties checked on ingest (top level only: cheap, and where they live).
TIMESTAMP_PROPERTIES = frozenset(
    {
        "created",
        "modified",
        "valid_from",
        "valid_until",
        "first_seen",
        "last_seen",
        "first_observed",
        "last_observed",
        "published",
        "start_time",
        "stop_time",
    }
)

#: Types that MUST carry created and modified (SDOs, SROs and the versioned meta objects).
VERSIONED_TYPES = SDO_TYPES | SRO_TYPES | frozenset({"language-content", "extension-definition"})
