"""The secretariat's review of partner submissions (R21) and sources' review of proposed
changes to their records (R1)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson
from sqlalchemy import and_, select, update

from canal.clock import Clock
from canal.errors import Forbidden, InvalidInput, NotFound
from canal.ingest.service import IngestService, ObjectResult
from canal.ingest.stix import without_handling
from canal.model.audit import AuditEvent, EventTag
from canal.model.handling import Audience, Handling, HandlingDefaults, Tlp
from canal.model.org import Org, OrgKind, Principal, Role
from canal.model.record import ReleaseState
from canal.records.service import RecordService, Seen
from canal.store import orgs as org_store
from canal.store import proposals as proposal_store
from canal.store.database import Database
from canal.store.handlings import HandlingStore
from canal.store.proposals import Proposal, ProposalState
from canal.store.records import RecordQuery, RecordReader
from canal.store.tables import records
from canal.store.unit import write_unit

REVIEWERS = frozenset({Role.ANALYST, Role.ADMIN})


class ReviewService:
    def __init__(
        self,
        *,
        database: Database,
        clock: Clock,
        handlings: HandlingStore,
        records: RecordService,
        ingest: IngestService,
    ) -> None:
        self.database = database
        self.clock = clock
        self.handlings = handlings
        self.records = records
        self.ingest = ingest
        self.reader = RecordReader(handlings)

    # -- partner quarantine ---------------------------------------------------------------

    def _require_reviewer(self, principal: Principal) -> None:
        if principal.role not in REVIEWERS:
            raise Forbidden(f"{principal.label} may not review partner submissions")

    def quarantined(self, principal: Principal, *, limit: int = 100) -> list[Seen]:
        """Partner submissions waiting for the secretariat, oldest first."""
        self._require_reviewer(principal)
        query = RecordQuery(
            latest_only=False,
            extra=(records.c.release_state == ReleaseState.QUARANTINED.value,),
        )
        return self.records.page(principal, query, limit=limit).items

    def _secretariat(self, principal: Principal) -> Org:
        if principal.org.kind is OrgKind.SECRETARIAT and principal.org.id:
            return principal.org
        with self.database.read() as conn:
            found = [o for o in org_store.list_orgs(conn) if o.kind is OrgKind.SECRETARIAT]
        if not found:
            raise InvalidInput("release", "no secretariat org exists to disseminate the record")
        return found[0]

    def release(
        self,
        principal: Principal,
        stix_id: str,
        *,
        tlp: Tlp | None = None,
        audience: Audience | None = None,
    ) -> int:
        """Release a partner's quarantined submission as a secretariat product: visible to the
        members its handling opens it to, with the secretariat named as disseminator. The
        secretariat may narrow or open its TLP and audience on the way."""
        self._require_reviewer(principal)
        secretariat = self._secretariat(principal)
        with write_unit(self.database, self.clock) as unit:
            rows = unit.conn.execute(
                select(records.c.pk, records.c.handling_id).where(
                    and_(
                        records.c.stix_id == stix_id,
                        records.c.release_state == ReleaseState.QUARANTINED.value,
                    )
                )
            ).all()
            if not rows:
                raise NotFound("quarantined submission", stix_id)
            for pk, handling_id in rows:
                handling: Handling = self.handlings.get(unit.conn, handling_id)
                changes: dict[str, Any] = {}
                if tlp is not None:
                    changes["tlp"] = tlp
                if audience is not None:
                    changes["audience"] = audience
                new_id = self.handlings.intern(unit, replace(handling, **changes))
                unit.conn.execute(
                    update(records)
                    .where(records.c.pk == pk)
                    .values(
                        release_state=ReleaseState.RELEASED.value,
                        disseminator_org_id=secretariat.id,
                        handling_id=new_id,
                    )
                )
            unit.log(
                AuditEvent(
                    action=EventTag.RECORD_RELEASE,
                    actor=principal.label,
                    org_id=principal.org.id or None,
                    summary={
                        "versions": len(rows),
                        "disseminator": secretariat.name,
                        "tlp": None if tlp is None else tlp.value,
                        "audience": None if audience is None else audience.value,
                    },
                    subjects=(stix_id,),
                )
            )
        return len(rows)

    def reject(self, principal: Principal, stix_id: str, reason: str) -> int:
        self._require_reviewer(principal)
        if not reason.strip():
            raise InvalidInput("reason", "a rejection needs a reason the partner can read")
        with write_unit(self.database, self.clock) as unit:
            result = unit.conn.execute(
                update(records)
                .where(
                    and_(
                        records.c.stix_id == stix_id,
                        records.c.release_state == ReleaseState.QUARANTINED.value,
                    )
                )
                .values(release_state=ReleaseState.REJECTED.value, release_note=reason.strip())
            )
            if not result.rowcount:
                raise NotFound("quarantined submission", stix_id)
            unit.log(
                AuditEvent(
                    action=EventTag.RECORD_REJECT,
                    actor=principal.label,
                    org_id=principal.org.id or None,
                    summary={"reason": reason.strip()},
                    subjects=(stix_id,),
                )
            )
        return int(result.rowcount)

    # -- proposals ------------------------------------------------------------------------

    def proposals(self, principal: Principal) -> list[Proposal]:
        """Proposals addressed to the principal's org, and those it made."""
        with self.database.read() as conn:
            if principal.role is Role.ADMIN:
                return proposal_store.list_proposals(conn)
            mine = proposal_store.list_proposals(conn, source_org_id=principal.org.id)
            made = proposal_store.list_proposals(conn, proposer_org_id=principal.org.id)
        return sorted({p.id: p for p in [*mine, *made]}.values(), key=lambda p: p.id)

    def _pending_for_source(self, principal: Principal, proposal_id: int) -> Proposal:
        with self.database.read() as conn:
            proposal = proposal_store.get_proposal(conn, proposal_id)
        visible = proposal is not None and (
            principal.role is Role.ADMIN
            or principal.org.id in {proposal.source_org_id, proposal.proposer_org_id}
        )
        if proposal is None or not visible:
            raise NotFound("proposal", str(proposal_id))
        if principal.role is not Role.ADMIN and principal.org.id != proposal.source_org_id:
            raise Forbidden("only the record's source decides on a proposal")
        if proposal.state is not ProposalState.PENDING:
            raise InvalidInput("proposal", f"proposal {proposal_id} is already {proposal.state}")
        return proposal

    def accept(self, principal: Principal, proposal_id: int) -> ObjectResult:
        """The source takes the proposed object as its own new version, under the handling of
        its current version (what the proposer marked it with does not count)."""
        proposal = self._pending_for_source(principal, proposal_id)
        with self.database.read() as conn:
            source = org_store.org_by_id(conn, proposal.source_org_id)
            current = self.reader.versions(
                conn,
                proposal.stix_id,
                RecordQuery(source_org_ids=frozenset({proposal.source_org_id})),
            )
        if source is None or not current:
            raise NotFound("proposal", str(proposal_id))
        handling = current[-1].handling
        defaults = HandlingDefaults(
            tlp=handling.tlp,
            pap=handling.pap,
            audience=handling.audience,
            handling_codes=handling.handling_codes,
            h3_text=handling.h3_text,
            allow_countries=handling.allow_countries,
            allow_orgs=handling.allow_orgs,
            deny_countries=handling.deny_countries,
            deny_orgs=handling.deny_orgs,
            purposes=handling.purposes,
            source_reliability=handling.source_reliability,
            information_credibility=handling.information_credibility,
            personal_data=handling.personal_data,
            confidentiality=handling.confidentiality,
        )
        obj = without_handling(orjson.loads(proposal.object_text))
        report = self.ingest.ingest_objects(
            [obj], principal=principal, source=source, defaults=defaults
        )
        result = report.results[0]
        if result.status.value in {"created", "new-version"}:
            self._decide(principal, proposal, ProposalState.ACCEPTED, None)
        return result

    def reject_proposal(self, principal: Principal, proposal_id: int, reason: str) -> None:
        proposal = self._pending_for_source(principal, proposal_id)
        self._decide(principal, proposal, ProposalState.REJECTED, reason.strip() or None)

    def _decide(
        self, principal: Principal, proposal: Proposal, state: ProposalState, note: str | None
    ) -> None:
        with write_unit(self.database, self.clock) as unit:
            proposal_store.decide_proposal(unit.conn, proposal.id, state, note, unit.now)
            unit.log(
                AuditEvent(
                    action=EventTag.PROPOSAL_ACCEPT
                    if state is ProposalState.ACCEPTED
                    else EventTag.PROPOSAL_REJECT,
                    actor=principal.label,
                    org_id=principal.org.id or None,
                    summary={"proposal": proposal.id, "note": note},
                    subjects=(proposal.stix_id,),
                )
            )
