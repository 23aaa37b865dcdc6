"""Link alerts by e-mail and webhook: where an org set its alert channels, each write that links
new data to its records sends one e-mail and one signed webhook to real receivers on loopback,
naming the count and the org's own records only. Without channels, alerts stay in the app."""

from __future__ import annotations

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from assist_support import (
    SECRET_FR,
    add_countries,
    assist_services,
    signature_ok,
)
from canal.accounts.service import LOCAL_ADMIN
from canal.errors import Forbidden, InvalidInput
from canal.model.audit import EventTag
from canal.model.extension import CANAL_EXTENSION_ID
from canal.model.handling import Tlp
from canal.model.org import Role
from canal.model.stix import TLP2_MARKING_IDS
from canal.store.tables import assist_outbox, audit_log
from canal.web.app import create_app
from factories import indicator


def _green(value: str, **handling: object) -> dict[str, object]:
    obj = indicator(value)
    obj["object_marking_refs"] = [TLP2_MARKING_IDS[Tlp.GREEN]]
    if handling:
        obj["extensions"] = {
            CANAL_EXTENSION_ID: {"extension_type": "property-extension", **handling}
        }
    return obj


@pytest.fixture
def make_services():
    made = []

    def make(url, **settings):
        made.append(assist_services(url, **settings))
        return made[-1]

    yield make
    for services in made:
        services.close()


def _outbox_rows(services) -> int:
    with services.database.read() as conn:
        return int(conn.execute(select(func.count()).select_from(assist_outbox)).scalar_one())


def test_new_links_reach_the_orgs_e_mail_and_webhook_once_per_write(
    database_url, smtp, hook, make_services
):
    services = make_services(
        database_url,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_from="canal@secretariat.example",
        public_url="https://canal.example",
    )
    c = add_countries(services)
    paris, rome = c("FR", Role.NCB_ADMIN).org, c("IT", Role.NCB_ADMIN).org
    berlin = c("DE", Role.NCB_ADMIN).org
    services.alert_channels.set_channels(
        c("FR", Role.NCB_ADMIN),
        {
            "email": "cyber-alerts@ncb.example.fr",
            "webhook_url": hook.url("/fr-alerts"),
            "webhook_secret": SECRET_FR,
        },
    )
    mine = [_green("91.203.7.1"), _green("91.203.7.2")]
    services.ingest.ingest_objects(mine, principal=LOCAL_ADMIN, source=paris)
    assert _outbox_rows(services) == 0  # nothing links yet

    # One write of Rome's links three new records to both of Paris's: one message per channel.
    theirs = [_green("91.203.7.1"), _green("91.203.7.1"), _green("91.203.7.2")]
    services.ingest.ingest_objects(theirs, principal=LOCAL_ADMIN, source=rome)
    assert _outbox_rows(services) == 2
    # A record whose source denied France links too, but Paris learns nothing of it.
    hidden = _green("91.203.7.1", deny=["FR"])
    services.ingest.ingest_objects([hidden], principal=LOCAL_ADMIN, source=berlin)
    assert _outbox_rows(services) == 2

    report = services.assist.sweep()
    assert (report.delivery.sent, report.delivery.failed) == (2, 0)
    (mail,) = smtp.messages
    assert mail["To"] == "cyber-alerts@ncb.example.fr"
    assert mail["Subject"] == "[canal] New data links to 2 of your records"
    assert mail["X-Canal-Event"] == "link-alert"
    (call,) = hook.received()
    assert call.path == "/fr-alerts"
    assert call.headers["X-Canal-Event"] == "link-alert"
    assert signature_ok(call, SECRET_FR)
    alerts = orjson.loads(call.body)["alerts"]
    assert alerts["new_links"] == 3
    assert alerts["records"] == sorted(o["id"] for o in mine)
    assert alerts["url"] == "https://canal.example/api/v1/alerts"
    # Neither channel carries the other records or the values: those are read in canal.
    text = mail.get_payload() + call.body.decode()
    for obj in (*theirs, hidden):
        assert obj["id"] not in text
    assert "91.203.7" not in text
    # Rome set no channels: its alerts (none here) and Paris's stay where they were.
    assert all(d.org_id == paris.id for d in services.assist.deliveries(LOCAL_ADMIN))
    assert {d.country for d in services.assist.deliveries(c("FR", Role.NCB_ADMIN))} == {"FR"}
    assert services.assist.deliveries(c("IT", Role.NCB_ADMIN)) == []

    # Cleared, the next links are in the app only.
    services.alert_channels.clear_channels(c("FR", Role.NCB_ADMIN))
    services.ingest.ingest_objects([_green("91.203.7.2")], principal=LOCAL_ADMIN, source=rome)
    assert _outbox_rows(services) == 2
    with services.database.read() as conn:
        logged = conn.execute(
            select(audit_log.c.action).where(audit_log.c.action.like("admin:alert-channels:%"))
        ).scalars()
        assert list(logged) == [
            EventTag.ALERT_CHANNELS_SET.value,
            EventTag.ALERT_CHANNELS_CLEAR.value,
        ]


def test_alert_channels_through_the_api_and_who_may_set_them(sqlite_url, make_services):
    services = make_services(sqlite_url)
    c = add_countries(services)
    app = create_app(services)

    def client(country: str, role: Role) -> TestClient:
        out = TestClient(app, raise_server_exceptions=False)
        out.headers["Authorization"] = f"Bearer {c.tokens[country, role]}"
        return out

    admin_fr = client("FR", Role.NCB_ADMIN)
    assert admin_fr.get("/api/v1/alerts/channels").json() == {
        "email": None,
        "webhook_url": None,
        "webhook_signed": False,
    }
    for body, field in (
        ({"email": "not-an-address"}, "email"),
        ({"webhook_url": "ftp://soar.example"}, "webhook_url"),
        ({"webhook_url": "https://soar.example/hook"}, "webhook_secret"),
        ({"webhook_url": "https://soar.example/hook", "webhook_secret": "short"}, "webhook_secret"),
        ({"pager": "+33 1 23 45 67 89"}, "pager"),
        ({}, "email"),
        ({"email": 7}, "email"),
    ):
        response = admin_fr.put("/api/v1/alerts/channels", json=body)
        assert response.status_code == 400, (body, response.text)
        error = response.json()["error"]
        assert error["code"] == "invalid-input"
        assert field in error["message"], (body, error)
    assert admin_fr.put("/api/v1/alerts/channels", content=b"[1]").status_code == 400
    saved = admin_fr.put(
        "/api/v1/alerts/channels",
        json={"webhook_url": "https://soar.example/hook", "webhook_secret": SECRET_FR},
    )
    assert saved.status_code == 200, saved.text
    # The signing key is never shown back; given again without it, the URL keeps it.
    assert SECRET_FR not in saved.text
    again = admin_fr.put(
        "/api/v1/alerts/channels",
        json={"webhook_url": "https://soar.example/v2", "email": "alerts@ncb.example.fr"},
    )
    assert again.json()["webhook_signed"] is True
    assert again.json()["email"] == "alerts@ncb.example.fr"
    # Its members read them; only its administrator changes them; other orgs see their own.
    assert client("FR", Role.MEMBER).get("/api/v1/alerts/channels").json()["webhook_signed"]
    refused = client("FR", Role.MEMBER).put("/api/v1/alerts/channels", json={"email": "a@b.fr"})
    assert refused.status_code == 403
    assert client("IT", Role.NCB_ADMIN).get("/api/v1/alerts/channels").json()["email"] is None
    assert client("GS", Role.AUDITOR).get("/api/v1/alerts/channels").status_code == 403
    # A partner and the secretariat set their own.
    partner = client("ACME", Role.PARTNER)
    assert partner.put("/api/v1/alerts/channels", json={"email": "soc@acme.example"}).is_success
    assert admin_fr.delete("/api/v1/alerts/channels").json()["email"] is None
    assert admin_fr.delete("/api/v1/alerts/channels").status_code == 404

    # The local administrator names the org; nobody else may name another.
    with pytest.raises(InvalidInput):
        services.alert_channels.set_channels(LOCAL_ADMIN, {"email": "a@b.fr"})
    services.alert_channels.set_channels(LOCAL_ADMIN, {"email": "a@b.it"}, "NCB Rome")
    assert services.alert_channels.channels(c("IT", Role.MEMBER)).email == "a@b.it"
    with pytest.raises(Forbidden):
        services.alert_channels.set_channels(
            c("FR", Role.NCB_ADMIN), {"email": "x@y.it"}, "NCB Rome"
        )
