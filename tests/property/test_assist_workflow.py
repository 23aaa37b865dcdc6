"""Random sequences of moves by random people (and sweeps at random times) on assistance
requests: no request ever reaches a state the machine does not allow (R25), a refused move
changes nothing, and every transition is in the request's history and in the processing log."""

from __future__ import annotations

from datetime import timedelta

import orjson
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from assist_support import T0, add_countries, assist_services, emergency_body, preservation_body
from canal.accounts.service import LOCAL_ADMIN
from canal.clock import FixedClock
from canal.errors import CanalError
from canal.model.assist import (
    TRANSITIONS,
    EventKind,
    RequestState,
    RequestType,
    Side,
    next_states,
    transition_side,
)
from canal.model.org import Role
from canal.store.tables import audit_log

ACTORS = [
    ("FR", Role.MEMBER),
    ("FR", Role.DUTY_OFFICER),
    ("IT", Role.DUTY_OFFICER),
    ("IT", Role.MEMBER),
    ("DE", Role.DUTY_OFFICER),
    ("GS", Role.ANALYST),
    ("admin", Role.ADMIN),
]
TARGETS = [s.value for s in RequestState]

#: A move names a state, or (an integer) the n-th state the machine allows next; the actor is
#: anyone, or (None) the party whose move it is: so that random runs get deep into the machine
#: as well as trying every illegal move.
# The first state allowed next is the one forward; the others end the request early.
forward = st.one_of(st.just(0), st.just(0), st.just(0), st.integers(min_value=0, max_value=3))
legal = st.tuples(st.just("move"), st.none(), forward, st.just(value=True))
anything = st.tuples(
    st.just("move"),
    st.one_of(st.none(), st.sampled_from(range(len(ACTORS)))),
    st.one_of(st.sampled_from(TARGETS), st.integers(min_value=0, max_value=3)),
    st.booleans(),
)
sweep = st.tuples(
    st.just("sweep"), st.integers(min_value=1, max_value=24 * 70), st.none(), st.none()
)
moves = st.one_of(legal, legal, anything, anything, sweep)
kinds = st.sampled_from([RequestType.PRESERVATION, RequestType.TECHNICAL_ADVICE])


def transitions_logged(services, request_id):
    with services.database.read() as conn:
        rows = conn.execute(
            select(audit_log.c.summary).where(audit_log.c.action == "assist:request:transition")
        ).all()
    return [
        (s["from"], s["to"])
        for s in (orjson.loads(r.summary) for r in rows)
        if s["request"] == request_id
    ]


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(kind=kinds, draft=st.booleans(), steps=st.lists(moves, min_size=1, max_size=25))
def test_random_event_sequences_stay_in_the_machine(sqlite_url, kind, draft, steps):
    clock = FixedClock(T0)
    services = assist_services(sqlite_url, clock)
    try:
        if not services.accounts.list_orgs():
            add_countries(services)
        people = {
            key: (
                LOCAL_ADMIN
                if key[0] == "admin"
                else services.accounts.authenticate(_token(services, *key))
            )
            for key in ACTORS
        }
        body = (
            preservation_body()
            if kind is RequestType.PRESERVATION
            else emergency_body(type=kind.value)
        )
        filed = services.assist.file(people["FR", Role.MEMBER], {**body, "draft": draft})
        request_id = filed.shown.request.id
        for step, who, wanted, details in steps:
            before = services.assist.get(LOCAL_ADMIN, request_id, log=False)
            if step == "sweep":
                clock.set(clock.now() + timedelta(hours=who))
                services.assist.sweep()
            else:
                current = before.request.state
                target = wanted
                if isinstance(target, int):
                    allowed = next_states(kind, current)
                    target = allowed[target % len(allowed)].value if allowed else "draft"
                if who is None:
                    side = transition_side(kind, current, RequestState(target))
                    requested = side is Side.REQUESTED
                    actor_key = ("IT", Role.DUTY_OFFICER) if requested else ("FR", Role.MEMBER)
                else:
                    actor_key = ACTORS[who]
                extra = (
                    {
                        "reason": "because",
                        "ground": "political-offence" if target == "refused" else None,
                        "answer": "done",
                        "mla_reference": "MLA-1" if target == "mla-pending" else None,
                    }
                    if details
                    else {}
                )
                try:
                    services.assist.transition(people[actor_key], request_id, target, **extra)
                except CanalError:
                    after = services.assist.get(LOCAL_ADMIN, request_id, log=False)
                    assert after.request == before.request  # a refused move changes nothing
                    assert after.events == before.events
                    continue
                after = services.assist.get(LOCAL_ADMIN, request_id, log=False).request
                assert after.state.value == target
                event(f"reached {target}")
                side = transition_side(kind, before.request.state, after.state)
                assert side is not None
                assert side is not Side.SYSTEM
                if actor_key[0] == "IT":
                    assert side in {Side.REQUESTED, Side.EITHER}
                    assert actor_key[1] is Role.DUTY_OFFICER
                if actor_key[0] == "FR":
                    assert side in {Side.REQUESTING, Side.EITHER}
                assert actor_key[0] not in {"DE", "GS"}
            shown = services.assist.get(LOCAL_ADMIN, request_id, log=False)
            history = [
                (e.from_state, e.to_state) for e in shown.events if e.kind is EventKind.TRANSITION
            ]
            state = RequestState.DRAFT
            for source, target_state in history:
                assert source is state
                assert (source, target_state) in TRANSITIONS
                assert transition_side(kind, source, target_state) is not None
                state = target_state
            assert state is shown.request.state
            logged = transitions_logged(services, request_id)
            assert logged == [(a.value, b.value) for a, b in history]
        assert services.audit.verify().ok
    finally:
        services.close()


def _token(services, country, role):
    org = next(
        o
        for o in services.accounts.list_orgs()
        if (o.country == country) or (country == "GS" and o.kind.value == "secretariat")
    )
    return services.accounts.create_token(LOCAL_ADMIN, org=org, role=role).token
