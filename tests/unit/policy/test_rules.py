"""The rules, case by case, on the decision function (the SQL filter is held to the same
answers by tests/property/test_policy_agreement.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from canal.model.handling import (
    Art3Status,
    Audience,
    Confidentiality,
    Handling,
    HandlingCode,
    Purpose,
    Tlp,
)
from canal.model.org import Org, OrgKind, Principal, Role
from canal.model.record import Record, ReleaseState
from canal.policy import Action, HitAnswer, Policy, Redaction

NOW = datetime(2027, 1, 1, tzinfo=UTC)
PARIS = Org(1, "NCB Paris", OrgKind.MEMBER, "FR")
ROME = Org(2, "NCB Rome", OrgKind.MEMBER, "IT")
ACME = Org(3, "Acme Threat Labs", OrgKind.PARTNER)
GS = Org(4, "Secretariat", OrgKind.SECRETARIAT)
policy = Policy()


def who(org: Org, role: Role, clearance=Confidentiality.RESTRICTED) -> Principal:
    return Principal(org=org, role=role, name="t", clearance=clearance)


def record(**handling_changes) -> Record:
    state = {
        k: handling_changes.pop(k)
        for k in ("release_state", "art3_status", "retention_until", "disseminator_org_id")
        if k in handling_changes
    }
    return Record(
        pk=1,
        stix_id="indicator--1",
        stix_type="indicator",
        version=1,
        spec_version="2.1",
        date_added=1,
        handling=Handling(source_org_id=PARIS.id, **handling_changes),
        handling_id=1,
        object={},
        is_latest=True,
        revoked=False,
        retention_until=state.pop("retention_until", NOW + timedelta(days=30)),
        **state,
    )


def reads(principal, rec, purpose=Purpose.CRIMINAL_INVESTIGATION) -> bool:
    return policy.may_read(principal, rec, purpose=purpose, now=NOW)


MEMBER = who(ROME, Role.MEMBER)
PARTNER = who(ACME, Role.PARTNER)
ANALYST = who(GS, Role.ANALYST)


@pytest.mark.parametrize(
    ("rec", "member", "partner", "analyst"),
    [
        (record(tlp=Tlp.CLEAR, audience=Audience.PARTNERS), True, True, True),
        (record(tlp=Tlp.GREEN), True, False, True),
        (record(tlp=Tlp.GREEN, audience=Audience.PARTNERS), True, True, True),
        (record(tlp=Tlp.AMBER, audience=Audience.PARTNERS), True, False, True),
        (
            record(tlp=Tlp.AMBER, audience=Audience.PARTNERS, allow_orgs=frozenset({3})),
            False,
            True,
            True,
        ),
        (record(tlp=Tlp.AMBER_STRICT), False, False, True),
        (record(tlp=Tlp.AMBER_STRICT, allow_countries=frozenset({"IT"})), True, False, True),
        (
            record(tlp=Tlp.RED, audience=Audience.PARTNERS, allow_orgs=frozenset({3})),
            False,
            False,
            True,
        ),
        (record(tlp=Tlp.GREEN, audience=Audience.PARTNERS, personal_data=True), True, False, True),
        (record(deny_countries=frozenset({"IT"})), False, False, True),
        (record(deny_orgs=frozenset({4})), True, False, False),
        (record(allow_countries=frozenset({"DE"})), False, False, True),
        (record(purposes=frozenset({Purpose.THREAT_ANALYSIS})), False, False, False),
        (record(confidentiality=Confidentiality.CONFIDENTIAL), False, False, False),
        (record(release_state=ReleaseState.QUARANTINED), False, False, True),
        (record(art3_status=Art3Status.PENDING), False, False, True),
        (record(retention_until=NOW - timedelta(seconds=1)), False, False, False),
    ],
)
def test_visibility(rec, member, partner, analyst):
    assert reads(MEMBER, rec) is member
    assert reads(PARTNER, rec, Purpose.WARNING) is partner
    assert reads(ANALYST, rec, Purpose.CRIMINAL_INVESTIGATION) is analyst


def test_the_source_always_sees_its_own():
    rec = record(
        tlp=Tlp.RED,
        deny_countries=frozenset({"FR"}),
        purposes=frozenset(),
        confidentiality=Confidentiality.CONFIDENTIAL,
        release_state=ReleaseState.QUARANTINED,
    )
    assert reads(who(PARIS, Role.MEMBER, Confidentiality.OFFICIAL_USE), rec)


def test_auditors_read_no_record_and_admin_reads_all():
    rec = record(tlp=Tlp.CLEAR)
    assert not reads(who(GS, Role.AUDITOR), rec)
    assert reads(
        Principal(org=Org(0, "local", OrgKind.SECRETARIAT), role=Role.ADMIN, name="a"), rec
    )


def test_h0_limits_use_to_fighting_crime():
    rec = record(handling_codes=frozenset({HandlingCode.H0}), purposes=frozenset(Purpose))
    assert reads(MEMBER, rec, Purpose.CRIMINAL_INVESTIGATION)
    assert not reads(MEMBER, rec, Purpose.BORDER_MANAGEMENT)


def test_only_the_source_updates_or_deletes():
    rec = record(tlp=Tlp.CLEAR)
    for action in (Action.UPDATE, Action.DELETE):
        assert not policy.decide(
            who(ROME, Role.MEMBER), action, rec, purpose=Purpose.WARNING, now=NOW
        )
        assert not policy.decide(ANALYST, action, rec, purpose=Purpose.WARNING, now=NOW)
        assert policy.decide(who(PARIS, Role.MEMBER), action, rec, purpose=Purpose.WARNING, now=NOW)


def test_h2_and_strict_tlp_block_onward_dissemination():
    shareable = record(tlp=Tlp.GREEN)
    h2 = record(tlp=Tlp.GREEN, handling_codes=frozenset({HandlingCode.H2}))
    strict = record(tlp=Tlp.AMBER_STRICT, allow_countries=frozenset({"IT"}))
    for action in (Action.SHARE, Action.REPORT_INCLUDE):
        assert policy.decide(MEMBER, action, shareable, purpose=Purpose.WARNING, now=NOW)
        decision = policy.decide(MEMBER, action, h2, purpose=Purpose.WARNING, now=NOW)
        assert not decision
        assert "H2" in decision.reason
        assert not policy.decide(MEMBER, action, strict, purpose=Purpose.WARNING, now=NOW)
    assert reads(MEMBER, h2)


def test_released_partner_data_hides_the_partner():
    rec = record(tlp=Tlp.GREEN, disseminator_org_id=GS.id)
    decision = policy.decide(MEMBER, Action.READ, rec, purpose=Purpose.WARNING, now=NOW)
    assert decision.redactions == {Redaction.SOURCE}
    assert not policy.decide(ANALYST, Action.READ, rec, purpose=Purpose.WARNING, now=NOW).redactions


def test_hit_answers():
    open_rec = record(tlp=Tlp.GREEN)
    red = record(tlp=Tlp.RED)
    denied = record(tlp=Tlp.GREEN, deny_countries=frozenset({"IT"}))
    purpose = Purpose.CRIMINAL_INVESTIGATION
    assert policy.hit_answer(MEMBER, open_rec, purpose=purpose, now=NOW) is HitAnswer.HIT
    assert policy.hit_answer(MEMBER, red, purpose=purpose, now=NOW) is HitAnswer.RESTRICTED
    assert policy.hit_answer(MEMBER, denied, purpose=purpose, now=NOW) is HitAnswer.NONE
