"""Examples shown in the OpenAPI document, one per answer shape."""

from __future__ import annotations

from typing import Any

_INDICATOR = "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"

HANDLING_EXAMPLE: dict[str, Any] = {
    "source": "NCB Paris",
    "tlp": "TLP:AMBER",
    "pap": "PAP:AMBER",
    "audience": "law-enforcement",
    "handling_codes": ["H2"],
    "h3_text": None,
    "allow": [],
    "deny": ["RU"],
    "purposes": ["criminal-investigation", "threat-analysis"],
    "source_reliability": "B",
    "information_credibility": "2",
    "admiralty": "B2",
    "personal_data": False,
    "confidentiality": "official-use",
    "retention_until": "2031-03-01T10:00:00+00:00",
    "review_state": "active",
    "art3_status": "cleared",
    "release_state": "released",
}

ITEM_EXAMPLE: dict[str, Any] = {
    "id": _INDICATOR,
    "type": "indicator",
    "version": "2026-03-01T10:00:00.000000Z",
    "date_added": "2026-03-01T10:05:12.123456Z",
    "handling": HANDLING_EXAMPLE,
    "object": {
        "type": "indicator",
        "spec_version": "2.1",
        "id": _INDICATOR,
        "created": "2026-03-01T10:00:00.000Z",
        "modified": "2026-03-01T10:00:00.000Z",
        "name": "LockBit C2",
        "pattern": "[ipv4-addr:value = '203.0.113.7']",
        "pattern_type": "stix",
        "valid_from": "2026-03-01T10:00:00Z",
        "object_marking_refs": ["marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"],
        "extensions": {
            "extension-definition--0737874a-106f-43e6-ac24-01df261779b1": {
                "extension_type": "property-extension",
                "source": "NCB Paris",
                "pap": "amber",
                "audience": "law-enforcement",
            }
        },
    },
}

LIST_EXAMPLE: dict[str, Any] = {"items": [ITEM_EXAMPLE], "next": "q1w2e3r4t5y6u7i8o9p0"}

OBJECT_EXAMPLE: dict[str, Any] = {
    **ITEM_EXAMPLE,
    "versions": [
        {
            "version": "2026-03-01T10:00:00.000000Z",
            "date_added": "2026-03-01T10:05:12.123456Z",
            "source": "NCB Paris",
            "revoked": False,
        }
    ],
}

SUBMIT_RESULT_EXAMPLE: dict[str, Any] = {
    "submission": "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f",
    "counts": {"created": 1, "new-version": 0, "duplicate": 1, "proposed": 0, "rejected": 1},
    "results": [
        {
            "index": 0,
            "id": _INDICATOR,
            "status": "created",
            "version": "2026-03-01T10:00:00.000000Z",
        },
        {
            "index": 1,
            "id": "malware--2c5a1f0e-9b8d-4e7c-a6f5-1d2e3c4b5a69",
            "status": "duplicate",
            "version": "2026-02-01T10:00:00.000000Z",
        },
        {
            "index": 2,
            "id": "indicator--00000000-0000-4000-8000-000000000001",
            "status": "rejected",
            "reason": "pattern: expected ']' at position 31",
        },
    ],
}

PROPOSALS_EXAMPLE: dict[str, Any] = {
    "items": [
        {
            "id": 7,
            "object_id": _INDICATOR,
            "source": "NCB Paris",
            "proposer": "NCB Rome",
            "state": "pending",
            "note": None,
            "created": "2026-03-02T08:00:00.000000Z",
        }
    ]
}

PROPOSAL_ACCEPTED_EXAMPLE: dict[str, Any] = {
    "index": 0,
    "id": _INDICATOR,
    "status": "new-version",
    "version": "2026-03-02T08:00:00.000000Z",
}

QUARANTINE_EXAMPLE: dict[str, Any] = {
    "items": [
        {
            "id": _INDICATOR,
            "version": "2026-03-01T10:00:00.000000Z",
            "handling": {**HANDLING_EXAMPLE, "source": "Acme Threat Labs"},
            "object": ITEM_EXAMPLE["object"],
        }
    ]
}


def example(value: Any, description: str = "Success") -> dict[int | str, dict[str, Any]]:
    """A `responses` entry for a 200 with this example."""
    return {200: {"description": description, "content": {"application/json": {"example": value}}}}
