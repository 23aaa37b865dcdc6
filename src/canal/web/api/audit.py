"""/api/v1/audit: the processing log, as the caller may read it, and its verification."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request

from canal.model.audit import LogEntry
from canal.model.stix import format_micros
from canal.web.auth import services_of
from canal.web.deps import CallerDep
from canal.web.responses import JsonResponse

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


def entry_json(entry: LogEntry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "at": format_micros(entry.at),
        "actor": entry.actor,
        "action": entry.action,
        "purpose": entry.purpose,
        "summary": orjson.loads(entry.summary),
        "hash": entry.hash,
    }


@router.get(
    "/log",
    summary="Operations on data",
    description=(
        "With `record`, every operation on that record: for the auditor, and for the record's "
        "source. Without it, the newest entries: all for the auditor, the caller's org's own "
        "actions for others."
    ),
)
def log(
    request: Request,
    caller: CallerDep,
    record: Annotated[str | None, Query(description="A STIX id")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> JsonResponse:
    audit = services_of(request).audit
    entries = (
        audit.entries_for_record(caller, record) if record else audit.recent(caller, limit=limit)
    )
    return JsonResponse({"entries": [entry_json(e) for e in entries]})


@router.get("/verify", summary="Check the processing log's hash chain (auditor)")
def verify(request: Request, caller: CallerDep) -> JsonResponse:
    audit = services_of(request).audit
    audit.require_oversight(caller)
    report = audit.verify()
    return JsonResponse(
        {
            "ok": report.ok,
            "entries": report.entries,
            "head": report.head_hash,
            "bad_entry": report.bad_seq,
            "problem": report.problem,
        }
    )
