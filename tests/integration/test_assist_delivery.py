"""E-mails and webhooks reach real receivers on loopback (an SMTP server, an HTTP server); a
receiver that is down is retried with back-off, its failure is visible, and nothing is lost."""

from __future__ import annotations

import threading
from datetime import timedelta

import orjson
import pytest
from sqlalchemy import select

from assist_support import (
    SECRET_FR,
    SECRET_IT,
    T0,
    add_countries,
    assist_services,
    contact_body,
    emergency_body,
    free_port,
    signature_ok,
    smtp_server,
)
from canal.clock import FixedClock
from canal.errors import Forbidden
from canal.model.org import Role
from canal.store.tables import audit_log


def make_world(url, smtp_port, hook_url, **settings):
    clock = FixedClock(T0)
    settings = {
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_port,
        "smtp_from": "canal@secretariat.example",
        "notify_backoff_seconds": 60,
        **settings,
    }
    services = assist_services(url, clock, **settings)
    c = add_countries(services)
    services.assist.set_contact(
        c("IT", Role.NCB_ADMIN),
        "IT",
        "primary",
        contact_body(webhook_url=hook_url, webhook_secret=SECRET_IT),
    )
    services.assist.set_contact(
        c("FR", Role.NCB_ADMIN),
        "FR",
        "primary",
        contact_body(
            phone="+33 1 23 45 67 89",
            email="permanence@ncb.example.fr",
            webhook_url=hook_url.replace("/hook", "/fr"),
            webhook_secret=SECRET_FR,
        ),
    )
    return services, c, clock


def test_a_new_request_and_its_answer_reach_both_contacts(sqlite_url, smtp, hook):
    services, c, clock = make_world(sqlite_url, smtp.port, hook.url())
    assist = services.assist
    request = assist.file(c("FR", Role.MEMBER), emergency_body()).shown.request
    report = assist.sweep()
    assert (report.delivery.sent, report.delivery.retrying) == (2, 0)

    [mail] = smtp.messages
    assert mail["To"] == "duty@ncb.example.it"
    assert mail["From"] == "canal@secretariat.example"
    assert "New emergency emergency-disclosure request from FR" in mail["Subject"]
    assert request.id in mail.get_payload()
    [call] = hook.received()
    assert call.path == "/hook"
    assert call.headers["X-Canal-Event"] == "new-request"
    assert signature_ok(call, SECRET_IT)
    assert not signature_ok(call, SECRET_FR)
    payload = orjson.loads(call.body)
    assert payload["request"]["id"] == request.id
    assert payload["request"]["requested_country"] == "IT"
    # The envelope only: the content stays in canal.
    assert "hospital" not in call.body.decode()
    assert "hospital" not in mail.get_payload()

    clock.set(T0 + timedelta(minutes=20))
    assist.transition(c("IT"), request.id, "acknowledged")
    assist.transition(c("IT"), request.id, "in-progress")
    assist.transition(c("IT"), request.id, "executed", answer="Subscriber data sent by e-mail")
    assert assist.sweep().delivery.sent == 2
    answer = [m for m in smtp.messages if m["To"] == "permanence@ncb.example.fr"]
    assert len(answer) == 1
    assert "IT answered" in answer[0]["Subject"]
    fr_call = [x for x in hook.received() if x.path == "/fr"]
    assert signature_ok(fr_call[0], SECRET_FR)
    assert fr_call[0].headers["X-Canal-Event"] == "answer"
    assert all(d.state.value == "sent" for d in assist.deliveries(c("GS", Role.ANALYST)))
    services.close()


def test_a_receiver_that_is_down_is_retried_then_marked_failed_and_can_be_resent(
    sqlite_url, smtp, hook
):
    services, c, _clock = make_world(sqlite_url, smtp.port, hook.url(), notify_max_attempts=3)
    assist = services.assist
    hook.status = 503
    assist.file(c("FR", Role.MEMBER), emergency_body())
    first = assist.sweep(T0)
    assert (first.delivery.sent, first.delivery.retrying) == (1, 1)  # the e-mail went
    [pending] = assist.deliveries(c("IT", Role.NCB_ADMIN), state="pending")
    assert pending.attempts == 1
    assert "HTTP 503" in (pending.last_error or "")
    assert pending.next_attempt_at == pending.created_at + 60 * 10**6

    assert assist.sweep(T0 + timedelta(seconds=30)).delivery.retrying == 0  # backing off
    assert assist.sweep(T0 + timedelta(seconds=60)).delivery.retrying == 1
    report = assist.sweep(T0 + timedelta(seconds=60 + 120))
    assert report.delivery.failed == 1
    [failed] = assist.deliveries(c("GS", Role.ANALYST), state="failed")
    assert failed.attempts == 3
    assert len(hook.received()) == 3
    # Visible to the secretariat and to Italy's NCB administrator, not to others.
    assert assist.deliveries(c("IT", Role.NCB_ADMIN), state="failed") == [failed]
    assert assist.deliveries(c("FR", Role.NCB_ADMIN), state="failed") == []
    with pytest.raises(Forbidden):
        assist.deliveries(c("FR", Role.MEMBER))
    assert assist.sweep(T0 + timedelta(hours=5)).delivery.failed == 0  # given up, kept

    hook.status = 200
    assist.retry_delivery(c("IT", Role.NCB_ADMIN), failed.id)
    assert assist.sweep(T0 + timedelta(hours=5)).delivery.sent == 1
    assert signature_ok(hook.received()[-1], SECRET_IT)
    [sent] = [d for d in assist.deliveries(c("GS", Role.ANALYST)) if d.id == failed.id]
    assert sent.state.value == "sent"
    with services.database.read() as conn:
        rows = conn.execute(select(audit_log.c.action, audit_log.c.summary)).all()
    about = [a for a, summary in rows if orjson.loads(summary).get("delivery") == failed.id]
    assert about == [
        *["assist:delivery:failed"] * 3,
        "assist:delivery:retry",
        "assist:delivery:sent",
    ]
    services.close()


def test_an_smtp_server_that_comes_back_gets_the_mail(sqlite_url, hook):
    port = free_port()
    services, c, _clock = make_world(sqlite_url, port, hook.url())
    assist = services.assist
    request = assist.file(c("FR", Role.MEMBER), emergency_body()).shown.request
    report = assist.sweep(T0)
    assert (report.delivery.sent, report.delivery.retrying) == (1, 1)  # webhook yes, mail no
    [waiting] = assist.deliveries(c("GS", Role.ANALYST), state="pending")
    assert waiting.channel.value == "email"
    assert f"127.0.0.1:{port}" in (waiting.last_error or "")
    with smtp_server(port) as smtp:
        assert assist.sweep(T0 + timedelta(minutes=1)).delivery.sent == 1
        [mail] = smtp.messages
        assert request.id in mail.get_payload()
    services.close()


def test_two_workers_deliver_each_message_once(database_url, hook):
    services, c, _clock = make_world(database_url, free_port(), hook.url(), smtp_host="")
    for _ in range(6):
        services.assist.file(c("FR", Role.MEMBER), emergency_body())
    workers = [assist_services(database_url, FixedClock(T0)) for _ in range(2)]
    barrier = threading.Barrier(2)

    def run(svc):
        barrier.wait()
        svc.assist.sweep(T0)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for w in workers:
        w.close()
    assert len(hook.received()) == 6
    assert len({call.headers["X-Canal-Delivery"] for call in hook.received()}) == 6
    services.close()
