"""Per-partner Bloom filters of what the partner may know about, and their keys."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from sqlalchemy import insert, select, update

from canal.analysis.bloom import BloomFilter
from canal.clock import Clock
from canal.errors import Forbidden, InvalidInput
from canal.model.audit import AuditEvent, EventTag
from canal.model.org import Org, OrgKind, Principal, Role
from canal.records.service import RecordService
from canal.store.records import RecordQuery
from canal.store.tables import bloom_keys, observables, record_observables
from canal.store.unit import write_unit

ROTATORS = frozenset({Role.ANALYST, Role.ADMIN})


@dataclass(frozen=True, slots=True)
class BloomExport:
    filter: BloomFilter
    generation: int


class BloomService:
    def __init__(self, *, clock: Clock, records: RecordService, secret_key: str) -> None:
        self.records = records
        self.database = records.database
        self.clock = clock
        self._secret = hashlib.sha256(b"canal-bloom:" + secret_key.encode()).digest()

    def _generation(self, org_id: int) -> int:
        with self.database.read() as conn:
            found = conn.execute(
                select(bloom_keys.c.generation).where(bloom_keys.c.org_id == org_id)
            ).scalar()
        return int(found or 1)

    def key_for(self, org_id: int, generation: int) -> bytes:
        return hmac.new(self._secret, f"{org_id}:{generation}".encode(), hashlib.sha256).digest()[
            :16
        ]

    def export(self, principal: Principal, *, fp_rate: float = 0.001) -> BloomExport:
        """The filter of the values in records the partner may see (no warninglisted ones)."""
        if principal.org.kind is not OrgKind.PARTNER:
            raise Forbidden("Bloom filters are for partners; members and analysts use lookups")
        if not 1e-9 <= fp_rate <= 0.1:
            raise InvalidInput("fp_rate", "must be between 1e-9 and 0.1")
        visible = [
            seen.record
            for seen in self.records.iterate(principal, RecordQuery(include_revoked=False))
        ]
        visible_pks = [record.pk for record in visible]
        keys: set[str] = set()
        with self.database.read() as conn:
            for start in range(0, len(visible_pks), 500):
                chunk = visible_pks[start : start + 500]
                for kind, value in conn.execute(
                    select(observables.c.kind, observables.c.value)
                    .join(
                        record_observables,
                        record_observables.c.observable_id == observables.c.id,
                    )
                    .where(
                        record_observables.c.record_pk.in_(chunk),
                        observables.c.flag.is_(None),
                    )
                ):
                    keys.add(f"{kind}:{value}")
        generation = self._generation(principal.org.id)
        built = BloomFilter.build(
            sorted(keys),
            key=self.key_for(principal.org.id, generation),
            count=len(keys),
            fp_rate=fp_rate,
        )
        with write_unit(self.database, self.clock) as unit:
            unit.log(
                AuditEvent(
                    action=EventTag.BLOOM_EXPORT,
                    actor=principal.label,
                    org_id=principal.org.id,
                    summary={"values": built.n, "generation": generation, "fp_rate": fp_rate},
                    subjects=tuple(dict.fromkeys(record.stix_id for record in visible)),
                )
            )
        return BloomExport(built, generation)

    def rotate(self, principal: Principal, org: Org) -> int:
        """A new key for `org`'s filters; the old ones stop matching what the partner checks
        with the new key, and a leaked old filter tells nothing about later data."""
        if principal.role not in ROTATORS:
            raise Forbidden(f"{principal.label} may not rotate Bloom keys")
        if org.kind is not OrgKind.PARTNER:
            raise InvalidInput("org", f"{org.name!r} is not a partner")
        with write_unit(self.database, self.clock) as unit:
            current = unit.conn.execute(
                select(bloom_keys.c.generation).where(bloom_keys.c.org_id == org.id)
            ).scalar()
            generation = int(current or 1) + 1
            if current is None:
                unit.conn.execute(
                    insert(bloom_keys).values(
                        org_id=org.id, generation=generation, rotated_at=unit.now
                    )
                )
            else:
                unit.conn.execute(
                    update(bloom_keys)
                    .where(bloom_keys.c.org_id == org.id)
                    .values(generation=generation, rotated_at=unit.now)
                )
            unit.log(
                AuditEvent(
                    action=EventTag.BLOOM_ROTATE,
                    actor=principal.label,
                    org_id=principal.org.id or None,
                    summary={"org": org.name, "generation": generation},
                )
            )
        return generation
