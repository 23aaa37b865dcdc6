"""REST additions: search, the source's change of handling, the ransomware collection's
membership, and versions of one object arriving in one submission."""

from __future__ import annotations

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from canal.accounts.service import LOCAL_ADMIN
from canal.model.handling import Tlp
from canal.model.org import Role
from canal.model.stix import TLP2_MARKING_IDS
from canal.web.app import create_app
from factories import add_org, indicator, ipv4, malware, record_versions, stix_id

T21 = "application/taxii+json;version=2.1"


@pytest.fixture
def world(services):
    paris = add_org(services)
    rome = add_org(services, "NCB Rome", country="IT")
    app = create_app(services)
    clients = {}
    for name, org in (("paris", paris), ("rome", rome)):
        token = services.accounts.create_token(LOCAL_ADMIN, org=org, role=Role.MEMBER).token
        client = TestClient(app, raise_server_exceptions=False)
        client.headers["Authorization"] = f"Bearer {token}"
        client.headers["Accept"] = f"{T21}, application/json"
        clients[name] = client
    return services, clients


def submit(client, *objects, query=""):
    response = client.post(f"/api/v1/objects{query}", content=orjson.dumps(list(objects)))
    assert response.status_code == 200, response.text
    return response.json()


def ids(response):
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def test_search_filters(world):
    _, c = world
    ip = indicator("203.0.113.77", name="Conti payment portal", description="Tor mirror")
    other = indicator("198.51.100.1", name="Phishing kit")
    red = malware("Quiet", object_marking_refs=[TLP2_MARKING_IDS[Tlp.RED]])
    submit(c["paris"], ip, other, red)
    paris = c["paris"]
    assert ids(paris.get("/api/v1/search?value=203.0.113.77")) == [ip["id"]]
    assert ids(paris.get("/api/v1/search?value=CONTI")) == [ip["id"]]
    assert ids(paris.get("/api/v1/search?text=tor%20conti")) == [ip["id"]]
    assert ids(paris.get("/api/v1/search?text=conti%20phishing")) == []
    assert ids(paris.get("/api/v1/search?type=malware")) == [red["id"]]
    assert ids(paris.get("/api/v1/search?tlp=red")) == [red["id"]]
    assert ids(paris.get("/api/v1/search?source=NCB%20Paris&type=indicator")) == [
        ip["id"],
        other["id"],
    ]
    assert ids(paris.get("/api/v1/search?source=Nobody")) == []
    assert ids(paris.get("/api/v1/search?added_before=2000-01-01T00:00:00Z")) == []
    # Rome may not see TLP:RED: search never shows it.
    assert ids(c["rome"].get("/api/v1/search?value=quiet")) == []
    page = paris.get("/api/v1/search?limit=1").json()
    rest = paris.get(f"/api/v1/search?limit=5&next={page['next']}")
    assert len(ids(rest)) == 2
    assert c["rome"].get(f"/api/v1/search?limit=1&next={page['next']}").status_code == 400
    bad = paris.get("/api/v1/search?tlp=purple")
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid-input"


def test_a_search_by_a_tlp_the_reader_may_see_none_of_reads_no_record(world):
    """The records' profiles are not indexed (docs/policy.md), so such a search would read the
    whole table to find nothing; the handling profiles answer it first. Where one profile of
    the TLP is open to the reader, its records are found as before."""
    services, c = world
    red = malware("Quiet", object_marking_refs=[TLP2_MARKING_IDS[Tlp.RED]])
    green = malware("Loud", object_marking_refs=[TLP2_MARKING_IDS[Tlp.GREEN]])
    submit(c["paris"], red, green)
    statements: list[str] = []

    def keep(_conn, _cursor, statement, *_):
        statements.append(statement)

    engine = services.database.engine
    event.listen(engine, "before_cursor_execute", keep)
    try:
        assert ids(c["rome"].get("/api/v1/search?tlp=red")) == []
        reads_of_records = [s for s in statements if "FROM records" in s]
        assert reads_of_records == [], reads_of_records
        assert ids(c["rome"].get("/api/v1/search?tlp=red&tlp=green")) == [green["id"]]
        assert any("FROM records" in s for s in statements)
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    # The source sees its own TLP:RED record by the same search.
    assert ids(c["paris"].get("/api/v1/search?tlp=red")) == [red["id"]]


def test_only_the_source_changes_handling(world):
    services, c = world
    obj = indicator()
    hidden = indicator(object_marking_refs=[TLP2_MARKING_IDS[Tlp.RED]])
    submit(c["paris"], obj, hidden)
    url = f"/api/v1/objects/{obj['id']}/handling"
    response = c["paris"].patch(url, json={"tlp": "green", "deny": ["DE"], "pap": "red"})
    assert response.status_code == 200, response.text
    handling = response.json()["handling"]
    assert handling["tlp"] == "TLP:GREEN"
    assert handling["deny"] == ["DE"]
    assert handling["pap"] == "PAP:RED"
    [stored] = record_versions(services, obj["id"])
    assert stored.handling.tlp is Tlp.GREEN
    # Rome sees it and is not its source: 403; a record Rome may not see: 404, as if absent.
    assert c["rome"].patch(url, json={"tlp": "clear"}).status_code == 403
    absent = c["rome"].patch(f"/api/v1/objects/{hidden['id']}/handling", json={"tlp": "clear"})
    assert absent.status_code == 404
    for body in ({}, {"colour": "red"}, {"tlp": "purple"}, {"deny": ["NCB Paris"]}):
        assert c["paris"].patch(url, json=body).status_code == 400, body
    longer = c["paris"].patch(url, json={"retention_until": "2999-01-01T00:00:00Z"})
    assert longer.status_code == 400
    log = c["paris"].get(f"/api/v1/audit/log?record={obj['id']}").text
    assert "data:record:update" in log


def test_openapi_documents_examples(world):
    _, c = world
    spec = c["paris"].get("/openapi.json").json()
    for path, method in (
        ("/api/v1/objects", "get"),
        ("/api/v1/objects/{stix_id}", "get"),
        ("/api/v1/search", "get"),
        ("/api/v1/proposals", "get"),
        ("/api/v1/proposals/{proposal_id}/accept", "post"),
        ("/api/v1/quarantine", "get"),
    ):
        content = spec["paths"][path][method]["responses"]["200"]["content"]["application/json"]
        assert "example" in content, (path, method)
    assert "/taxii2/canal/collections/{collection_id}/objects/" in spec["paths"]


def test_ransomware_collection(world):
    _, c = world
    family = malware("LockBit")  # a known family (MISP galaxy), no ransomware type given
    typed = malware("Unnamed", malware_types=["ransomware"])
    note = indicator("192.0.2.9")
    rel = {
        "type": "relationship",
        "spec_version": "2.1",
        "id": stix_id("relationship"),
        "created": "2026-02-01T10:00:00.000Z",
        "modified": "2026-02-01T10:00:00.000Z",
        "relationship_type": "indicates",
        "source_ref": note["id"],
        "target_ref": family["id"],
    }
    unrelated = indicator("192.0.2.10")
    # The relationship comes before the family it points to: references arrive in any order.
    submit(c["paris"], rel, note, unrelated, ipv4())
    submit(c["paris"], family, typed)
    hidden_seed = malware("Secret ransomware", object_marking_refs=[TLP2_MARKING_IDS[Tlp.RED]])
    pointer = indicator("192.0.2.11", description=f"see {hidden_seed['id']}")
    hidden_rel = dict(
        rel, id=stix_id("relationship"), source_ref=pointer["id"], target_ref=hidden_seed["id"]
    )
    submit(c["paris"], hidden_seed, pointer, hidden_rel)
    rw = "c7f20b3d-9a14-4e5c-8b67-2d0e5f9a1b84"
    got = c["paris"].get(f"/taxii2/canal/collections/{rw}/objects/").json()["objects"]
    members = {o["id"] for o in got}
    assert members == {
        family["id"],
        typed["id"],
        rel["id"],
        note["id"],
        hidden_seed["id"],
        pointer["id"],
        hidden_rel["id"],
    }
    # Rome may not read the RED seed: neither it nor what links to it through it shows up.
    seen_by_rome = c["rome"].get(f"/taxii2/canal/collections/{rw}/objects/").json()["objects"]
    assert {o["id"] for o in seen_by_rome} == {family["id"], typed["id"], rel["id"], note["id"]}


def test_versions_in_one_submission_leave_one_latest(services):
    paris = add_org(services)
    v1 = indicator()
    v2 = dict(v1, modified="2026-05-01T00:00:00.000Z")
    v0 = dict(v1, modified="2026-01-01T00:00:00.000Z", created="2026-01-01T00:00:00.000Z")
    report = services.ingest.ingest_objects([v1, v2, v0], principal=LOCAL_ADMIN, source=paris)
    assert report.rejected == []
    latest = [r.version for r in record_versions(services, v1["id"]) if r.is_latest]
    assert len(latest) == 1
