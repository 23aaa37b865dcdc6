"""Streaming STIX 2.1 bundle export: memory stays flat however many records go out."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import orjson

from canal.model.extension import CANAL_EXTENSION_DEFINITION, CANAL_IDENTITY
from canal.model.handling import Purpose, Tlp
from canal.model.org import Principal
from canal.model.ransomware import RANSOMWARE_EXTENSION_DEFINITION
from canal.model.stix import tlp2_marking_definition
from canal.records.service import RecordService, present
from canal.store.records import RecordQuery

#: Objects every bundle carries first, so that the markings and extension it uses resolve.
PREAMBLE = [
    CANAL_IDENTITY,
    CANAL_EXTENSION_DEFINITION,
    RANSOMWARE_EXTENSION_DEFINITION,
    *(tlp2_marking_definition(tlp) for tlp in Tlp),
]
_PREAMBLE_IDS = frozenset(str(obj["id"]) for obj in PREAMBLE)


class StixExporter:
    def __init__(self, *, records: RecordService) -> None:
        self.records = records

    def bundle_chunks(
        self,
        principal: Principal,
        query: RecordQuery,
        *,
        purpose: Purpose | None = None,
        log_batch: int = 5000,
    ) -> Iterator[bytes]:
        """The bundle as a stream of byte chunks. What went out is written to the processing
        log in batches as it streams."""
        org_names = self.records.org_names()
        yield b'{"type":"bundle","id":"bundle--' + str(uuid.uuid4()).encode() + b'","objects":['
        yield b",".join(orjson.dumps(obj) for obj in PREAMBLE)
        sent: list[str] = []
        buffer: list[bytes] = []
        for seen in self.records.iterate(principal, query, purpose=purpose):
            if seen.record.stix_id in _PREAMBLE_IDS:
                continue
            buffer.append(b"," + orjson.dumps(present(seen, org_names)))
            sent.append(seen.record.stix_id)
            if len(buffer) >= 500:
                yield b"".join(buffer)
                buffer.clear()
            if len(sent) >= log_batch:
                self.records.log_export(principal, purpose, sent, "stix")
                sent = []
        if buffer:
            yield b"".join(buffer)
        self.records.log_export(principal, purpose, sent, "stix")
        yield b"]}"
