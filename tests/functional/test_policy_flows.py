"""The data-processing rules end to end through the API: partner quarantine, proposals, the
processing log of reads, token scopes, and the errors bad handling gets."""

from __future__ import annotations

from datetime import timedelta

import orjson
import pytest
from fastapi.testclient import TestClient

from canal.accounts.service import LOCAL_ADMIN
from canal.clock import FixedClock
from canal.errors import Forbidden
from canal.model.extension import CANAL_EXTENSION_ID
from canal.model.org import OrgKind, Role
from canal.web.app import create_app
from factories import add_org, indicator


@pytest.fixture
def orgs(services):
    return {
        "paris": add_org(services),
        "lyon": add_org(services, "Cyber Unit Lyon", country="FR"),
        "rome": add_org(services, "NCB Rome", country="IT"),
        "acme": add_org(services, "Acme Threat Labs", kind=OrgKind.PARTNER),
        "gs": add_org(services, "Secretariat", kind=OrgKind.SECRETARIAT),
    }


def client_for(services, org, role):
    token = services.accounts.create_token(LOCAL_ADMIN, org=org, role=role).token
    client = TestClient(create_app(services), raise_server_exceptions=False)
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def ids(response):
    return [item["id"] for item in response.json()["items"]]


def test_partner_submission_is_quarantined_then_released_as_a_secretariat_product(services, orgs):
    acme = client_for(services, orgs["acme"], Role.PARTNER)
    rome = client_for(services, orgs["rome"], Role.MEMBER)
    analyst = client_for(services, orgs["gs"], Role.ANALYST)
    obj = indicator(
        extensions={
            CANAL_EXTENSION_ID: {"extension_type": "property-extension", "audience": "partners"}
        },
        object_marking_refs=["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"],
    )
    assert acme.post("/api/v1/objects", content=orjson.dumps(obj)).status_code == 200
    # Before release: the partner and the secretariat see it, members do not.
    assert ids(acme.get("/api/v1/objects")) == [obj["id"]]
    assert rome.get(f"/api/v1/objects/{obj['id']}").status_code == 404
    assert [i["id"] for i in analyst.get("/api/v1/quarantine").json()["items"]] == [obj["id"]]
    assert rome.get("/api/v1/quarantine").status_code == 403
    assert rome.post(f"/api/v1/quarantine/{obj['id']}/release", json={}).status_code == 403
    released = analyst.post(
        f"/api/v1/quarantine/{obj['id']}/release", json={"audience": "law-enforcement"}
    )
    assert released.json() == {"id": obj["id"], "released_versions": 1}
    # After: members see it as the secretariat's, with no trace of the partner.
    seen = rome.get(f"/api/v1/objects/{obj['id']}")
    assert seen.status_code == 200
    assert seen.json()["handling"]["source"] == "Secretariat"
    assert seen.json()["object"]["extensions"][CANAL_EXTENSION_ID]["source"] == "Secretariat"
    assert "Acme" not in seen.text
    assert "Acme" not in rome.get("/api/v1/objects").text
    # The secretariat still knows where it came from.
    assert analyst.get(f"/api/v1/objects/{obj['id']}").json()["handling"]["source"] == (
        "Acme Threat Labs"
    )
    # Released as law-enforcement only: the partner keeps seeing it as its source.
    assert ids(acme.get("/api/v1/objects")) == [obj["id"]]


def test_rejected_partner_submission_keeps_the_reason(services, orgs):
    acme = client_for(services, orgs["acme"], Role.PARTNER)
    analyst = client_for(services, orgs["gs"], Role.ANALYST)
    obj = indicator()
    acme.post("/api/v1/objects", content=orjson.dumps(obj))
    empty = analyst.post(f"/api/v1/quarantine/{obj['id']}/reject", json={"reason": " "})
    assert empty.status_code == 400
    analyst.post(f"/api/v1/quarantine/{obj['id']}/reject", json={"reason": "sinkholed address"})
    mine = acme.get(f"/api/v1/objects/{obj['id']}").json()
    assert mine["handling"]["release_state"] == "rejected"
    assert analyst.get("/api/v1/quarantine").json()["items"] == []
    again = analyst.post(f"/api/v1/quarantine/{obj['id']}/release", json={})
    assert again.status_code == 404


def test_proposals_go_to_the_source_which_decides(services, orgs):
    paris = client_for(services, orgs["paris"], Role.MEMBER)
    rome = client_for(services, orgs["rome"], Role.MEMBER)
    obj = indicator(
        object_marking_refs=["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]
    )
    paris.post("/api/v1/objects", content=orjson.dumps(obj))
    change = dict(obj, modified="2026-06-01T00:00:00.000Z", description="also seen in Rome")
    result = rome.post("/api/v1/objects", content=orjson.dumps(change)).json()["results"][0]
    assert result["status"] == "proposed"
    [proposal] = paris.get("/api/v1/proposals").json()["items"]
    assert proposal["proposer"] == "NCB Rome"
    assert rome.post(f"/api/v1/proposals/{proposal['id']}/accept").status_code == 403
    accepted = paris.post(f"/api/v1/proposals/{proposal['id']}/accept")
    assert accepted.json()["status"] == "new-version"
    latest = paris.get(f"/api/v1/objects/{obj['id']}").json()
    assert latest["object"]["description"] == "also seen in Rome"
    assert latest["handling"]["source"] == "NCB Paris"
    assert latest["handling"]["tlp"] == "TLP:GREEN"
    assert paris.post(f"/api/v1/proposals/{proposal['id']}/accept").status_code == 400


def test_every_read_is_in_the_processing_log_and_the_source_can_list_it(services, orgs):
    paris = client_for(services, orgs["paris"], Role.MEMBER)
    rome = client_for(services, orgs["rome"], Role.MEMBER)
    auditor = client_for(services, orgs["gs"], Role.AUDITOR)
    obj = indicator()
    paris.post("/api/v1/objects", content=orjson.dumps(obj))
    rome.get("/api/v1/objects?purpose=warning")
    rome.get(f"/api/v1/objects/{obj['id']}")
    log = paris.get(f"/api/v1/audit/log?record={obj['id']}").json()["entries"]
    assert [(e["action"], e["actor"].split("@")[1].split("[")[0]) for e in log] == [
        ("data:record:create", "NCB Paris"),
        ("data:record:search", "NCB Rome"),
        ("data:record:read", "NCB Rome"),
    ]
    assert [e["purpose"] for e in log[1:]] == ["warning", "criminal-investigation"]
    # Rome is not the source: the log of Paris's record is not Rome's to read.
    assert rome.get(f"/api/v1/audit/log?record={obj['id']}").status_code == 404
    assert rome.get("/api/v1/audit/verify").status_code == 403
    assert auditor.get("/api/v1/audit/verify").json()["ok"] is True
    # The auditor reads the log and no record.
    assert auditor.get("/api/v1/objects").json()["items"] == []
    assert auditor.get(f"/api/v1/objects/{obj['id']}").status_code == 404
    assert len(auditor.get("/api/v1/audit/log").json()["entries"]) >= 4


def test_mixed_workload_leaves_an_intact_log(services, orgs):
    paris = client_for(services, orgs["paris"], Role.MEMBER)
    acme = client_for(services, orgs["acme"], Role.PARTNER)
    analyst = client_for(services, orgs["gs"], Role.ANALYST)
    for i in range(5):
        paris.post("/api/v1/objects", content=orjson.dumps([indicator(f"198.51.100.{i}")]))
        obj = indicator(f"203.0.113.{i}")
        acme.post("/api/v1/objects", content=orjson.dumps(obj))
        analyst.get("/api/v1/objects?limit=3")
        if i % 2:
            analyst.post(f"/api/v1/quarantine/{obj['id']}/release", json={})
        else:
            analyst.post(f"/api/v1/quarantine/{obj['id']}/reject", json={"reason": "noise"})
        paris.get("/api/v1/objects")
    report = services.audit.verify()
    assert report.ok, str(report)
    assert report.entries > 25


def test_purpose_outside_the_list_is_a_clear_400(services, orgs):
    rome = client_for(services, orgs["rome"], Role.MEMBER)
    response = rome.get("/api/v1/objects?purpose=curiosity")
    assert response.status_code == 400
    assert "curiosity" in response.json()["error"]["message"]
    header = rome.get("/api/v1/objects", headers={"X-Canal-Purpose": "nope"})
    assert header.status_code == 400


def test_purpose_filters_what_comes_back(services, orgs):
    paris = client_for(services, orgs["paris"], Role.MEMBER)
    rome = client_for(services, orgs["rome"], Role.MEMBER)
    obj = indicator(
        extensions={
            CANAL_EXTENSION_ID: {"extension_type": "property-extension", "purposes": ["warning"]}
        }
    )
    paris.post("/api/v1/objects", content=orjson.dumps(obj))
    assert ids(rome.get("/api/v1/objects?purpose=warning")) == [obj["id"]]
    assert ids(rome.get("/api/v1/objects")) == []  # default purpose: criminal-investigation


def test_a_deny_list_naming_the_source_is_rejected(services, orgs):
    paris = client_for(services, orgs["paris"], Role.MEMBER)
    response = paris.post("/api/v1/objects?deny=FR", content=orjson.dumps(indicator()))
    [result] = response.json()["results"]
    assert result["status"] == "rejected"
    assert "source" in result["reason"]
    own_name = paris.post(
        "/api/v1/objects?deny=NCB%20Paris", content=orjson.dumps(indicator())
    ).json()["results"][0]
    assert own_name["status"] == "rejected"


def test_unknown_country_or_org_in_lists_is_a_clear_400(services, orgs):
    paris = client_for(services, orgs["paris"], Role.MEMBER)
    for query in ("deny=ZZ", "allow=Nobody%20Inc", "tlp=white-ish"):
        response = paris.post(f"/api/v1/objects?{query}", content=orjson.dumps(indicator()))
        assert response.status_code == 400, query
        assert response.json()["error"]["code"] == "invalid-input"


def test_expired_and_revoked_tokens_are_401_with_the_reason(services, orgs):
    clock = FixedClock(services.clock.now())
    services.accounts.clock = clock
    issued = services.accounts.create_token(LOCAL_ADMIN, org=orgs["rome"], role=Role.MEMBER, days=1)
    client = TestClient(create_app(services))
    headers = {"Authorization": f"Bearer {issued.token}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    clock.set(clock.now() + timedelta(days=2))
    expired = client.get("/api/v1/me", headers=headers)
    assert expired.status_code == 401
    assert "expired" in expired.json()["error"]["message"]
    clock.set(clock.now() - timedelta(days=2))
    services.accounts.revoke_token(LOCAL_ADMIN, issued.row.id)
    revoked = client.get("/api/v1/me", headers=headers)
    assert revoked.status_code == 401
    assert "revoked" in revoked.json()["error"]["message"]


def test_ncb_admin_manages_its_own_country_only(services, orgs):
    paris_admin = services.accounts.authenticate(
        services.accounts.create_token(LOCAL_ADMIN, org=orgs["paris"], role=Role.NCB_ADMIN).token
    )
    # Its NCB and the national entities of its country: yes.
    services.accounts.create_token(paris_admin, org=orgs["paris"], role=Role.DUTY_OFFICER)
    services.accounts.create_token(paris_admin, org=orgs["lyon"], role=Role.MEMBER)
    # Another country, a partner, or the secretariat: no.
    for org in (orgs["rome"], orgs["acme"], orgs["gs"]):
        with pytest.raises(Forbidden):
            services.accounts.create_token(
                paris_admin, org=org, role=next(iter(sorted(ROLE_FOR[org.kind])))
            )
    # And no secretariat user may create or change a member country's users (R19).
    analyst = services.accounts.authenticate(
        services.accounts.create_token(LOCAL_ADMIN, org=orgs["gs"], role=Role.ANALYST).token
    )
    with pytest.raises(Forbidden):
        services.accounts.create_token(analyst, org=orgs["paris"], role=Role.MEMBER)
    managed = services.accounts.list_tokens(paris_admin)
    assert {t.org_id for t in managed} <= {orgs["paris"].id, orgs["lyon"].id}
    rome_user = services.accounts.create_token(LOCAL_ADMIN, org=orgs["rome"], role=Role.MEMBER)
    with pytest.raises(Forbidden):
        services.accounts.revoke_token(paris_admin, rome_user.row.id)


ROLE_FOR = {
    OrgKind.MEMBER: {Role.MEMBER},
    OrgKind.PARTNER: {Role.PARTNER},
    OrgKind.SECRETARIAT: {Role.ANALYST},
}
