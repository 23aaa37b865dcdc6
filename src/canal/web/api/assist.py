"""/api/v1/contacts, /requests, /notifications, /deliveries, /incidents: the 24/7 network."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Path, Query, Request
from starlette.responses import HTMLResponse, Response

from canal.assist.present import (
    contact_json,
    delivery_json,
    figures_json,
    notification_json,
    request_json,
)
from canal.errors import InvalidInput
from canal.model.stix import to_micros
from canal.web.auth import services_of
from canal.web.deps import CallerDep
from canal.web.responses import JsonResponse

router = APIRouter(prefix="/api/v1", tags=["24/7 network"])

CONTACT_EXAMPLE = {
    "name": "Cybercrime duty desk",
    "phone": "+39 06 4686 1234",
    "email": "duty@ncb.example.it",
    "webhook_url": "https://ncb.example.it/canal-hook",
    "webhook_secret": "a key of at least sixteen characters",
    "hours": "24/7",
    "languages": ["it", "en", "fr"],
    "active": True,
}
REQUEST_EXAMPLE = {
    "requested_country": "IT",
    "type": "preservation",
    "urgency": "urgent",
    "links": ["incident--6c4f0c2e-3a43-4b55-9d5c-3d0f7a1b2c3d"],
    "authority": "Paris public prosecutor, cybercrime section J3",
    "offence": "Ransomware extortion (art. 323-1 code penal)",
    "facts": "A hospital's systems were encrypted on 2 March; the operators' C2 is hosted in IT.",
    "data_description": "Logs and disk image of VPS 203.0.113.7",
    "data_relation": "The VPS served as the command-and-control server of the attack",
    "custodian_location": "Example Hosting SpA, Milan",
    "necessity": "The provider deletes logs after 7 days",
    "mla_intended": True,
    "expected_mla_date": "2026-05-01",
    "contact_phone": "+33 1 23 45 67 89",
}


#: Row ids are 32-bit integers in the store: anything else names no row.
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _body(raw: Any, what: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise InvalidInput(what, "must be a JSON object")
    return raw


def _now(request: Request) -> int:
    return to_micros(services_of(request).clock.now())


# -- contacts ---------------------------------------------------------------------------------


@router.get("/contacts", summary="The directory of 24/7 points of contact")
def contacts(
    request: Request,
    caller: CallerDep,
    country: Annotated[str | None, Query(description="ISO 3166-1 alpha-2 code")] = None,
) -> JsonResponse:
    found = services_of(request).assist.contacts(caller, country)
    return JsonResponse({"items": [contact_json(c, caller) for c in found]})


@router.get(
    "/contacts/missing",
    summary="Member countries with no active 24/7 point of contact (R23)",
)
def missing_contacts(request: Request, caller: CallerDep) -> JsonResponse:
    return JsonResponse({"items": services_of(request).assist.missing_contacts(caller)})


@router.put(
    "/contacts/{country}/{slot}",
    summary="Set a country's primary or backup contact (its NCB administrator)",
)
def put_contact(
    request: Request,
    caller: CallerDep,
    country: str,
    slot: str,
    body: Annotated[Any, Body(examples=[CONTACT_EXAMPLE])],
) -> JsonResponse:
    saved = services_of(request).assist.set_contact(caller, country, slot, _body(body, "contact"))
    return JsonResponse(contact_json(saved, caller))


@router.delete("/contacts/{country}/{slot}", summary="Remove a contact (its NCB administrator)")
def delete_contact(request: Request, caller: CallerDep, country: str, slot: str) -> JsonResponse:
    services_of(request).assist.remove_contact(caller, country, slot)
    return JsonResponse({"country": country.upper(), "slot": slot, "removed": True})


# -- requests ---------------------------------------------------------------------------------


@router.post(
    "/requests",
    summary="File a request for assistance to another country's 24/7 point of contact",
    description=(
        "Submitted at once unless `draft` is true. A preservation request needs the six "
        "elements of Budapest Art. 29(2); an emergency the nature of the risk, who is at risk "
        "and why mutual legal assistance is too slow; a stop-payment comes from the victim "
        "country's NCB only. `links` names the incidents and records it concerns (the "
        "requested country sees them only as their handling allows)."
    ),
    status_code=201,
)
def file_request(
    request: Request,
    caller: CallerDep,
    body: Annotated[Any, Body(examples=[REQUEST_EXAMPLE])],
) -> JsonResponse:
    services = services_of(request)
    filed = services.assist.file(caller, _body(body, "request"))
    out = request_json(filed.shown, services.records.org_names(), now=_now(request))
    out["links_hidden_from_requested_country"] = filed.hidden_from_requested
    return JsonResponse(out, status_code=201)


@router.get("/requests", summary="Requests sent by or to the caller's country")
def list_requests(
    request: Request,
    caller: CallerDep,
    direction: Annotated[str | None, Query(description="sent or received")] = None,
    state: Annotated[str | None, Query(description="only requests in this state")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> JsonResponse:
    services = services_of(request)
    found = services.assist.find(caller, direction=direction, state=state, limit=limit)
    names = services.records.org_names()
    now = _now(request)
    return JsonResponse({"items": [request_json(s, names, now=now, detail=False) for s in found]})


@router.get(
    "/requests/figures",
    summary="Per requested country: times to acknowledge and to answer, overdue counts",
)
def figures(request: Request, caller: CallerDep) -> JsonResponse:
    found = services_of(request).assist.figures(caller)
    return JsonResponse({"items": [figures_json(f) for f in found]})


@router.get("/requests/{request_id}", summary="One request, its links and its history")
def get_request(request: Request, caller: CallerDep, request_id: str) -> JsonResponse:
    services = services_of(request)
    shown = services.assist.get(caller, request_id)
    return JsonResponse(request_json(shown, services.records.org_names(), now=_now(request)))


@router.patch("/requests/{request_id}", summary="Change a draft request")
def edit_request(
    request: Request,
    caller: CallerDep,
    request_id: str,
    body: Annotated[Any, Body(examples=[{"necessity": "Logs are kept for 7 days only"}])],
) -> JsonResponse:
    services = services_of(request)
    shown = services.assist.edit(caller, request_id, _body(body, "changes"))
    return JsonResponse(request_json(shown, services.records.org_names(), now=_now(request)))


TRANSITION_KEYS = frozenset({"to", "reason", "ground", "answer", "mla_reference"})


@router.post(
    "/requests/{request_id}/transitions",
    summary="Move a request on: acknowledge, answer, refuse, withdraw, close, ...",
    description=(
        "`to` is the next state. A refusal gives a `ground` (political-offence, "
        "sovereignty-security-ordre-public, would-prejudice-investigation) and a `reason`; an "
        "answer (executed, partially-executed, preserved) says what was done in `answer`; "
        "linking the formal request (mla-pending) gives its `mla_reference`."
    ),
)
def transition(
    request: Request,
    caller: CallerDep,
    request_id: str,
    body: Annotated[Any, Body(examples=[{"to": "acknowledged", "reason": "duty officer on it"}])],
) -> JsonResponse:
    data = _body(body, "transition")
    unknown = set(data) - TRANSITION_KEYS
    if unknown:
        raise InvalidInput(min(unknown), "is not a field of a transition")
    if not data.get("to"):
        raise InvalidInput("to", "name the state to move the request to")
    for key in TRANSITION_KEYS:
        if data.get(key) is not None and not isinstance(data[key], str):
            raise InvalidInput(key, "must be text")
    services = services_of(request)
    shown = services.assist.transition(
        caller,
        request_id,
        data["to"],
        reason=data.get("reason"),
        ground=data.get("ground"),
        answer=data.get("answer"),
        mla_reference=data.get("mla_reference"),
    )
    return JsonResponse(request_json(shown, services.records.org_names(), now=_now(request)))


# -- notifications ----------------------------------------------------------------------------


@router.get("/notifications", summary="The caller's in-app notifications, newest first")
def notifications(
    request: Request,
    caller: CallerDep,
    unread: Annotated[bool, Query(description="only those not yet read")] = False,
) -> JsonResponse:
    found = services_of(request).assist.notifications(caller, unread_only=unread)
    return JsonResponse({"items": [notification_json(n) for n in found]})


@router.post("/notifications/{notification_id}/read", summary="Mark a notification read")
def read_notification(request: Request, caller: CallerDep, notification_id: RowId) -> JsonResponse:
    services_of(request).assist.mark_read(caller, notification_id)
    return JsonResponse({"id": notification_id, "read": True})


@router.get(
    "/deliveries",
    summary="E-mails and webhooks: sent, waiting for a retry, or failed",
)
def deliveries(
    request: Request,
    caller: CallerDep,
    state: Annotated[str | None, Query(description="pending, sent or failed")] = None,
) -> JsonResponse:
    found = services_of(request).assist.deliveries(caller, state=state)
    return JsonResponse({"items": [delivery_json(d) for d in found]})


@router.post("/deliveries/{delivery_id}/retry", summary="Send a failed delivery again")
def retry_delivery(request: Request, caller: CallerDep, delivery_id: RowId) -> JsonResponse:
    again = services_of(request).assist.retry_delivery(caller, delivery_id)
    return JsonResponse(delivery_json(again))


# -- incidents --------------------------------------------------------------------------------


@router.post("/incidents/{stix_id}/close", summary="Declare an incident closed (its source)")
def close_incident(
    request: Request,
    caller: CallerDep,
    stix_id: str,
    body: Annotated[Any, Body(examples=[{"note": "systems restored"}])] = None,
) -> JsonResponse:
    data = {} if body is None else _body(body, "closure")
    note = data.get("note")
    if note is not None and not isinstance(note, str):
        raise InvalidInput("note", "must be text")
    closure = services_of(request).packages.close_incident(caller, stix_id, note)
    return JsonResponse(
        {"id": stix_id, "closed": True, "closed_by": closure.closed_by, "note": closure.note}
    )


@router.get(
    "/incidents/{stix_id}/package",
    summary="The post-event package of a closed incident (R36)",
    description="`format=stix` (a STIX 2.1 bundle, the default) or `format=html`.",
    response_model=None,
)
def package(
    request: Request,
    caller: CallerDep,
    stix_id: str,
    format: Annotated[str, Query(description="stix or html")] = "stix",  # noqa: A002 - the API's name
) -> Response:
    if format not in {"stix", "html"}:
        raise InvalidInput("format", f"{format!r} is not stix or html")
    packages = services_of(request).packages
    built = packages.build(caller, stix_id)
    if format == "html":
        return HTMLResponse(packages.html(built))
    return Response(
        orjson.dumps(packages.stix_bundle(built)),
        media_type="application/stix+json;version=2.1",
    )
