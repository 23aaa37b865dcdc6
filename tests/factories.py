"""Builders of test data. Each returns plain STIX dicts or canal objects with sensible
defaults that a test overrides with keyword arguments."""

from __future__ import annotations

import uuid
from typing import Any

from canal.accounts.service import LOCAL_ADMIN
from canal.app import Services
from canal.model.org import Org, OrgKind
from canal.model.record import Record
from canal.store.records import RecordQuery

CREATED = "2026-02-01T10:00:00.000Z"


def stix_id(stix_type: str) -> str:
    return f"{stix_type}--{uuid.uuid4()}"


def indicator(value: str = "198.51.100.7", **overrides: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": stix_id("indicator"),
        "created": CREATED,
        "modified": CREATED,
        "name": f"C2 {value}",
        "pattern": f"[ipv4-addr:value = '{value}']",
        "pattern_type": "stix",
        "valid_from": CREATED,
    }
    obj.update(overrides)
    return obj


def malware(name: str = "LockBit", **overrides: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "type": "malware",
        "spec_version": "2.1",
        "id": stix_id("malware"),
        "created": CREATED,
        "modified": CREATED,
        "name": name,
        "is_family": True,
    }
    obj.update(overrides)
    return obj


def ipv4(value: str = "198.51.100.7", **overrides: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "type": "ipv4-addr",
        "spec_version": "2.1",
        "id": f"ipv4-addr--{uuid.uuid5(uuid.NAMESPACE_URL, value)}",
        "value": value,
    }
    obj.update(overrides)
    return obj


def bundle(*objects: dict[str, Any]) -> dict[str, Any]:
    return {"type": "bundle", "id": stix_id("bundle"), "objects": list(objects)}


def add_org(
    services: Services,
    name: str = "NCB Paris",
    kind: OrgKind = OrgKind.MEMBER,
    country: str | None = "FR",
) -> Org:
    if kind is not OrgKind.MEMBER:
        country = None
    return services.accounts.add_org(LOCAL_ADMIN, name=name, kind=kind, country=country)


def record_versions(services: Services, stix_id: str) -> list[Record]:
    """Every stored version of `stix_id`, as the local administrator sees them."""
    return [seen.record for seen in services.records.versions(LOCAL_ADMIN, stix_id)]


def all_records(services: Services, query: RecordQuery | None = None) -> list[Record]:
    return [seen.record for seen in services.records.iterate(LOCAL_ADMIN, query or RecordQuery())]
