"""The 24/7 network's test world: countries with officers and contacts, and real receivers on
loopback (an SMTP server and an HTTP server) for e-mails and webhooks."""

from __future__ import annotations

import hashlib
import hmac
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from canal.accounts.service import LOCAL_ADMIN
from canal.app import Services, build_services
from canal.clock import FixedClock
from canal.config import load_settings
from canal.model.org import OrgKind, Principal, Role

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
SECRET_IT = "it-webhook-signing-key-0001"
SECRET_IT_BACKUP = "it-backup-signing-key-0002"
SECRET_FR = "fr-webhook-signing-key-0003"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- receivers --------------------------------------------------------------------------------


class _Collect:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        with self.lock:
            self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@dataclass
class SmtpServer:
    port: int
    handler: _Collect

    @property
    def messages(self) -> list[Message]:
        with self.handler.lock:
            return list(self.handler.messages)


@contextmanager
def smtp_server(port: int | None = None) -> Iterator[SmtpServer]:
    handler = _Collect()
    port = port or free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer(port, handler)
    finally:
        controller.stop()


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HttpReceiver:
    """A webhook endpoint: records every call; answers `status` (set 503 to play down)."""

    port: int
    status: int = 200
    calls: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def received(self) -> list[Received]:
        with self.lock:
            return list(self.calls)


@contextmanager
def http_receiver() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            with receiver.lock:
                receiver.calls.append(Received(self.path, dict(self.headers.items()), body))
                status = receiver.status
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def signature_ok(call: Received, secret: str) -> bool:
    timestamp = call.headers["X-Canal-Timestamp"]
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + call.body, hashlib.sha256)
    return hmac.compare_digest(call.headers["X-Canal-Signature"], "sha256=" + expected.hexdigest())


# -- the world --------------------------------------------------------------------------------


def assist_services(url: str, clock: FixedClock | None = None, **settings: Any) -> Services:
    environ = {f"CANAL_{k.upper()}": str(v) for k, v in settings.items()}
    return build_services(
        load_settings(environ=environ, database_url=url), clock=clock or FixedClock(T0)
    )


@dataclass
class Countries:
    services: Services
    officers: dict[tuple[str, Role], Principal]
    tokens: dict[tuple[str, Role], str]

    def __call__(self, country: str, role: Role = Role.DUTY_OFFICER) -> Principal:
        return self.officers[country, role]


ORGS = (("NCB Paris", "FR"), ("NCB Rome", "IT"), ("NCB Berlin", "DE"))


def add_countries(services: Services) -> Countries:
    accounts = services.accounts
    officers: dict[tuple[str, Role], Principal] = {}
    tokens: dict[tuple[str, Role], str] = {}
    for name, country in ORGS:
        org = accounts.add_org(LOCAL_ADMIN, name=name, kind=OrgKind.MEMBER, country=country)
        for role in (Role.MEMBER, Role.DUTY_OFFICER, Role.NCB_ADMIN):
            issued = accounts.create_token(
                LOCAL_ADMIN, org=org, role=role, name=f"{country}-{role}"
            )
            tokens[country, role] = issued.token
            officers[country, role] = accounts.authenticate(issued.token)
    secretariat = accounts.add_org(LOCAL_ADMIN, name="Secretariat", kind=OrgKind.SECRETARIAT)
    for role in (Role.ANALYST, Role.AUDITOR):
        issued = accounts.create_token(LOCAL_ADMIN, org=secretariat, role=role)
        tokens["GS", role] = issued.token
        officers["GS", role] = accounts.authenticate(issued.token)
    partner = accounts.add_org(LOCAL_ADMIN, name="Acme Threat Labs", kind=OrgKind.PARTNER)
    issued = accounts.create_token(LOCAL_ADMIN, org=partner, role=Role.PARTNER)
    tokens["ACME", Role.PARTNER] = issued.token
    officers["ACME", Role.PARTNER] = accounts.authenticate(issued.token)
    return Countries(services, officers, tokens)


def contact_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Duty desk",
        "phone": "+39 06 4686 1234",
        "email": "duty@ncb.example.it",
        "hours": "24/7",
        "languages": ["it", "en"],
    }
    body.update(overrides)
    return body


def emergency_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "requested_country": "IT",
        "type": "emergency-disclosure",
        "urgency": "emergency",
        "offence": "Ransomware attack on a hospital",
        "facts": "Patient systems are encrypted; the operators' server is hosted in IT.",
        "contact_phone": "+33 1 23 45 67 89",
        "risk_nature": "Intensive-care monitoring is down",
        "persons_at_risk": "Patients of the hospital",
        "why_not_mla": "Lives are at risk within hours",
    }
    body.update(overrides)
    return body


def preservation_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "requested_country": "IT",
        "type": "preservation",
        "urgency": "urgent",
        "authority": "Paris public prosecutor, J3 cybercrime section",
        "offence": "Ransomware extortion",
        "facts": "A hospital was encrypted on 1 March.",
        "data_description": "Logs and disk image of VPS 203.0.113.7",
        "data_relation": "The VPS was the attack's command-and-control server",
        "custodian_location": "Example Hosting SpA, Milan",
        "necessity": "The provider deletes logs after 7 days",
        "mla_intended": True,
        "contact_phone": "+33 1 23 45 67 89",
    }
    body.update(overrides)
    return body
