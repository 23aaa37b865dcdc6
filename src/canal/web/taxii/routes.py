"""The TAXII 2.1 endpoints under /taxii2/ (TAXII 2.1 §4 and §5). Decisions: docs/taxii.md."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from canal.app import Services
from canal.exchange.taxii import (
    STIX21,
    T21,
    Access,
    EnvelopeError,
    Filters,
    ObjectsPage,
    parse_filters,
)
from canal.exchange.taxii import (
    Endpoint as Ep,
)
from canal.ingest.errors import SubmissionError
from canal.model.handling import Purpose
from canal.model.org import Principal
from canal.model.stix import format_micros
from canal.records.service import Seen, present
from canal.web.api.objects import read_limited
from canal.web.auth import current_principal, services_of
from canal.web.cursor import CursorCodec, binding_of
from canal.web.deps import PurposeDep
from canal.web.taxii.errors import TaxiiProblem
from canal.web.taxii.media import acceptable, taxii_content

ROOT = "canal"
ROOT_PATH = f"/taxii2/{ROOT}/"
COLLECTION = "/" + ROOT + "/collections/{collection_id}/"


class TaxiiResponse(Response):
    media_type = T21

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def _caller(request: Request, *, stix_too: bool) -> Principal:
    # Content negotiation first: it needs no database and names what to send.
    if not acceptable(request.headers.get("accept"), stix_too=stix_too):
        raise TaxiiProblem(
            406,
            "not-acceptable",
            f"send 'Accept: {T21}': this server speaks TAXII 2.1 only",
        )
    return current_principal(request)


def taxii_caller(request: Request) -> Principal:
    return _caller(request, stix_too=False)


def taxii_content_caller(request: Request) -> Principal:
    """For the endpoints whose Accept may also be `application/stix+json;version=2.1`."""
    return _caller(request, stix_too=True)


CallerDep = Annotated[Principal, Depends(taxii_caller)]
ContentCallerDep = Annotated[Principal, Depends(taxii_content_caller)]

_ACCEPT_DOC = (
    f"Every request sends `Accept: {T21}`; credentials as Bearer or Basic (token as the password)."
)


def _param(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": description,
    }


_FILTER_DOCS = {
    "added_after": "Only what was added strictly after this timestamp (date_added).",
    "limit": "Page size, 1 to 1000.",
    "next": "The `next` value of the previous page (bound to the caller and the query).",
    "match[id]": "STIX ids, comma-separated.",
    "match[type]": "STIX types, comma-separated.",
    "match[version]": "first, last (default), all, or timestamps; comma-separated.",
    "match[spec_version]": "STIX spec versions, comma-separated (canal holds 2.1).",
}


def _params(*names: str) -> dict[str, Any]:
    return {"parameters": [_param(name, _FILTER_DOCS[name]) for name in names]}


router = APIRouter(prefix="/taxii2", tags=["taxii"], default_response_class=TaxiiResponse)


def _taxii(request: Request) -> Services:
    return services_of(request)


def _headers(items: Sequence[Seen]) -> dict[str, str]:
    """X-TAXII-Date-Added-First/Last of the page; none on an empty page (docs/taxii.md)."""
    if not items:
        return {}
    return {
        "X-TAXII-Date-Added-First": format_micros(items[0].record.date_added),
        "X-TAXII-Date-Added-Last": format_micros(items[-1].record.date_added),
    }


class _Paging:
    """The signed `next` of one endpoint, bound to the caller, the collection and the query."""

    def __init__(
        self,
        services: Services,
        caller: Principal,
        endpoint: Ep,
        granted: Access,
        filters: Filters,
        purpose: Purpose | None,
        stix_id: str | None = None,
    ) -> None:
        self.codec = CursorCodec(services.settings.secret_key)
        self.binding = binding_of(
            "taxii",
            endpoint.value,
            caller.token_id,
            caller.org.id,
            caller.role.value,
            granted.collection.id,
            stix_id,
            filters.binding(),
            purpose,
        )
        self.after = (
            None
            if filters.next is None
            else int(self.codec.decode(filters.next, binding=self.binding))
        )

    def body(self, page: ObjectsPage, key: str, items: list[Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if page.more or items:
            out["more"] = page.more
        if page.more and page.next_after is not None:
            out["next"] = self.codec.encode(position=page.next_after, binding=self.binding)
        if items:
            out[key] = items
        return out


@router.get(
    "/",
    summary="TAXII server discovery",
    description=_ACCEPT_DOC,
    dependencies=[Depends(taxii_caller)],
)
def discovery() -> TaxiiResponse:
    return TaxiiResponse(
        {
            "title": "canal",
            "description": "canal's TAXII 2.1 server: cybercrime intelligence under the rules "
            "of its sources.",
            "default": ROOT_PATH,
            "api_roots": [ROOT_PATH],
        }
    )


@router.get(
    "/" + ROOT + "/",
    summary="TAXII API root",
    description=_ACCEPT_DOC,
    dependencies=[Depends(taxii_caller)],
)
def api_root(request: Request) -> TaxiiResponse:
    return TaxiiResponse(
        {
            "title": "canal",
            "description": "Collections are views of canal's records with a meaning; each "
            "answers as far as the caller may read (docs/taxii.md).",
            "versions": [T21],
            "max_content_length": _taxii(request).settings.max_submission_bytes,
        }
    )


@router.get(
    "/" + ROOT + "/status/{status_id}/",
    summary="Status of an Add Objects request",
    description="Kept for CANAL_TAXII_STATUS_DAYS days, for the org that sent the request.",
)
def status(request: Request, caller: CallerDep, status_id: str) -> TaxiiResponse:
    return TaxiiResponse(_taxii(request).taxii.status(caller, status_id))


def _collection_json(granted: Access) -> dict[str, Any]:
    c = granted.collection
    return {
        "id": c.id,
        "title": c.title,
        "description": c.description,
        "alias": c.kind.value,
        "can_read": granted.can_read,
        "can_write": granted.can_write,
        "media_types": [STIX21],
    }


@router.get("/" + ROOT + "/collections/", summary="Collections the caller may know")
def collections(request: Request, caller: CallerDep) -> TaxiiResponse:
    found = [_collection_json(g) for g in _taxii(request).taxii.collections(caller)]
    return TaxiiResponse({"collections": found} if found else {})


@router.get(COLLECTION, summary="One collection")
def collection(request: Request, caller: CallerDep, collection_id: str) -> TaxiiResponse:
    return TaxiiResponse(_collection_json(_taxii(request).taxii.collection(caller, collection_id)))


def _read(
    request: Request,
    caller: Principal,
    collection_id: str,
    endpoint: Ep,
    purpose: Purpose | None,
    stix_id: str | None = None,
) -> tuple[Services, _Paging, ObjectsPage]:
    services = _taxii(request)
    granted = services.taxii.collection(caller, collection_id)
    filters = parse_filters(request.query_params.multi_items(), endpoint)
    paging = _Paging(services, caller, endpoint, granted, filters, purpose, stix_id)
    page = services.taxii.page(
        caller,
        granted,
        filters,
        after=paging.after,
        purpose=purpose,
        stix_id=stix_id,
        all_versions=endpoint is Ep.VERSIONS,
        endpoint=endpoint,
    )
    return services, paging, page


def _envelope(services: Services, paging: _Paging, page: ObjectsPage) -> TaxiiResponse:
    names = services.records.org_names()
    cache: dict[Any, dict[str, Any]] = {}
    objects = [present(seen, names, cache) for seen in page.items]
    return TaxiiResponse(paging.body(page, "objects", objects), headers=_headers(page.items))


@router.get(
    COLLECTION + "manifest/",
    summary="Manifest of a collection",
    openapi_extra=_params(*_FILTER_DOCS),
)
def manifest(
    request: Request, caller: ContentCallerDep, collection_id: str, purpose: PurposeDep = None
) -> TaxiiResponse:
    _services, paging, page = _read(request, caller, collection_id, Ep.MANIFEST, purpose)
    entries = [
        {
            "id": seen.record.stix_id,
            "date_added": format_micros(seen.record.date_added),
            "version": format_micros(seen.record.version),
            "media_type": STIX21,
        }
        for seen in page.items
    ]
    return TaxiiResponse(paging.body(page, "objects", entries), headers=_headers(page.items))


@router.get(
    COLLECTION + "objects/",
    summary="Objects of a collection",
    openapi_extra=_params(*_FILTER_DOCS),
)
def get_objects(
    request: Request, caller: ContentCallerDep, collection_id: str, purpose: PurposeDep = None
) -> TaxiiResponse:
    services, paging, page = _read(request, caller, collection_id, Ep.OBJECTS, purpose)
    return _envelope(services, paging, page)


ENVELOPE_EXAMPLE = {
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
    ]
}


@router.post(
    COLLECTION + "objects/",
    summary="Add objects to a collection",
    status_code=202,
    description=(
        f"The body is a TAXII envelope, `Content-Type: {T21}`. Each object is checked and "
        "stored on its own, with the collection's default handling for what it does not carry; "
        "exact duplicates count as successes. Answers a status resource (202)."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                T21: {
                    "schema": {
                        "type": "object",
                        "properties": {"objects": {"type": "array", "items": {"type": "object"}}},
                        "required": ["objects"],
                    },
                    "example": ENVELOPE_EXAMPLE,
                }
            },
        }
    },
)
async def add_objects(request: Request, caller: CallerDep, collection_id: str) -> TaxiiResponse:
    services = _taxii(request)
    granted = services.taxii.collection(caller, collection_id)
    services.taxii.require_write(granted)
    if not taxii_content(request.headers.get("content-type")):
        raise TaxiiProblem(
            415, "unsupported-media-type", f"send the envelope as 'Content-Type: {T21}'"
        )
    limit = services.settings.max_submission_bytes
    try:
        body = await read_limited(request, limit)
    except SubmissionError as exc:
        raise TaxiiProblem(413, "too-large", f"{exc.reason} (max_content_length)") from None
    try:
        envelope = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise TaxiiProblem(400, "invalid-json", f"the body is not JSON ({exc})") from None
    try:
        result = await run_in_threadpool(services.taxii.add, caller, granted, envelope)
    except EnvelopeError as exc:
        raise TaxiiProblem(422, exc.code, str(exc)) from None
    return TaxiiResponse(result.to_json(), status_code=202)


@router.get(
    COLLECTION + "objects/{object_id}/",
    summary="One object of a collection (its versions)",
    openapi_extra=_params("added_after", "limit", "next", "match[version]", "match[spec_version]"),
)
def get_object(
    request: Request,
    caller: ContentCallerDep,
    collection_id: str,
    object_id: str,
    purpose: PurposeDep = None,
) -> TaxiiResponse:
    services, paging, page = _read(request, caller, collection_id, Ep.OBJECT, purpose, object_id)
    return _envelope(services, paging, page)


@router.delete(
    COLLECTION + "objects/{object_id}/",
    summary="Delete an object (its source only)",
    description=(
        "Removes the versions the caller's organisation holds (all of them, or those "
        "match[version] names) from canal; every collection is a view of the same records."
    ),
    openapi_extra=_params("match[version]", "match[spec_version]"),
)
def delete_object(
    request: Request,
    caller: CallerDep,
    collection_id: str,
    object_id: str,
    purpose: PurposeDep = None,
) -> Response:
    services = _taxii(request)
    granted = services.taxii.collection(caller, collection_id)
    filters = parse_filters(request.query_params.multi_items(), Ep.DELETE)
    services.taxii.delete(caller, granted, object_id, filters, purpose=purpose)
    return Response(status_code=200, media_type=T21)


@router.get(
    COLLECTION + "objects/{object_id}/versions/",
    summary="Versions of an object",
    openapi_extra=_params("added_after", "limit", "next", "match[spec_version]"),
)
def versions(
    request: Request,
    caller: ContentCallerDep,
    collection_id: str,
    object_id: str,
    purpose: PurposeDep = None,
) -> TaxiiResponse:
    _services, paging, page = _read(request, caller, collection_id, Ep.VERSIONS, purpose, object_id)
    found = [format_micros(seen.record.version) for seen in page.items]
    return TaxiiResponse(paging.body(page, "versions", found), headers=_headers(page.items))
