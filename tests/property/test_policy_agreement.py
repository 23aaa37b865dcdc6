"""The policy's two faces agree: for random principals, handlings, record states and purposes,
the SQL filter keeps exactly the records the decision function allows (DESIGN.md invariant 1).
Runs on SQLite and on PostgreSQL, at least 10,000 (principal, record) cases each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from canal.accounts.service import LOCAL_ADMIN
from canal.model.handling import (
    Art3Status,
    Audience,
    Confidentiality,
    Credibility,
    Handling,
    HandlingCode,
    Pap,
    Purpose,
    Reliability,
    Tlp,
)
from canal.model.org import ROLES_BY_KIND, Org, OrgKind, Principal, Role
from canal.model.record import ReleaseState
from canal.model.stix import to_micros
from canal.store.records import RecordReader, insert_rows
from canal.store.tables import records
from canal.store.unit import write_unit

NOW = datetime(2027, 6, 1, tzinfo=UTC)
COUNTRIES = ("FR", "DE", "IT", "BR")
ORG_SPECS = (
    ("NCB Paris", OrgKind.MEMBER, "FR"),
    ("Cyber Unit Lyon", OrgKind.MEMBER, "FR"),
    ("NCB Berlin", OrgKind.MEMBER, "DE"),
    ("NCB Rome", OrgKind.MEMBER, "IT"),
    ("NCB Brasilia", OrgKind.MEMBER, "BR"),
    ("Acme Threat Labs", OrgKind.PARTNER, None),
    ("Bank of Nowhere", OrgKind.PARTNER, None),
    ("Secretariat", OrgKind.SECRETARIAT, None),
)
MIN_CASES = 10_000


def _subsets(items):
    return st.frozensets(st.sampled_from(items), max_size=len(items))


def _mostly(usual, *rare):
    """`usual` about seven times in ten: the rules' boundaries are only crossed often enough
    when most restrictions are off and a few are on."""
    return st.one_of(*(st.just(usual) for _ in range(2)), *rare) if rare else st.just(usual)


def handlings(orgs: list[Org]):
    org_ids = [o.id for o in orgs]
    small_org_sets = st.frozensets(st.sampled_from(org_ids), max_size=2)
    small_country_sets = st.frozensets(st.sampled_from(COUNTRIES), max_size=2)
    return st.builds(
        Handling,
        source_org_id=st.sampled_from(org_ids),
        tlp=st.sampled_from(list(Tlp)),
        pap=st.sampled_from(list(Pap)),
        audience=st.sampled_from(list(Audience)),
        handling_codes=_subsets([HandlingCode.H0, HandlingCode.H1, HandlingCode.H2]),
        allow_countries=_mostly(frozenset(), small_country_sets),
        allow_orgs=_mostly(frozenset(), small_org_sets),
        deny_countries=_mostly(frozenset(), small_country_sets),
        deny_orgs=_mostly(frozenset(), small_org_sets),
        purposes=_mostly(frozenset(Purpose), _subsets(list(Purpose))),
        source_reliability=st.sampled_from(list(Reliability)),
        information_credibility=st.sampled_from(list(Credibility)),
        personal_data=st.booleans(),
        confidentiality=st.sampled_from(list(Confidentiality)),
    )


record_states = st.tuples(
    _mostly(ReleaseState.RELEASED, st.sampled_from(list(ReleaseState))),
    _mostly(Art3Status.CLEARED, st.sampled_from(list(Art3Status))),
    _mostly(400, st.sampled_from([-400, -1, 1])),  # retention deadline, days from NOW
    st.booleans(),  # released with the secretariat as disseminator
)


def principals(orgs: list[Org]):
    def for_org(org: Org):
        roles = [*sorted(ROLES_BY_KIND[org.kind]), Role.AUDITOR]
        return st.builds(
            Principal,
            org=st.just(org),
            role=st.sampled_from(roles),
            name=st.just("p"),
            clearance=st.sampled_from(list(Confidentiality)),
        )

    return st.one_of(st.sampled_from(orgs).flatmap(for_org), st.just(LOCAL_ADMIN))


def test_sql_filter_and_decision_function_agree(services):
    orgs = [
        services.accounts.add_org(LOCAL_ADMIN, name=name, kind=kind, country=country)
        for name, kind, country in ORG_SPECS
    ]
    secretariat = orgs[-1]
    policy = services.policy
    reader = RecordReader(services.ingest.handlings)
    cases = 0

    @settings(
        max_examples=120,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        batch=st.lists(st.tuples(handlings(orgs), record_states), min_size=10, max_size=30),
        who=st.lists(principals(orgs), min_size=4, max_size=8),
        purposes=st.lists(st.sampled_from(list(Purpose)), min_size=1, max_size=2),
    )
    def check(batch, who, purposes):
        nonlocal cases
        with write_unit(services.database, services.clock) as unit:
            unit.conn.execute(delete(records))
            rows = []
            for n, (handling, (release, art3, days, disseminated)) in enumerate(batch):
                rows.append(
                    {
                        "stix_id": f"indicator--00000000-0000-4000-8000-{n:012d}",
                        "stix_type": "indicator",
                        "version": n,
                        "spec_version": "2.1",
                        "date_added": unit.next_date_added(),
                        "source_org_id": handling.source_org_id,
                        "handling_id": services.ingest.handlings.intern(unit, handling),
                        "is_latest": True,
                        "revoked": False,
                        "retention_until": to_micros(NOW + timedelta(days=days)),
                        "review_state": "active",
                        "art3_status": art3.value,
                        "release_state": release.value,
                        "object": "{}",
                        "disseminator_org_id": secretariat.id if disseminated else None,
                        "release_note": None,
                        "has_twin": False,
                    }
                )
            insert_rows(unit.conn, rows)
        with services.database.read() as conn:
            stored = reader.by_pks(conn, [r.pk for r in conn.execute(select(records.c.pk))])
            for principal in who:
                for purpose in purposes:
                    clause = policy.visible_clause(principal, purpose=purpose, now=NOW)
                    query = select(records.c.pk)
                    if clause is not None:
                        query = query.where(clause)
                    by_sql = set(conn.execute(query).scalars())
                    by_rule = {
                        r.pk
                        for r in stored
                        if policy.may_read(principal, r, purpose=purpose, now=NOW)
                    }
                    assert by_sql == by_rule, (principal, purpose)
                    cases += len(stored)

    check()
    assert cases >= MIN_CASES, cases
