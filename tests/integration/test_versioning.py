"""STIX versioning in the store, on SQLite and PostgreSQL: duplicates, new and older versions,
revocation, observables without a version, sources, and date_added."""

from __future__ import annotations

import copy

from canal.accounts.service import LOCAL_ADMIN
from canal.ingest.service import ObjectStatus
from canal.model.handling import Tlp
from canal.model.org import OrgKind
from canal.model.stix import TLP2_MARKING_IDS, parse_timestamp, to_micros
from canal.store.records import RecordQuery
from factories import add_org, all_records, indicator, ipv4, malware, record_versions


def statuses(report):
    return [r.status for r in report.results]


def test_exact_reingest_creates_no_version(services):
    org = add_org(services)
    obj = indicator()
    first = services.ingest.ingest_objects([obj], principal=LOCAL_ADMIN, source=org)
    again = services.ingest.ingest_objects([copy.deepcopy(obj)], principal=LOCAL_ADMIN, source=org)
    assert statuses(first) == [ObjectStatus.CREATED]
    assert statuses(again) == [ObjectStatus.DUPLICATE]
    versions = record_versions(services, obj["id"])
    assert len(versions) == 1


def test_newer_modified_creates_a_version_and_both_are_listed(services):
    org = add_org(services)
    v1 = indicator()
    v2 = dict(v1, modified="2026-03-01T00:00:00.000Z", name="updated")
    services.ingest.ingest_objects([v1], principal=LOCAL_ADMIN, source=org)
    report = services.ingest.ingest_objects([v2], principal=LOCAL_ADMIN, source=org)
    assert statuses(report) == [ObjectStatus.NEW_VERSION]
    versions = record_versions(services, v1["id"])
    assert [r.object["modified"] for r in versions] == [v1["modified"], v2["modified"]]
    assert [r.is_latest for r in versions] == [False, True]
    # Listing shows the latest version only, once.
    page = services.records.page(LOCAL_ADMIN, RecordQuery(), limit=10)
    assert [r.object["name"] for r in page.records] == ["updated"]


def test_older_version_arriving_late_is_kept_but_not_latest(services):
    org = add_org(services)
    v2 = indicator(modified="2026-03-01T00:00:00.000Z")
    v1 = dict(v2, modified="2026-02-15T00:00:00.000Z")
    services.ingest.ingest_objects([v2], principal=LOCAL_ADMIN, source=org)
    report = services.ingest.ingest_objects([v1], principal=LOCAL_ADMIN, source=org)
    assert statuses(report) == [ObjectStatus.NEW_VERSION]
    latest = [r for r in record_versions(services, v2["id"]) if r.is_latest]
    assert [r.object["modified"] for r in latest] == [v2["modified"]]


def test_same_version_with_different_content_is_rejected(services):
    org = add_org(services)
    obj = indicator()
    services.ingest.ingest_objects([obj], principal=LOCAL_ADMIN, source=org)
    report = services.ingest.ingest_objects(
        [dict(obj, name="changed without a new modified")], principal=LOCAL_ADMIN, source=org
    )
    assert statuses(report) == [ObjectStatus.REJECTED]
    assert "later modified" in report.results[0].reason


def test_revoked_object_takes_no_new_version(services):
    org = add_org(services)
    obj = malware()
    revoked = dict(obj, modified="2026-03-01T00:00:00.000Z", revoked=True)
    after = dict(obj, modified="2026-04-01T00:00:00.000Z")
    services.ingest.ingest_objects([obj, revoked], principal=LOCAL_ADMIN, source=org)
    report = services.ingest.ingest_objects([after], principal=LOCAL_ADMIN, source=org)
    assert statuses(report) == [ObjectStatus.REJECTED]
    assert "revoked" in report.results[0].reason
    latest = record_versions(services, obj["id"])[-1]
    assert latest.revoked


def test_another_source_may_not_version_an_object_it_sees_but_may_propose(services):
    paris = add_org(services)
    rome = add_org(services, "NCB Rome", country="IT")
    obj = malware()
    services.ingest.ingest_objects([obj], principal=LOCAL_ADMIN, source=paris)
    same = services.ingest.ingest_objects([copy.deepcopy(obj)], principal=LOCAL_ADMIN, source=rome)
    newer = services.ingest.ingest_objects(
        [dict(obj, modified="2026-05-01T00:00:00.000Z")], principal=LOCAL_ADMIN, source=rome
    )
    assert statuses(same) == [ObjectStatus.DUPLICATE]
    assert statuses(newer) == [ObjectStatus.PROPOSED]
    assert "proposal" in newer.results[0].reason
    assert len(record_versions(services, obj["id"])) == 1
    [proposal] = services.review.proposals(LOCAL_ADMIN)
    assert (proposal.source_org_id, proposal.proposer_org_id) == (paris.id, rome.id)


def test_an_object_the_submitter_may_not_see_behaves_as_absent(services):
    """Rome cannot see Paris's TLP:RED object: Rome's object with the same id is stored as
    Rome's own, and nothing in the answer tells Rome that Paris holds one."""
    paris = add_org(services)
    rome = add_org(services, "NCB Rome", country="IT")
    secret = malware(object_marking_refs=[TLP2_MARKING_IDS[Tlp.RED]])
    services.ingest.ingest_objects([secret], principal=LOCAL_ADMIN, source=paris)
    mine = dict(secret, name="something else", object_marking_refs=[TLP2_MARKING_IDS[Tlp.GREEN]])
    report = services.ingest.ingest_objects([mine], principal=LOCAL_ADMIN, source=rome)
    assert statuses(report) == [ObjectStatus.CREATED]
    assert report.results[0].reason is None


def test_observable_gets_a_consistent_server_version_shared_across_sources(services):
    paris = add_org(services)
    rome = add_org(services, "NCB Rome", country="IT")
    partner = add_org(services, "Acme Threat Labs", kind=OrgKind.PARTNER)
    sco = ipv4()
    a = services.ingest.ingest_objects([sco], principal=LOCAL_ADMIN, source=paris)
    again = services.ingest.ingest_objects([dict(sco)], principal=LOCAL_ADMIN, source=paris)
    b = services.ingest.ingest_objects([dict(sco)], principal=LOCAL_ADMIN, source=rome)
    assert statuses(a) == [ObjectStatus.CREATED]
    assert statuses(again) == [ObjectStatus.DUPLICATE]
    assert statuses(b) == [ObjectStatus.CREATED]
    assert a.results[0].version == again.results[0].version == b.results[0].version
    # Each source reported it under its own handling; readers see the object once.
    assert {r.handling.source_org_id for r in record_versions(services, sco["id"])} == {paris.id}
    page = services.records.page(LOCAL_ADMIN, RecordQuery(), limit=10)
    assert [r.stix_id for r in page.records] == [sco["id"]]
    # The partner cannot see the members' (TLP:AMBER) copies: its own copy gets its own
    # version, so the answer does not reveal that anyone reported the value before.
    c = services.ingest.ingest_objects([dict(sco)], principal=LOCAL_ADMIN, source=partner)
    assert statuses(c) == [ObjectStatus.CREATED]
    assert c.results[0].version != a.results[0].version
    changed = services.ingest.ingest_objects(
        [dict(sco, x_first_seen_by="sensor-2")], principal=LOCAL_ADMIN, source=paris
    )
    assert statuses(changed) == [ObjectStatus.NEW_VERSION]
    assert changed.results[0].version > a.results[0].version


def test_date_added_is_unique_and_strictly_increasing(services):
    org = add_org(services)
    services.ingest.chunk_size = 7  # several transactions
    objects = [indicator(f"198.51.100.{i}") for i in range(40)]
    services.ingest.ingest_objects(objects, principal=LOCAL_ADMIN, source=org)
    services.ingest.ingest_objects([indicator("203.0.113.1")], principal=LOCAL_ADMIN, source=org)
    added = [r.date_added for r in all_records(services)]
    assert len(added) == 41
    assert added == sorted(added)
    assert len(set(added)) == len(added)


def test_object_text_is_kept_as_received(services):
    org = add_org(services)
    obj = indicator(x_acme_score=97, extensions={"x-acme-ext": {"kinds": [1, 2]}})
    obj = {"z_first": 1, **obj}  # unusual key order survives
    services.ingest.ingest_objects([obj], principal=LOCAL_ADMIN, source=org)
    stored = record_versions(services, obj["id"])[0].object
    assert stored == obj
    assert list(stored) == list(obj)


def test_export_filters_by_type_source_and_added_after(services):
    paris = add_org(services)
    rome = add_org(services, "NCB Rome", country="IT")
    services.ingest.ingest_objects([indicator(), malware()], principal=LOCAL_ADMIN, source=paris)
    cut = services.records.page(LOCAL_ADMIN, RecordQuery(), limit=10).records[-1].date_added
    services.ingest.ingest_objects([indicator("203.0.113.9")], principal=LOCAL_ADMIN, source=rome)

    def ids(query):
        return [r.stix_type for r in all_records(services, query)]

    assert ids(RecordQuery(types=frozenset({"malware"}))) == ["malware"]
    assert ids(RecordQuery(source_org_ids=frozenset({rome.id}))) == ["indicator"]
    assert ids(RecordQuery(added_after=cut)) == ["indicator"]
    assert to_micros(parse_timestamp("2026-02-01T10:00:00.000Z")) < cut
