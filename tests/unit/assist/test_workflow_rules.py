"""The pure rules of the 24/7 network: the state machine (R25), what a request needs before it
is submitted (R24, R34), the deadline arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise

import pytest

from canal.config import Delay, Delays, load_settings
from canal.errors import InvalidInput
from canal.model.assist import (
    TERMINAL,
    TRANSITIONS,
    AssistError,
    RefusalGround,
    RequestState,
    RequestType,
    Side,
    Urgency,
    clean_fields,
    missing_for_submission,
    next_states,
    transition_side,
)


def test_the_main_line_of_r25():
    line = ["draft", "submitted", "acknowledged", "in-progress", "executed"]
    for current, target in pairwise(line):
        side = transition_side(
            RequestType.TECHNICAL_ADVICE, RequestState(current), RequestState(target)
        )
        assert side is not None, (current, target)
    for outcome in ("partially-executed", "refused", "withdrawn"):
        assert transition_side(
            RequestType.TECHNICAL_ADVICE, RequestState.IN_PROGRESS, RequestState(outcome)
        )


def test_preservation_has_its_own_branch():
    p = RequestType.PRESERVATION
    assert transition_side(p, RequestState.IN_PROGRESS, RequestState.PRESERVED) is Side.REQUESTED
    assert transition_side(p, RequestState.IN_PROGRESS, RequestState.EXECUTED) is None
    assert transition_side(p, RequestState.PRESERVED, RequestState.EXPIRED) is Side.SYSTEM
    assert transition_side(p, RequestState.PRESERVED, RequestState.MLA_PENDING) is Side.REQUESTING
    other = RequestType.LOCATE_SUSPECT
    assert transition_side(other, RequestState.IN_PROGRESS, RequestState.PRESERVED) is None


def test_terminal_states_lead_nowhere_and_every_state_is_reachable():
    for state in TERMINAL:
        for kind in RequestType:
            assert next_states(kind, state) == []
    reachable = {RequestState.DRAFT}
    frontier = [RequestState.DRAFT]
    while frontier:
        state = frontier.pop()
        for kind in RequestType:
            for target in next_states(kind, state):
                if target not in reachable:
                    reachable.add(target)
                    frontier.append(target)
    assert reachable == set(RequestState)
    assert {a for a, _ in TRANSITIONS} | {b for _, b in TRANSITIONS} == set(RequestState)


def test_refusal_grounds_are_those_of_article_29():
    assert {g.value for g in RefusalGround} == {
        "political-offence",
        "sovereignty-security-ordre-public",
        "would-prejudice-investigation",
    }


def test_a_preservation_request_names_each_missing_element_of_art_29_2():
    missing = missing_for_submission(
        RequestType.PRESERVATION,
        Urgency.URGENT,
        {"offence": "x", "facts": "y", "contact_phone": "+33 1"},
    )
    text = " ".join(missing)
    for element in ("(a)", "(c)", "(d)", "(e)", "(f)"):
        assert element in text
    assert "(b)" not in text


def test_emergencies_need_the_risk_and_stop_payments_the_payment():
    common = {"offence": "x", "facts": "y", "contact_phone": "+33 1"}
    assert missing_for_submission(RequestType.TECHNICAL_ADVICE, Urgency.EMERGENCY, common) == [
        "risk_nature",
        "persons_at_risk",
        "why_not_mla",
    ]
    missing = missing_for_submission(RequestType.STOP_PAYMENT, Urgency.EMERGENCY, common)
    assert "victim_country" in missing
    assert "risk_nature" not in missing
    assert missing_for_submission(RequestType.LEGAL_INFO, Urgency.ROUTINE, common) == []


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"colour": "red"}, "colour: is not a field"),
        ({"amount": "lots"}, "amount"),
        ({"currency": "E1"}, "ISO 4217"),
        ({"transaction_date": "yesterday"}, "YYYY-MM-DD"),
        ({"mla_intended": "yes"}, "true or false"),
        ({"facts": ["a"]}, "must be text"),
        ({"offence": "x" * 501}, "longer than 500"),
    ],
)
def test_bad_fields_are_named(fields, needle):
    with pytest.raises(AssistError, match=needle):
        clean_fields(fields)


def test_delays_and_business_days():
    friday = datetime(2026, 3, 6, 17, 0, tzinfo=UTC)
    assert Delay.parse("1bd").after(friday) == datetime(2026, 3, 9, 17, 0, tzinfo=UTC)
    assert Delay.parse("8h").after(friday) == datetime(2026, 3, 7, 1, 0, tzinfo=UTC)
    assert Delay.parse("10d").after(friday).day == 16
    defaults = load_settings(environ={})
    assert str(defaults.assist_ack_deadlines.of("emergency")) == "1h"
    assert str(defaults.assist_response_deadlines.of("routine")) == "10d"
    assert defaults.assist_reminder_days == (14, 3)


@pytest.mark.parametrize(
    ("environ", "needle"),
    [
        ({"CANAL_ASSIST_ACK_DEADLINES": "emergency=1h"}, "no delay for urgent, routine"),
        ({"CANAL_ASSIST_ACK_DEADLINES": "emergency=soon"}, "not a delay"),
        ({"CANAL_ASSIST_PRESERVATION_DAYS": "30"}, "at least 60"),
        ({"CANAL_ASSIST_REMINDER_DAYS": "90"}, "days before the end"),
        ({"CANAL_SMTP_TLS": "maybe"}, "starttls"),
        ({"CANAL_ASSIST_SWEEP_SECONDS": "-1"}, "0 or a number"),
    ],
)
def test_bad_assist_settings_are_named(environ, needle):
    with pytest.raises(InvalidInput, match=needle):
        load_settings(environ=environ)


def test_delays_parse_back():
    assert Delays.parse("x", "routine=2bd,urgent=30m,emergency=1h").of("urgent") == Delay(30, "m")
