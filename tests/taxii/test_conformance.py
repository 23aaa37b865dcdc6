"""The TAXII 2.1 conformance checklist of PEERS.md, one test per row, over HTTP only. Each
test's docstring names its row; docs/taxii.md records the decisions the rows leave open."""

from __future__ import annotations

import uuid

import pytest

from canal.model.extension import CANAL_EXTENSION_ID
from factories import indicator, ipv4, malware
from taxii_harness import ROOT, T21, TIMESTAMP, UUID4, assert_taxii_error, build_taxii

LE = "law-enforcement"

ENDPOINTS = [
    ("GET", "/taxii2/"),
    ("GET", ROOT),
    ("GET", ROOT + "status/" + str(uuid.uuid4()) + "/"),
    ("GET", ROOT + "collections/"),
]


def collection_endpoints(taxii, alias=LE, object_id="indicator--" + str(uuid.uuid4())):
    base = f"{ROOT}collections/{taxii.collections[alias]}/"
    return [
        ("GET", base),
        ("GET", base + "manifest/"),
        ("GET", base + "objects/"),
        ("POST", base + "objects/"),
        ("GET", base + f"objects/{object_id}/"),
        ("DELETE", base + f"objects/{object_id}/"),
        ("GET", base + f"objects/{object_id}/versions/"),
    ]


def ext(**handling):
    return {CANAL_EXTENSION_ID: {"extension_type": "property-extension", **handling}}


def manifest(taxii, alias=LE, query="", who="paris"):
    response = taxii.get(f"collections/{taxii.collections[alias]}/manifest/{query}", who=who)
    assert response.status_code == 200, response.text
    return response


def objects(taxii, alias=LE, query="", who="paris"):
    response = taxii.get(f"collections/{taxii.collections[alias]}/objects/{query}", who=who)
    assert response.status_code == 200, response.text
    return response


def ids_of(response):
    return [o["id"] for o in response.json().get("objects", [])]


def walk(taxii, query, alias=LE, who="paris"):
    """Every page of `query` by `next`; the union of ids, in order."""
    seen = []
    response = objects(taxii, alias, "?" + query, who)
    while True:
        body = response.json()
        seen += [o["id"] for o in body.get("objects", [])]
        if not body.get("more"):
            return seen
        response = objects(taxii, alias, f"?{query}&next={body['next']}", who)


# -- 1 Cross-cutting ----------------------------------------------------------------------------


def test_g01_discovery_at_taxii2(taxii):
    """G-01: discovery lives at /taxii2/."""
    response = taxii.get("/taxii2/")
    assert response.status_code == 200
    assert response.json()["title"]


def test_g02_paths_without_the_trailing_slash_are_404(taxii):
    """G-02 [decision]: a path without its trailing slash answers 404 naming the right path."""
    coll = taxii.collections[LE]
    for path in ("/taxii2", ROOT.rstrip("/"), f"{ROOT}collections/{coll}/objects"):
        body = assert_taxii_error(taxii.get(path), 404)
        assert path + "/" in body["description"]


def test_g03_missing_accept_is_406(taxii):
    """G-03 [decision]: a request without Accept gets 406 and is told what to send."""
    for method, path in ENDPOINTS + collection_endpoints(taxii):
        response = taxii.request(method, path, accept=None)
        body = assert_taxii_error(response, 406)
        assert T21 in body["description"]


def test_g04_accept_without_version_means_21(taxii):
    """G-04: `Accept: application/taxii+json` means the newest version: 2.1."""
    response = taxii.get("/taxii2/", accept="application/taxii+json")
    assert response.status_code == 200
    assert response.headers["content-type"] == T21


def test_g05_accept_20_is_406(taxii):
    """G-05: TAXII 2.0 is not spoken."""
    assert_taxii_error(taxii.get("/taxii2/", accept="application/taxii+json;version=2.0"), 406)
    assert_taxii_error(taxii.get("/taxii2/", accept="application/json"), 406)


def test_g06_media_ranges_and_q_values(taxii):
    """G-06 [decision]: `*/*` and `application/*` include TAXII 2.1 and get 200; parameters
    and q-values are read as RFC 7231 says; q=0 refuses."""
    for accept in (
        "*/*",
        "application/*",
        f"{T21};q=0.9",
        'application/taxii+json; version="2.1"',
        f"text/html, {T21};q=0.5",
    ):
        response = taxii.get("/taxii2/", accept=accept)
        assert response.status_code == 200, accept
        assert response.headers["content-type"] == T21
    assert_taxii_error(taxii.get("/taxii2/", accept=f"{T21};q=0"), 406)


def test_g07_every_response_is_taxii_media_type(taxii):
    """G-07: success and error answers carry Content-Type: T21 (DELETE's empty 200 too)."""
    stored = indicator()
    taxii.add([stored])
    for method, path in ENDPOINTS + collection_endpoints(taxii, object_id=stored["id"]):
        for who in ("paris", None):
            kwargs = (
                {"content": b"{}", "headers": {"Content-Type": T21}} if method == "POST" else {}
            )
            response = taxii.request(method, path, who=who, **kwargs)
            assert response.headers["content-type"] == T21, (method, path, response.text)
    malformed = taxii.post(taxii.objects_path(), b"{not json")
    assert_taxii_error(malformed, 400)
    assert_taxii_error(taxii.get("/taxii2/nowhere/"), 404)
    assert_taxii_error(taxii.request("PUT", ROOT), 405)


def test_g08_a_defined_content_type_is_not_415(taxii):
    """G-08: POST with Content-Type T21 (or without version) is never 415."""
    for content_type in (T21, "application/taxii+json"):
        response = taxii.post(
            taxii.objects_path(), {"objects": [indicator()]}, content_type=content_type
        )
        assert response.status_code == 202, response.text


def test_g09_post_without_content_type_is_415(taxii):
    """G-09: POST without Content-Type, or with another one, gets 415."""
    body = {"objects": [indicator()]}
    assert_taxii_error(taxii.post(taxii.objects_path(), body, content_type=None), 415)
    assert_taxii_error(taxii.post(taxii.objects_path(), body, content_type="application/json"), 415)
    stix = "application/stix+json;version=2.1"
    assert_taxii_error(taxii.post(taxii.objects_path(), body, content_type=stix), 415)


def test_g10_unauthenticated_is_401_with_a_challenge(taxii):
    """G-10: every endpoint, without credentials or with bad ones: 401 and WWW-Authenticate."""
    for method, path in ENDPOINTS + collection_endpoints(taxii):
        for auth in (None, "Bearer canal_nope", "Basic bm9wZTpub3Bl", "Digest x"):
            headers = {} if auth is None else {"Authorization": auth}
            response = taxii.request(method, path, who=None, headers=headers)
            assert_taxii_error(response, 401)
            challenge = response.headers["www-authenticate"]
            assert "Basic realm=" in challenge
            assert "Bearer realm=" in challenge


def test_g11_collections_hidden_from_a_caller_are_404(taxii):
    """G-11 [decision]: failed authentication is 401 everywhere; an authenticated caller gets
    404 for a collection it may not know exists (the partner and law enforcement's)."""
    le = taxii.collections[LE]
    for method, path in collection_endpoints(taxii):
        kwargs = {"content": b"{}", "headers": {"Content-Type": T21}} if method == "POST" else {}
        assert_taxii_error(taxii.request(method, path, who="partner", **kwargs), 404)
        assert_taxii_error(taxii.request(method, path, who=None), 401)
    listed = taxii.get("collections/", who="partner").json()["collections"]
    assert le not in {c["id"] for c in listed}
    assert_taxii_error(taxii.get(f"collections/{uuid.uuid4()}/"), 404)


def test_g12_objects_the_caller_may_not_see_are_omitted(taxii):
    """G-12: per-source filtering: Rome is on the deny list of one of Paris's objects."""
    hidden = indicator(extensions=ext(deny=["IT"]))
    shown = indicator()
    taxii.add([hidden, shown])
    assert ids_of(objects(taxii)) == [hidden["id"], shown["id"]]
    assert ids_of(objects(taxii, who="rome")) == [shown["id"]]
    listed = manifest(taxii, who="rome").json()["objects"]
    assert [m["id"] for m in listed] == [shown["id"]]
    coll = taxii.collections[LE]
    absent = taxii.get(f"collections/{coll}/objects/{hidden['id']}/", who="rome")
    assert_taxii_error(absent, 404)
    assert_taxii_error(
        taxii.get(f"collections/{coll}/objects/{hidden['id']}/versions/", who="rome"), 404
    )


def test_g13_no_user_agent_is_fine(taxii):
    """G-13: a request without User-Agent is served."""
    response = taxii.request("GET", "/taxii2/")
    request = taxii.client.build_request("GET", "/taxii2/", headers=taxii.headers())
    del request.headers["user-agent"]
    assert taxii.client.send(request).status_code == 200
    assert response.status_code == 200


def test_g14_http_basic_is_implemented(taxii):
    """G-14: HTTP Basic (SHOULD) works, with the token as the password and any user name. TLS
    is the reverse proxy's (docs/taxii.md names TLS 1.2 minimum, 1.3 preferred, no 0-RTT)."""
    response = taxii.get("/taxii2/", who=None, headers={"Authorization": taxii.basic("paris")})
    assert response.status_code == 200
    from pathlib import Path  # noqa: PLC0415

    doc = (Path(__file__).resolve().parents[2] / "docs" / "taxii.md").read_text()
    assert "TLS 1.2" in doc
    assert "0-RTT" in doc


def test_g15_timestamps_have_microseconds(taxii):
    """G-15: date_added, request_timestamp and the X-TAXII headers: YYYY-MM-DDTHH:MM:SS.ssssssZ."""
    status = taxii.add([indicator(), ipv4()])
    assert TIMESTAMP.match(status["request_timestamp"])
    response = manifest(taxii)
    for entry in response.json()["objects"]:
        assert TIMESTAMP.match(entry["date_added"])
        assert TIMESTAMP.match(entry["version"])
    for header in ("X-TAXII-Date-Added-First", "X-TAXII-Date-Added-Last"):
        assert TIMESTAMP.match(response.headers[header])
    for detail in status["successes"]:
        assert TIMESTAMP.match(detail["version"])


def test_g16_identifiers_are_uuid4(taxii):
    """G-16: collection and status ids are RFC 4122 version 4 UUIDs."""
    for who in ("paris", "partner", "analyst"):
        for coll in taxii.get("collections/", who=who).json()["collections"]:
            assert UUID4.match(coll["id"]), coll["id"]
    assert UUID4.match(taxii.add([indicator()])["id"])


def test_g17_lists_are_never_empty(taxii):
    """G-17: empty lists are left out: collections, objects, versions, successes, failures."""
    assert taxii.get("collections/", who="auditor").json() == {}
    assert objects(taxii).json() == {}
    assert manifest(taxii).json() == {}
    status = taxii.add([indicator()])
    assert "failures" not in status
    assert "pendings" not in status
    coll = taxii.collections[LE]
    stored = indicator()
    taxii.add([stored])
    none = taxii.get(
        f"collections/{coll}/objects/{stored['id']}/versions/?added_after=2999-01-01T00:00:00Z"
    )
    assert none.status_code == 200
    assert none.json() == {}


def _check(resource: dict, required: set[str], optional: set[str]) -> None:
    assert required <= set(resource), (required - set(resource), resource)
    assert set(resource) <= required | optional, set(resource) - required - optional


def test_g18_resources_have_the_spec_properties(taxii):
    """G-18: property names exactly as in the spec; required ones present."""
    stored = indicator()
    status = taxii.add([stored, indicator(pattern="nonsense")])
    _check(
        status,
        {"id", "status", "total_count", "success_count", "failure_count", "pending_count"},
        {"request_timestamp", "successes", "failures", "pendings"},
    )
    for detail in status["successes"] + status["failures"]:
        _check(detail, {"id", "version"}, {"message"})
    _check(
        taxii.get("/taxii2/").json(),
        {"title"},
        {"description", "contact", "default", "api_roots"},
    )
    _check(taxii.get(ROOT).json(), {"title", "versions", "max_content_length"}, {"description"})
    for coll in taxii.get("collections/").json()["collections"]:
        _check(
            coll,
            {"id", "title", "can_read", "can_write"},
            {"description", "alias", "media_types"},
        )
    _check(objects(taxii).json(), set(), {"more", "next", "objects"})
    for entry in manifest(taxii).json()["objects"]:
        _check(entry, {"id", "date_added", "version"}, {"media_type"})
    coll = taxii.collections[LE]
    versions = taxii.get(f"collections/{coll}/objects/{stored['id']}/versions/").json()
    _check(versions, set(), {"more", "next", "versions"})


def test_g19_every_error_is_an_error_resource(taxii):
    """G-19: every 4xx is an error resource with http_status equal to the status, as a string."""
    coll = taxii.collections[LE]
    cases = [
        (taxii.get("/taxii2/", who=None), 401),
        (taxii.get("/taxii2/", accept="text/html"), 406),
        (taxii.get(f"collections/{uuid.uuid4()}/"), 404),
        (taxii.get(f"collections/{coll}/objects/?limit=0"), 400),
        (taxii.post(taxii.objects_path(), {"objects": []}), 422),
        (taxii.post(taxii.objects_path(), b"[]", content_type="text/plain"), 415),
        (
            taxii.post(
                f"collections/{taxii.collections['ransomware']}/objects/",
                {"objects": [indicator()]},
                who="partner",
            ),
            403,
        ),
    ]
    for response, status in cases:
        assert_taxii_error(response, status)


def test_g20_custom_properties_on_an_envelope_are_ignored(taxii):
    """G-20 [decision]: custom properties on TAXII resources (x_...) are ignored: 202."""
    stored = indicator()
    response = taxii.post(taxii.objects_path(), {"objects": [stored], "x_acme_foo": "bar"})
    assert response.status_code == 202
    assert response.json()["success_count"] == 1


def test_g21_next_is_rechecked_against_caller_and_query(taxii):
    """G-21 [decision]: another caller's `next`, or one replayed with other filters, is 400;
    never data outside the caller's rights."""
    taxii.add([indicator() for _ in range(3)])
    first = objects(taxii, query="?limit=1").json()
    token = first["next"]
    assert_taxii_error(taxii.get(f"{taxii.objects_path()}?limit=1&next={token}", who="rome"), 400)
    changed = f"{taxii.objects_path()}?limit=1&match[type]=indicator&next={token}"
    assert_taxii_error(taxii.get(changed), 400)
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert_taxii_error(taxii.get(f"{taxii.objects_path()}?limit=1&next={forged}"), 400)
    # The same caller and query may change the page size.
    assert objects(taxii, query=f"?limit=2&next={token}").status_code == 200


# -- 2 Endpoints --------------------------------------------------------------------------------


def test_e_disc_discovery(taxii):
    """E-DISC: discovery: title, default, api_roots relative with a single leading slash."""
    response = taxii.get("/taxii2/")
    assert response.headers["content-type"] == T21
    body = response.json()
    assert body["title"]
    for root in body["api_roots"]:
        assert root.startswith("/")
        assert not root.startswith("//")
        assert "?" not in root
        assert ".." not in root
        assert taxii.get(root).status_code == 200


def test_e_disc_2_default_is_an_api_root(taxii):
    """E-DISC-2: `default` is one of `api_roots`."""
    body = taxii.get("/taxii2/").json()
    assert body["default"] in body["api_roots"]


def test_e_root_api_root(taxii):
    """E-ROOT: title, versions, max_content_length > 0; an unknown root is 404."""
    body = taxii.get(ROOT).json()
    assert body["title"]
    assert body["max_content_length"] > 0
    assert_taxii_error(taxii.get("/taxii2/other/"), 404)


def test_e_root_2_versions_names_21_exactly(taxii):
    """E-ROOT-2: `versions` holds application/taxii+json;version=2.1 exactly."""
    assert T21 in taxii.get(ROOT).json()["versions"]


def test_e_stat_status(taxii):
    """E-STAT: a status is read back by the org that posted it; anyone else gets 404."""
    status = taxii.add([indicator()])
    response = taxii.get(f"status/{status['id']}/")
    assert response.status_code == 200
    assert response.json()["id"] == status["id"]
    assert_taxii_error(taxii.get(f"status/{status['id']}/", who="rome"), 404)


def test_e_colls_collections(taxii):
    """E-COLLS: the collections the caller may know, in a fixed order."""
    member = [c["alias"] for c in taxii.get("collections/").json()["collections"]]
    assert member == ["law-enforcement", "partners", "own", "ransomware"]
    partner = [c["alias"] for c in taxii.get("collections/", who="partner").json()["collections"]]
    assert partner == ["partners", "own", "ransomware"]


def test_e_coll_collection(taxii):
    """E-COLL: one collection: id (v4), title, alias unique, can_read, can_write, media_types."""
    listed = taxii.get("collections/").json()["collections"]
    assert len({c["alias"] for c in listed}) == len(listed)
    for coll in listed:
        one = taxii.get(f"collections/{coll['id']}/").json()
        assert one == coll
        assert one["media_types"] == ["application/stix+json;version=2.1"]
    ransomware = taxii.get(f"collections/{taxii.collections['ransomware']}/", who="partner").json()
    assert ransomware["can_read"] is True
    assert ransomware["can_write"] is False


def test_e_man_manifest(taxii):
    """E-MAN: manifest records: id, date_added, version (= modified), media_type; the spec's
    `application/stix+json;version=2.1` Accept is taken as well."""
    stored = indicator(modified="2026-03-01T00:00:00.000Z")
    taxii.add([stored])
    response = manifest(taxii)
    [entry] = response.json()["objects"]
    assert entry["id"] == stored["id"]
    assert entry["version"] == "2026-03-01T00:00:00.000000Z"
    assert entry["media_type"] == "application/stix+json;version=2.1"
    assert response.headers["X-TAXII-Date-Added-First"] == entry["date_added"]
    coll = taxii.collections[LE]
    other = taxii.get(f"collections/{coll}/manifest/", accept="application/stix+json;version=2.1")
    assert other.status_code == 200


def test_e_getobjs_objects(taxii):
    """E-GETOBJS: an envelope with the objects and both headers; empty result is `{}`."""
    stored = [indicator(), malware()]
    taxii.add(stored)
    response = objects(taxii)
    body = response.json()
    assert [o["id"] for o in body["objects"]] == [o["id"] for o in stored]
    assert body["more"] is False
    assert "X-TAXII-Date-Added-First" in response.headers
    assert "X-TAXII-Date-Added-Last" in response.headers
    # Objects carry their handling: TLP 2.0 marking and canal's extension.
    assert CANAL_EXTENSION_ID in body["objects"][0]["extensions"]
    assert objects(taxii, query="?match[type]=tool").json() == {}


def test_e_add_add_objects(taxii):
    """E-ADD: 202 and a status; the collection's default handling applies to what carries
    none (partners: TLP:GREEN, audience partners)."""
    stored = indicator()
    response = taxii.post(taxii.objects_path("partners"), {"objects": [stored]})
    assert response.status_code == 202
    assert response.headers["content-type"] == T21
    body = response.json()
    assert body["status"] == "complete"
    assert body["success_count"] == 1
    [got] = objects(taxii, "partners", who="paris").json()["objects"]
    handling = got["extensions"][CANAL_EXTENSION_ID]
    assert handling["audience"] == "partners"
    assert (
        got["object_marking_refs"][0] == "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
    )
    assert ids_of(objects(taxii, "partners", who="partner")) == [stored["id"]]


def test_e_add_2_exact_duplicates_are_successes(taxii):
    """E-ADD-2: an exact duplicate is a success, not a failure."""
    stored = indicator()
    taxii.add([stored])
    again = taxii.add([stored, stored])
    assert again["success_count"] == 2
    assert again["failure_count"] == 0
    assert "duplicate" in again["successes"][0]["message"]


def test_e_add_3_status_stays_queryable(taxii, database_url):
    """E-ADD-3: `complete` at once; the status stays queryable for CANAL_TAXII_STATUS_DAYS
    (at least 24 h), then answers 404."""
    from datetime import timedelta  # noqa: PLC0415

    status = taxii.add([indicator()])
    assert status["status"] == "complete"
    services = taxii.client.app.state.services
    real_now = services.clock.now

    class Later:
        def __init__(self, delta):
            self.delta = delta

        def now(self):
            return real_now() + self.delta

    services.taxii.clock = Later(timedelta(hours=25))
    assert taxii.get(f"status/{status['id']}/").status_code == 200
    services.taxii.clock = Later(timedelta(days=8))
    assert_taxii_error(taxii.get(f"status/{status['id']}/"), 404)


def test_e_getobj_object(taxii):
    """E-GETOBJ: an object's versions; unknown object 404; filters that match none of its
    versions give an empty envelope."""
    v1 = indicator()
    v2 = dict(v1, modified="2026-05-01T00:00:00.000Z")
    taxii.add([v1, v2])
    coll = taxii.collections[LE]
    path = f"collections/{coll}/objects/{v1['id']}/"
    response = taxii.get(path)
    assert [o["modified"] for o in response.json()["objects"]] == [v2["modified"]]
    assert "X-TAXII-Date-Added-Last" in response.headers
    every = taxii.get(path + "?match[version]=all").json()["objects"]
    assert len(every) == 2
    assert taxii.get(path + "?match[version]=2001-01-01T00:00:00.000Z").json() == {}
    assert_taxii_error(taxii.get(f"collections/{coll}/objects/indicator--{uuid.uuid4()}/"), 404)


def test_e_del_delete_permission_matrix(taxii):
    """E-DEL: 200 without a body for the source; read=false & write=false: 404; one of them
    false: 403; a caller who may see the object but is not its source: 403."""
    stored = indicator(
        object_marking_refs=["marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"],
        extensions=ext(audience="partners"),
    )
    taxii.add([stored])
    le, rw = taxii.collections[LE], taxii.collections["ransomware"]
    assert_taxii_error(
        taxii.delete(f"collections/{le}/objects/{stored['id']}/", who="partner"), 404
    )
    assert_taxii_error(
        taxii.delete(f"collections/{rw}/objects/{stored['id']}/", who="partner"), 403
    )
    assert_taxii_error(taxii.delete(f"collections/{le}/objects/{stored['id']}/", who="rome"), 403)
    response = taxii.delete(f"collections/{le}/objects/{stored['id']}/")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-type"] == T21


def test_e_del_2_deleted_objects_are_gone(taxii):
    """E-DEL-2: after DELETE the object is 404 and in no listing; match[version] deletes one
    version and the one before becomes the latest."""
    v1 = indicator()
    v2 = dict(v1, modified="2026-05-01T00:00:00.000Z")
    other = indicator()
    taxii.add([v1, v2, other])
    coll = taxii.collections[LE]
    path = f"collections/{coll}/objects/{v1['id']}/"
    assert taxii.delete(path + "?match[version]=2026-05-01T00:00:00.000Z").status_code == 200
    assert [o["modified"] for o in taxii.get(path).json()["objects"]] == [v1["modified"]]
    assert taxii.delete(path).status_code == 200
    assert_taxii_error(taxii.get(path), 404)
    assert_taxii_error(taxii.get(path + "versions/"), 404)
    assert ids_of(objects(taxii, query="?match[version]=all")) == [other["id"]]
    assert [m["id"] for m in manifest(taxii).json()["objects"]] == [other["id"]]
    assert_taxii_error(taxii.delete(path), 404)


def test_e_ver_versions(taxii):
    """E-VER: the versions of an object, oldest added first, with the headers."""
    v1 = indicator()
    v2 = dict(v1, modified="2026-05-01T00:00:00.000Z")
    taxii.add([v1])
    taxii.add([v2])
    coll = taxii.collections[LE]
    response = taxii.get(f"collections/{coll}/objects/{v1['id']}/versions/")
    assert response.json()["versions"] == [
        "2026-02-01T10:00:00.000000Z",
        "2026-05-01T00:00:00.000000Z",
    ]
    assert "X-TAXII-Date-Added-First" in response.headers
    limited = taxii.get(f"collections/{coll}/objects/{v1['id']}/versions/?limit=1").json()
    assert limited["more"] is True
    assert len(limited["versions"]) == 1


# -- 3 Filtering --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "added_after=yesterday",
        "added_after=2026-13-01T00:00:00Z",
        "limit=0",
        "limit=-1",
        "limit=abc",
        "match[version]=notatime",
        "match[id]=nonsense",
        "match[type]=Not_A_Type",
        "match[spec_version]=two",
        "match[type]=indicator,,malware",
        "match[type]=indicator, malware",
        "next=",
    ],
)
def test_f01_malformed_parameters_are_400(taxii, query):
    """F-01: a malformed query parameter is 400, never 500."""
    assert_taxii_error(taxii.get(f"{taxii.objects_path()}?{query}"), 400)
    assert_taxii_error(taxii.get(f"collections/{taxii.collections[LE]}/manifest/?{query}"), 400)


def test_f02_added_after_is_strictly_after_and_single(taxii):
    """F-02 [decision]: added_after compares date_added strictly; twice is 400."""
    first, second = indicator(), indicator()
    taxii.add([first])
    taxii.add([second])
    entries = manifest(taxii).json()["objects"]
    t1 = entries[0]["date_added"]
    assert ids_of(objects(taxii, query=f"?added_after={t1}")) == [second["id"]]
    twice = f"{taxii.objects_path()}?added_after={t1}&added_after={t1}"
    assert_taxii_error(taxii.get(twice), 400)


def test_f03_oldest_first(taxii):
    """F-03: without added_after, oldest added first (not by created or modified)."""
    late = indicator(created="2020-01-01T00:00:00.000Z", modified="2020-01-01T00:00:00.000Z")
    early = indicator(created="2026-01-01T00:00:00.000Z", modified="2026-01-01T00:00:00.000Z")
    taxii.add([early])
    taxii.add([late])
    assert ids_of(objects(taxii)) == [early["id"], late["id"]]


def test_f04_limit(taxii):
    """F-04: no more than `limit`; more: true when more exist; everything when it fits."""
    taxii.add([indicator() for _ in range(5)])
    body = objects(taxii, query="?limit=2").json()
    assert len(body["objects"]) == 2
    assert body["more"] is True
    assert len(objects(taxii, query="?limit=10").json()["objects"]) == 5
    # Above the server's page size, the server gives its page size.
    assert len(objects(taxii, query="?limit=5000").json()["objects"]) == 5


def test_f05_match_values_or_fields_and(taxii):
    """F-05: values of one field are ORed, fields ANDed; an unknown field is ignored."""
    i, m = indicator(), malware()
    taxii.add([i, m, indicator()])
    both = objects(taxii, query="?match[type]=indicator,malware").json()["objects"]
    assert len(both) == 3
    one = objects(taxii, query=f"?match[type]=indicator,malware&match[id]={m['id']}")
    assert ids_of(one) == [m["id"]]
    assert len(objects(taxii, query="?match[colour]=red").json()["objects"]) == 3
    assert_taxii_error(
        taxii.get(f"{taxii.objects_path()}?match[type]=indicator&match[type]=malware"), 400
    )


def test_f06_match_id(taxii):
    """F-06: match[id] gives only those ids."""
    stored = [indicator() for _ in range(3)]
    taxii.add(stored)
    wanted = f"{stored[0]['id']},{stored[2]['id']}"
    assert ids_of(objects(taxii, query=f"?match[id]={wanted}")) == [
        stored[0]["id"],
        stored[2]["id"],
    ]


def test_f07_match_type_of_an_absent_type(taxii):
    """F-07: a STIX type the collection does not hold is an empty envelope, not an error."""
    taxii.add([indicator()])
    assert objects(taxii, query="?match[type]=grouping").json() == {}
    assert ids_of(objects(taxii, query="?match[type]=indicator"))


def test_f08_latest_version_by_default(taxii):
    """F-08: without match[version], the latest version of each object."""
    v1 = indicator()
    versions = [dict(v1, modified=f"2026-0{m}-01T00:00:00.000Z") for m in (3, 4)]
    taxii.add([v1, *versions])
    [got] = objects(taxii).json()["objects"]
    assert got["modified"] == "2026-04-01T00:00:00.000Z"


def test_f09_first_all_and_timestamps(taxii):
    """F-09: first, all, exact timestamps (several), first,last."""
    v1 = indicator(created="2016-11-03T12:30:59.000Z", modified="2016-11-03T12:30:59.000Z")
    v2 = dict(v1, modified="2016-12-25T12:30:59.444Z")
    v3 = dict(v1, modified="2017-01-27T13:49:53.997Z")
    taxii.add([v1, v2, v3])

    def mods(query):
        return [o["modified"] for o in objects(taxii, query=query).json().get("objects", [])]

    assert mods("?match[version]=first") == [v1["modified"]]
    assert mods("?match[version]=last") == [v3["modified"]]
    assert sorted(mods("?match[version]=all")) == [v1["modified"], v2["modified"], v3["modified"]]
    assert mods("?match[version]=2016-12-25T12:30:59.444Z") == [v2["modified"]]
    both = "?match[version]=2016-12-25T12:30:59.444Z,2017-01-27T13:49:53.997000Z"
    assert sorted(mods(both)) == [v2["modified"], v3["modified"]]
    assert sorted(mods("?match[version]=first,last")) == [v1["modified"], v3["modified"]]


def test_f10_all_with_another_value_is_400(taxii):
    """F-10 [decision]: `all` with another value, or a repeated value, is 400."""
    for value in (
        "all,first",
        "last,all",
        "first,first",
        "2016-01-01T00:00:00Z,2016-01-01T00:00:00.000Z",
    ):
        assert_taxii_error(taxii.get(f"{taxii.objects_path()}?match[version]={value}"), 400)


def test_f11_spec_version(taxii):
    """F-11 [decision]: canal holds STIX 2.1 only (2.0 objects are refused with a message), so
    the default and match[spec_version]=2.1 give the 2.1 objects and =2.0 gives none."""
    stored = indicator()
    old = {k: v for k, v in malware().items() if k != "spec_version"}
    status = taxii.post(taxii.objects_path(), {"objects": [stored, old]}).json()
    assert status["failure_count"] == 1
    assert "spec_version" in status["failures"][0]["message"]
    assert ids_of(objects(taxii)) == [stored["id"]]
    assert ids_of(objects(taxii, query="?match[spec_version]=2.1")) == [stored["id"]]
    assert objects(taxii, query="?match[spec_version]=2.0").json() == {}
    assert ids_of(objects(taxii, query="?match[spec_version]=2.0,2.1")) == [stored["id"]]


def test_f12_observables_get_a_consistent_version(taxii):
    """F-12: an SCO (no modified/created) gets a server version, the same on every read and
    for an identical resubmission."""
    sco = ipv4("203.0.113.9")
    status = taxii.add([sco])
    version = status["successes"][0]["version"]
    coll = taxii.collections[LE]
    path = f"collections/{coll}/objects/{sco['id']}/versions/"
    assert taxii.get(path).json()["versions"] == [version]
    assert taxii.get(path).json()["versions"] == [version]
    again = taxii.add([sco])
    assert again["successes"][0]["version"] == version


def test_f13_manifest_filters_on_the_object(taxii):
    """F-13: manifest?match[type]=indicator filters on the underlying objects."""
    i = indicator()
    taxii.add([i, malware(), ipv4()])
    listed = manifest(taxii, query="?match[type]=indicator").json()["objects"]
    assert [m["id"] for m in listed] == [i["id"]]


# -- 4 Pagination -------------------------------------------------------------------------------


def test_p01_sorted_by_date_added(taxii):
    """P-01: manifest entries ascend by date_added across pages."""
    for _ in range(3):
        taxii.add([indicator() for _ in range(4)])
    dates, query = [], "?limit=5"
    while True:
        body = manifest(taxii, query=query).json()
        dates += [m["date_added"] for m in body.get("objects", [])]
        if not body.get("more"):
            break
        query = f"?limit=5&next={body['next']}"
    assert len(dates) == 12
    assert dates == sorted(dates)
    assert len(set(dates)) == len(dates)


def test_p02_headers_are_first_and_last_of_the_page(taxii):
    """P-02: X-TAXII-Date-Added-First/Last equal the page's first and last date_added, on
    manifest, objects, object and versions."""
    stored = [indicator() for _ in range(4)]
    taxii.add(stored)
    response = manifest(taxii, query="?limit=3")
    entries = response.json()["objects"]
    assert response.headers["X-TAXII-Date-Added-First"] == entries[0]["date_added"]
    assert response.headers["X-TAXII-Date-Added-Last"] == entries[-1]["date_added"]
    page = objects(taxii, query="?limit=3")
    assert page.headers["X-TAXII-Date-Added-First"] == entries[0]["date_added"]
    assert page.headers["X-TAXII-Date-Added-Last"] == entries[-1]["date_added"]
    coll = taxii.collections[LE]
    for suffix in ("", "versions/"):
        one = taxii.get(f"collections/{coll}/objects/{stored[1]['id']}/{suffix}")
        assert one.headers["X-TAXII-Date-Added-First"] == entries[1]["date_added"]
        assert one.headers["X-TAXII-Date-Added-Last"] == entries[1]["date_added"]


def test_p03_no_headers_on_an_empty_page(taxii):
    """P-03 [decision]: an empty page carries no X-TAXII-Date-Added headers."""
    response = objects(taxii)
    assert "X-TAXII-Date-Added-First" not in response.headers
    assert "X-TAXII-Date-Added-Last" not in response.headers


def test_p04_more_when_more(taxii):
    """P-04: limit=1 on two objects: more: true and a next; the last page has more: false."""
    taxii.add([indicator(), indicator()])
    body = objects(taxii, query="?limit=1").json()
    assert body["more"] is True
    assert body["next"]
    last = objects(taxii, query=f"?limit=1&next={body['next']}").json()
    assert last["more"] is False
    assert "next" not in last


def test_p05_walk_by_next(taxii):
    """P-05: the same query plus `next` walks every page; the union is complete, no repeats."""
    stored = [indicator() for _ in range(7)]
    taxii.add(stored)
    assert walk(taxii, "limit=3") == [o["id"] for o in stored]


def test_p06_walk_by_added_after_alone_loses_nothing(taxii):
    """P-06: 1,000 objects added in one transaction, walked with limit=100 and added_after
    from X-TAXII-Date-Added-Last alone: every object exactly once."""
    stored = [indicator(f"198.51.{i // 250}.{i % 250}") for i in range(1000)]
    taxii.add(stored)
    seen, after = [], None
    while True:
        query = "?limit=100" + (f"&added_after={after}" if after else "")
        response = objects(taxii, query=query)
        page = ids_of(response)
        if not page:
            break
        seen += page
        after = response.headers["X-TAXII-Date-Added-Last"]
    assert len(seen) == 1000
    assert set(seen) == {o["id"] for o in stored}


def test_p07_more_then_empty_is_tolerated(taxii):
    """P-07: objects deleted between pages: the next page may be empty, never an error."""
    stored = [indicator(), indicator()]
    taxii.add(stored)
    body = objects(taxii, query="?limit=1").json()
    coll = taxii.collections[LE]
    assert taxii.delete(f"collections/{coll}/objects/{stored[1]['id']}/").status_code == 200
    response = objects(taxii, query=f"?limit=1&next={body['next']}")
    assert response.json().get("objects") is None


def test_p08_old_next_with_changed_filters_is_400(taxii):
    """P-08: `next` is opaque; with changed filters it is refused, never trusted."""
    taxii.add([indicator() for _ in range(3)])
    token = objects(taxii, query="?limit=1").json()["next"]
    for changed in (
        "match[id]=" + indicator()["id"],
        "added_after=2020-01-01T00:00:00Z",
        "match[version]=all",
    ):
        assert_taxii_error(taxii.get(f"{taxii.objects_path()}?limit=1&{changed}&next={token}"), 400)
    other = taxii.collections["own"]
    assert_taxii_error(taxii.get(f"collections/{other}/objects/?limit=1&next={token}"), 400)


def test_p09_collections_in_a_consistent_order(taxii):
    """P-09: the collections endpoint answers in the same order every time."""
    first = taxii.get("collections/").json()
    for _ in range(3):
        assert taxii.get("collections/").json() == first


# -- 5 Status -----------------------------------------------------------------------------------


def test_s01_counts_add_up(taxii):
    """S-01: total = success + failure + pending."""
    status = taxii.add([indicator(), indicator(pattern="x"), malware()])
    assert status["total_count"] == 3
    assert status["total_count"] == (
        status["success_count"] + status["failure_count"] + status["pending_count"]
    )


def test_s02_complete_means_nothing_pending(taxii):
    """S-02: status complete => pending_count 0."""
    status = taxii.add([indicator()])
    assert status["status"] == "complete"
    assert status["pending_count"] == 0


def test_s03_empty_lists_omitted(taxii):
    """S-03: a status leaves out its empty lists."""
    status = taxii.add([indicator()])
    assert "failures" not in status
    assert "pendings" not in status
    failing = taxii.post(taxii.objects_path(), {"objects": [indicator(pattern="x")]}).json()
    assert "successes" not in failing


def test_s04_status_from_202_equals_later_get(taxii):
    """S-04: the 202's status equals a later GET of it."""
    status = taxii.add([indicator(), indicator(pattern="x")])
    assert taxii.get(f"status/{status['id']}/").json() == status


def test_s05_unknown_status_is_404(taxii):
    """S-05: an unknown status id is 404."""
    assert_taxii_error(taxii.get(f"status/{uuid.uuid4()}/"), 404)
    assert_taxii_error(taxii.get("status/not-a-uuid/"), 404)


def test_s06_mixed_envelope(taxii):
    """S-06: one valid, one invalid object: 202, one success, one failure with a message."""
    good, bad = indicator(), indicator(valid_until="2000-01-01T00:00:00Z")
    response = taxii.post(taxii.objects_path(), {"objects": [good, bad]})
    assert response.status_code == 202
    body = response.json()
    assert body["success_count"] == 1
    assert body["failure_count"] == 1
    assert body["failures"][0]["id"] == bad["id"]
    assert body["failures"][0]["message"]


# -- beyond the rows: bodies --------------------------------------------------------------------


def test_413_above_max_content_length_and_never_at_it(database_url):
    """E-ADD 413: a body above max_content_length is 413; one of exactly that size is not."""
    taxii, services = build_taxii(database_url, max_submission_bytes=4096)
    try:
        advertised = taxii.get(ROOT).json()["max_content_length"]
        assert advertised == 4096
        envelope = b'{"objects": [' + b" " * 10 + b"]}"
        exact = envelope[:-2] + b" " * (advertised - len(envelope)) + b"]}"
        assert len(exact) == advertised
        assert taxii.post(taxii.objects_path(), exact).status_code == 422
        bigger = exact[:-2] + b" ]}"
        assert_taxii_error(taxii.post(taxii.objects_path(), bigger), 413)
    finally:
        services.close()


@pytest.mark.parametrize(
    "body",
    [b"{not json", b'"objects"', b"[]", b'{"objects": {}}', b'{"objects": []}', b"{}", b"null"],
)
def test_junk_envelopes_are_4xx(taxii, body):
    """Bad input: an envelope with junk is 400 (not JSON) or 422 (not an envelope)."""
    response = taxii.post(taxii.objects_path(), body)
    assert_taxii_error(response, 400 if body == b"{not json" else 422)


def test_junk_objects_are_failures_not_errors(taxii):
    """Objects that are not STIX are failures of a 202, each with its message."""
    status = taxii.post(taxii.objects_path(), {"objects": [1, "x", {}, {"type": "indicator"}]})
    assert status.status_code == 202
    body = status.json()
    assert body["failure_count"] == 4
    assert all(f["message"] for f in body["failures"])
