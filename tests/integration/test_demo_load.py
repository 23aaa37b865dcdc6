"""Loading the demo world into a fresh store: nothing rejected, handling kept as the sources set
it, and a second load changes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from canal.accounts.service import LOCAL_ADMIN
from canal.app import build_services
from canal.config import load_settings
from canal.demo.load import load_demo
from canal.demo.world import World
from canal.errors import InvalidInput
from canal.model.org import OrgKind
from canal.store.migrate import upgrade
from canal.store.tables import handlings, records


@pytest.fixture
def services(tmp_path):
    svc = build_services(load_settings(environ={}, database_url=f"sqlite:///{tmp_path}/canal.db"))
    upgrade(svc.database)
    yield svc
    svc.close()


def test_the_demo_loads_without_rejections_and_twice_adds_nothing(services):
    progress: list[int] = []
    first = load_demo(services, scale=1, progress=progress.append)
    assert first.rejections == ()
    assert first.rejected == 0
    assert first.orgs == first.orgs_created == 36
    assert 5_000 <= first.objects <= 10_000
    assert first.created == first.objects
    assert progress == sorted(progress)
    assert progress[-1] == first.objects

    second = load_demo(services, scale=1)
    assert second.orgs_created == 0
    assert second.created == 0
    assert second.new_versions == 0
    assert second.rejected == 0
    assert second.duplicates == second.objects == first.objects

    with services.database.read() as conn:
        stored = conn.execute(select(func.count()).select_from(records)).scalar_one()
    assert stored == first.created
    assert services.audit.verify().ok


def test_the_store_keeps_each_sources_handling(services):
    load_demo(services, scale=1)
    orgs = {org.id: org for org in services.accounts.list_orgs()}
    with services.database.read() as conn:
        rows = conn.execute(
            select(
                records.c.stix_type,
                records.c.source_org_id,
                handlings.c.tlp,
                handlings.c.audience,
                handlings.c.personal_data,
                handlings.c.allow_countries,
                handlings.c.deny_countries,
                handlings.c.deny_orgs,
            ).join(handlings, records.c.handling_id == handlings.c.id)
        ).all()
    assert {row.tlp for row in rows} == {"clear", "green", "amber", "amber+strict", "red"}
    partner_rows = [row for row in rows if orgs[row.source_org_id].kind is OrgKind.PARTNER]
    assert partner_rows
    assert all(row.tlp != "red" for row in partner_rows)
    assert {row.stix_type for row in rows if row.personal_data} >= {"email-addr", "indicator"}
    assert all(row.audience == "law-enforcement" for row in rows if row.personal_data)
    assert any(row.allow_countries for row in rows)
    assert any(row.deny_countries for row in rows)
    # Deny lists name partners too; they resolve to the orgs created by the load.
    denied = {int(o) for row in rows for o in row.deny_orgs.split(",") if o}
    assert denied
    assert all(orgs[o].kind is OrgKind.PARTNER for o in denied)


def test_an_org_of_another_kind_under_a_demo_name_is_refused(services):
    member = next(o for o in World().orgs if o.kind is OrgKind.MEMBER)
    # Same name, but a partner: loading would file police data under a company.
    services.accounts.add_org(LOCAL_ADMIN, name=member.name, kind=OrgKind.PARTNER)
    with pytest.raises(InvalidInput, match="exists as a partner org"):
        load_demo(services, scale=1)
    assert [o.name for o in services.accounts.list_orgs()] == [member.name]
