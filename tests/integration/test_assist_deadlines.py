"""Deadlines of the 24/7 network with an injected clock (R26, R27): escalation of a missed
acknowledgement, overdue answers, preservation reminders and expiry, and several sweeps at once
taking each step once."""

from __future__ import annotations

import threading
from datetime import timedelta

import orjson
import pytest
from sqlalchemy import func, select

from assist_support import (
    SECRET_IT_BACKUP,
    T0,
    add_countries,
    assist_services,
    contact_body,
    emergency_body,
    preservation_body,
)
from canal.clock import FixedClock
from canal.model.assist import EventKind, RequestState
from canal.model.org import Role
from canal.store.tables import assist_events, assist_outbox, audit_log


@pytest.fixture
def world(database_url):
    clock = FixedClock(T0)
    services = assist_services(database_url, clock)
    countries = add_countries(services)
    admin = countries("IT", Role.NCB_ADMIN)
    services.assist.set_contact(admin, "IT", "primary", contact_body())
    services.assist.set_contact(
        admin,
        "IT",
        "backup",
        contact_body(
            name="Backup desk",
            phone="+39 06 0000 0001",
            webhook_url="http://127.0.0.1:9/backup",
            webhook_secret=SECRET_IT_BACKUP,
        ),
    )
    yield services, countries, clock
    services.close()


def events(services, request_id, kind):
    with services.database.read() as conn:
        return conn.execute(
            select(assist_events).where(
                assist_events.c.request_id == request_id, assist_events.c.kind == kind.value
            )
        ).all()


def logged(services, action):
    with services.database.read() as conn:
        return conn.execute(
            select(func.count()).select_from(audit_log).where(audit_log.c.action == action)
        ).scalar_one()


def test_a_missed_acknowledgement_climbs_the_chain_one_step_per_hour(world):
    services, c, _clock = world
    assist = services.assist
    request = assist.file(c("FR", Role.MEMBER), emergency_body()).shown.request
    assert request.ack_due == request.submitted_at + 3600 * 10**6

    assert assist.sweep(T0 + timedelta(minutes=59)).escalations == 0
    assert assist.sweep(T0 + timedelta(hours=1)).escalations == 1
    seen = assist.get(c("IT"), request.id).request
    assert seen.escalation_level == 1
    with services.database.read() as conn:
        targets = [r.target for r in conn.execute(select(assist_outbox.c.target))]
    assert "http://127.0.0.1:9/backup" in targets  # the backup was paged

    assert assist.sweep(T0 + timedelta(hours=1, minutes=59)).escalations == 0
    assert assist.sweep(T0 + timedelta(hours=2)).escalations == 1
    duty = [n.subject for n in assist.notifications(c("IT", Role.DUTY_OFFICER))]
    assert any("duty officers" in s for s in duty)
    assert not any("duty officers" in n.subject for n in assist.notifications(c("IT", Role.MEMBER)))

    assert assist.sweep(T0 + timedelta(hours=3)).escalations == 1
    desk = assist.notifications(c("GS", Role.ANALYST))
    assert any("duty desk" in n.subject for n in desk)
    # At the desk the secretariat reads the request's content.
    assert assist.get(c("GS", Role.ANALYST), request.id).view == "full"

    assert assist.sweep(T0 + timedelta(hours=30)).escalations == 0
    rows = events(services, request.id, EventKind.ESCALATION)
    assert [orjson_level(r) for r in rows] == [1, 2, 3]
    assert logged(services, "assist:request:escalate") == 3
    assert services.audit.verify().ok


def orjson_level(row):
    return orjson.loads(row.details)["level"]


def test_acknowledging_stops_the_escalation(world):
    services, c, clock = world
    assist = services.assist
    request = assist.file(c("FR", Role.MEMBER), emergency_body()).shown.request
    assist.sweep(T0 + timedelta(hours=1))
    clock.set(T0 + timedelta(hours=1, minutes=10))
    assist.transition(c("IT"), request.id, "acknowledged")
    assert assist.sweep(T0 + timedelta(hours=9)).escalations == 0
    shown = assist.get(c("FR", Role.MEMBER), request.id)
    assert shown.request.escalation_level == 1
    assert shown.request.acknowledged_at - shown.request.submitted_at == 70 * 60 * 10**6


def test_a_late_sweep_takes_every_due_step_once(world):
    services, c, _clock = world
    request = services.assist.file(c("FR", Role.MEMBER), emergency_body()).shown.request
    assert services.assist.sweep(T0 + timedelta(hours=5)).escalations == 3
    assert services.assist.sweep(T0 + timedelta(hours=5)).escalations == 0
    assert len(events(services, request.id, EventKind.ESCALATION)) == 3


def test_a_late_answer_is_flagged_once_to_both_sides(world):
    services, c, clock = world
    assist = services.assist
    request = assist.file(c("FR", Role.MEMBER), emergency_body()).shown.request
    clock.set(T0 + timedelta(minutes=10))
    assist.transition(c("IT"), request.id, "acknowledged")
    assert assist.sweep(T0 + timedelta(hours=7, minutes=59)).overdue == 0
    assert assist.sweep(T0 + timedelta(hours=8)).overdue == 1
    assert assist.sweep(T0 + timedelta(hours=9)).overdue == 0
    assert any(n.kind.value == "overdue" for n in assist.notifications(c("FR", Role.MEMBER)))
    assert any(n.kind.value == "overdue" for n in assist.notifications(c("IT")))
    [figures] = [f for f in assist.figures(c("IT")) if f.country == "IT"]
    assert figures.response_overdue == 0  # as of the clock (10 minutes in), not yet
    [later] = assist.figures(c("IT"), now=T0 + timedelta(hours=9))
    assert later.response_overdue == 1
    assert later.median_seconds_to_acknowledge == 600


def test_the_requesters_own_deadline_is_kept(world):
    services, c, _clock = world
    body = emergency_body(respond_by="2026-03-02T11:00:00Z")
    request = services.assist.file(c("FR", Role.MEMBER), body).shown.request
    assert request.response_due == request.submitted_at + 2 * 3600 * 10**6


def test_routine_requests_get_a_business_day(world):
    services, c, clock = world
    clock.set(T0 + timedelta(days=4))  # Friday 09:00
    body = emergency_body(type="legal-info", urgency="routine")
    request = services.assist.file(c("FR", Role.MEMBER), body).shown.request
    assert request.ack_due == request.submitted_at + 3 * 86_400 * 10**6  # Monday 09:00


def preserve(services, c, clock, at):
    assist = services.assist
    request = assist.file(c("FR", Role.MEMBER), preservation_body()).shown.request
    clock.set(at)
    assist.transition(c("IT"), request.id, "acknowledged")
    assist.transition(c("IT"), request.id, "in-progress")
    assist.transition(c("IT"), request.id, "preserved", answer="Image taken, logs frozen")
    return assist.get(c("FR", Role.MEMBER), request.id).request


def test_preservation_lasts_60_days_with_reminders_at_t14_and_t3(world):
    services, c, clock = world
    executed = T0 + timedelta(hours=2)
    request = preserve(services, c, clock, executed)
    assert request.state is RequestState.PRESERVED
    assert request.preserved_until - request.answered_at == 60 * 86_400 * 10**6
    assist = services.assist
    assert assist.sweep(executed + timedelta(days=45, hours=23)).reminders == 0
    assert assist.sweep(executed + timedelta(days=46)).reminders == 1
    assert assist.sweep(executed + timedelta(days=50)).reminders == 0
    assert assist.sweep(executed + timedelta(days=57)).reminders == 1
    assert assist.sweep(executed + timedelta(days=59)).reminders == 0
    reminders = [
        n for n in assist.notifications(c("FR", Role.MEMBER)) if n.kind.value == "reminder"
    ]
    assert len(reminders) == 2
    assert "14 days" in reminders[-1].subject
    assert "3 days" in reminders[0].subject
    report = assist.sweep(executed + timedelta(days=60))
    assert report.expired == 1
    expired = assist.get(c("IT"), request.id)
    assert expired.request.state is RequestState.EXPIRED
    last = expired.events[-1]
    assert (last.actor, last.side.value, last.to_state) == (
        "canal[sweep]",
        "system",
        RequestState.EXPIRED,
    )
    assert any("release" in n.subject for n in assist.notifications(c("IT")))


def test_linking_the_formal_request_keeps_the_preservation_in_force(world):
    services, c, clock = world
    executed = T0 + timedelta(hours=2)
    request = preserve(services, c, clock, executed)
    assist = services.assist
    assert assist.sweep(executed + timedelta(days=46)).reminders == 1
    clock.set(executed + timedelta(days=50))
    assist.transition(
        c("FR", Role.MEMBER), request.id, "mla-pending", mla_reference="MLA 2026/123 FR-IT"
    )
    report = assist.sweep(executed + timedelta(days=200))
    assert (report.reminders, report.expired) == (0, 0)
    kept = assist.get(c("IT"), request.id).request
    assert kept.state is RequestState.MLA_PENDING
    assert kept.mla_reference == "MLA 2026/123 FR-IT"
    clock.set(executed + timedelta(days=201))
    assist.transition(c("IT"), request.id, "mla-received")
    assist.transition(c("IT"), request.id, "closed", reason="MLA executed")
    assert assist.get(c("FR", Role.MEMBER), request.id).request.state is RequestState.CLOSED


def test_two_sweeps_at_once_take_each_step_once(world, database_url):
    services, c, _clock = world
    ids = [
        services.assist.file(c("FR", Role.MEMBER), emergency_body()).shown.request.id
        for _ in range(8)
    ]
    others = [assist_services(database_url, FixedClock(T0)) for _ in range(2)]
    barrier = threading.Barrier(len(others))
    reports = []
    errors = []

    def run(svc):
        try:
            barrier.wait()
            reports.extend(svc.assist.sweep(T0 + timedelta(hours=h)) for h in (1, 2, 3, 4))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(svc,)) for svc in others]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for svc in others:
        svc.close()
    assert errors == []
    assert sum(r.escalations for r in reports) == 3 * len(ids)
    for request_id in ids:
        levels = [orjson_level(r) for r in events(services, request_id, EventKind.ESCALATION)]
        assert levels == [1, 2, 3]
    assert logged(services, "assist:request:escalate") == 3 * len(ids)
    assert services.audit.verify().ok
