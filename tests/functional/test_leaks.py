"""The leak matrix (DESIGN.md invariants 1 and 2): for every role and every route of the app, a
record restricted away from the caller is never returned, counted, hinted at in an error, or
present in an export. The test lists the app's routes: a new route without a probe fails it."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
import pytest
from fastapi.testclient import TestClient

import analysis_probes
import assist_probes
from canal.accounts.service import LOCAL_ADMIN
from canal.exchange.taxii import COLLECTIONS
from canal.model.extension import CANAL_EXTENSION_ID
from canal.model.handling import Tlp
from canal.model.org import OrgKind, Role
from canal.model.stix import TLP2_MARKING_IDS
from canal.web.app import create_app
from factories import add_org, indicator
from routes import app_routes

ABSENT = "indicator--00000000-0000-4000-8000-00000000abcd"
ROLES = [
    ("NCB Rome", Role.MEMBER),
    ("NCB Rome", Role.DUTY_OFFICER),
    ("NCB Rome", Role.NCB_ADMIN),
    ("Acme Threat Labs", Role.PARTNER),
    ("Secretariat", Role.ANALYST),
    ("Secretariat", Role.AUDITOR),
]


def ext(**handling):
    return {CANAL_EXTENSION_ID: {"extension_type": "property-extension", **handling}}


@dataclass
class World:
    services: object
    app: object
    clients: dict[tuple[str, Role], TestClient]
    #: For each role, the ids it must never learn about, and a marker in their content.
    hidden: dict[tuple[str, Role], list[str]]
    markers: dict[str, str]
    paris_id: str
    #: The value each record carries (an IPv4 address), for the lookup probes.
    values: dict[str, str] = field(default_factory=dict)


def _client(app, token: str) -> TestClient:
    client = TestClient(app, raise_server_exceptions=False)
    client.headers["Authorization"] = f"Bearer {token}"
    return client


@pytest.fixture
def world(services) -> World:
    paris = add_org(services)
    add_org(services, "NCB Rome", country="IT")
    partner = add_org(services, "Acme Threat Labs", kind=OrgKind.PARTNER)
    add_org(services, "Secretariat", kind=OrgKind.SECRETARIAT)
    markers = {}
    values = {}

    def submit(org, obj, marker):
        # Each record carries its own value, off every warninglist, so lookups can find it.
        value = f"91.205.0.{len(markers) + 1}"
        obj["pattern"] = f"[ipv4-addr:value = '{value}']"
        obj["name"] = marker
        markers[obj["id"]] = marker
        values[obj["id"]] = value
        report = services.ingest.ingest_objects([obj], principal=LOCAL_ADMIN, source=org)
        assert report.rejected == []
        return obj["id"]

    denied_rome = submit(paris, indicator(extensions=ext(deny=["IT"])), "MARK-DENY-IT")
    red = submit(paris, indicator(object_marking_refs=[TLP2_MARKING_IDS[Tlp.RED]]), "MARK-RED")
    personal = submit(
        paris,
        indicator(extensions=ext(audience="partners", personal_data=True)),
        "MARK-PERSONAL",
    )
    le_only = submit(
        paris,
        indicator(object_marking_refs=[TLP2_MARKING_IDS[Tlp.GREEN]]),
        "MARK-LAW-ENFORCEMENT-ONLY",
    )
    quarantined = submit(partner, indicator(extensions=ext(audience="partners")), "MARK-QUARANTINE")
    no_secretariat = submit(paris, indicator(extensions=ext(deny=["Secretariat"])), "MARK-DENY-GS")
    confidential = submit(
        paris, indicator(extensions=ext(confidentiality="confidential")), "MARK-CONFIDENTIAL"
    )
    app = create_app(services)
    clients, hidden = {}, {}
    member_hidden = [denied_rome, red, quarantined, confidential]
    for org_name, role in ROLES:
        org = services.accounts.org(org_name)
        token = services.accounts.create_token(LOCAL_ADMIN, org=org, role=role).token
        clients[org_name, role] = _client(app, token)
        clients[org_name, role].headers["X-Test-Role"] = role.value
        if role is Role.PARTNER:
            hidden[org_name, role] = [
                denied_rome,
                red,
                personal,
                le_only,
                no_secretariat,
                confidential,
            ]
        elif role is Role.ANALYST:
            hidden[org_name, role] = [no_secretariat, confidential]
        elif role is Role.AUDITOR:
            hidden[org_name, role] = list(markers)
        else:
            hidden[org_name, role] = member_hidden
    return World(services, app, clients, hidden, markers, denied_rome, values)


def _no_trace(response, ids, markers):
    text = response.text
    for stix_id in ids:
        assert stix_id not in text, (response.request.url, stix_id)
        assert markers[stix_id] not in text, (response.request.url, markers[stix_id])
    assert response.status_code < 500, response.text


def _same_as_absent(client, url_template, stix_id, method="GET", **kwargs):
    """The answer about a restricted id is the answer about an id that does not exist, byte for
    byte once the echoed id is swapped."""
    restricted = client.request(method, url_template.format(id=stix_id), **kwargs)
    absent = client.request(method, url_template.format(id=ABSENT), **kwargs)
    assert restricted.status_code == absent.status_code
    assert restricted.text.replace(stix_id, ABSENT) == absent.text


def probe_list(w, client, hidden):
    for url in ("/api/v1/objects", "/api/v1/objects?type=indicator&limit=1000"):
        _no_trace(client.get(url), hidden, w.markers)
    for purpose in ("threat-analysis", "warning", "criminal-investigation"):
        _no_trace(client.get(f"/api/v1/objects?purpose={purpose}"), hidden, w.markers)


def probe_get(w, client, hidden):
    for stix_id in hidden:
        _same_as_absent(client, "/api/v1/objects/{id}", stix_id)


def probe_submit(w, client, hidden):
    for stix_id in hidden:
        obj = indicator(id=stix_id, name="probe")
        response = client.post("/api/v1/objects", content=orjson.dumps(obj))
        assert response.status_code in {200, 403}
        if response.status_code == 200:
            [result] = response.json()["results"]
            # Stored as the caller's own, as if no one held the id: no duplicate, no proposal.
            assert result["status"] in {"created", "rejected"}
            assert "reason" not in result or "held" not in result["reason"]


def probe_quarantine(w, client, hidden):
    _no_trace(client.get("/api/v1/quarantine"), hidden, w.markers)


def probe_release(w, client, hidden):
    for stix_id in hidden:
        response = client.post(f"/api/v1/quarantine/{stix_id}/release", json={})
        _no_trace(response, [s for s in hidden if s != stix_id], w.markers)


def probe_reject(w, client, hidden):
    for stix_id in hidden:
        response = client.post(f"/api/v1/quarantine/{stix_id}/reject", json={"reason": "x"})
        _no_trace(response, [s for s in hidden if s != stix_id], w.markers)


def probe_proposals(w, client, hidden):
    _no_trace(client.get("/api/v1/proposals"), hidden, w.markers)


def probe_proposal_decision(w, client, hidden):
    for action in ("accept", "reject"):
        response = client.post(f"/api/v1/proposals/1/{action}", json={"reason": "x"})
        _no_trace(response, hidden, w.markers)


def probe_audit_log(w, client, hidden):
    if client.headers.get("X-Test-Role") == Role.AUDITOR.value:
        # The auditor's job is the log (R8): it sees which records were touched, by whom and
        # why, never their content.
        for stix_id in hidden:
            body = client.get(f"/api/v1/audit/log?record={stix_id}").text
            assert w.markers[stix_id] not in body
        return
    for stix_id in hidden:
        _same_as_absent(client, "/api/v1/audit/log?record={id}", stix_id)
    _no_trace(client.get("/api/v1/audit/log"), hidden, w.markers)


def probe_audit_verify(w, client, hidden):
    _no_trace(client.get("/api/v1/audit/verify"), hidden, w.markers)


def probe_search(w, client, hidden):
    _no_trace(client.get("/api/v1/search?limit=1000"), hidden, w.markers)
    # A TLP none of whose profiles is open to the caller is answered from the profiles alone.
    for tlp in ("clear", "green", "amber", "amber%2Bstrict", "red"):
        _no_trace(client.get(f"/api/v1/search?tlp={tlp}&limit=1000"), hidden, w.markers)
    for stix_id in hidden:
        for query in (
            f"value={w.markers[stix_id]}",
            f"text={w.markers[stix_id]}",
            f"value={stix_id}",
        ):
            _no_trace(client.get(f"/api/v1/search?{query}&all_versions=true"), hidden, w.markers)


def probe_handling_update(w, client, hidden):
    for stix_id in hidden:
        _same_as_absent(
            client, "/api/v1/objects/{id}/handling", stix_id, method="PATCH", json={"tlp": "clear"}
        )


TAXII_ROOT = "/taxii2/canal/"
COLLECTION_PATHS = [f"{TAXII_ROOT}collections/{c.id}/" for c in COLLECTIONS]


def probe_taxii_static(w, client, hidden):
    for path in ("/taxii2/", TAXII_ROOT, f"{TAXII_ROOT}collections/", *COLLECTION_PATHS):
        _no_trace(client.get(path), hidden, w.markers)


def probe_taxii_status(w, client, hidden):
    _no_trace(
        client.get(f"{TAXII_ROOT}status/00000000-0000-4000-8000-000000000000/"), hidden, w.markers
    )


def probe_taxii_listing(w, client, hidden):
    ids = ",".join(hidden)
    for base in COLLECTION_PATHS:
        for endpoint in ("objects/", "manifest/"):
            for query in (
                "",
                "?match[version]=all",
                "?match[version]=first,last",
                f"?match[id]={ids}",
            ):
                _no_trace(client.get(base + endpoint + query), hidden, w.markers)


def probe_taxii_object(w, client, hidden):
    for base in COLLECTION_PATHS:
        for stix_id in hidden:
            _same_as_absent(client, base + "objects/{id}/", stix_id)
            _same_as_absent(client, base + "objects/{id}/?match[version]=all", stix_id)
            _same_as_absent(client, base + "objects/{id}/versions/", stix_id)


def probe_taxii_delete(w, client, hidden):
    for base in COLLECTION_PATHS:
        for stix_id in hidden:
            _same_as_absent(client, base + "objects/{id}/", stix_id, method="DELETE")


def probe_taxii_add(w, client, hidden):
    envelope = {"objects": [indicator(id=stix_id, name="probe") for stix_id in hidden]}
    headers = {"Content-Type": "application/taxii+json;version=2.1"}
    for base in COLLECTION_PATHS:
        response = client.post(base + "objects/", content=orjson.dumps(envelope), headers=headers)
        assert response.status_code in {202, 403, 404}, response.text
        me = client.get("/api/v1/me").json()["org"]
        for detail in response.json().get("successes", []):
            # Stored as the caller's own, as if no one held the id; a duplicate can only be of
            # the copy the caller itself stored a moment ago.
            if detail["message"] != "created":
                own = client.get(f"/api/v1/objects/{detail['id']}").json()
                assert own["handling"]["source"] == me, detail


SUBMITTING = {"probe_submit", "probe_taxii_add"}


def probe_static(path):
    def probe(w, client, hidden):
        _no_trace(client.get(path), hidden, w.markers)

    return probe


PROBES: dict[tuple[str, str], Callable] = {
    ("GET", "/api/v1/objects"): probe_list,
    ("POST", "/api/v1/objects"): probe_submit,
    ("GET", "/api/v1/objects/{stix_id}"): probe_get,
    ("GET", "/api/v1/search"): probe_search,
    ("PATCH", "/api/v1/objects/{stix_id}/handling"): probe_handling_update,
    ("GET", "/taxii2/"): probe_taxii_static,
    ("GET", "/taxii2/canal/"): probe_taxii_static,
    ("GET", "/taxii2/canal/status/{status_id}/"): probe_taxii_status,
    ("GET", "/taxii2/canal/collections/"): probe_taxii_static,
    ("GET", "/taxii2/canal/collections/{collection_id}/"): probe_taxii_static,
    ("GET", "/taxii2/canal/collections/{collection_id}/manifest/"): probe_taxii_listing,
    ("GET", "/taxii2/canal/collections/{collection_id}/objects/"): probe_taxii_listing,
    ("POST", "/taxii2/canal/collections/{collection_id}/objects/"): probe_taxii_add,
    ("GET", "/taxii2/canal/collections/{collection_id}/objects/{object_id}/"): probe_taxii_object,
    ("DELETE", "/taxii2/canal/collections/{collection_id}/objects/{object_id}/"): (
        probe_taxii_delete
    ),
    ("GET", "/taxii2/canal/collections/{collection_id}/objects/{object_id}/versions/"): (
        probe_taxii_object
    ),
    ("GET", "/api/v1/quarantine"): probe_quarantine,
    ("POST", "/api/v1/quarantine/{stix_id}/release"): probe_release,
    ("POST", "/api/v1/quarantine/{stix_id}/reject"): probe_reject,
    ("GET", "/api/v1/proposals"): probe_proposals,
    ("POST", "/api/v1/proposals/{proposal_id}/accept"): probe_proposal_decision,
    ("POST", "/api/v1/proposals/{proposal_id}/reject"): probe_proposal_decision,
    ("GET", "/api/v1/audit/log"): probe_audit_log,
    ("GET", "/api/v1/audit/verify"): probe_audit_verify,
    ("GET", "/api/v1/me"): probe_static("/api/v1/me"),
    ("GET", "/healthz"): probe_static("/healthz"),
    ("GET", "/openapi.json"): probe_static("/openapi.json"),
    ("GET", "/docs"): probe_static("/docs"),
    ("GET", "/docs/oauth2-redirect"): probe_static("/docs/oauth2-redirect"),
    ("GET", "/redoc"): probe_static("/redoc"),
}


PROBES.update(assist_probes.PROBES)
PROBES.update(analysis_probes.PROBES)


def test_the_24_7_probes_can_fail(world):
    assist_probes.check_probes_can_fail(world)


def test_every_route_has_a_probe(services):
    served = set(app_routes(create_app(services)))
    assert served - set(PROBES) == set(), "routes without a leak probe"
    assert set(PROBES) - served == set(), "probes for routes that no longer exist"


@pytest.mark.parametrize(("org_name", "role"), ROLES, ids=lambda v: getattr(v, "value", v))
def test_no_route_leaks_a_restricted_record(world, org_name, role):
    client = world.clients[org_name, role]
    hidden = world.hidden[org_name, role]

    # The log goes first: later probes type hidden ids into filters, which the caller's own
    # log entries then echo back to it. Submitting stores the caller's own objects: last.
    def order(probe):
        return (probe.__name__ != "probe_audit_log", probe.__name__ in SUBMITTING)

    for probe in sorted(dict.fromkeys(PROBES.values()), key=order):
        probe(world, client, hidden)


def test_the_probes_can_fail(world):
    """A probe that never sees a record would pass vacuously: the source sees all of them."""
    paris = world.services.accounts.org("NCB Paris")
    token = world.services.accounts.create_token(LOCAL_ADMIN, org=paris, role=Role.MEMBER).token
    text = _client(world.app, token).get("/api/v1/objects").text
    for marker in world.markers.values():
        if marker != "MARK-QUARANTINE":
            assert marker in text


def test_cli_export_with_a_token_leaks_nothing(world, database_url, tmp_path):
    from cli_runner import Cli  # noqa: PLC0415

    cli = Cli(database_url, tmp_path)
    for (org_name, role), hidden in world.hidden.items():
        org = world.services.accounts.org(org_name)
        token = world.services.accounts.create_token(LOCAL_ADMIN, org=org, role=role).token
        exported = cli("export", token=token)
        assert exported.code == 0, exported.stderr
        for stix_id in hidden:
            assert stix_id not in exported.stdout
            assert world.markers[stix_id] not in exported.stdout


def test_denied_country_gets_byte_identical_answers(world):
    """Rome is on the deny list of one record: every answer it gets is the one it would get if
    the record did not exist at all (measured by deleting it and asking again)."""
    from sqlalchemy import delete  # noqa: PLC0415

    from canal.store.tables import audit_subjects, records  # noqa: PLC0415

    rome = world.clients["NCB Rome", Role.MEMBER]
    le = f"/taxii2/canal/collections/{COLLECTIONS[0].id}/"
    urls = [
        f"/api/v1/objects/{world.paris_id}",
        "/api/v1/objects",
        "/api/v1/objects?limit=1",
        f"/api/v1/audit/log?record={world.paris_id}",
        "/api/v1/search?value=MARK",
        *(f"/api/v1/search?tlp={tlp}" for tlp in ("clear", "green", "amber", "red")),
        le + "objects/",
        le + "objects/?limit=1",
        le + "manifest/?match[version]=all",
        le + f"objects/{world.paris_id}/",
        le + f"objects/{world.paris_id}/versions/",
    ]
    before = [rome.get(url) for url in urls]
    with world.services.database.write() as conn:
        conn.execute(delete(records).where(records.c.stix_id == world.paris_id))
        conn.execute(delete(audit_subjects).where(audit_subjects.c.stix_id == world.paris_id))
    after = [rome.get(url) for url in urls]
    for url, a, b in zip(urls, before, after, strict=True):
        assert a.status_code == b.status_code, url
        assert _strip_cursor(a.content) == _strip_cursor(b.content), url


def _strip_cursor(body: bytes) -> bytes:
    # Cursors are signed with a random nonce-free payload, so they are identical too; keep the
    # function to make a future nonce an explicit decision.
    return re.sub(rb'"next":"[^"]*"', b'"next":"..."', body)
