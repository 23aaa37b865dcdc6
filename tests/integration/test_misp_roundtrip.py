"""MISP events built with PyMISP go into canal, come out as STIX the OASIS validator accepts,
and come out as MISP that PyMISP loads back with the same attributes, objects, tags,
galaxies and sightings; reading that export again changes nothing."""

from __future__ import annotations

import json
import uuid
from typing import Any

import orjson
from pymisp import MISPEvent, MISPObject, MISPOrganisation, MISPSharingGroup

from canal.accounts.service import LOCAL_ADMIN
from canal.exchange.csv_export import CsvExporter
from canal.exchange.misp_export import MispExporter
from canal.ingest.misp import misp_to_stix
from canal.ingest.service import ObjectStatus
from canal.model.org import OrgKind
from canal.store.records import RecordQuery
from factories import add_org
from stix_validation import validation_errors

EVENT_TAGS = [
    "tlp:amber",
    "PAP:GREEN",
    'admiralty-scale:source-reliability="b"',
    'admiralty-scale:information-credibility="2"',
    'malware_classification:malware-category="Ransomware"',
]


def _org(name: str) -> MISPOrganisation:
    org = MISPOrganisation()
    org.from_dict(name=name, uuid=str(uuid.uuid5(uuid.NAMESPACE_DNS, name)))
    return org


def main_event() -> MISPEvent:
    ev = MISPEvent()
    ev.info = "LockBit affiliate infrastructure"
    ev.set_date("2026-01-15")
    ev.threat_level_id = 1
    ev.analysis = 2
    ev.distribution = 1
    ev.published = True
    ev.publish_timestamp = 1768500000
    ev.timestamp = 1768500000
    ev.Orgc = _org("CERT Example")
    for tag in EVENT_TAGS:
        ev.add_tag(tag)
    c2 = ev.add_attribute("ip-dst", "198.51.100.7", to_ids=True, comment="C2 server")
    c2.add_tag("tlp:red")
    c2.add_sighting(
        {"type": "0", "date_sighting": 1768500100, "uuid": str(uuid.uuid4()), "source": "ids"}
    )
    c2.add_galaxy(
        {
            "uuid": "3f44af2e-1480-4b6b-9aa8-f9bb21341078",
            "name": "Ransomware",
            "type": "ransomware",
            "description": "Ransomware galaxy",
            "version": "4",
            "GalaxyCluster": [
                {
                    "uuid": "fb1f9b0c-5ea4-4e3c-9a55-1f5d6e3d2a11",
                    "type": "ransomware",
                    "value": "LockBit",
                    "tag_name": 'misp-galaxy:ransomware="LockBit"',
                    "description": "Ransomware as a service",
                    "meta": {"synonyms": ["ABCD"]},
                }
            ],
        }
    )
    ev.add_attribute("domain", "lockbit-panel.example.org", to_ids=False)
    ev.add_attribute("sha256", "a" * 64, to_ids=True)
    ev.add_attribute("btc", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT", to_ids=True)
    ev.add_attribute("filename|md5", "locker.exe|" + "b" * 32, to_ids=True)
    ev.add_attribute("email-src", "affiliate@example.net", to_ids=False)
    ev.add_attribute("text", "Negotiation portal seen in ransom notes", to_ids=False)
    ev.add_attribute("vulnerability", "CVE-2023-4966", to_ids=False)
    gone = ev.add_attribute("url", "http://lockbit-panel.example.org/old", to_ids=True)
    gone.deleted = True
    domain_ip = MISPObject("domain-ip")
    domain_ip.add_attribute("domain", value="c2.example.net", to_ids=False)
    domain_ip.add_attribute("ip", value="203.0.113.5", to_ids=False)
    ev.add_object(domain_ip)
    dropper = MISPObject("file")
    dropper.add_attribute("filename", value="invoice.pdf.exe")
    dropper.add_attribute("sha256", value="c" * 64, to_ids=True)
    ev.add_object(dropper)
    dropper.add_reference(domain_ip.uuid, "communicates-with", comment="beacons")
    ev.add_galaxy(
        {
            "uuid": "698774c7-8022-42c4-917f-8d6e4f06ada3",
            "name": "Threat Actor",
            "type": "threat-actor",
            "description": "Threat actors",
            "version": "3",
            "GalaxyCluster": [
                {
                    "uuid": "5b4ee3ea-eee3-4c8e-8323-85ae32658754",
                    "type": "threat-actor",
                    "value": "Bitwise Spider",
                    "tag_name": 'misp-galaxy:threat-actor="Bitwise Spider"',
                    "description": "Operator of LockBit",
                    "meta": {"synonyms": ["LockBit Gang"]},
                }
            ],
        }
    )
    return ev


def shared_event() -> MISPEvent:
    ev = MISPEvent()
    ev.info = "Shared with the working group"
    ev.set_date("2026-01-16")
    ev.distribution = 4
    ev.sharing_group_id = 12
    ev.published = False
    ev.timestamp = 1768600000
    ev.Orgc = _org("CERT Example")
    group = MISPSharingGroup()
    group.from_dict(name="Ransomware WG", uuid=str(uuid.uuid4()), releasability="LE")
    group.add_sgorg({"Organisation": {"name": "NCB Paris", "uuid": str(uuid.uuid4())}})
    group.add_sgorg({"Organisation": {"name": "Unknown Bank", "uuid": str(uuid.uuid4())}})
    ev.SharingGroup = group
    ev.add_tag("tlp:green")
    ev.add_attribute("domain", "wg-only.example.com", to_ids=True)
    return ev


def misp_json(ev: MISPEvent) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(ev.to_json())
    return data


def exported_events(services) -> dict[str, MISPEvent]:
    body = b"".join(MispExporter(records=services.records).chunks(LOCAL_ADMIN, RecordQuery()))
    loaded: dict[str, MISPEvent] = {}
    for item in orjson.loads(body)["response"]:
        ev = MISPEvent()
        ev.load(item)
        loaded[ev.uuid] = ev
    return loaded


def attribute_set(ev: MISPEvent) -> set[tuple[str, str, bool]]:
    return {(a.type, a.value, bool(getattr(a, "deleted", False))) for a in ev.attributes}


def test_misp_events_round_trip_through_canal(services):
    add_org(services, "NCB Paris")
    source = add_org(services, "CERT Example Liaison")
    originals = [main_event(), shared_event()]
    conversion = misp_to_stix(
        {"response": [{"Event": misp_json(ev)} for ev in originals]},
        orgs={"NCB Paris": OrgKind.MEMBER, "CERT Example Liaison": OrgKind.MEMBER},
    )
    assert [p for p in conversion.problems if p.dropped] == []
    assert (
        validation_errors(
            {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": conversion.objects}
        )
        == []
    )
    report = services.ingest.ingest_objects(
        conversion.objects, principal=LOCAL_ADMIN, source=source
    )
    assert report.rejected == [], [r.reason for r in report.rejected]

    stix = b"".join(services.exporter.bundle_chunks(LOCAL_ADMIN, RecordQuery()))
    assert validation_errors(stix) == []

    back = exported_events(services)
    main, shared = originals
    assert set(back) == {main.uuid, shared.uuid}
    again = back[main.uuid]
    assert again.info == main.info
    assert str(again.date) == "2026-01-15"
    assert int(again.threat_level_id) == 1
    assert int(again.analysis) == 2
    assert again.published is True
    assert attribute_set(again) == attribute_set(main)
    assert {a.uuid for a in again.attributes} == {a.uuid for a in main.attributes}
    assert sorted(t.name for t in again.tags) == sorted(EVENT_TAGS)
    for original in main.attributes:
        copy = next(a for a in again.attributes if a.uuid == original.uuid)
        assert sorted(t.name for t in copy.tags) == sorted(t.name for t in original.tags)
        assert copy.category == original.category
        assert bool(copy.to_ids) == bool(original.to_ids)
    c2 = next(a for a in again.attributes if a.value == "198.51.100.7")
    assert len(c2.sightings) == 1
    assert [c.value for g in c2.galaxies for c in g.clusters] == ["LockBit"]
    assert [c.value for g in again.galaxies for c in g.clusters] == ["Bitwise Spider"]
    assert sorted(o.name for o in again.objects) == sorted(o.name for o in main.objects)
    for original in main.objects:
        copy = next(o for o in again.objects if o.uuid == original.uuid)
        assert {(a.object_relation, a.value) for a in copy.attributes} == {
            (a.object_relation, a.value) for a in original.attributes
        }
        assert [(r.referenced_uuid, r.relationship_type) for r in copy.references] == [
            (r.referenced_uuid, r.relationship_type) for r in original.references
        ]

    wg = back[shared.uuid]
    assert attribute_set(wg) == attribute_set(shared)
    assert next(t.name for t in wg.tags) == "tlp:green"
    assert int(wg.distribution) == 4
    assert [o.Organisation.name for o in wg.SharingGroup.SharingGroupOrg] == ["NCB Paris"]


def test_reading_canal_s_misp_export_again_changes_nothing(services):
    add_org(services, "NCB Paris")
    source = add_org(services, "CERT Example Liaison")
    orgs = {"NCB Paris": OrgKind.MEMBER}
    first = misp_to_stix({"response": [{"Event": misp_json(main_event())}]}, orgs=orgs)
    report = services.ingest.ingest_objects(first.objects, principal=LOCAL_ADMIN, source=source)
    assert report.rejected == []
    body = b"".join(MispExporter(records=services.records).chunks(LOCAL_ADMIN, RecordQuery()))
    second = misp_to_stix(body, orgs=orgs)
    assert [p for p in second.problems if p.dropped] == []
    again = services.ingest.ingest_objects(second.objects, principal=LOCAL_ADMIN, source=source)
    assert again.rejected == [], [r.reason for r in again.rejected]
    assert again.count(ObjectStatus.CREATED) == 0
    assert again.count(ObjectStatus.NEW_VERSION) == 0


def test_loose_records_are_grouped_per_source_and_day(services):
    org = add_org(services, "NCB Paris")
    objects = [
        {
            "type": "indicator",
            "spec_version": "2.1",
            "id": f"indicator--{uuid.uuid4()}",
            "created": "2026-02-01T10:00:00.000Z",
            "modified": "2026-02-01T10:00:00.000Z",
            "pattern": f"[ipv4-addr:value = '203.0.113.{i}']",
            "pattern_type": "stix",
            "valid_from": "2026-02-01T10:00:00.000Z",
        }
        for i in range(1, 6)
    ]
    objects.append(
        {
            "type": "domain-name",
            "spec_version": "2.1",
            "id": f"domain-name--{uuid.uuid4()}",
            "value": "loose.example.com",
        }
    )
    services.ingest.ingest_objects(objects, principal=LOCAL_ADMIN, source=org)
    exporter = MispExporter(records=services.records, max_attributes=4)
    body = b"".join(exporter.chunks(LOCAL_ADMIN, RecordQuery()))
    events = orjson.loads(body)["response"]
    assert len(events) == 2  # one day, split in parts of at most four
    loaded = []
    for item in events:
        ev = MISPEvent()
        ev.load(item)
        loaded.append(ev)
    values = sorted(a.value for ev in loaded for a in ev.attributes)
    assert values == sorted([f"203.0.113.{i}" for i in range(1, 6)] + ["loose.example.com"])
    assert all(ev.info.startswith("canal: NCB Paris, ") for ev in loaded)
    assert all("tlp:amber" in [t.name for t in a.tags] for ev in loaded for a in ev.attributes)
    again = b"".join(exporter.chunks(LOCAL_ADMIN, RecordQuery()))
    assert [e["Event"]["uuid"] for e in orjson.loads(again)["response"]] == [
        e["Event"]["uuid"] for e in events
    ]


def test_csv_export_lists_indicators_and_observables(services):
    source = add_org(services, "CERT Example Liaison")
    conversion = misp_to_stix({"Event": misp_json(main_event())})
    services.ingest.ingest_objects(conversion.objects, principal=LOCAL_ADMIN, source=source)
    text = b"".join(
        CsvExporter(records=services.records).chunks(LOCAL_ADMIN, RecordQuery())
    ).decode()
    lines = text.splitlines()
    assert lines[0] == "type,value,id,source,tlp,date_added"
    rows = {tuple(line.split(",")[:2]) for line in lines[1:]}
    assert ("ipv4", "198.51.100.7") in rows
    assert ("domain", "lockbit-panel.example.org") in rows
    assert ("sha256", "a" * 64) in rows
    assert ("md5", "b" * 32) in rows
    assert ("crypto-wallet", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT") in rows
    assert ("filename", "locker.exe") not in rows  # the hash names the file
    red = next(line for line in lines if ",198.51.100.7," in line)
    assert red.split(",")[3:5] == ["CERT Example Liaison", "TLP:RED"]


def test_odd_x_misp_properties_from_other_producers_do_not_break_the_export(services):
    org = add_org(services, "NCB Paris")
    stamp = "2026-02-01T10:00:00.000Z"
    common = {"spec_version": "2.1", "created": stamp, "modified": stamp}
    indicator_id = f"indicator--{uuid.uuid4()}"
    objects = [
        {
            **common,
            "type": "indicator",
            "id": indicator_id,
            "pattern": "[domain-name:value = 'odd.example.com']",
            "pattern_type": "stix",
            "valid_from": stamp,
            "x_misp_attribute": "not a dict",
        },
        {
            **common,
            "type": "observed-data",
            "id": f"observed-data--{uuid.uuid4()}",
            "first_observed": stamp,
            "last_observed": stamp,
            "number_observed": 1,
            "object_refs": [f"ipv4-addr--{uuid.uuid4()}"],
            "x_misp_object": {"name": "file", "attributes": "nope"},
        },
        {
            **common,
            "type": "report",
            "id": f"report--{uuid.uuid4()}",
            "name": "odd",
            "published": stamp,
            "object_refs": [indicator_id],
            "x_misp_event": ["not", "a", "dict"],
        },
    ]
    report = services.ingest.ingest_objects(objects, principal=LOCAL_ADMIN, source=org)
    assert report.rejected == []
    body = b"".join(MispExporter(records=services.records).chunks(LOCAL_ADMIN, RecordQuery()))
    events = orjson.loads(body)["response"]
    values = {a["value"] for e in events for a in e["Event"]["Attribute"]}
    assert "odd.example.com" in values
    for item in events:
        MISPEvent().load(item)  # PyMISP empties what it loads: last
