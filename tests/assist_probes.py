"""Leak probes for the 24/7 network's routes (used by tests/functional/test_leaks.py).

The world gets, on first use, a request from Paris to Rome that links every record Paris holds
(among them those hidden from the caller), and a closed incident Rome asked Paris about. No
route may show the caller a linked record it may not see, nor answer differently about a hidden
record than about one that does not exist."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from canal.accounts.service import LOCAL_ADMIN
from canal.model.org import Role
from factories import CREATED, stix_id

ABSENT = "indicator--00000000-0000-4000-8000-00000000abcd"
CONTACT = {
    "name": "Duty desk",
    "phone": "+39 06 4686 1234",
    "email": "duty@ncb.example.it",
    "languages": ["it"],
}


def _no_trace(response: Any, ids: list[str], markers: dict[str, str]) -> None:
    text = response.text
    for hidden_id in ids:
        assert hidden_id not in text, (response.request.url, hidden_id)
        assert markers[hidden_id] not in text, (response.request.url, markers[hidden_id])
    assert response.status_code < 500, response.text


def _same(a: Any, b: Any, hidden_id: str) -> None:
    assert a.status_code == b.status_code, (a.text, b.text)
    assert a.text.replace(hidden_id, ABSENT) == b.text


def setup(w: Any) -> dict[str, str]:
    """Requests and an incident to probe through (made once per world)."""
    done = getattr(w, "assist", None)
    if done is not None:
        return done
    services = w.services
    accounts = services.accounts
    paris, rome = accounts.org("NCB Paris"), accounts.org("NCB Rome")

    def principal(org: Any, role: Role) -> Any:
        return accounts.authenticate(accounts.create_token(LOCAL_ADMIN, org=org, role=role).token)

    paris_member = principal(paris, Role.MEMBER)
    rome_member = principal(rome, Role.MEMBER)
    services.assist.set_contact(LOCAL_ADMIN, "IT", "primary", CONTACT)
    linked = [i for i, m in w.markers.items() if m != "MARK-QUARANTINE"]
    body = {
        "type": "technical-advice",
        "urgency": "urgent",
        "offence": "Ransomware",
        "facts": "An attack in progress.",
        "contact_phone": "+33 1 23 45 67 89",
        "links": linked,
    }
    shared = services.assist.file(
        paris_member, {**body, "requested_country": "IT", "share_with_secretariat": True}
    ).shown.request.id
    direct = services.assist.file(paris_member, {**body, "requested_country": "IT"}).shown
    incident = {
        "type": "incident",
        "spec_version": "2.1",
        "id": stix_id("incident"),
        "created": CREATED,
        "modified": CREATED,
        "name": "Probe incident",
        "object_marking_refs": ["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"],
    }
    assert (
        services.ingest.ingest_objects([incident], principal=LOCAL_ADMIN, source=paris).rejected
        == []
    )
    about = services.assist.file(
        rome_member, {**body, "requested_country": "FR", "links": [incident["id"]]}
    ).shown.request.id
    services.packages.close_incident(LOCAL_ADMIN, incident["id"], "probe")
    w.assist = {
        "shared": shared,
        "direct": direct.request.id,
        "about": about,
        "incident": incident["id"],
    }
    return w.assist


def probe_contacts(w: Any, client: Any, hidden: list[str]) -> None:
    setup(w)
    for url in ("/api/v1/contacts", "/api/v1/contacts?country=IT", "/api/v1/contacts/missing"):
        _no_trace(client.get(url), hidden, w.markers)


def probe_contact_write(w: Any, client: Any, hidden: list[str]) -> None:
    setup(w)
    _no_trace(client.put("/api/v1/contacts/IT/backup", json=CONTACT), hidden, w.markers)
    _no_trace(client.delete("/api/v1/contacts/IT/backup"), hidden, w.markers)


def probe_file(w: Any, client: Any, hidden: list[str]) -> None:
    setup(w)
    body = {
        "requested_country": "IT",
        "type": "legal-info",
        "urgency": "routine",
        "offence": "x",
        "facts": "y",
        "contact_phone": "+33 1 23 45 67 89",
    }
    for hidden_id in hidden:
        restricted = client.post("/api/v1/requests", json={**body, "links": [hidden_id]})
        absent = client.post("/api/v1/requests", json={**body, "links": [ABSENT]})
        _same(restricted, absent, hidden_id)


def probe_requests(w: Any, client: Any, hidden: list[str]) -> None:
    made = setup(w)
    for url in (
        "/api/v1/requests",
        "/api/v1/requests?direction=received",
        "/api/v1/requests/figures",
        *(f"/api/v1/requests/{made[k]}" for k in ("shared", "direct", "about")),
    ):
        _no_trace(client.get(url), hidden, w.markers)


def probe_edit(w: Any, client: Any, hidden: list[str]) -> None:
    made = setup(w)
    for hidden_id in hidden:
        response = client.patch(f"/api/v1/requests/{made['direct']}", json={"links": [hidden_id]})
        _no_trace(response, [h for h in hidden if h != hidden_id], w.markers)
        assert response.status_code in {403, 404, 409}


def probe_transition(w: Any, client: Any, hidden: list[str]) -> None:
    made = setup(w)
    for key in ("shared", "direct", "about"):
        response = client.post(
            f"/api/v1/requests/{made[key]}/transitions", json={"to": "acknowledged"}
        )
        _no_trace(response, hidden, w.markers)


def probe_notifications(w: Any, client: Any, hidden: list[str]) -> None:
    setup(w)
    _no_trace(client.get("/api/v1/notifications"), hidden, w.markers)


def probe_notification_read(w: Any, client: Any, hidden: list[str]) -> None:
    setup(w)
    for number in range(1, 6):
        _no_trace(client.post(f"/api/v1/notifications/{number}/read"), hidden, w.markers)


def probe_deliveries(w: Any, client: Any, hidden: list[str]) -> None:
    setup(w)
    _no_trace(client.get("/api/v1/deliveries"), hidden, w.markers)


def probe_delivery_retry(w: Any, client: Any, hidden: list[str]) -> None:
    setup(w)
    for number in range(1, 4):
        _no_trace(client.post(f"/api/v1/deliveries/{number}/retry"), hidden, w.markers)


def probe_incident_close(w: Any, client: Any, hidden: list[str]) -> None:
    setup(w)
    for hidden_id in hidden:
        restricted = client.post(f"/api/v1/incidents/{hidden_id}/close", json={})
        absent = client.post(f"/api/v1/incidents/{ABSENT}/close", json={})
        _same(restricted, absent, hidden_id)


def probe_package(w: Any, client: Any, hidden: list[str]) -> None:
    made = setup(w)
    for hidden_id in hidden:
        for fmt in ("stix", "html"):
            restricted = client.get(f"/api/v1/incidents/{hidden_id}/package?format={fmt}")
            absent = client.get(f"/api/v1/incidents/{ABSENT}/package?format={fmt}")
            _same(restricted, absent, hidden_id)
    for fmt in ("stix", "html"):
        response = client.get(f"/api/v1/incidents/{made['incident']}/package?format={fmt}")
        _no_trace(response, hidden, w.markers)


PROBES: dict[tuple[str, str], Callable[[Any, Any, list[str]], None]] = {
    ("GET", "/api/v1/contacts"): probe_contacts,
    ("GET", "/api/v1/contacts/missing"): probe_contacts,
    ("PUT", "/api/v1/contacts/{country}/{slot}"): probe_contact_write,
    ("DELETE", "/api/v1/contacts/{country}/{slot}"): probe_contact_write,
    ("POST", "/api/v1/requests"): probe_file,
    ("GET", "/api/v1/requests"): probe_requests,
    ("GET", "/api/v1/requests/figures"): probe_requests,
    ("GET", "/api/v1/requests/{request_id}"): probe_requests,
    ("PATCH", "/api/v1/requests/{request_id}"): probe_edit,
    ("POST", "/api/v1/requests/{request_id}/transitions"): probe_transition,
    ("GET", "/api/v1/notifications"): probe_notifications,
    ("POST", "/api/v1/notifications/{notification_id}/read"): probe_notification_read,
    ("GET", "/api/v1/deliveries"): probe_deliveries,
    ("POST", "/api/v1/deliveries/{delivery_id}/retry"): probe_delivery_retry,
    ("POST", "/api/v1/incidents/{stix_id}/close"): probe_incident_close,
    ("GET", "/api/v1/incidents/{stix_id}/package"): probe_package,
}


def check_probes_can_fail(w: Any) -> None:
    """Paris, which linked them, sees every linked record in its request: the probes above
    would catch a leak."""
    made = setup(w)
    paris = w.services.accounts.org("NCB Paris")
    token = w.services.accounts.create_token(LOCAL_ADMIN, org=paris, role=Role.MEMBER).token
    from fastapi.testclient import TestClient  # noqa: PLC0415 - only this check needs it

    client = TestClient(w.app, raise_server_exceptions=False)
    client.headers["Authorization"] = f"Bearer {token}"
    text = client.get(f"/api/v1/requests/{made['direct']}").text
    for hidden_id, marker in w.markers.items():
        if marker != "MARK-QUARANTINE":
            assert hidden_id in text
            assert marker in text
