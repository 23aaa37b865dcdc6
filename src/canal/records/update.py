"""A source's change to the handling of its record (R1): the latest version it holds takes the
new handling. Decided by the policy's UPDATE rule and written to the processing log."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import update

from canal.clock import Clock
from canal.errors import Forbidden, InvalidInput
from canal.model.audit import AuditEvent, EventTag
from canal.model.handling import Handling, HandlingDefaults, Purpose
from canal.model.org import Principal
from canal.model.stix import from_micros, to_micros
from canal.policy import Action, Policy
from canal.records.service import RecordService, Seen
from canal.store.database import Database
from canal.store.handlings import HandlingStore
from canal.store.tables import records
from canal.store.unit import write_unit


def as_defaults(h: Handling) -> HandlingDefaults:
    """A full handling as defaults, to lay changes over."""
    return HandlingDefaults(
        tlp=h.tlp,
        pap=h.pap,
        audience=h.audience,
        handling_codes=h.handling_codes,
        h3_text=h.h3_text,
        allow_countries=h.allow_countries,
        allow_orgs=h.allow_orgs,
        deny_countries=h.deny_countries,
        deny_orgs=h.deny_orgs,
        purposes=h.purposes,
        source_reliability=h.source_reliability,
        information_credibility=h.information_credibility,
        personal_data=h.personal_data,
        confidentiality=h.confidentiality,
    )


def _changed(before: Handling, after: Handling) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in before.__dataclass_fields__:
        old, new = getattr(before, name), getattr(after, name)
        if old != new:
            out[name] = sorted(str(v) for v in new) if isinstance(new, frozenset) else str(new)
    return out


class HandlingUpdateService:
    def __init__(
        self,
        *,
        database: Database,
        clock: Clock,
        handlings: HandlingStore,
        policy: Policy,
        records: RecordService,
    ) -> None:
        self.database = database
        self.clock = clock
        self.handlings = handlings
        self.policy = policy
        self.records = records

    def update(
        self,
        principal: Principal,
        stix_id: str,
        changes: HandlingDefaults,
        *,
        purpose: Purpose | None = None,
    ) -> Seen:
        """NotFound when the caller may not see the object; Forbidden when it may but is not
        its source."""
        seen = self.records.versions(principal, stix_id, purpose=purpose)
        chosen = self.records.purpose_of(principal, purpose)
        now = self.clock.now()
        own = [
            s
            for s in seen
            if self.policy.decide(principal, Action.UPDATE, s.record, purpose=chosen, now=now)
        ]
        if not own:
            raise Forbidden("only the source of a record may change its handling")
        target = max(own, key=lambda s: (s.record.is_latest, s.record.version))
        record = target.record
        before = record.handling
        after = changes.over(as_defaults(before)).apply(before.source_org_id)
        source = before.source_org_id
        if source in after.deny_orgs:
            raise InvalidInput("deny", "a deny list may not name the record's source")
        retention = record.retention_until
        if changes.retention_until is not None:
            # A source may shorten the retention period, never lengthen it (R6).
            if to_micros(changes.retention_until) > to_micros(retention):
                raise InvalidInput("retention_until", "may be shortened, not lengthened")
            retention = changes.retention_until
        with write_unit(self.database, self.clock) as unit:
            handling_id = self.handlings.intern(unit, after)
            unit.conn.execute(
                update(records)
                .where(records.c.pk == record.pk)
                .values(handling_id=handling_id, retention_until=to_micros(retention))
            )
            unit.log(
                AuditEvent(
                    action=EventTag.RECORD_UPDATE,
                    actor=principal.label,
                    org_id=principal.org.id or None,
                    purpose=chosen.value,
                    summary={"handling": _changed(before, after), "version": record.version},
                    subjects=(stix_id,),
                )
            )
        updated = replace(
            record,
            handling=after,
            handling_id=handling_id,
            retention_until=from_micros(to_micros(retention)),
        )
        return Seen(updated, target.redactions)
