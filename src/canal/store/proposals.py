"""Proposals: changes to a record submitted by someone other than its source (R1)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Connection, Row, insert, select, update

from canal.store.tables import proposals


class ProposalState(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Proposal:
    id: int
    stix_id: str
    source_org_id: int
    proposer_org_id: int
    proposer: str
    object_text: str
    state: ProposalState
    note: str | None
    created_at: int
    decided_at: int | None


def _proposal(row: Row[tuple[object, ...]]) -> Proposal:
    d = row._mapping  # noqa: SLF001 - SQLAlchemy's API
    return Proposal(
        id=int(d["id"]),
        stix_id=str(d["stix_id"]),
        source_org_id=int(d["source_org_id"]),
        proposer_org_id=int(d["proposer_org_id"]),
        proposer=str(d["proposer"]),
        object_text=str(d["object"]),
        state=ProposalState(str(d["state"])),
        note=None if d["note"] is None else str(d["note"]),
        created_at=int(d["created_at"]),
        decided_at=None if d["decided_at"] is None else int(d["decided_at"]),
    )


def insert_proposal(
    conn: Connection,
    *,
    stix_id: str,
    source_org_id: int,
    proposer_org_id: int,
    proposer: str,
    object_text: str,
    now: int,
) -> int:
    result = conn.execute(
        insert(proposals).values(
            stix_id=stix_id,
            source_org_id=source_org_id,
            proposer_org_id=proposer_org_id,
            proposer=proposer,
            object=object_text,
            state=ProposalState.PENDING.value,
            created_at=now,
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def get_proposal(conn: Connection, proposal_id: int) -> Proposal | None:
    row = conn.execute(select(proposals).where(proposals.c.id == proposal_id)).first()
    return None if row is None else _proposal(row)


def list_proposals(
    conn: Connection, *, source_org_id: int | None = None, proposer_org_id: int | None = None
) -> list[Proposal]:
    query = select(proposals).order_by(proposals.c.id)
    if source_org_id is not None:
        query = query.where(proposals.c.source_org_id == source_org_id)
    if proposer_org_id is not None:
        query = query.where(proposals.c.proposer_org_id == proposer_org_id)
    return [_proposal(row) for row in conn.execute(query)]


def decide_proposal(
    conn: Connection, proposal_id: int, state: ProposalState, note: str | None, now: int
) -> None:
    conn.execute(
        update(proposals)
        .where(proposals.c.id == proposal_id)
        .values(state=state.value, note=note, decided_at=now)
    )
