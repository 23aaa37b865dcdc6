"""/api/v1/lookup, /api/v1/clusters, /api/v1/alerts, /api/v1/bloom, /api/v1/local-lists:
linking offences and checking values, under the rules."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Annotated, Any

import anyio.to_thread
import orjson
from fastapi import APIRouter, Body, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from canal.analysis.alert_channels import present_channels
from canal.analysis.clusters import view_json
from canal.analysis.lookup import AnsweredLookup, LookupAnswer, LookupItem, notices_for
from canal.app import Services
from canal.errors import InvalidInput
from canal.ingest.defaults import parse_purpose
from canal.model.handling import Purpose
from canal.model.org import Principal
from canal.model.stix import format_micros
from canal.store.errors import TooManyRows, WriteBusy
from canal.web.auth import bearer_token, services_of
from canal.web.cursor import CursorCodec, binding_of
from canal.web.deps import CallerDep, PurposeDep, PurposeHeader, PurposeQuery
from canal.web.responses import JsonResponse

router = APIRouter(prefix="/api/v1", tags=["analysis"])

LOOKUP_EXAMPLE = {"values": ["203.0.113.7", {"value": "evil[.]example", "type": "domain"}]}


def _items(body: dict[str, Any]) -> list[LookupItem]:
    values = body.get("values")
    if not isinstance(values, list) or not values:
        raise InvalidInput("values", "give a non-empty list of values or {value, type} objects")
    out: list[LookupItem] = []
    for i, item in enumerate(values):
        if isinstance(item, str):
            out.append(LookupItem(item))
        elif isinstance(item, dict) and isinstance(item.get("value"), str):
            kind = item.get("type")
            out.append(LookupItem(item["value"], kind if isinstance(kind, str) else None))
        else:
            raise InvalidInput(f"values[{i}]", "a string or an object with a string 'value'")
    return out


@router.post(
    "/lookup",
    summary="Hit/no-hit for a batch of values",
    description=(
        "Each value (with its type, or guessed) is normalised and matched. Per value: "
        "`no-hit`; `hit` with the records the caller may read; `restricted`: a hit on records "
        "the caller may not read, naming only whom to contact; `invalid` with the reason. A "
        "value on a warninglist is `no-hit`, and says which list where the store holds it in "
        "a record the caller may know of. Blind mode: send `tokens` "
        "(see POST /api/v1/lookup/blind) instead of `values`. Rate-limited per caller and per "
        "type (429 with Retry-After)."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"example": LOOKUP_EXAMPLE}},
        }
    },
)
async def lookup(
    request: Request,
    purpose: PurposeQuery = None,
    x_canal_purpose: PurposeHeader = None,
) -> JsonResponse:
    services = services_of(request)
    token = bearer_token(request)
    purpose_text = purpose or x_canal_purpose
    raw = await request.body()

    def ask(at_most_carriers: int | None = None) -> AnsweredLookup | _BlindAsk:
        # The caller is authenticated here rather than by a dependency: in the read
        # transaction the search runs in, and with no trip of its own through the thread
        # pool. What it sent is read only once it is known.
        with services.database.read() as conn:
            caller = services.accounts.authenticate(token, conn=conn)
            why = parse_purpose(purpose_text)
            body = _parsed_body(raw)
            if "tokens" in body:
                return _BlindAsk(caller, why, body["tokens"])
            return services.lookups.answer(
                caller, _items(body), purpose=why, conn=conn, at_most_carriers=at_most_carriers
            )

    def work() -> list[LookupAnswer]:
        asked = ask()
        if isinstance(asked, AnsweredLookup):
            return services.lookups.record(asked)
        return _blind_lookup(services, asked)

    limiter = _lookup_limiter(request)
    asked: AnsweredLookup | _BlindAsk | None = None
    if len(raw) <= INLINE_BODY_BYTES and services.database.is_sqlite:
        # A few values on SQLite: answered on the event loop, without the trip to a worker
        # thread (on an idle server the thread's wake-up alone took milliseconds in the
        # slowest requests), unless they are carried by many records (a value seen
        # everywhere: the search then starts again in a thread, not to hold up the loop).
        with contextlib.suppress(TooManyRows):
            asked = ask(INLINE_CARRIERS)
    if isinstance(asked, AnsweredLookup):
        # Its log entry is written here too unless another writer is at work; then from a
        # thread, which waits for the write lock without holding up the loop.
        try:
            answers = services.lookups.record(asked, wait=False)
        except WriteBusy:
            answers = await anyio.to_thread.run_sync(
                services.lookups.record, asked, limiter=limiter
            )
    elif isinstance(asked, _BlindAsk):
        answers = await anyio.to_thread.run_sync(_blind_lookup, services, asked, limiter=limiter)
    else:
        answers = await anyio.to_thread.run_sync(work, limiter=limiter)
    return JsonResponse({"results": [a.to_json() for a in answers]})


#: Lookups whose body is at most this long (a few values) are answered on the event loop,
INLINE_BODY_BYTES = 1024
#: where the records carrying the values are at most this many (about a millisecond's work).
INLINE_CARRIERS = 200


@dataclass(frozen=True, slots=True)
class _BlindAsk:
    caller: Principal
    purpose: Purpose | None
    tokens: object


def _blind_lookup(services: Services, asked: _BlindAsk) -> list[LookupAnswer]:
    tokens = asked.tokens
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens) or not tokens:
        raise InvalidInput("tokens", "a non-empty list of hexadecimal tokens")
    return services.lookups.lookup_tokens(asked.caller, tokens, purpose=asked.purpose)


#: Lookups running at once in a worker. Each ends in a write that SQLite serialises: more
#: threads only queue on the write lock while contending for the interpreter with the one
#: that holds it, which lengthens every lookup's tail; the rest wait in the event loop.
LOOKUP_THREADS = 2


def _lookup_limiter(request: Request) -> anyio.CapacityLimiter:
    # Made on first use, inside the server's event loop.
    limiter: anyio.CapacityLimiter | None = getattr(request.app.state, "lookup_limiter", None)
    if limiter is None:
        limiter = request.app.state.lookup_limiter = anyio.CapacityLimiter(LOOKUP_THREADS)
    return limiter


@router.post(
    "/lookup/blind",
    summary="Evaluate blinded elements (the hub's half of a blind lookup)",
    description=(
        "Send edwards25519 points P*r (hex), one per value, where P is the value's point "
        "(see docs/lookup.md) and r a random scalar you keep; get back (P*r)*k. Multiply by "
        "1/r, hash, and send the tokens to POST /api/v1/lookup. The hub never sees the values."
    ),
)
async def blind(request: Request, caller: CallerDep) -> JsonResponse:
    services = services_of(request)
    body = await _json_body(request)
    elements = body.get("elements")
    if (
        not isinstance(elements, list)
        or not elements
        or not all(isinstance(e, str) for e in elements)
    ):
        raise InvalidInput("elements", "a non-empty list of hexadecimal points")
    evaluated = await run_in_threadpool(services.lookups.evaluate, caller, elements)
    return JsonResponse({"evaluated": evaluated})


async def _json_body(request: Request) -> dict[str, Any]:
    return _parsed_body(await request.body())


def _parsed_body(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput("body", f"not JSON ({exc})") from None
    if not isinstance(body, dict):
        raise InvalidInput("body", "a JSON object is expected")
    return body


@router.get("/clusters", summary="Clusters as the caller may see them")
def list_clusters(
    request: Request,
    caller: CallerDep,
    purpose: PurposeDep = None,
    after: Annotated[str | None, Query(description="`next` of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    min_size: Annotated[int, Query(ge=2, le=100000)] = 2,
) -> JsonResponse:
    services = services_of(request)
    # Signed and bound to the caller and the filters: a page's position is a member the caller
    # sees, and no one else may replay it.
    codec = CursorCodec(services.settings.secret_key)
    binding = binding_of("clusters", caller.token_id, caller.org.id, purpose, limit, min_size)
    position = None if after is None else int(codec.decode(after, binding=binding))
    views, next_after = services.clusters.list(
        caller, purpose=purpose, after=position, limit=limit, min_size=min_size
    )
    names = services.records.org_names()
    body: dict[str, Any] = {"items": [view_json(v, names, members=False) for v in views]}
    if next_after is not None:
        body["next"] = codec.encode(position=next_after, binding=binding)
    return JsonResponse(body)


@router.get(
    "/clusters/{cluster_id}",
    summary="One cluster with its members, as the caller may see it",
    description="The id is the STIX id of a member (the cluster's anchor, as listed).",
)
def get_cluster(
    request: Request, caller: CallerDep, cluster_id: str, purpose: PurposeDep = None
) -> JsonResponse:
    services = services_of(request)
    view = services.clusters.get(caller, cluster_id, purpose=purpose)
    return JsonResponse(view_json(view, services.records.org_names(), members=True))


ALERT_CHANNELS_EXAMPLE = {
    "email": "cyber-alerts@ncb.example.fr",
    "webhook_url": "https://soar.ncb.example.fr/canal",
    "webhook_secret": "a-signing-key-of-16-or-more",
}


@router.get(
    "/alerts/channels",
    summary="Where the caller's org gets link alerts besides the app (e-mail, webhook)",
)
def get_alert_channels(request: Request, caller: CallerDep) -> JsonResponse:
    return JsonResponse(present_channels(services_of(request).alert_channels.channels(caller)))


@router.put(
    "/alerts/channels",
    summary="Set the org's link-alert e-mail and signed webhook (its administrator)",
    description=(
        "Each write that links new data to the org's records sends one e-mail and one webhook "
        "(a JSON POST signed as the assistance webhooks are: X-Canal-Signature over "
        "`<timestamp>.<body>`), naming the count of new links and the org's own records only; "
        "what the org may see of the new data is read in canal (GET /api/v1/alerts). An "
        "NCB's administrator sets its org's channels; a partner and the secretariat their own."
    ),
)
def put_alert_channels(
    request: Request,
    caller: CallerDep,
    body: Annotated[Any, Body(examples=[ALERT_CHANNELS_EXAMPLE])],
) -> JsonResponse:
    if not isinstance(body, dict):
        raise InvalidInput("body", "must be a JSON object")
    saved = services_of(request).alert_channels.set_channels(caller, body)
    return JsonResponse(present_channels(saved))


@router.delete("/alerts/channels", summary="Send link alerts to the app only again")
def delete_alert_channels(request: Request, caller: CallerDep) -> JsonResponse:
    services_of(request).alert_channels.clear_channels(caller)
    return JsonResponse(present_channels(None))


@router.get(
    "/alerts",
    summary="Notices to the caller's org: hits on its data, new links to its records",
)
def alerts(
    request: Request, caller: CallerDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> JsonResponse:
    rows = notices_for(services_of(request).database, caller, limit=limit)
    return JsonResponse(
        {
            "items": [
                {
                    "id": row["id"],
                    "kind": row["kind"],
                    "record": row["record_id"],
                    "linked_record": row["other_record_id"],
                    "asked_by": row["other_party"],
                    "value": row["observable"],
                    "detail": row["detail"],
                    "at": format_micros(int(str(row["created_at"]))),
                }
                for row in rows
            ]
        }
    )


@router.get(
    "/bloom",
    summary="The caller's (partner's) Bloom filter of values it may know about",
    description=(
        "Binary (format in docs/lookup.md), with the key it was built with; the headers give "
        "the values counted, the false-positive rate and the key generation."
    ),
    response_class=Response,
)
def bloom(
    request: Request,
    caller: CallerDep,
    fp_rate: Annotated[float, Query(gt=0, le=0.1)] = 0.001,
) -> Response:
    export = services_of(request).bloom.export(caller, fp_rate=fp_rate)
    return Response(
        export.filter.to_bytes(),
        media_type="application/octet-stream",
        headers={
            "X-Canal-Bloom-Values": str(export.filter.n),
            "X-Canal-Bloom-FP-Rate": f"{export.filter.fp_rate:.6g}",
            "X-Canal-Bloom-Generation": str(export.generation),
        },
    )


@router.post("/bloom/rotate", summary="Rotate a partner's Bloom key (secretariat)")
def rotate(
    request: Request,
    caller: CallerDep,
    body: Annotated[dict[str, Any], Body(examples=[{"org": "Acme Threat Labs"}])],
) -> JsonResponse:
    services = services_of(request)
    org = services.accounts.org(str(body.get("org", "")))
    return JsonResponse({"org": org.name, "generation": services.bloom.rotate(caller, org)})


@router.get("/local-lists", summary="The secretariat's allow and deny lists of values")
def local_lists(request: Request, caller: CallerDep) -> JsonResponse:
    service = services_of(request).local_lists
    return JsonResponse({"items": service.list(caller)})


@router.post(
    "/local-lists",
    summary="Add a value to the local allow or deny list (secretariat)",
    description="`allow` marks a value benign (it links nothing); `deny` keeps it linking.",
)
def add_local(
    request: Request,
    caller: CallerDep,
    body: Annotated[
        dict[str, Any],
        Body(
            examples=[
                {"list": "allow", "value": "198.51.100.53", "type": "ipv4", "note": "sinkhole"}
            ]
        ),
    ],
) -> JsonResponse:
    service = services_of(request).local_lists
    key = service.add(
        caller,
        str(body.get("list", "")),
        str(body.get("value", "")),
        body.get("type") if isinstance(body.get("type"), str) else None,
        str(body.get("note") or "") or None,
    )
    return JsonResponse({"list": body.get("list"), "value": key})


@router.delete("/local-lists/{kind}/{key}", summary="Remove a value from a local list")
def remove_local(request: Request, caller: CallerDep, kind: str, key: str) -> JsonResponse:
    services_of(request).local_lists.remove(caller, kind, key)
    return JsonResponse({"removed": key})
