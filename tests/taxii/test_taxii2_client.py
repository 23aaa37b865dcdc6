"""taxii2-client, a real TAXII 2.1 client, against canal on a loopback socket: it discovers,
lists, adds, pages and reads back a full bundle (the OASIS examples), with Basic and Bearer."""

from __future__ import annotations

import orjson
import pytest
from taxii2client.common import TokenAuth
from taxii2client.v21 import Server, as_pages

from canal.accounts.service import LOCAL_ADMIN
from canal.ingest.stix import objects_of, without_handling
from canal.model.org import Role
from canal.web.app import create_app
from factories import add_org
from servers import serve_app
from stix_validation import example_bundles


class Bearer(TokenAuth):
    def __call__(self, r):
        r.headers["Authorization"] = f"Bearer {self.key}"
        return r


def full_bundle() -> list[dict]:
    """Every object of the OASIS example bundles, once per (id, version)."""
    seen: dict[tuple[str, str | None], dict] = {}
    for path in example_bundles():
        for obj in objects_of(orjson.loads(path.read_bytes())):
            seen.setdefault((obj["id"], obj.get("modified") or obj.get("created")), obj)
    return list(seen.values())


def _version(obj):
    return obj.get("modified") or obj.get("created")


@pytest.mark.slow
def test_taxii2_client_round_trip(sqlite_services):
    services = sqlite_services
    paris = add_org(services)
    token = services.accounts.create_token(LOCAL_ADMIN, org=paris, role=Role.MEMBER).token
    sent = full_bundle()
    assert len(sent) > 100
    with serve_app(create_app(services)) as base:
        server = Server(base + "/taxii2/", user="anyone", password=token)
        assert server.title == "canal"
        api_root = server.default
        assert api_root.max_content_length > 0
        collections = {c.alias: c for c in api_root.collections}
        assert list(collections) == ["law-enforcement", "partners", "own", "ransomware"]
        own = collections["own"]
        assert own.can_read
        assert own.can_write

        status = own.add_objects({"objects": sent})
        assert status.status == "complete"
        assert status.failure_count == 0, status.failures
        assert status.success_count == len(sent)

        pages = list(as_pages(own.get_objects, per_request=25, version="all"))
        assert len(pages) > 2
        got = [obj for page in pages for obj in page.get("objects", [])]
        assert len(got) == len(sent)
        by_key = {(o["id"], _version(o)): o for o in got}
        for obj in sent:
            back = by_key[obj["id"], _version(obj)]
            assert without_handling(back) == without_handling(obj)

        manifest = [
            e for page in as_pages(own.get_manifest, per_request=40) for e in page["objects"]
        ]
        latest = {o["id"] for o in sent}
        assert {e["id"] for e in manifest} == latest

        some = sent[0]["id"]
        assert own.get_object(some)["objects"][0]["id"] == some
        assert own.object_versions(some)["versions"]
        own.delete_object(some)
        assert some not in {e["id"] for e in own.get_manifest()["objects"]}

        # Bearer works as well as Basic.
        bearer = Server(base + "/taxii2/", auth=Bearer(token))
        assert next(c.alias for c in bearer.default.collections) == "law-enforcement"
