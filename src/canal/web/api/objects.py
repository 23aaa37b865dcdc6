"""/api/v1/objects: submit STIX, list and read records as the caller may see them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from canal.app import Services
from canal.errors import InvalidInput
from canal.ingest.defaults import submission_defaults
from canal.ingest.errors import SubmissionError
from canal.model.stix import format_micros, parse_timestamp, to_micros
from canal.records.service import Seen, handling_json, present
from canal.store.records import RecordQuery
from canal.web.api.examples import LIST_EXAMPLE, OBJECT_EXAMPLE, SUBMIT_RESULT_EXAMPLE
from canal.web.auth import services_of
from canal.web.cursor import CursorCodec, binding_of
from canal.web.deps import CallerDep, PurposeDep
from canal.web.responses import JsonResponse

router = APIRouter(prefix="/api/v1", tags=["objects"])


SUBMIT_EXAMPLE = {
    "type": "bundle",
    "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
    "objects": [
        {
            "type": "indicator",
            "spec_version": "2.1",
            "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "created": "2026-03-01T10:00:00.000Z",
            "modified": "2026-03-01T10:00:00.000Z",
            "name": "LockBit C2",
            "pattern": "[ipv4-addr:value = '203.0.113.7']",
            "pattern_type": "stix",
            "valid_from": "2026-03-01T10:00:00Z",
        }
    ],
}


async def read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise SubmissionError("body", f"{declared} bytes is more than the limit of {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise SubmissionError("body", f"more than the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/objects",
    summary="Submit STIX 2.1 objects",
    description=(
        "The body is a STIX 2.1 bundle, a JSON list of objects or one object. Each object is "
        "checked on its own: the answer lists, per object, whether it was created, stored as a "
        "new version, already held (duplicate), or rejected with the reason. The query "
        "parameters are handling defaults for objects that carry none."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"example": SUBMIT_EXAMPLE}},
        }
    },
    responses={
        200: {
            "description": "Per-object results (some may be rejected).",
            "content": {"application/json": {"example": SUBMIT_RESULT_EXAMPLE}},
        },
        400: {"description": "The body is not JSON or not STIX."},
        413: {"description": "The body is larger than the server's limit."},
    },
)
async def submit(
    request: Request,
    caller: CallerDep,
    tlp: Annotated[str | None, Query(description="clear|green|amber|amber+strict|red")] = None,
    pap: Annotated[str | None, Query(description="clear|green|amber|red")] = None,
    audience: Annotated[str | None, Query(description="law-enforcement|partners")] = None,
    allow: Annotated[
        str | None, Query(description="Countries and org names, comma-separated")
    ] = None,
    deny: Annotated[
        str | None, Query(description="Countries and org names, comma-separated")
    ] = None,
    purpose: Annotated[list[str] | None, Query(description="Permitted purposes")] = None,
) -> JsonResponse:
    services = services_of(request)
    limit = services.settings.max_submission_bytes
    try:
        body = await read_limited(request, limit)
    except SubmissionError as exc:
        return JsonResponse({"error": {"code": "too-large", "message": str(exc)}}, status_code=413)
    org_ids = {org.name: org.id for org in await run_in_threadpool(services.accounts.list_orgs)}
    defaults = submission_defaults(
        org_ids, tlp=tlp, pap=pap, audience=audience, allow=allow, deny=deny, purposes=purpose or []
    )
    report = await run_in_threadpool(
        lambda: services.ingest.ingest_bytes(
            body, principal=caller, source=caller.org, defaults=defaults, where="body"
        )
    )
    return JsonResponse(
        {
            "submission": report.submission_id,
            "counts": report.summary(),
            "results": [r.to_json() for r in report.results],
        }
    )


def _query(
    services: Services,
    *,
    types: list[str] | None,
    source: str | None,
    added_after: str | None,
) -> RecordQuery:
    after = None
    if added_after is not None:
        try:
            after = to_micros(parse_timestamp(added_after))
        except ValueError as exc:
            raise InvalidInput("added_after", str(exc)) from None
    sources: frozenset[int] = frozenset()
    if source is not None:
        orgs = {org.name: org.id for org in services.accounts.list_orgs()}
        # An unknown source simply matches nothing: no hint about which orgs exist.
        sources = frozenset({orgs.get(source, -1)})
    return RecordQuery(types=frozenset(types or ()), source_org_ids=sources, added_after=after)


def _item(seen: Seen, org_names: dict[int, str]) -> dict[str, Any]:
    record = seen.record
    return {
        "id": record.stix_id,
        "type": record.stix_type,
        "version": format_micros(record.version),
        "date_added": format_micros(record.date_added),
        "handling": handling_json(seen, org_names),
        "object": present(seen, org_names),
    }


@router.get(
    "/objects",
    summary="List records",
    description=(
        "The latest version of each record the caller may see, oldest added first, filtered by "
        "type, source and added_after. `next` in the answer fetches the following page."
    ),
    responses={200: {"content": {"application/json": {"example": LIST_EXAMPLE}}}},
)
def list_objects(
    request: Request,
    caller: CallerDep,
    type_: Annotated[list[str] | None, Query(alias="type", description="STIX type(s)")] = None,
    source: Annotated[str | None, Query(description="Org name of the source")] = None,
    added_after: Annotated[str | None, Query(description="STIX timestamp")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Page size")] = 100,
    next_: Annotated[str | None, Query(alias="next", description="Cursor from a page")] = None,
    purpose: PurposeDep = None,
) -> JsonResponse:
    services = services_of(request)
    query = _query(services, types=type_, source=source, added_after=added_after)
    codec = CursorCodec(services.settings.secret_key)
    binding = binding_of(
        caller.token_id, caller.org.id, sorted(type_ or []), source, added_after, purpose
    )
    after = None if next_ is None else int(codec.decode(next_, binding=binding))
    filters = {"type": sorted(type_ or []), "source": source, "added_after": added_after}
    page = services.records.page(
        caller, query, limit=limit, after=after, purpose=purpose, filters=filters
    )
    org_names = services.records.org_names()
    body: dict[str, Any] = {"items": [_item(seen, org_names) for seen in page.items]}
    if page.next_after is not None:
        body["next"] = codec.encode(position=page.next_after, binding=binding)
    return JsonResponse(body)


@router.get(
    "/objects/{stix_id}",
    summary="One record with its handling and versions",
    responses={
        200: {"content": {"application/json": {"example": OBJECT_EXAMPLE}}},
        404: {"description": "No such object, or none the caller may see."},
    },
)
def get_object(
    request: Request, caller: CallerDep, stix_id: str, purpose: PurposeDep = None
) -> JsonResponse:
    services = services_of(request)
    versions = services.records.versions(caller, stix_id, purpose=purpose)
    org_names = services.records.org_names()
    latest = max(versions, key=lambda seen: (seen.record.version, seen.record.date_added))
    return JsonResponse(
        {
            **_item(latest, org_names),
            "versions": [
                {
                    "version": format_micros(seen.record.version),
                    "date_added": format_micros(seen.record.date_added),
                    "source": handling_json(seen, org_names)["source"],
                    "revoked": seen.record.revoked,
                }
                for seen in versions
            ],
        }
    )
