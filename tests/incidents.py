"""Builders of ransomware incidents (canal's ransomware extension on STIX `incident`)."""

from __future__ import annotations

import uuid
from typing import Any

from canal.model.ransomware import RANSOMWARE_EXTENSION_ID

CREATED = "2026-02-01T10:00:00.000Z"
BTC = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
ETH = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
ONION = "alphvmmm27o3abo3r2mlmjrpdmzle3rykajqc5xsj7j7ejksbpsa36ad.onion"


def tox_id(key_byte: int = 0x5A) -> str:
    """A Tox id with a correct checksum (XOR of its 2-byte words)."""
    raw = bytes([key_byte]) * 32 + b"\x01\x02\x03\x04"
    checksum = [0, 0]
    for index, byte in enumerate(raw):
        checksum[index % 2] ^= byte
    return (raw + bytes(checksum)).hex().upper()


def full_extension() -> dict[str, Any]:
    """An extension body with every field set, valid."""
    return {
        "extension_type": "property-extension",
        "actor": {
            "family": "BlackCat",
            "family_aliases": ["ALPHV", "Noberus"],
            "family_galaxy_uuid": "e6c09b63-a424-4d9e-b7f7-b752cbbca02a",
            "group": "alphv",
            "affiliate": "Scattered Spider",
            "raas": True,
        },
        "victim": {
            "name": "Acme Hospital",
            "name_personal_data": False,
            "name_commercially_sensitive": True,
            "website": "acme-hospital.example",
            "country": "FR",
            "sector": "healthcare-and-public-health",
            "sector_detail": "Hospital",
            "size_band": "large",
        },
        "dates": {
            "first_intrusion": "2026-01-02T03:04:05Z",
            "encryption": "2026-01-09T00:00:00.000Z",
            "detected": "2026-01-09T06:00:00Z",
            "reported": "2026-01-10T12:00:00Z",
            "leak_post_discovered": "2026-01-20T00:00:00Z",
            "leak_post_published": "2026-01-19T00:00:00Z",
        },
        "initial_access": {"vector": "vulnerability-exploit", "cves": ["CVE-2023-4966"]},
        "ttps": ["T1486", "T1490", "T1078.002"],
        "extortion": {
            "encryption": True,
            "exfiltration": True,
            "ddos": False,
            "ransom_demanded": {"amount": 2_000_000, "currency": "USD"},
            "ransom_paid": {"amount": 12.5, "currency": "BTC", "date": "2026-01-15T00:00:00Z"},
            "wallet_addresses": [
                {"chain": "btc", "address": BTC},
                {"chain": "eth", "address": ETH},
            ],
            "negotiation_url": f"http://{ONION}/chat/1",
            "leak_site_url": f"http://{ONION}/acme",
            "ransom_note_hash": "a" * 64,
            "contact_emails": ["support@onionmail.example"],
            "tox_ids": [tox_id()],
        },
        "impact": {
            "downtime_hours": 72,
            "data_types_exposed": ["personal-data", "health-data"],
            "estimated_loss": {"amount": 5_000_000, "currency": "EUR"},
            "critical_service_disruption": True,
        },
    }


def incident(body: dict[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "type": "incident",
        "spec_version": "2.1",
        "id": f"incident--{uuid.uuid4()}",
        "created": CREATED,
        "modified": CREATED,
        "name": "Ransomware at Acme Hospital",
        "extensions": {RANSOMWARE_EXTENSION_ID: full_extension() if body is None else body},
    }
    obj.update(overrides)
    return obj
