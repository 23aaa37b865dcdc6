"""The REST slice through an in-process HTTP client: auth, submit, list with paging, one record
with handling and versions, the error shape, the OpenAPI document."""

from __future__ import annotations

import orjson
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from canal.accounts.service import LOCAL_ADMIN
from canal.model.org import Role
from canal.web.api import analysis, audit, handling, me, objects, review, search
from canal.web.api import assist as assist_api
from canal.web.app import OPENAPI_TAGS, create_app
from factories import add_org, bundle, indicator, malware


@pytest.fixture
def api(services):
    paris = add_org(services)
    add_org(services, "NCB Rome", country="IT")
    token = services.accounts.create_token(LOCAL_ADMIN, org=paris, role=Role.MEMBER).token
    client = TestClient(create_app(services), raise_server_exceptions=False)
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def rome_client(services, api):
    rome = services.accounts.org("NCB Rome")
    token = services.accounts.create_token(LOCAL_ADMIN, org=rome, role=Role.MEMBER).token
    client = TestClient(api.app, raise_server_exceptions=False)
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def assert_error(response, status, code):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]


def test_healthz_and_openapi(api):
    assert api.get("/healthz").json() == {"status": "ok"}
    spec = api.get("/openapi.json").json()
    assert "/api/v1/objects" in spec["paths"]
    assert "/api/v1/objects/{stix_id}" in spec["paths"]
    post = spec["paths"]["/api/v1/objects"]["post"]
    assert post["requestBody"]["content"]["application/json"]["example"]["type"] == "bundle"


def test_the_lookup_routes_matched_first_take_no_other_routers_path():
    """create_app includes the analysis router first (the lookups are the most frequent single
    requests): none of its routes may match a path another API router serves."""
    first = [r for r in analysis.router.routes if isinstance(r, APIRoute)]
    others = [
        r
        for router in (objects, search, handling, review, audit, me, assist_api)
        for r in router.router.routes
        if isinstance(r, APIRoute)
    ]
    assert first
    assert len(others) > 20
    for route in first:
        taken = [o.path for o in others if route.path_regex.match(o.path)]
        assert taken == [], f"{route.path} would answer for {taken}"


def test_the_api_documentation_keeps_its_sections_in_order(api):
    spec = api.get("/openapi.json").json()
    declared = [tag["name"] for tag in spec["tags"]]
    assert declared == [tag["name"] for tag in OPENAPI_TAGS]
    assert declared[:3] == ["meta", "objects", "review"]
    used = {t for ops in spec["paths"].values() for op in ops.values() for t in op["tags"]}
    assert used <= set(declared), f"sections not in OPENAPI_TAGS: {used - set(declared)}"


def test_no_token_or_a_bad_token_is_401_with_a_challenge(api):
    bare = TestClient(api.app)
    response = bare.get("/api/v1/objects")
    assert_error(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"].startswith("Bearer")
    wrong = bare.get("/api/v1/objects", headers={"Authorization": "Bearer canal_nope"})
    assert_error(wrong, 401, "unauthenticated")


def test_a_lookup_without_a_valid_token_is_401_whatever_its_body(api):
    # The lookup authenticates in its own worker call, not through the shared dependency.
    bare = TestClient(api.app)
    for headers in ({}, {"Authorization": "Bearer canal_nope"}):
        for body in (b'{"values": ["203.0.113.7"]}', b"not json", b'{"values": []}'):
            for query in ("", "?purpose=no-such-purpose"):
                response = bare.post(f"/api/v1/lookup{query}", content=body, headers=headers)
                assert_error(response, 401, "unauthenticated")
                assert response.headers["www-authenticate"].startswith("Bearer")
    assert api.post("/api/v1/lookup", content=b"not json").status_code == 400
    bad_purpose = api.post(
        "/api/v1/lookup",
        content=b'{"values": ["203.0.113.7"]}',
        headers={"X-Canal-Purpose": "no-such-purpose"},
    )
    assert_error(bad_purpose, 400, "invalid-input")


def test_submit_then_list_and_get(api):
    objects = [indicator(), malware()]
    response = api.post("/api/v1/objects?tlp=green", content=orjson.dumps(bundle(*objects)))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["counts"]["created"] == 2
    listed = api.get("/api/v1/objects").json()
    assert [item["id"] for item in listed["items"]] == [o["id"] for o in objects]
    assert listed["items"][0]["handling"]["tlp"] == "TLP:GREEN"
    assert "next" not in listed
    one = api.get(f"/api/v1/objects/{objects[0]['id']}").json()
    assert one["object"]["pattern"] == objects[0]["pattern"]
    assert one["handling"]["source"] == "NCB Paris"
    assert len(one["versions"]) == 1


def test_versions_are_listed(api):
    v1 = indicator()
    v2 = dict(v1, modified="2026-04-01T00:00:00.000Z")
    api.post("/api/v1/objects", content=orjson.dumps(v1))
    api.post("/api/v1/objects", content=orjson.dumps(v2))
    one = api.get(f"/api/v1/objects/{v1['id']}").json()
    assert [v["version"] for v in one["versions"]] == [
        "2026-02-01T10:00:00.000000Z",
        "2026-04-01T00:00:00.000000Z",
    ]
    assert one["object"]["modified"] == v2["modified"]


def test_paging_walks_every_record_once(api):
    objects = [indicator(f"198.51.100.{i}") for i in range(25)]
    api.post("/api/v1/objects", content=orjson.dumps(bundle(*objects)))
    seen: list[str] = []
    url = "/api/v1/objects?limit=10"
    pages = 0
    while True:
        page = api.get(url).json()
        pages += 1
        seen.extend(item["id"] for item in page["items"])
        if "next" not in page:
            break
        url = f"/api/v1/objects?limit=10&next={page['next']}"
    assert pages == 3
    assert seen == [o["id"] for o in objects]


def test_cursor_is_bound_to_query_and_caller(api, services):
    api.post(
        "/api/v1/objects?tlp=green",
        content=orjson.dumps(bundle(*[indicator(f"198.51.100.{i}") for i in range(5)])),
    )
    cursor = api.get("/api/v1/objects?limit=2").json()["next"]
    assert_error(
        api.get(f"/api/v1/objects?limit=2&type=malware&next={cursor}"), 400, "invalid-input"
    )
    other = rome_client(services, api)
    assert_error(other.get(f"/api/v1/objects?limit=2&next={cursor}"), 400, "invalid-input")
    assert_error(api.get("/api/v1/objects?next=garbage"), 400, "invalid-input")


def test_submit_rejections_and_bad_bodies(api):
    good = indicator()
    bad = indicator(spec_version="2.0")
    response = api.post("/api/v1/objects", content=orjson.dumps([good, bad]))
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["created", "rejected"]
    assert "spec_version" in results[1]["reason"]
    assert_error(api.post("/api/v1/objects", content=b"\x00\x01junk"), 400, "invalid-submission")
    assert_error(
        api.post("/api/v1/objects?tlp=purple", content=orjson.dumps(good)), 400, "invalid-input"
    )


def test_bad_query_parameters_are_400(api):
    assert_error(api.get("/api/v1/objects?limit=0"), 400, "invalid-input")
    assert_error(api.get("/api/v1/objects?limit=abc"), 400, "invalid-input")
    assert_error(api.get("/api/v1/objects?added_after=yesterday"), 400, "invalid-input")


def test_unknown_route_and_method_use_the_error_shape(api):
    assert_error(api.get("/api/v1/nothing-here"), 404, "not-found")
    assert_error(api.delete("/api/v1/objects"), 405, "method-not-allowed")


def test_restricted_record_and_absent_record_answer_alike(api, services):
    secret = indicator()
    api.post("/api/v1/objects?tlp=red", content=orjson.dumps(secret))
    other = rome_client(services, api)
    restricted = other.get(f"/api/v1/objects/{secret['id']}")
    absent = other.get("/api/v1/objects/indicator--00000000-0000-4000-8000-000000000000")
    assert restricted.status_code == absent.status_code == 404
    assert restricted.json()["error"]["code"] == absent.json()["error"]["code"]
    assert secret["id"] not in other.get("/api/v1/objects").text


def test_oversized_body_is_413(services):
    services.settings = services.settings.__class__(
        **{
            **{f: getattr(services.settings, f) for f in services.settings.__slots__},
            "max_submission_bytes": 100,
        }
    )
    paris = add_org(services)
    token = services.accounts.create_token(LOCAL_ADMIN, org=paris, role=Role.MEMBER).token
    client = TestClient(create_app(services))
    response = client.post(
        "/api/v1/objects",
        content=orjson.dumps(indicator()),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 413
