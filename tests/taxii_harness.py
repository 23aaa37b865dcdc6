"""The TAXII conformance harness: plain HTTP against canal's app with a base path and
credentials, seeded only through the API itself (PEERS.md §6)."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi.testclient import TestClient

from canal.accounts.service import LOCAL_ADMIN
from canal.app import build_services
from canal.config import load_settings
from canal.model.org import OrgKind, Role
from canal.web.app import create_app
from factories import add_org

T21 = "application/taxii+json;version=2.1"
ROOT = "/taxii2/canal/"
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

#: Who the suite acts as: (org, role).
WHO = {
    "paris": ("NCB Paris", Role.MEMBER),
    "rome": ("NCB Rome", Role.MEMBER),
    "partner": ("Acme Threat Labs", Role.PARTNER),
    "analyst": ("Secretariat", Role.ANALYST),
    "auditor": ("Secretariat", Role.AUDITOR),
}


@dataclass
class Taxii:
    client: TestClient
    tokens: dict[str, str]
    collections: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str | None = "paris", accept: str | None = T21, **extra: str) -> dict:
        out: dict[str, str] = {}
        if accept is not None:
            out["Accept"] = accept
        if who is not None:
            out["Authorization"] = f"Bearer {self.tokens[who]}"
        out.update(extra)
        return out

    def request(
        self,
        method: str,
        path: str,
        *,
        who: str | None = "paris",
        accept: str | None = T21,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ):
        merged = self.headers(who, accept)
        merged.update(headers or {})
        url = path if path.startswith("/") else ROOT + path
        request = self.client.build_request(method, url, headers=merged, **kwargs)
        if accept is None:
            # httpx adds "Accept: */*" on its own; the suite must be able to send none.
            del request.headers["accept"]
        return self.client.send(request)

    def get(self, path: str, **kwargs: Any):
        return self.request("GET", path, **kwargs)

    def delete(self, path: str, **kwargs: Any):
        return self.request("DELETE", path, **kwargs)

    def post(self, path: str, body: Any, *, content_type: str | None = T21, **kwargs: Any):
        headers = dict(kwargs.pop("headers", None) or {})
        if content_type is not None:
            headers["Content-Type"] = content_type
        content = body if isinstance(body, bytes) else orjson.dumps(body)
        return self.request("POST", path, content=content, headers=headers, **kwargs)

    def objects_path(self, alias: str = "law-enforcement") -> str:
        return f"collections/{self.collections[alias]}/objects/"

    def add(self, objects: list[dict], alias: str = "law-enforcement", who: str = "paris"):
        response = self.post(self.objects_path(alias), {"objects": objects}, who=who)
        assert response.status_code == 202, response.text
        return response.json()

    def basic(self, who: str) -> str:
        raw = f"anyone:{self.tokens[who]}".encode()
        return "Basic " + base64.b64encode(raw).decode()


def build_taxii(url: str, **settings: Any) -> tuple[Taxii, Any]:
    services = build_services(load_settings(environ={}, database_url=url, **settings))
    add_org(services)
    add_org(services, "NCB Rome", country="IT")
    add_org(services, "Acme Threat Labs", kind=OrgKind.PARTNER)
    add_org(services, "Secretariat", kind=OrgKind.SECRETARIAT)
    tokens = {}
    for who, (org_name, role) in WHO.items():
        org = services.accounts.org(org_name)
        tokens[who] = services.accounts.create_token(LOCAL_ADMIN, org=org, role=role).token
    client = TestClient(create_app(services), raise_server_exceptions=False)
    taxii = Taxii(client, tokens)
    listed = taxii.get("collections/", who="analyst").json()["collections"]
    taxii.collections = {c["alias"]: c["id"] for c in listed}
    return taxii, services


def assert_taxii_error(response, status: int) -> dict:
    """G-07 and G-19: an error answers TAXII's media type and an error resource."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == T21
    body = response.json()
    assert isinstance(body.get("title"), str)
    assert body["title"]
    assert body.get("http_status") == str(status)
    allowed = {
        "title",
        "description",
        "error_id",
        "error_code",
        "http_status",
        "external_details",
        "details",
    }
    assert set(body) <= allowed, body
    return body
