"""/api/v1/search: records by type, value, source, TLP, date added and free text."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from canal.errors import InvalidInput
from canal.model.handling import HandlingError, Tlp
from canal.model.stix import parse_timestamp, to_micros
from canal.records.search import Search
from canal.web.api.examples import LIST_EXAMPLE
from canal.web.api.objects import _item
from canal.web.auth import services_of
from canal.web.cursor import CursorCodec, binding_of
from canal.web.deps import CallerDep, PurposeDep
from canal.web.responses import JsonResponse

router = APIRouter(prefix="/api/v1", tags=["objects"])


def _micros(name: str, raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        return to_micros(parse_timestamp(raw))
    except ValueError as exc:
        raise InvalidInput(name, str(exc)) from None


@router.get(
    "/search",
    summary="Search records",
    description=(
        "Records the caller may see, oldest added first. `value` is a case-insensitive "
        "substring of the object (an IP, a domain, a hash, wherever it sits); `text` needs "
        "every word in the name or description; the other filters are exact. `next` in the "
        "answer fetches the following page."
    ),
    responses={200: {"content": {"application/json": {"example": LIST_EXAMPLE}}}},
)
def search(
    request: Request,
    caller: CallerDep,
    type_: Annotated[list[str] | None, Query(alias="type", description="STIX type(s)")] = None,
    value: Annotated[
        str | None, Query(min_length=1, max_length=500, description="Substring of the object")
    ] = None,
    text: Annotated[
        str | None, Query(min_length=1, max_length=500, description="Words in name/description")
    ] = None,
    source: Annotated[str | None, Query(description="Org name of the source")] = None,
    tlp: Annotated[
        list[str] | None, Query(description="TLP level(s): clear, green, amber, ...")
    ] = None,
    added_after: Annotated[str | None, Query(description="STIX timestamp (exclusive)")] = None,
    added_before: Annotated[str | None, Query(description="STIX timestamp (exclusive)")] = None,
    all_versions: Annotated[bool, Query(description="Every version, not only the latest")] = False,
    limit: Annotated[int, Query(ge=1, le=1000, description="Page size")] = 100,
    next_: Annotated[str | None, Query(alias="next", description="Cursor from a page")] = None,
    purpose: PurposeDep = None,
) -> JsonResponse:
    services = services_of(request)
    try:
        tlps = frozenset(Tlp.parse(t) for t in tlp or ())
    except HandlingError as exc:
        raise InvalidInput("tlp", str(exc)) from None
    sources: frozenset[int] = frozenset()
    if source is not None:
        orgs = {org.name: org.id for org in services.accounts.list_orgs()}
        # An unknown source matches nothing: no hint about which orgs exist.
        sources = frozenset({orgs.get(source, -1)})
    query = Search(
        types=frozenset(type_ or ()),
        value=value,
        text=text,
        source_org_ids=sources,
        tlps=tlps,
        added_after=_micros("added_after", added_after),
        added_before=_micros("added_before", added_before),
        all_versions=all_versions,
    )
    codec = CursorCodec(services.settings.secret_key)
    binding = binding_of("search", caller.token_id, caller.org.id, query.summary(), purpose)
    after = None if next_ is None else int(codec.decode(next_, binding=binding))
    page = services.search.page(caller, query, limit=limit, after=after, purpose=purpose)
    names = services.records.org_names()
    body: dict[str, Any] = {"items": [_item(seen, names) for seen in page.items]}
    if page.next_after is not None:
        body["next"] = codec.encode(position=page.next_after, binding=binding)
    return JsonResponse(body)
