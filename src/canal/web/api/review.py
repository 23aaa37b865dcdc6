"""/api/v1/quarantine and /api/v1/proposals: the secretariat's review of partner submissions,
and sources' review of changes proposed to their records."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Request

from canal.errors import InvalidInput
from canal.model.handling import Audience, HandlingError, Tlp
from canal.model.stix import format_micros
from canal.records.service import handling_json, present
from canal.store.proposals import Proposal
from canal.web.api.examples import (
    PROPOSAL_ACCEPTED_EXAMPLE,
    PROPOSALS_EXAMPLE,
    QUARANTINE_EXAMPLE,
    example,
)
from canal.web.auth import services_of
from canal.web.deps import CallerDep
from canal.web.responses import JsonResponse

router = APIRouter(prefix="/api/v1", tags=["review"])

# Proposal ids are 32-bit integer keys; a larger number is a 400, not a database error.
ProposalId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get(
    "/quarantine",
    summary="Partner submissions waiting for the secretariat",
    responses=example(QUARANTINE_EXAMPLE),
)
def quarantine(request: Request, caller: CallerDep) -> JsonResponse:
    services = services_of(request)
    names = services.records.org_names()
    items = services.review.quarantined(caller)
    return JsonResponse(
        {
            "items": [
                {
                    "id": seen.record.stix_id,
                    "version": format_micros(seen.record.version),
                    "handling": handling_json(seen, names),
                    "object": present(seen, names),
                }
                for seen in items
            ]
        }
    )


@router.post(
    "/quarantine/{stix_id}/release",
    summary="Release a partner submission as a secretariat product",
    responses=example(
        {"id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "released_versions": 1}
    ),
)
def release(
    request: Request,
    caller: CallerDep,
    stix_id: str,
    body: Annotated[
        dict[str, Any] | None,
        Body(
            description='Optional changes on release: {"tlp": "amber", "audience": '
            '"law-enforcement"}',
            examples=[{"tlp": "green", "audience": "law-enforcement"}],
        ),
    ] = None,
) -> JsonResponse:
    body = body or {}
    try:
        tlp = Tlp.parse(str(body["tlp"])) if body.get("tlp") else None
        audience = Audience.parse(str(body["audience"])) if body.get("audience") else None
    except HandlingError as exc:
        raise InvalidInput("release", str(exc)) from None
    count = services_of(request).review.release(caller, stix_id, tlp=tlp, audience=audience)
    return JsonResponse({"id": stix_id, "released_versions": count})


@router.post(
    "/quarantine/{stix_id}/reject",
    summary="Reject a partner submission, with a reason",
    responses=example(
        {"id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "rejected_versions": 1}
    ),
)
def reject(
    request: Request,
    caller: CallerDep,
    stix_id: str,
    body: Annotated[dict[str, Any], Body(examples=[{"reason": "duplicates an open case"}])],
) -> JsonResponse:
    count = services_of(request).review.reject(caller, stix_id, str(body.get("reason", "")))
    return JsonResponse({"id": stix_id, "rejected_versions": count})


def _proposal(p: Proposal, names: dict[int, str]) -> dict[str, Any]:
    return {
        "id": p.id,
        "object_id": p.stix_id,
        "source": names.get(p.source_org_id),
        "proposer": names.get(p.proposer_org_id),
        "state": p.state.value,
        "note": p.note,
        "created": format_micros(p.created_at),
    }


@router.get(
    "/proposals",
    summary="Proposals to the caller's org, and those it made",
    responses=example(PROPOSALS_EXAMPLE),
)
def proposals(request: Request, caller: CallerDep) -> JsonResponse:
    services = services_of(request)
    names = services.records.org_names()
    return JsonResponse({"items": [_proposal(p, names) for p in services.review.proposals(caller)]})


@router.post(
    "/proposals/{proposal_id}/accept",
    summary="Accept a proposal (source only)",
    description="The proposed object becomes the source's new version, under the handling of "
    "its current version.",
    responses=example(PROPOSAL_ACCEPTED_EXAMPLE),
)
def accept(request: Request, caller: CallerDep, proposal_id: ProposalId) -> JsonResponse:
    result = services_of(request).review.accept(caller, proposal_id)
    return JsonResponse(result.to_json())


@router.post(
    "/proposals/{proposal_id}/reject",
    summary="Reject a proposal (source only)",
    responses=example({"id": 7, "state": "rejected"}),
)
def reject_proposal(
    request: Request,
    caller: CallerDep,
    proposal_id: ProposalId,
    body: Annotated[dict[str, Any], Body(examples=[{"reason": "not supported by our case"}])],
) -> JsonResponse:
    services_of(request).review.reject_proposal(caller, proposal_id, str(body.get("reason", "")))
    return JsonResponse({"id": proposal_id, "state": "rejected"})
