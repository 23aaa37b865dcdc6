"""Synthetic STIX 2.1 objects for benchmarks: about half indicators, the rest observables,
malware, identities and relationships. Deterministic for a given seed."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from typing import Any

STAMP = "2026-03-0{d}T1{h}:2{m}:3{s}.{ms:03d}Z"


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _stamp(rng: random.Random) -> str:
    return STAMP.format(
        d=rng.randint(1, 9),
        h=rng.randint(0, 9),
        m=rng.randint(0, 9),
        s=rng.randint(0, 9),
        ms=rng.randint(0, 999),
    )


def _pattern(rng: random.Random) -> str:
    kind = rng.randrange(5)
    if kind == 0:
        octets = ".".join(str(rng.randrange(256)) for _ in range(3))
        return f"[ipv4-addr:value = '198.{octets}']"
    if kind == 1:
        return f"[domain-name:value = 'x{rng.getrandbits(40):x}.example.com']"
    if kind == 2:
        return (
            f"[url:value = 'http://x{rng.getrandbits(32):x}.example.net/p/{rng.getrandbits(24):x}']"
        )
    if kind == 3:
        return f"[file:hashes.'SHA-256' = '{rng.getrandbits(256):064x}']"
    return f"[file:hashes.MD5 = '{rng.getrandbits(128):032x}']"


def generate(n: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    recent: list[str] = []
    for i in range(n):
        stamp = _stamp(rng)
        roll = i % 10
        if roll < 5:
            obj: dict[str, Any] = {
                "type": "indicator",
                "spec_version": "2.1",
                "id": f"indicator--{_uuid(rng)}",
                "created": stamp,
                "modified": stamp,
                "name": f"indicator {i}",
                "indicator_types": ["malicious-activity"],
                "pattern": _pattern(rng),
                "pattern_type": "stix",
                "valid_from": stamp,
            }
        elif roll < 7:
            value = f"203.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}"
            obj = {
                "type": "ipv4-addr",
                "spec_version": "2.1",
                "id": f"ipv4-addr--{_uuid(rng)}",
                "value": value,
            }
        elif roll < 8:
            obj = {
                "type": "malware",
                "spec_version": "2.1",
                "id": f"malware--{_uuid(rng)}",
                "created": stamp,
                "modified": stamp,
                "name": f"family {rng.randrange(2000)}",
                "is_family": True,
                "malware_types": ["ransomware"],
            }
        elif roll < 9:
            obj = {
                "type": "identity",
                "spec_version": "2.1",
                "id": f"identity--{_uuid(rng)}",
                "created": stamp,
                "modified": stamp,
                "name": f"victim {i}",
                "identity_class": "organization",
                "sectors": ["healthcare"],
            }
        else:
            source = recent[-1] if recent else f"indicator--{_uuid(rng)}"
            obj = {
                "type": "relationship",
                "spec_version": "2.1",
                "id": f"relationship--{_uuid(rng)}",
                "created": stamp,
                "modified": stamp,
                "relationship_type": "indicates",
                "source_ref": source,
                "target_ref": f"malware--{_uuid(rng)}",
            }
        if obj["type"] == "indicator":
            recent.append(obj["id"])
            if len(recent) > 16:
                recent.pop(0)
        yield obj
