"""Leak-site feeds into the store (R29): re-imports add no duplicate incidents, a changed post
becomes one new version, family synonyms resolve, exports validate, and incidents that share a
wallet or a leak site share observables."""

from __future__ import annotations

import orjson

from canal.accounts.service import LOCAL_ADMIN
from canal.analysis.observables import Observable, ObservableType, observables_of
from canal.ingest.leaksite import LeaksiteImporter
from canal.ingest.service import ObjectStatus
from canal.model.ransomware import RANSOMWARE_EXTENSION_DEFINITION, RANSOMWARE_EXTENSION_ID
from canal.store.records import RecordQuery
from factories import add_org, all_records, record_versions
from incidents import BTC, full_extension, incident
from incidents import ONION as ALPHV
from stix_validation import validation_errors

ONION = "lockbitapt6vx57t3eeqjofwgcglmutr3a35nygvokja5uuccip4ykyd.onion"
INCIDENTS = RecordQuery(types=frozenset({"incident"}))


def post(victim: str, group: str = "lockbit3", **overrides):
    record = {
        "post_title": victim,
        "group_name": group,
        "discovered": "2024-01-10 10:38:06.449286",
        "published": "2024-01-10 10:33:32.000000",
        "post_url": f"http://{ONION}/post/{victim.lower().replace(' ', '-')}",
        "website": f"{victim.lower().replace(' ', '')}.example",
        "country": "US",
        "activity": "Healthcare",
    }
    record.update(overrides)
    return record


def feed(*posts) -> bytes:
    return orjson.dumps(list(posts))


def importer(services):
    return LeaksiteImporter(ingest=services.ingest)


def statuses(report):
    return [r.status for r in report.results]


def ext(record):
    return record.object["extensions"][RANSOMWARE_EXTENSION_ID]


def test_importing_the_same_feed_twice_adds_no_duplicates(services):
    org = add_org(services)
    data = feed(post("Acme Hospital"), post("Beta Bank", "alphv"), post("Gamma Foods", "akira"))
    first = importer(services).ingest_bytes(data, principal=LOCAL_ADMIN, source=org)
    assert statuses(first.report) == [ObjectStatus.CREATED] * 3
    assert first.problems == []
    again = importer(services).ingest_bytes(data, principal=LOCAL_ADMIN, source=org)
    assert statuses(again.report) == [ObjectStatus.DUPLICATE] * 3
    records = all_records(services, INCIDENTS)
    assert len(records) == 3
    assert sorted(ext(r)["victim"]["name"] for r in records) == [
        "Acme Hospital",
        "Beta Bank",
        "Gamma Foods",
    ]


def test_a_changed_post_becomes_one_new_version(services):
    org = add_org(services)
    posts = [post("Acme Hospital"), post("Beta Bank", "alphv")]
    importer(services).ingest_bytes(feed(*posts), principal=LOCAL_ADMIN, source=org)
    posts[1] = post("Beta Bank", "alphv", country="CA", description="Now with a description")
    done = importer(services).ingest_bytes(feed(*posts), principal=LOCAL_ADMIN, source=org)
    assert statuses(done.report) == [ObjectStatus.DUPLICATE, ObjectStatus.NEW_VERSION]
    changed_id = done.report.results[1].stix_id
    versions = sorted(record_versions(services, changed_id), key=lambda r: r.version)
    assert len(versions) == 2
    old, new = (v.object for v in versions)
    assert new["created"] == old["created"]
    assert new["modified"] > old["modified"]
    assert new["extensions"][RANSOMWARE_EXTENSION_ID]["victim"]["country"] == "CA"
    # Still one incident per post; the latest carries the change.
    latest = {r.stix_id: r for r in all_records(services, INCIDENTS)}
    assert len(latest) == 2
    assert ext(latest[changed_id])["victim"]["country"] == "CA"
    # And the changed feed, once more, is a duplicate.
    again = importer(services).ingest_bytes(feed(*posts), principal=LOCAL_ADMIN, source=org)
    assert statuses(again.report) == [ObjectStatus.DUPLICATE] * 2


def test_family_synonyms_resolve_to_one_family(services):
    org = add_org(services)
    groups = {
        "LockBit 3.0": "Lockbit3",
        "lockbit3": "Lockbit3",
        "LockBit Black": "Lockbit3",
        "alphv": "BlackCat",
        "BlackCat": "BlackCat",
        "Noberus": "BlackCat",
    }
    posts = [post(f"Victim {n}", group) for n, group in enumerate(groups)]
    importer(services).ingest_bytes(feed(*posts), principal=LOCAL_ADMIN, source=org)
    found = {ext(r)["actor"]["group"]: ext(r)["actor"]["family"] for r in all_records(services)}
    assert found == groups


def test_broken_posts_are_reported_and_the_rest_stored(services):
    org = add_org(services)
    data = feed(post("Kept"), post("No group", ""), post("Bad date", published="soon"))
    done = importer(services).ingest_bytes(data, principal=LOCAL_ADMIN, source=org)
    assert statuses(done.report) == [ObjectStatus.CREATED]
    assert [(p.where, p.dropped) for p in done.problems] == [
        ("submission item 1", True),
        ("submission item 2", True),
    ]
    assert len(all_records(services, INCIDENTS)) == 1


def test_exported_incidents_validate(services):
    org = add_org(services)
    importer(services).ingest_bytes(
        feed(post("Acme Hospital"), post("Beta Bank", "alphv", country="Germany")),
        principal=LOCAL_ADMIN,
        source=org,
    )
    full = incident()
    report = services.ingest.ingest_objects([full], principal=LOCAL_ADMIN, source=org)
    assert report.rejected == []
    exported = b"".join(services.exporter.bundle_chunks(LOCAL_ADMIN, RecordQuery()))
    assert validation_errors(exported) == []
    bundle = orjson.loads(exported)
    assert RANSOMWARE_EXTENSION_DEFINITION in bundle["objects"]
    out = [o for o in bundle["objects"] if o["type"] == "incident"]
    assert len(out) == 3
    assert all(RANSOMWARE_EXTENSION_ID in o["extensions"] for o in out)
    assert (
        next(o for o in out if o["id"] == full["id"])["extensions"][RANSOMWARE_EXTENSION_ID]
        == full_extension()
    )


def test_incidents_sharing_a_wallet_or_a_leak_site_share_observables(services):
    org = add_org(services)
    one, two = full_extension(), full_extension()
    # The same wallet, written in upper case on one of them (bech32 reads either).
    one["extortion"]["wallet_addresses"] = [{"chain": "bitcoin", "address": BTC.upper()}]
    two["extortion"]["wallet_addresses"] = [{"chain": "btc", "address": BTC}]
    for body in (one, two):
        for key in ("negotiation_url", "leak_site_url", "ransom_note_hash", "contact_emails"):
            del body["extortion"][key]
    two["extortion"]["tox_ids"] = one["extortion"].pop("tox_ids")
    services.ingest.ingest_objects(
        [incident(one), incident(two)], principal=LOCAL_ADMIN, source=org
    )
    importer(services).ingest_bytes(
        feed(post("Acme Hospital"), post("Beta Bank"), post("Acme Hospital", "play")),
        principal=LOCAL_ADMIN,
        source=org,
    )
    stored = [r.object for r in all_records(services, INCIDENTS)]
    assert len(stored) == 5
    wallet = Observable(ObservableType.WALLET, f"btc:{BTC}")
    with_wallet = [o for o in stored if wallet in observables_of(o)]
    assert len(with_wallet) == 2
    site = Observable(ObservableType.ONION, ONION)
    on_site = [o for o in stored if site in observables_of(o)]
    assert len(on_site) == 3  # one leak site, three posts
    url = Observable(ObservableType.URL, f"http://{ONION}/post/acme-hospital")
    assert len([o for o in stored if url in observables_of(o)]) == 2


def test_every_linking_field_yields_an_observable():
    keys = [o.key for o in observables_of(incident())]
    assert keys == [
        f"wallet:btc:{BTC}",
        "wallet:eth:0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
        f"url:http://{ALPHV}/acme",
        f"onion:{ALPHV}",  # the leak site and the chat share one onion service: one observable
        f"url:http://{ALPHV}/chat/1",
        "email:support@onionmail.example",
        "sha256:" + "a" * 64,
    ]
