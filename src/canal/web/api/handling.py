"""PATCH /api/v1/objects/{stix_id}/handling: the source changes its record's handling."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request

from canal.errors import InvalidInput
from canal.model.extension import defaults_from_extension
from canal.model.handling import HandlingDefaults, HandlingError, Tlp
from canal.web.api.examples import OBJECT_EXAMPLE
from canal.web.api.objects import _item
from canal.web.auth import services_of
from canal.web.deps import CallerDep, PurposeDep
from canal.web.responses import JsonResponse

router = APIRouter(prefix="/api/v1", tags=["objects"])

#: The fields a source may set: TLP, and the vocabulary of canal's STIX extension.
FIELDS = frozenset(
    {
        "tlp",
        "pap",
        "audience",
        "handling_codes",
        "h3_text",
        "allow",
        "deny",
        "purposes",
        "source_reliability",
        "information_credibility",
        "personal_data",
        "confidentiality",
        "retention_until",
    }
)

HANDLING_EXAMPLE = {"tlp": "amber+strict", "allow": ["FR", "DE"], "deny": ["Acme Threat Labs"]}


def parse_changes(body: dict[str, Any], org_ids: dict[str, int]) -> HandlingDefaults:
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise InvalidInput("handling", f"unknown field(s) {', '.join(unknown)}")
    if not body:
        raise InvalidInput("handling", "name at least one field to change")
    try:
        changes = defaults_from_extension(
            {k: v for k, v in body.items() if k != "tlp"}, org_ids.__getitem__
        )
        if "tlp" in body:
            changes = HandlingDefaults(tlp=Tlp.parse(str(body["tlp"]))).over(changes)
    except HandlingError as exc:
        raise InvalidInput("handling", str(exc)) from None
    return changes


@router.patch(
    "/objects/{stix_id}/handling",
    summary="Change the handling of a record (its source only)",
    description=(
        "The latest version the caller's organisation holds takes the new handling; fields not "
        "named keep their value. Lists (allow, deny, purposes, handling_codes) are replaced. "
        "Retention may be shortened, not lengthened. Anyone but the source gets 403 if it may "
        "see the record, 404 otherwise."
    ),
    responses={
        200: {"content": {"application/json": {"example": OBJECT_EXAMPLE}}},
        403: {"description": "The caller may see the record but is not its source."},
        404: {"description": "No such record, or none the caller may see."},
    },
)
def update_handling(
    request: Request,
    caller: CallerDep,
    stix_id: str,
    body: Annotated[
        dict[str, Any],
        Body(description="The fields to change", examples=[HANDLING_EXAMPLE]),
    ],
    purpose: PurposeDep = None,
) -> JsonResponse:
    services = services_of(request)
    org_ids = {org.name: org.id for org in services.accounts.list_orgs()}
    changes = parse_changes(body, org_ids)
    seen = services.handling_updates.update(caller, stix_id, changes, purpose=purpose)
    return JsonResponse(_item(seen, services.records.org_names()))
