"""Streaming STIX 2.1 bundle export: memory stays flat however many records go out."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import orjson

from canal.clock import Clock
from canal.model.audit import AuditEvent, EventTag
from canal.model.extension import CANAL_EXTENSION_DEFINITION, CANAL_IDENTITY
from canal.model.handling import Tlp
from canal.model.org import Principal
from canal.model.stix import tlp2_marking_definition
from canal.records.service import RecordService, present
from canal.store.database import Database
from canal.store.records import RecordQuery
from canal.store.unit import write_unit

#: Objects every bundle carries first, so that the markings and extension it uses resolve.
PREAMBLE = [
    CANAL_IDENTITY,
    CANAL_EXTENSION_DEFINITION,
    *(tlp2_marking_definition(tlp) for tlp in Tlp),
]
_PREAMBLE_IDS = frozenset(str(obj["id"]) for obj in PREAMBLE)


class StixExporter:
    def __init__(self, *, records: RecordService, database: Database, clock: Clock) -> None:
        self.records = records
        self.database = database
        self.clock = clock

    def bundle_chunks(
        self, principal: Principal, query: RecordQuery, *, log_batch: int = 5000
    ) -> Iterator[bytes]:
        """The bundle as a stream of byte chunks. What went out is written to the processing
        log in batches as it streams."""
        org_names = self.records.org_names()
        yield b'{"type":"bundle","id":"bundle--' + str(uuid.uuid4()).encode() + b'","objects":['
        first = True
        for obj in PREAMBLE:
            yield (b"" if first else b",") + orjson.dumps(obj)
            first = False
        sent: list[str] = []
        buffer: list[bytes] = []
        for record in self.records.iterate(principal, query):
            if record.stix_id in _PREAMBLE_IDS:
                continue
            buffer.append(b"," + orjson.dumps(present(record, org_names)))
            sent.append(record.stix_id)
            if len(buffer) >= 500:
                yield b"".join(buffer)
                buffer.clear()
            if len(sent) >= log_batch:
                self._log(principal, sent)
                sent = []
        if buffer:
            yield b"".join(buffer)
        self._log(principal, sent)
        yield b"]}"

    def _log(self, principal: Principal, stix_ids: list[str]) -> None:
        if not stix_ids:
            return
        with write_unit(self.database, self.clock) as unit:
            unit.log(
                AuditEvent(
                    action=EventTag.RECORD_EXPORT,
                    actor=principal.label,
                    org_id=principal.org.id or None,
                    summary={"format": "stix", "count": len(stix_ids)},
                    subjects=tuple(stix_ids),
                )
            )
