"""/api/v1/me: who the caller is, as canal sees it."""

from __future__ import annotations

from fastapi import APIRouter

from canal.model.org import DEFAULT_PURPOSE
from canal.web.deps import CallerDep
from canal.web.responses import JsonResponse

router = APIRouter(prefix="/api/v1", tags=["meta"])


@router.get("/me", summary="The caller's principal")
def me(caller: CallerDep) -> JsonResponse:
    return JsonResponse(
        {
            "name": caller.name,
            "org": caller.org.name,
            "org_kind": caller.org.kind.value,
            "country": caller.org.country,
            "role": caller.role.value,
            "clearance": caller.clearance.label,
            "default_purpose": DEFAULT_PURPOSE[caller.role].value,
        }
    )
