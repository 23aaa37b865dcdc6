"""Linking offences under the rules: clusters recover known networks, warninglisted values link
nothing, every viewer sees only its part, hits notify sources, alerts fire once per link, the
Bloom filter finds what it should, rate limits hold."""

from __future__ import annotations

import base64
import hashlib
import uuid
from itertools import pairwise

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import IntegrityError

from canal.accounts.service import LOCAL_ADMIN
from canal.analysis.bloom import BloomFilter, expected_fp_rate
from canal.analysis.lookup import LookupItem, Outcome
from canal.demo.load import load_demo
from canal.demo.world import World
from canal.model.audit import EventTag
from canal.model.extension import CANAL_EXTENSION_ID
from canal.model.handling import Tlp
from canal.model.org import OrgKind, Principal, Role
from canal.model.stix import TLP2_MARKING_IDS
from canal.store.sql import RETURNING_ROWS
from canal.store.tables import audit_log, observables, record_observables
from canal.web.api.analysis import INLINE_BODY_BYTES
from canal.web.app import create_app
from factories import CREATED, add_org, indicator, malware, stix_id


def ext(**handling):
    return {CANAL_EXTENSION_ID: {"extension_type": "property-extension", **handling}}


def green(obj):
    obj["object_marking_refs"] = [TLP2_MARKING_IDS[Tlp.GREEN]]
    return obj


def member(services, org):
    return Principal(org=org, role=Role.MEMBER, name="t")


def cluster_of(services, stix_id):
    """The STIX id of the anchor of the stored cluster holding the current record `stix_id`."""
    from sqlalchemy import select  # noqa: PLC0415

    from canal.store.tables import cluster_members, records  # noqa: PLC0415

    anchor = records.alias("anchor")
    with services.database.read() as conn:
        return conn.execute(
            select(anchor.c.stix_id)
            .select_from(cluster_members)
            .join(records, records.c.pk == cluster_members.c.record_pk)
            .join(anchor, anchor.c.pk == cluster_members.c.cluster_no)
            .where(records.c.stix_id == stix_id, records.c.is_latest.is_(True))
        ).scalar()


def cluster_sizes(conn) -> dict[str, int]:
    """{the STIX id of a stored cluster's anchor: its size}."""
    from canal.store.tables import clusters, records  # noqa: PLC0415

    return dict(
        conn.execute(
            select(records.c.stix_id, clusters.c.size).join(records, records.c.pk == clusters.c.no)
        ).all()
    )


def pair_scores(world: World, clusters: dict[str, str]) -> tuple[float, float]:
    net_of = {sid: nid for nid, net in world.networks.items() for sid in net.stix_ids}
    groups: dict[str, list[str]] = {}
    for sid in net_of:
        groups.setdefault(clusters.get(sid, "alone:" + sid), []).append(sid)
    same_pairs = cross_pairs = 0
    for members in groups.values():
        counts: dict[str, int] = {}
        for sid in members:
            counts[net_of[sid]] = counts.get(net_of[sid], 0) + 1
        same = sum(n * (n - 1) // 2 for n in counts.values())
        same_pairs += same
        cross_pairs += len(members) * (len(members) - 1) // 2 - same
    sizes: dict[str, int] = {}
    for nid in net_of.values():
        sizes[nid] = sizes.get(nid, 0) + 1
    truth = sum(n * (n - 1) // 2 for n in sizes.values())
    return same_pairs / (same_pairs + cross_pairs), same_pairs / truth


@pytest.mark.slow
def test_clusters_recover_the_demo_networks(sqlite_services):
    services = sqlite_services
    load_demo(services, scale=1)
    world = World(scale=1)
    for _ in world.batches():
        pass
    from sqlalchemy import select  # noqa: PLC0415

    from canal.store.tables import cluster_members, records  # noqa: PLC0415

    anchor = records.alias("anchor")

    def clusters():
        with services.database.read() as conn:
            return dict(
                conn.execute(
                    select(records.c.stix_id, anchor.c.stix_id)
                    .select_from(cluster_members)
                    .join(records, records.c.pk == cluster_members.c.record_pk)
                    .join(anchor, anchor.c.pk == cluster_members.c.cluster_no)
                ).all()
            )

    incremental = clusters()
    precision, recall = pair_scores(world, incremental)
    print(f"incremental: precision {precision:.3f} recall {recall:.3f}")
    assert precision >= 0.99
    assert recall >= 0.85
    report = services.correlator.rebuild(LOCAL_ADMIN)
    rebuilt = clusters()
    assert pair_scores(world, rebuilt) == (precision, recall)
    assert rebuilt == incremental  # same clusters, same stable ids
    assert report.clusters == len(set(rebuilt.values()))
    # The known-benign values reported in every network link none of them.
    net_of = {sid: nid for nid, n in world.networks.items() for sid in n.stix_ids}
    by_cluster: dict[str, set[str]] = {}
    for sid, cid in rebuilt.items():
        if sid in net_of:
            by_cluster.setdefault(cid, set()).add(net_of[sid])
    assert all(len(nets) == 1 for nets in by_cluster.values())


def test_a_warninglisted_value_links_nothing_and_the_same_off_the_list_links(services):
    paris = add_org(services)
    rome = add_org(services, "NCB Rome", country="IT")
    a = green(indicator("8.8.8.8"))
    b = green(indicator("8.8.8.8"))
    c = green(indicator("91.203.5.77"))
    d = green(indicator("91.203.5.77"))
    services.ingest.ingest_objects([a, c], principal=LOCAL_ADMIN, source=paris)
    services.ingest.ingest_objects([b, d], principal=LOCAL_ADMIN, source=rome)
    assert cluster_of(services, a["id"]) is None
    assert cluster_of(services, b["id"]) is None
    assert cluster_of(services, c["id"]) == cluster_of(services, d["id"]) == c["id"]
    [hit] = services.lookups.lookup(LOCAL_ADMIN, [LookupItem("8.8.8.8")])
    assert hit.outcome is Outcome.NO_HIT
    assert "DNS" in hit.flag
    # The secretariat can take a value off every list...
    services.local_lists.add(LOCAL_ADMIN, "deny", "8.8.8.8", None, "used as C2 here")
    services.correlator.rebuild(LOCAL_ADMIN)
    assert cluster_of(services, a["id"]) == cluster_of(services, b["id"]) is not None
    # ...and put one on its own.
    services.local_lists.add(LOCAL_ADMIN, "allow", "91.203.5.77", None, "our sinkhole")
    services.correlator.rebuild(LOCAL_ADMIN)
    assert cluster_of(services, c["id"]) is None


def test_values_shared_too_widely_are_hubs_not_links(services):
    services.index.hub_threshold = 3
    paris = add_org(services)
    objs = [green(indicator("91.203.5.99")) for _ in range(5)]
    services.ingest.ingest_objects(objs, principal=LOCAL_ADMIN, source=paris)
    report = services.correlator.rebuild(LOCAL_ADMIN)
    assert report.hubs == [("ipv4:91.203.5.99", 5)]
    assert all(cluster_of(services, o["id"]) is None for o in objs)


def test_a_record_referenced_too_widely_is_a_hub_not_a_link(services):
    services.index.hub_threshold = 3
    paris = add_org(services)
    family = malware("Akira")
    sightings = [
        {
            "type": "sighting",
            "spec_version": "2.1",
            "id": stix_id("sighting"),
            "created": CREATED,
            "modified": CREATED,
            "sighting_of_ref": family["id"],
        }
        for _ in range(5)
    ]
    services.ingest.ingest_objects([family, *sightings], principal=LOCAL_ADMIN, source=paris)
    report = services.correlator.rebuild(LOCAL_ADMIN)
    assert report.hubs == [(family["id"], 5)]
    assert (report.clusters, report.links_by_reference) == (0, 0)
    assert all(cluster_of(services, o["id"]) is None for o in [family, *sightings])


def test_references_link_and_context_does_not(services):
    paris = add_org(services)
    malware = {
        "type": "malware",
        "spec_version": "2.1",
        "id": f"malware--{uuid.uuid4()}",
        "created": "2026-02-01T10:00:00.000Z",
        "modified": "2026-02-01T10:00:00.000Z",
        "name": "Akira",
        "is_family": True,
    }
    ind = indicator("91.203.5.5")
    rel = {
        "type": "relationship",
        "spec_version": "2.1",
        "id": f"relationship--{uuid.uuid4()}",
        "created": "2026-02-01T10:00:00.000Z",
        "modified": "2026-02-01T10:00:00.000Z",
        "relationship_type": "indicates",
        "source_ref": ind["id"],
        "target_ref": malware["id"],
    }
    services.ingest.ingest_objects([malware, ind, rel], principal=LOCAL_ADMIN, source=paris)
    assert cluster_of(services, ind["id"]) == cluster_of(services, malware["id"]) is not None


def test_a_denied_country_sees_no_part_of_a_cluster_through_the_hidden_record(services):
    paris = add_org(services)
    rome = add_org(services, "NCB Rome", country="IT")
    berlin = add_org(services, "NCB Berlin", country="DE")
    # A and C share nothing directly; B (denied to Rome) links both.
    a = green(indicator("91.203.5.1"))
    b_hidden = indicator(
        pattern="[ipv4-addr:value = '91.203.5.1'] OR [ipv4-addr:value = '91.203.5.2']",
        extensions=ext(deny=["IT"]),
    )
    c = green(indicator("91.203.5.2"))
    services.ingest.ingest_objects([a], principal=LOCAL_ADMIN, source=paris)
    services.ingest.ingest_objects([b_hidden], principal=LOCAL_ADMIN, source=berlin)
    services.ingest.ingest_objects([c], principal=LOCAL_ADMIN, source=paris)
    assert cluster_of(services, a["id"]) == cluster_of(services, c["id"]) is not None
    gs_view = services.clusters.get(LOCAL_ADMIN, a["id"])
    assert len(gs_view.members) == 3
    rome_p = member(services, rome)
    views, _ = services.clusters.list(rome_p)
    assert views == []  # A and C are not linked as Rome sees them
    with pytest.raises(Exception, match="no cluster"):
        services.clusters.get(rome_p, a["id"])
    # Rome's lookups: the hidden record is simply not there.
    answers = services.lookups.lookup(rome_p, [LookupItem("91.203.5.1"), LookupItem("91.203.5.2")])
    assert [x.records for x in answers] == [(a["id"],), (c["id"],)]
    assert "NCB Berlin" not in orjson.dumps([x.to_json() for x in answers]).decode()


def test_paging_clusters_never_names_a_stored_anchor_the_caller_may_not_see(services):
    """A stored cluster is named by its earliest member; where that member is hidden from the
    caller, neither the page nor the cursor to the next one names it, and the cursor brings
    the caller every cluster it sees, once."""
    paris = add_org(services)
    rome = add_org(services, "NCB Rome", country="IT")
    hidden, shown = [], []
    for n in range(3):
        # H (denied to Rome) is the earliest member; A and B link to it, and to each other.
        h = indicator(f"91.203.6.{n}", extensions=ext(deny=["IT"]))
        a = green(
            indicator(
                pattern=f"[ipv4-addr:value = '91.203.6.{n}'] OR [ipv4-addr:value = '91.203.7.{n}']"
            )
        )
        b = green(indicator(f"91.203.7.{n}"))
        for obj in (h, a, b):
            services.ingest.ingest_objects([obj], principal=LOCAL_ADMIN, source=paris)
        assert cluster_of(services, a["id"]) == h["id"]
        hidden.append(h["id"])
        shown.append({a["id"], b["id"]})
    client = _api(services, rome, Role.MEMBER)
    pages, url = [], "/api/v1/clusters?limit=1"
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.text
        body = response.json()
        cursor = body.get("next", "")
        decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        revealed = response.text + decoded.decode(errors="replace")
        for anchor in hidden:
            assert anchor not in revealed
        pages.append(body["items"])
        url = f"/api/v1/clusters?limit=1&after={cursor}" if cursor else ""
    assert len(pages) == 3
    found = [client.get(f"/api/v1/clusters/{item['id']}").json() for p in pages for item in p]
    seen = sorted(sorted(m["id"] for m in view["members"]) for view in found)
    assert seen == sorted(sorted(pair) for pair in shown)
    # The cursor is Rome's and this query's: another caller, or other filters, are refused.
    first_next = client.get("/api/v1/clusters?limit=1").json()["next"]
    other = _api(services, paris, Role.MEMBER)
    refused = other.get(f"/api/v1/clusters?limit=1&after={first_next}")
    assert refused.status_code == 400
    assert "another query or another caller" in refused.text
    assert client.get(f"/api/v1/clusters?limit=2&after={first_next}").status_code == 400
    assert client.get("/api/v1/clusters?after=not-a-cursor").status_code == 400


def _api(services, org, role):
    token = services.accounts.create_token(LOCAL_ADMIN, org=org, role=role).token
    client = TestClient(create_app(services), raise_server_exceptions=False)
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def _rome_asks_about_paris(services, held):
    """Paris holds `held`; an API client for a member of NCB Rome."""
    paris = add_org(services)
    rome = add_org(services, "NCB Rome", country="IT")
    services.ingest.ingest_objects([held], principal=LOCAL_ADMIN, source=paris)
    return _api(services, rome, Role.MEMBER)


def test_restricted_and_denied_versus_absent_answers_are_byte_identical(services):
    denied = indicator("91.203.5.50", extensions=ext(deny=["IT"]))
    client = _rome_asks_about_paris(services, denied)
    body = orjson.dumps({"values": ["91.203.5.50"]})
    with_record = client.post("/api/v1/lookup", content=body)
    cluster_with = client.get(f"/api/v1/clusters/{denied['id']}")
    from sqlalchemy import delete  # noqa: PLC0415

    from canal.store.tables import records  # noqa: PLC0415

    with services.database.write() as conn:
        conn.execute(delete(records).where(records.c.stix_id == denied["id"]))
    without = client.post("/api/v1/lookup", content=body)
    cluster_without = client.get(f"/api/v1/clusters/{denied['id']}")
    assert with_record.content == without.content
    assert with_record.json()["results"][0]["result"] == "no-hit"
    assert cluster_with.content == cluster_without.content
    assert cluster_with.status_code == 404


def test_a_warninglisted_value_held_only_by_a_denied_source_answers_as_absent(services):
    """The warninglist flag of a held value is shown only where the asker may know of a holder:
    for a value only a denying source holds, the answer is byte-identical to a value nobody
    holds (otherwise the flag would tell the asker the store holds it)."""
    denied = indicator("8.8.8.8", extensions=ext(deny=["IT"]))
    client = _rome_asks_about_paris(services, denied)
    body = orjson.dumps({"values": ["8.8.8.8"]})
    with_record = client.post("/api/v1/lookup", content=body)
    from sqlalchemy import delete  # noqa: PLC0415

    from canal.store.tables import records  # noqa: PLC0415

    with services.database.write() as conn:
        conn.execute(delete(records).where(records.c.stix_id == denied["id"]))
        conn.execute(delete(observables).where(observables.c.value == "8.8.8.8"))
    without = client.post("/api/v1/lookup", content=body)
    assert with_record.status_code == 200
    assert with_record.content == without.content
    assert "flag" not in with_record.json()["results"][0]
    # A holder the asker may know of (green, Paris's own sharing): the flag is shown.
    services.ingest.ingest_objects(
        [green(indicator("8.8.8.8"))],
        principal=LOCAL_ADMIN,
        source=services.accounts.org("NCB Paris"),
    )
    [shown] = client.post("/api/v1/lookup", content=body).json()["results"]
    assert shown["result"] == "no-hit"
    assert "DNS" in shown["flag"]


def test_a_lookup_over_http_answers_for_the_purpose_given_in_query_or_header(services):
    for_analysis = indicator("91.203.5.62", extensions=ext(purposes=["threat-analysis"]))
    client = _rome_asks_about_paris(services, for_analysis)
    body = orjson.dumps({"values": ["91.203.5.62"]})

    def result(**kwargs) -> str:
        response = client.post("/api/v1/lookup", content=body, **kwargs)
        assert response.status_code == 200, response.text
        return str(response.json()["results"][0]["result"])

    assert result() == "restricted"  # a member's default purpose is not the one permitted
    assert result(params={"purpose": "threat-analysis"}) == "hit"
    assert result(headers={"X-Canal-Purpose": "threat-analysis"}) == "hit"


def _lookups_logged(services) -> int:
    with services.database.read() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(audit_log)
                .where(audit_log.c.action == EventTag.LOOKUP.value)
            ).scalar_one()
        )


def test_a_lookup_answers_alike_on_the_event_loop_and_in_a_thread(services):
    """A few values are answered on the server's event loop (SQLite), a larger batch in a
    worker thread: the same answer for the same value either way, and each lookup logged."""
    client = _rome_asks_about_paris(services, green(indicator("91.203.5.63")))
    small = orjson.dumps({"values": ["91.203.5.63"]})
    padding = [f"none-{i}.example.net" for i in range(60)]
    large = orjson.dumps({"values": ["91.203.5.63", *padding]})
    assert len(small) <= INLINE_BODY_BYTES < len(large)
    before = _lookups_logged(services)
    on_loop = client.post("/api/v1/lookup", content=small)
    in_thread = client.post("/api/v1/lookup", content=large)
    assert on_loop.status_code == in_thread.status_code == 200
    [first] = on_loop.json()["results"]
    assert first["result"] == "hit"
    assert in_thread.json()["results"][0] == first
    assert {r["result"] for r in in_thread.json()["results"][1:]} == {"no-hit"}
    assert _lookups_logged(services) == before + 2


def test_a_value_many_records_carry_is_looked_up_in_a_thread(services, monkeypatch):
    """Past INLINE_CARRIERS records carrying the values, the search leaves the event loop and
    starts again in a worker thread: the same answer, every carrier in it, one log entry."""
    from canal.web.api import analysis as analysis_api  # noqa: PLC0415

    carriers = [green(indicator("91.203.5.65")) for _ in range(3)]
    client = _rome_asks_about_paris(services, carriers[0])
    services.ingest.ingest_objects(
        carriers[1:], principal=LOCAL_ADMIN, source=services.accounts.org("NCB Paris")
    )
    body = b'{"values": ["91.203.5.65"]}'
    in_threads: list[str] = []
    run_sync = analysis_api.anyio.to_thread.run_sync

    async def counting(func, *args, **kwargs):
        in_threads.append(func.__name__)
        return await run_sync(func, *args, **kwargs)

    monkeypatch.setattr(analysis_api.anyio.to_thread, "run_sync", counting)
    few = client.post("/api/v1/lookup", content=body).json()["results"]
    monkeypatch.setattr(analysis_api, "INLINE_CARRIERS", 2)
    before = _lookups_logged(services)
    many = client.post("/api/v1/lookup", content=body).json()["results"]
    assert many == few
    assert sorted(many[0]["records"]) == sorted(c["id"] for c in carriers)
    assert _lookups_logged(services) == before + 1
    if services.database.is_sqlite:
        assert in_threads == ["work"]  # the first on the event loop, the second in a thread
    else:
        assert in_threads == ["work", "work"]  # PostgreSQL: always in a thread


def test_a_lookup_while_another_writes_waits_for_it_off_the_event_loop(sqlite_services):
    """The event loop writes a single lookup's log entry only when no other writer is at work;
    otherwise a worker thread waits for the write lock, the loop goes on serving other
    requests, and the lookup is answered once it has written its entry."""
    import threading  # noqa: PLC0415
    import time  # noqa: PLC0415

    services = sqlite_services
    client = _rome_asks_about_paris(services, green(indicator("91.203.5.64")))
    before = _lookups_logged(services)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with services.database.write():
            held.set()
            release.wait(10)

    answered: list[object] = []
    with client:  # one event loop for every request below, as in a server's worker
        holder = threading.Thread(target=hold)
        holder.start()
        assert held.wait(10)
        asking = threading.Thread(
            target=lambda: answered.append(
                client.post("/api/v1/lookup", content=b'{"values": ["91.203.5.64"]}')
            )
        )
        asking.start()
        time.sleep(0.2)
        assert answered == []  # waiting for the write lock
        started = time.monotonic()
        assert client.get("/api/v1/me").status_code == 200
        assert time.monotonic() - started < 2  # the loop was not held up by the waiting lookup
        assert answered == []
        release.set()
        holder.join()
        asking.join(10)
    [response] = answered
    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["result"] == "hit"
    assert _lookups_logged(services) == before + 1


def test_every_hit_notifies_the_source_and_restricted_hits_name_only_a_contact(services):
    paris = add_org(services)
    rome = add_org(services, "NCB Rome", country="IT")
    add_org(services, "Secretariat", kind=OrgKind.SECRETARIAT)
    red = indicator("91.203.5.60", object_marking_refs=[TLP2_MARKING_IDS[Tlp.AMBER_STRICT]])
    amber = indicator("91.203.5.61", extensions=ext(purposes=["threat-analysis"]))
    services.ingest.ingest_objects([red, amber], principal=LOCAL_ADMIN, source=paris)
    rome_p = member(services, rome)
    first, second = services.lookups.lookup(
        rome_p, [LookupItem("91.203.5.60"), LookupItem("91.203.5.61")]
    )
    assert (first.outcome, first.records, first.contacts) == (
        Outcome.RESTRICTED,
        (),
        ("Secretariat",),
    )
    assert (second.outcome, second.contacts) == (Outcome.RESTRICTED, ("NCB Paris",))
    notices = _api(services, paris, Role.MEMBER).get("/api/v1/alerts").json()["items"]
    hits = [n for n in notices if n["kind"] == "hit"]
    assert {n["record"] for n in hits} == {red["id"], amber["id"]}
    assert {n["asked_by"] for n in hits} == {"NCB Rome"}
    # Rome's own alerts say nothing about Paris's records.
    assert _api(services, rome, Role.MEMBER).get("/api/v1/alerts").json()["items"] == []


def test_a_mixed_batch_answers_each_position_and_logs_what_it_found(services):
    """One value asked twice in two forms, a readable hit, a restricted one, a denied one, a
    warninglisted one, an invalid one and a miss: each position gets its own answer, and the
    processing log counts the values answered hit and restricted, naming only the records the
    answers name."""
    paris = add_org(services)
    rome = add_org(services, "NCB Rome", country="IT")
    readable = green(indicator("91.203.5.90"))
    restricted = indicator("91.203.5.91", extensions=ext(purposes=["threat-analysis"]))
    denied = indicator("91.203.5.92", extensions=ext(deny=["IT"]))
    listed = green(indicator("8.8.8.8"))
    services.ingest.ingest_objects(
        [readable, restricted, denied, listed], principal=LOCAL_ADMIN, source=paris
    )
    with services.database.read() as conn:
        logged_before = conn.execute(select(func.max(audit_log.c.seq))).scalar()
    answers = services.lookups.lookup(
        member(services, rome),
        [
            LookupItem("91.203.5.90"),
            LookupItem("91.203.5.91"),
            LookupItem("91.203.5.92"),
            LookupItem("8.8.8.8"),
            LookupItem("not a value", "ipv4"),
            LookupItem("91.203.5.93"),
            LookupItem("91[.]203.5.90", "ipv4"),
        ],
    )
    assert [(a.outcome, a.records) for a in answers] == [
        (Outcome.HIT, (readable["id"],)),
        (Outcome.RESTRICTED, ()),
        (Outcome.NO_HIT, ()),
        (Outcome.NO_HIT, ()),
        (Outcome.INVALID, ()),
        (Outcome.NO_HIT, ()),
        (Outcome.HIT, (readable["id"],)),
    ]
    assert answers[1].contacts == ("NCB Paris",)
    assert "DNS" in str(answers[3].flag)
    assert answers[2].flag is None
    assert answers[6].normalised == "91.203.5.90"
    with services.database.read() as conn:
        [(seq, summary)] = conn.execute(
            select(audit_log.c.seq, audit_log.c.summary).where(
                audit_log.c.seq > logged_before, audit_log.c.action == EventTag.LOOKUP.value
            )
        ).all()
    logged = orjson.loads(summary)
    assert set(logged.pop("subjects")) == {readable["id"], restricted["id"]}
    assert logged == {"values": 7, "hits": 2, "restricted": 1}
    subjects = {e.seq for e in services.audit.entries_for_record(LOCAL_ADMIN, readable["id"])}
    assert seq in subjects
    assert seq in {e.seq for e in services.audit.entries_for_record(LOCAL_ADMIN, restricted["id"])}
    assert seq not in {e.seq for e in services.audit.entries_for_record(LOCAL_ADMIN, denied["id"])}


def test_link_alerts_once_per_new_link_and_only_what_the_source_may_see(services):
    paris = add_org(services)
    rome = add_org(services, "NCB Rome", country="IT")
    berlin = add_org(services, "NCB Berlin", country="DE")
    mine = green(indicator("91.203.5.70"))
    services.ingest.ingest_objects([mine], principal=LOCAL_ADMIN, source=paris)
    theirs = green(indicator("91.203.5.70"))
    services.ingest.ingest_objects([theirs], principal=LOCAL_ADMIN, source=rome)
    services.ingest.ingest_objects([dict(theirs)], principal=LOCAL_ADMIN, source=rome)  # again
    hidden = indicator("91.203.5.70", extensions=ext(deny=["FR"]))
    services.ingest.ingest_objects([hidden], principal=LOCAL_ADMIN, source=berlin)
    restricted = indicator("91.203.5.70", object_marking_refs=[TLP2_MARKING_IDS[Tlp.RED]])
    services.ingest.ingest_objects([restricted], principal=LOCAL_ADMIN, source=berlin)
    items = _api(services, paris, Role.MEMBER).get("/api/v1/alerts").json()["items"]
    links = [n for n in items if n["kind"] == "link" and n["record"] == mine["id"]]
    assert sorted((n["linked_record"] or "hidden") for n in links) == sorted(
        [theirs["id"], "hidden"]
    )
    assert hidden["id"] not in orjson.dumps(items).decode()
    assert all(n["value"] == "ipv4:91.203.5.70" for n in links)


def test_bloom_filter_finds_known_values_at_the_documented_rate(services):
    paris = add_org(services)
    acme = add_org(services, "Acme Threat Labs", kind=OrgKind.PARTNER)
    open_to_partners = [
        green(indicator(f"91.204.{i // 250}.{i % 250}", extensions=ext(audience="partners")))
        for i in range(300)
    ]
    not_for_partners = green(indicator("91.203.5.200"))
    services.ingest.ingest_objects(
        [*open_to_partners, not_for_partners], principal=LOCAL_ADMIN, source=paris
    )
    client = _api(services, acme, Role.PARTNER)
    response = client.get("/api/v1/bloom?fp_rate=0.01")
    assert response.status_code == 200
    bloom = BloomFilter.from_bytes(response.content)
    assert bloom.n == 300
    assert all(bloom.might_contain(f"ipv4:91.204.{i // 250}.{i % 250}") for i in range(300))
    trials = 20_000
    false = sum(bloom.might_contain(f"domain:never-{i}.example") for i in range(trials))
    bound = expected_fp_rate(bloom.m, bloom.k, bloom.n)
    assert bound <= 0.0101
    assert false / trials <= 2 * bound + 0.002  # measured rate within the documented bound
    # Members use lookups; rotation makes the old key useless.
    assert _api(services, paris, Role.MEMBER).get("/api/v1/bloom").status_code == 403
    services.bloom.rotate(LOCAL_ADMIN, acme)
    rotated = BloomFilter.from_bytes(client.get("/api/v1/bloom?fp_rate=0.01").content)
    assert rotated.key != bloom.key


def test_lookup_bad_input_per_item_and_rate_limits(services):
    paris = add_org(services)
    client = _api(services, paris, Role.MEMBER)
    answers = client.post(
        "/api/v1/lookup",
        content=orjson.dumps(
            {
                "values": [
                    "",
                    {"value": "1.2.3.4", "type": "frobnicator"},
                    {"value": "999.1.1.1", "type": "ipv4"},
                ]
            }
        ),
    ).json()["results"]
    assert [a["result"] for a in answers] == ["invalid", "invalid", "invalid"]
    assert all(a["error"] for a in answers)
    assert client.post("/api/v1/lookup", content=b"[]").status_code == 400
    assert client.post("/api/v1/lookup", content=b'{"values": []}').status_code == 400
    bad_tokens = client.post("/api/v1/lookup", content=b'{"tokens": ["xyz"]}').json()["results"]
    assert bad_tokens[0]["result"] == "invalid"
    assert client.post("/api/v1/lookup/blind", content=b'{"elements": ["00"]}').status_code == 400
    services.lookups.limits = type(services.lookups.limits)(
        batch=5, per_minute=12, per_type_per_minute=100
    )
    too_big = client.post("/api/v1/lookup", content=orjson.dumps({"values": ["1.1.1.1"] * 6}))
    assert too_big.status_code == 400
    ok = client.post("/api/v1/lookup", content=orjson.dumps({"values": ["91.203.5.1"] * 5}))
    assert ok.status_code == 200
    limited = client.post("/api/v1/lookup", content=orjson.dumps({"values": ["91.203.5.1"] * 5}))
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.json()["error"]["code"] == "rate-limited"
    # A refused call counts nothing: 5 + 5 values so far (3 invalid, a token, a blinded
    # element, then 5), so 2 more reach the limit exactly.
    last = client.post("/api/v1/lookup", content=orjson.dumps({"values": ["91.203.5.1"] * 2}))
    assert last.status_code == 200
    assert client.post("/api/v1/lookup", content=b'{"values": ["91.203.5.1"]}').status_code == 429
    log = services.audit.recent(LOCAL_ADMIN, limit=5)
    assert "security:lookup:rate-limit" in [e.action for e in log]


def test_blind_lookup_over_http_never_sends_the_value(services):
    from canal.analysis.blind import blind, finalize  # noqa: PLC0415

    paris = add_org(services)
    rome = add_org(services, "NCB Rome", country="IT")
    known = green(indicator("91.203.5.88"))
    services.ingest.ingest_objects([known], principal=LOCAL_ADMIN, source=paris)
    client = _api(services, rome, Role.MEMBER)
    keys = ["ipv4:91.203.5.88", "ipv4:91.203.5.89"]
    blinded = [blind(key) for key in keys]
    evaluated = client.post(
        "/api/v1/lookup/blind", content=orjson.dumps({"elements": [b.hex() for _, b in blinded]})
    ).json()["evaluated"]
    tokens = [
        finalize(key, r, bytes.fromhex(e))
        for key, (r, _), e in zip(keys, blinded, evaluated, strict=True)
    ]
    results = client.post("/api/v1/lookup", content=orjson.dumps({"tokens": tokens})).json()[
        "results"
    ]
    assert [r["result"] for r in results] == ["hit", "no-hit"]
    assert results[0]["records"] == [known["id"]]
    assert all("203.0.113" not in orjson.dumps(r).decode() for r in results)


def test_clusters_api_lists_and_shows_members(services):
    paris = add_org(services)
    rome = add_org(services, "NCB Rome", country="IT")
    objs = [green(indicator("91.203.5.120")), green(indicator("91.203.5.120"))]
    services.ingest.ingest_objects([objs[0]], principal=LOCAL_ADMIN, source=paris)
    services.ingest.ingest_objects([objs[1]], principal=LOCAL_ADMIN, source=rome)
    client = _api(services, rome, Role.MEMBER)
    listed = client.get("/api/v1/clusters").json()["items"]
    assert [c["size"] for c in listed] == [2]
    assert listed[0]["sources"] == ["NCB Paris", "NCB Rome"]
    assert 0 <= listed[0]["score"] <= 100
    assert set(listed[0]["factors"]) == {
        "sources",
        "countries",
        "org_kinds",
        "recency",
        "reliability",
    }
    detail = client.get(f"/api/v1/clusters/{listed[0]['id']}").json()
    assert [m["id"] for m in detail["members"]] == [o["id"] for o in objs]
    assert detail["shared_values"] == ["ipv4:91.203.5.120"]


def test_incremental_merges_match_a_rebuild(services):
    paris = add_org(services)
    rome = add_org(services, "NCB Rome", country="IT")
    chain = [f"91.203.5.{i}" for i in range(10, 20)]
    objs = [
        green(indicator(pattern=f"[ipv4-addr:value = '{a}'] OR [ipv4-addr:value = '{b}']"))
        for a, b in pairwise(chain)
    ]
    # Added out of order and by two sources, so that clusters form apart and then merge.
    for i in (7, 0, 4, 2, 8, 1, 5, 3, 6):
        services.ingest.ingest_objects(
            [objs[i]], principal=LOCAL_ADMIN, source=paris if i % 2 else rome
        )
    before = {o["id"]: cluster_of(services, o["id"]) for o in objs}
    services.correlator.rebuild(LOCAL_ADMIN)
    after = {o["id"]: cluster_of(services, o["id"]) for o in objs}
    assert before == after
    assert len(set(after.values())) == 1
    assert next(iter(set(after.values()))) == objs[7]["id"]  # the earliest member anchors it


def _clusters_held(services) -> dict[str, tuple[int, int, int]]:
    """{the STIX id of a stored cluster's anchor: (its number, size, stamp)}."""
    from canal.store.tables import clusters, records  # noqa: PLC0415

    with services.database.read() as conn:
        return {
            anchor: (no, size, stamp)
            for anchor, no, size, stamp in conn.execute(
                select(
                    records.c.stix_id, clusters.c.no, clusters.c.size, clusters.c.updated_at
                ).join(records, records.c.pk == clusters.c.no)
            ).all()
        }


def test_a_rebuild_rewrites_only_the_clusters_that_changed(services):
    """On clusters that ingest kept current, a rebuild finds nothing to write; once a record
    is revoked, it splits the cluster it held together and leaves the others as they were."""
    paris = add_org(services)

    def chained(a: str, b: str) -> dict:
        return green(indicator(pattern=f"[ipv4-addr:value = '{a}'] OR [ipv4-addr:value = '{b}']"))

    # a-b-c-d, linked through b and c; e-f apart.
    a, b, c, d = (
        chained("91.203.6.1", "91.203.6.9"),
        chained("91.203.6.1", "91.203.6.2"),
        chained("91.203.6.2", "91.203.6.3"),
        chained("91.203.6.3", "91.203.6.8"),
    )
    e, f = chained("91.203.7.1", "91.203.7.9"), chained("91.203.7.1", "91.203.7.8")
    for obj in (a, b, c, d, e, f):
        services.ingest.ingest_objects([obj], principal=LOCAL_ADMIN, source=paris)
    held = _clusters_held(services)
    assert {cid: size for cid, (_, size, _) in held.items()} == {a["id"]: 4, e["id"]: 2}

    services.correlator.rebuild(LOCAL_ADMIN)
    assert _clusters_held(services) == held  # the same rows, not written again

    # c revoked: a-b and d no longer link; e-f stays as it was.
    revoked = {**c, "modified": "2026-06-01T00:00:00.000Z", "revoked": True}
    services.ingest.ingest_objects([revoked], principal=LOCAL_ADMIN, source=paris)
    report = services.correlator.rebuild(LOCAL_ADMIN)
    after = _clusters_held(services)
    assert {cid: size for cid, (_, size, _) in after.items()} == {a["id"]: 2, e["id"]: 2}
    assert after[e["id"]] == held[e["id"]]
    assert after[a["id"]][2] > held[a["id"]][2]  # stamped: its membership changed
    assert [cluster_of(services, o["id"]) for o in (a, b, c, d, e, f)] == [
        a["id"],
        a["id"],
        None,
        None,
        e["id"],
        e["id"],
    ]
    assert (report.clusters, report.clustered_records) == (2, 4)

    # b revoked too, a rebuild from nothing held gives what the diff gives.
    services.ingest.ingest_objects(
        [{**b, "modified": "2026-06-01T00:00:00.000Z", "revoked": True}],
        principal=LOCAL_ADMIN,
        source=paris,
    )
    services.correlator.rebuild(LOCAL_ADMIN)
    diffed = {o["id"]: cluster_of(services, o["id"]) for o in (a, b, c, d, e, f)}
    from canal.store.tables import cluster_members, clusters  # noqa: PLC0415

    with services.database.write() as conn:
        conn.execute(cluster_members.delete())
        conn.execute(clusters.delete())
    services.correlator.rebuild(LOCAL_ADMIN)
    assert {o["id"]: cluster_of(services, o["id"]) for o in (a, b, c, d, e, f)} == diffed
    assert diffed == {
        a["id"]: None,
        b["id"]: None,
        c["id"]: None,
        d["id"]: None,
        e["id"]: e["id"],
        f["id"]: e["id"],
    }


def test_a_bulk_write_of_many_new_values_indexes_each_under_its_own_record(services):
    # More new values than one insert-returning statement takes: ids come back per chunk,
    # matched to their values, not by position.
    paris = add_org(services)
    digests = [
        hashlib.sha256(f"sample {i}".encode()).hexdigest() for i in range(RETURNING_ROWS + 200)
    ]
    objs = [green(indicator(pattern=f"[file:hashes.'SHA-256' = '{d}']")) for d in digests]
    services.ingest.ingest_objects(objs, principal=LOCAL_ADMIN, source=paris)
    answers = services.lookups.lookup(LOCAL_ADMIN, [LookupItem(d, "sha256") for d in digests])
    assert [a.records for a in answers] == [(o["id"],) for o in objs]


def test_each_value_counts_its_carriers_across_writes(services):
    # Values new to a write are inserted with their count; values held before are counted up.
    paris = add_org(services)
    first = [green(indicator(f"91.203.7.{i % 3}")) for i in range(7)]
    services.ingest.ingest_objects(first, principal=LOCAL_ADMIN, source=paris)
    second = [green(indicator("91.203.7.0")), green(indicator("91.203.7.9"))]
    services.ingest.ingest_objects(second, principal=LOCAL_ADMIN, source=paris)
    with services.database.read() as conn:
        counted = dict(conn.execute(select(observables.c.value, observables.c.records)).all())
        carriers = dict(
            conn.execute(
                select(observables.c.value, func.count())
                .join(record_observables, record_observables.c.observable_id == observables.c.id)
                .group_by(observables.c.value)
            ).all()
        )
    expected = {"91.203.7.0": 4, "91.203.7.1": 2, "91.203.7.2": 2, "91.203.7.9": 1}
    assert counted == carriers == expected


def test_a_rebuild_mends_members_of_no_cluster(services):
    """A store damaged by hand (a member row naming no cluster held) is rebuilt as if it were
    not there."""
    from canal.store.tables import cluster_members, records  # noqa: PLC0415

    paris = add_org(services)
    a, b = green(indicator("91.203.8.1")), green(indicator("91.203.8.1"))
    lone = green(indicator("91.203.8.77"))
    services.ingest.ingest_objects([a, b, lone], principal=LOCAL_ADMIN, source=paris)
    with services.database.write() as conn:
        lone_pk = conn.execute(
            select(records.c.pk).where(records.c.stix_id == lone["id"])
        ).scalar_one()
        conn.execute(cluster_members.insert().values(record_pk=lone_pk, cluster_no=10**9))
    report = services.correlator.rebuild(LOCAL_ADMIN)
    assert (report.clusters, report.clustered_records) == (1, 2)
    assert cluster_of(services, a["id"]) == cluster_of(services, b["id"]) == a["id"]
    assert cluster_of(services, lone["id"]) is None
    assert {cid: size for cid, (_, size, _) in _clusters_held(services).items()} == {a["id"]: 2}


def test_clusters_changed_after_the_rebuild_read_them_are_read_again_under_the_lock(services):
    """The clusters held are read beside the index, before the write lock; ingest that changes
    them in between is seen under the lock, and the rebuild's view is written over it."""
    from canal.analysis.correlate import (  # noqa: PLC0415
        CorrelationReport,
        HeldClusters,
        _last_log_seq,
    )
    from canal.store.tables import cluster_members, records  # noqa: PLC0415

    paris = add_org(services)
    a, b = green(indicator("91.203.10.1")), green(indicator("91.203.10.1"))
    services.ingest.ingest_objects([a, b], principal=LOCAL_ADMIN, source=paris)
    report = CorrelationReport()
    with services.database.read() as conn:
        found = services.correlator.read_links(conn, report).clusters()
        snapshot = HeldClusters.read(conn)
        read_after = _last_log_seq(conn)
    late = green(indicator("91.203.10.1"))
    services.ingest.ingest_objects([late], principal=LOCAL_ADMIN, source=paris)
    assert cluster_of(services, late["id"]) == a["id"]
    with services.database.read() as conn:
        assert not snapshot.current(conn)
    services.correlator._write(found, LOCAL_ADMIN, report, snapshot, read_after=read_after)
    # As of its read: a and b; the later record leaves until ingest or a rebuild links it.
    assert cluster_of(services, late["id"]) is None
    with services.database.read() as conn:
        sizes = cluster_sizes(conn)
        counted = dict(
            conn.execute(
                select(records.c.stix_id, func.count())
                .select_from(cluster_members)
                .join(records, records.c.pk == cluster_members.c.cluster_no)
                .group_by(records.c.stix_id)
            ).all()
        )
    assert sizes == counted == {a["id"]: 2}
    services.correlator.rebuild(LOCAL_ADMIN)
    assert cluster_of(services, late["id"]) == a["id"]


@pytest.mark.parametrize("held", ["none", "merged"])
def test_a_rebuild_changing_most_members_writes_them_afresh_and_their_index_after_them(
    services, monkeypatch, held
):
    """Past a number of members to change (none held, or all held in one cluster, as after a
    load whose clusters ingest joined through values that became hubs since), SQLite's members
    are written afresh and their cluster index built after them: the clusters are the same as
    ingest's, and so is the index."""
    from canal.analysis import correlate  # noqa: PLC0415
    from canal.store.tables import cluster_members, clusters, records  # noqa: PLC0415

    paris = add_org(services)
    objs = [green(indicator(f"91.203.11.{i // 3}")) for i in range(12)]
    services.ingest.ingest_objects(objs, principal=LOCAL_ADMIN, source=paris)
    kept = {o["id"]: cluster_of(services, o["id"]) for o in objs}
    with services.database.write() as conn:
        if held == "none":
            conn.execute(cluster_members.delete())
            conn.execute(clusters.delete())
        else:
            first = conn.execute(
                select(records.c.pk).where(records.c.stix_id == objs[0]["id"])
            ).scalar_one()
            conn.execute(cluster_members.update().values(cluster_no=first))
            conn.execute(clusters.delete().where(clusters.c.no != first))
            conn.execute(clusters.update().values(size=12))
    drops: list[str] = []
    drop = correlate.MEMBERS_BY_CLUSTER.drop
    monkeypatch.setattr(
        correlate.MEMBERS_BY_CLUSTER, "drop", lambda conn: (drops.append("drop"), drop(conn))
    )
    monkeypatch.setattr(correlate, "_REWRITE_ABOVE", 5)
    report = services.correlator.rebuild(LOCAL_ADMIN)
    assert (report.clusters, report.clustered_records) == (4, 12)
    assert {o["id"]: cluster_of(services, o["id"]) for o in objs} == kept
    assert drops == (["drop"] if services.database.is_sqlite else [])
    with services.database.read() as conn:
        indexes = {
            index["name"]: index["column_names"]
            for index in inspect(conn).get_indexes("cluster_members")
        }
        assert conn.execute(select(func.count()).select_from(cluster_members)).scalar_one() == 12
        sizes = cluster_sizes(conn)
    assert sizes == dict.fromkeys(set(kept.values()), 3)
    assert indexes["ix_cluster_members_cluster_no"] == ["cluster_no", "record_pk"]


def test_the_rebuilds_unchecked_write_leaves_the_next_writer_checked(services):
    """The rebuild writes its members without SQLite's foreign-key search (every record it
    names was read as current, none deleted since); the connection's next writer is checked
    again: a member naming no record is refused."""
    from canal.store.tables import cluster_members  # noqa: PLC0415

    paris = add_org(services)
    objs = [green(indicator("91.203.13.1")), green(indicator("91.203.13.1"))]
    services.ingest.ingest_objects(objs, principal=LOCAL_ADMIN, source=paris)
    services.correlator.rebuild(LOCAL_ADMIN)
    with pytest.raises(IntegrityError), services.database.write() as conn:
        conn.execute(cluster_members.insert().values(record_pk=10**9, cluster_no=1))


def test_a_rebuild_on_a_memory_store_reads_in_one_thread():
    """A memory store lives on one connection: the rebuild reads everything itself, the
    clusters held under the write lock, and finds what ingest found."""
    from canal.store.migrate import upgrade  # noqa: PLC0415
    from conftest import make_services  # noqa: PLC0415

    services = make_services("sqlite://")
    try:
        upgrade(services.database)
        assert not services.database.concurrent_reads
        paris = add_org(services)
        objs = [green(indicator("91.203.12.1")), green(indicator("91.203.12.1"))]
        objs.append(green(indicator("91.203.12.2")))
        services.ingest.ingest_objects(objs, principal=LOCAL_ADMIN, source=paris)
        report = services.correlator.rebuild(LOCAL_ADMIN)
        assert (report.clusters, report.clustered_records) == (1, 2)
        assert [cluster_of(services, o["id"]) for o in objs] == [objs[0]["id"]] * 2 + [None]
    finally:
        services.close()


def test_a_cluster_left_by_deleted_records_is_taken_up_by_a_new_one_of_its_number(services):
    """TAXII DELETE of a cluster's every member leaves the cluster's row to the next rebuild;
    SQLite gives the newest deleted record's number to the next record stored, which may then
    start a cluster of that number: ingest takes the row up instead of failing on its key."""
    from canal.store.tables import records  # noqa: PLC0415

    paris = add_org(services)
    a, b = green(indicator("91.203.14.1")), green(indicator("91.203.14.1"))
    services.ingest.ingest_objects([a, b], principal=LOCAL_ADMIN, source=paris)
    with services.database.read() as conn:
        pks = dict(
            conn.execute(
                select(records.c.stix_id, records.c.pk).where(
                    records.c.stix_id.in_([a["id"], b["id"]])
                )
            ).all()
        )
    for obj in (b, a):
        services.taxii._delete_rows(LOCAL_ADMIN, obj["id"], [pks[obj["id"]]])
    c, d = green(indicator("91.203.14.2")), green(indicator("91.203.14.2"))
    services.ingest.ingest_objects([c, d], principal=LOCAL_ADMIN, source=paris)
    assert cluster_of(services, c["id"]) == cluster_of(services, d["id"]) == c["id"]
    with services.database.read() as conn:
        assert cluster_sizes(conn) == {c["id"]: 2}
        reused = conn.execute(select(records.c.pk).where(records.c.stix_id == c["id"])).scalar()
    if services.database.is_sqlite:
        assert reused == pks[a["id"]]  # the case this test is about


def test_a_record_deleted_while_the_rebuild_reads_the_index_is_left_out(services, monkeypatch):
    """A TAXII DELETE between the rebuild's read and its write: the rebuild reads again rather
    than write a member the store no longer holds (which broke the members' foreign key)."""
    from canal.analysis.correlate import Correlator  # noqa: PLC0415
    from canal.store.tables import records  # noqa: PLC0415

    paris = add_org(services)
    a, b, c = (green(indicator("91.203.12.1")) for _ in range(3))
    services.ingest.ingest_objects([a, b, c], principal=LOCAL_ADMIN, source=paris)
    assert {cluster_of(services, o["id"]) for o in (a, b, c)} == {a["id"]}
    with services.database.read() as conn:
        b_pk = conn.execute(select(records.c.pk).where(records.c.stix_id == b["id"])).scalar_one()
    reads = []
    read_links = Correlator.read_links

    def deleting_after_the_first_read(self, conn, report, *args, **kwargs):
        graph = read_links(self, conn, report, *args, **kwargs)
        if not reads:
            services.taxii._delete_rows(LOCAL_ADMIN, b["id"], [b_pk])
        reads.append(report.records)
        return graph

    monkeypatch.setattr(Correlator, "read_links", deleting_after_the_first_read)
    report = services.correlator.rebuild(LOCAL_ADMIN)
    assert reads == [3, 2]
    assert (report.clusters, report.clustered_records) == (1, 2)
    assert cluster_of(services, a["id"]) == cluster_of(services, c["id"]) == a["id"]
    assert cluster_of(services, b["id"]) is None
    with services.database.read() as conn:
        assert cluster_sizes(conn) == {a["id"]: 2}
