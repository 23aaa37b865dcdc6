"""MISP JSON to STIX: envelopes, lenient fields, ids, handling, galaxies, sightings, deletions,
bad input, feeds, and validity of everything produced (stix2-validator 3.3.2)."""

from __future__ import annotations

import http.server
import json
import threading
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
import stix2
from pymisp import MISPEvent, MISPObject

from canal.ingest.errors import SubmissionError
from canal.ingest.misp import (
    DISTRIBUTION_MARKS,
    MispConverter,
    describe_types,
    misp_feed_events,
    misp_to_stix,
    sco_id,
    stix_uuid,
)
from canal.model.extension import CANAL_EXTENSION_ID
from canal.model.handling import Tlp
from canal.model.org import OrgKind
from canal.model.stix import TLP2_MARKING_IDS, TLP_BY_MARKING_ID
from stix_validation import validation_errors

ORGC = {"name": "CIRCL", "uuid": "55f6ea5e-2c60-40e5-964f-47a8950d210f"}
EVENT_UUID = "c6f3a1de-0c0f-4f6e-9c43-0a1b2c3d4e5f"


def attribute(misp_type: str, value: str, **extra: Any) -> dict[str, Any]:
    return {
        "uuid": str(uuid.uuid4()),
        "type": misp_type,
        "category": "Network activity",
        "value": value,
        "to_ids": True,
        "timestamp": "1700000000",
        "distribution": "5",
        "deleted": False,
        **extra,
    }


def event(*attributes: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "uuid": EVENT_UUID,
        "info": "Ransomware C2",
        "date": "2023-11-14",
        "timestamp": "1700000000",
        "publish_timestamp": "1700000100",
        "published": True,
        "distribution": "1",
        "threat_level_id": "1",
        "analysis": "2",
        "Orgc": ORGC,
        "Tag": [{"name": "tlp:amber"}],
        "Attribute": list(attributes),
        **extra,
    }


def bundle(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}


def by_id(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["id"]: o for o in objects}


def tlp_of(obj: dict[str, Any]) -> Tlp | None:
    refs = obj.get("object_marking_refs") or []
    return TLP_BY_MARKING_ID[refs[0]] if refs else None


def ext_of(obj: dict[str, Any]) -> dict[str, Any]:
    return (obj.get("extensions") or {}).get(CANAL_EXTENSION_ID) or {}


# -- envelopes and lenient reading -----------------------------------------------------------


def test_the_three_envelopes_and_lists_give_the_same_objects():
    ev = event(attribute("ip-dst", "198.51.100.7"))
    forms = [
        {"Event": ev},
        ev,
        {"response": [{"Event": ev}]},
        [{"Event": ev}],
        orjson.dumps({"Event": ev}),
    ]
    results = [misp_to_stix(form) for form in forms]
    assert all(r.problems == [] for r in results)
    assert all(r.objects == results[0].objects for r in results)
    assert results[0].events == 1


def test_strings_for_numbers_and_zero_one_booleans_are_read():
    loose = event(
        attribute("ip-dst", "198.51.100.7", to_ids="1", timestamp=1700000050, deleted="0"),
        attribute("domain", "evil.example.com", to_ids="0", distribution=5),
    )
    loose["published"] = "1"
    loose["distribution"] = 1
    result = misp_to_stix(loose)
    assert result.problems == []
    types = sorted(o["type"] for o in result.objects)
    assert types.count("indicator") == 1
    assert "observed-data" in types
    assert "domain-name" in types
    assert result.objects[0]["type"] == "report"


def test_ids_come_from_misp_uuids_and_the_report_references_everything():
    ip = attribute("ip-dst", "198.51.100.7")
    result = misp_to_stix(event(ip))
    objects = by_id(result.objects)
    report = objects[f"report--{EVENT_UUID}"]
    assert f"indicator--{ip['uuid']}" in objects
    assert set(report["object_refs"]) == set(objects) - {report["id"]}
    assert report["name"] == "Ransomware C2"
    assert report["created_by_ref"] == f"identity--{ORGC['uuid']}"
    assert report["x_misp_event"]["threat_level_id"] == 1
    assert report["x_misp_event"]["analysis"] == 2
    assert report["x_misp_event"]["date"] == "2023-11-14"
    assert report["published"] == "2023-11-14T22:15:00.000Z"


def test_unpublished_event_is_a_grouping():
    ev = event(attribute("ip-dst", "198.51.100.7"), published=False)
    objects = by_id(misp_to_stix(ev).objects)
    assert objects[f"grouping--{EVENT_UUID}"]["context"] == "suspicious-activity"


def test_a_uuid_that_is_not_rfc_4122_gets_a_derived_one():
    assert (
        stix_uuid("5B4EE3EA-EEE3-4C8E-8323-85AE32658754") == "5b4ee3ea-eee3-4c8e-8323-85ae32658754"
    )
    odd = "5b4ee3ea-eee3-0c8e-0323-85ae32658754"  # version 0, wrong variant
    derived = stix_uuid(odd)
    assert derived is not None
    assert derived != odd
    assert uuid.UUID(derived).version == 5
    assert stix_uuid("not a uuid") is None


def test_conversion_is_deterministic():
    ev = event(attribute("ip-dst", "198.51.100.7"), attribute("url", "http://a.example/x"))
    assert misp_to_stix(ev).objects == misp_to_stix(ev).objects


def test_observables_get_the_ids_stix_itself_derives():
    values = {
        "ip-dst": ("198.51.100.7", stix2.IPv4Address(value="198.51.100.7")),
        "domain": ("evil.example.com", stix2.DomainName(value="evil.example.com")),
        "url": ("http://evil.example.com/a", stix2.URL(value="http://evil.example.com/a")),
        "md5": (
            "d41d8cd98f00b204e9800998ecf8427e",
            stix2.File(hashes={"MD5": "d41d8cd98f00b204e9800998ecf8427e"}),
        ),
        "email-src": ("bad@evil.example.com", stix2.EmailAddress(value="bad@evil.example.com")),
    }
    attrs = [attribute(t, v, to_ids=False) for t, (v, _) in values.items()]
    result = misp_to_stix(event(*attrs))
    ids = {o["id"] for o in result.objects}
    for _, expected in values.values():
        assert expected.id in ids
    assert sco_id("ipv4-addr", {"value": "198.51.100.7"}) == values["ip-dst"][1].id


def test_the_same_value_in_two_events_is_one_observable():
    converter = MispConverter()
    first = converter.convert(event(attribute("domain", "evil.example.com", to_ids=False)))
    second_event = event(attribute("domain", "evil.example.com", to_ids=False))
    second_event["uuid"] = str(uuid.uuid4())
    second = converter.convert(second_event)
    observable = sco_id("domain-name", {"value": "evil.example.com"})
    assert observable in {o["id"] for o in first.objects}
    assert observable not in {o["id"] for o in second.objects}
    report = next(o for o in second.objects if o["type"] == "report")
    assert observable in report["object_refs"]


def test_common_types_take_the_fast_path_with_patterns():
    cases = {
        "ip-src": ("2001:db8::1", "[ipv6-addr:value = '2001:db8::1']"),
        "hostname": ("mail.example.org", "[domain-name:value = 'mail.example.org']"),
        "sha256": ("A" * 64, f"[file:hashes.'SHA-256' = '{'a' * 64}']"),
        "filename|sha1": (
            "drop.exe|" + "b" * 40,
            f"[file:name = 'drop.exe' AND file:hashes.'SHA-1' = '{'b' * 40}']",
        ),
        "ip-dst|port": (
            "203.0.113.9|8443",
            "[network-traffic:dst_ref.value = '203.0.113.9' AND network-traffic:dst_port = 8443]",
        ),
        "btc": (
            "1BoatSLRHtKNngkdXEeobR76b53LETtpyT",
            "[cryptocurrency-wallet:value = '1BoatSLRHtKNngkdXEeobR76b53LETtpyT']",
        ),
        "regkey": (
            "HKLM\\Software\\Run",
            "[windows-registry-key:key = 'HKEY_LOCAL_MACHINE\\\\Software\\\\Run']",
        ),
        "email-dst": ("o'brien@example.org", "[email-addr:value = 'o\\'brien@example.org']"),
    }
    attrs = {t: attribute(t, v) for t, (v, _) in cases.items()}
    result = misp_to_stix(event(*attrs.values()))
    assert result.problems == []
    objects = by_id(result.objects)
    for misp_type, (value, pattern) in cases.items():
        indicator = objects[f"indicator--{attrs[misp_type]['uuid']}"]
        assert indicator["pattern"] == pattern, misp_type
        assert indicator["x_misp_attribute"]["value"] == value
        assert indicator["x_misp_attribute"]["type"] == misp_type
    assert validation_errors(bundle(result.objects)) == []


# -- handling ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "tlp"),
    [
        ("tlp:white", Tlp.CLEAR),
        ("tlp:clear", Tlp.CLEAR),
        ("TLP:GREEN", Tlp.GREEN),
        ("tlp:amber", Tlp.AMBER),
        ("tlp:amber+strict", Tlp.AMBER_STRICT),
        ("tlp:red", Tlp.RED),
    ],
)
def test_tlp_tags_become_tlp_2_markings(tag, tlp):
    ev = event(attribute("ip-dst", "198.51.100.7"), Tag=[{"name": tag}])
    del ev["distribution"]  # as in a feed: the tag alone speaks
    result = misp_to_stix(ev)
    assert all(tlp_of(o) is tlp for o in result.objects)
    assert all(o["object_marking_refs"] == [TLP2_MARKING_IDS[tlp]] for o in result.objects)


def test_pap_and_admiralty_tags_go_to_the_extension():
    tags = [
        {"name": "PAP:WHITE"},
        {"name": 'admiralty-scale:source-reliability="c"'},
        {"name": 'admiralty-scale:information-credibility="5"'},
        {"name": 'malware_classification:malware-category="Ransomware"'},
    ]
    result = misp_to_stix(event(attribute("ip-dst", "198.51.100.7"), Tag=tags))
    report = result.objects[0]
    assert ext_of(report)["pap"] == "clear"
    assert ext_of(report)["source_reliability"] == "B"  # 6x6 C is 4x4 B
    assert ext_of(report)["information_credibility"] == "4"  # 5 is 4
    assert report["labels"] == ['malware_classification:malware-category="Ransomware"']


def test_the_attribute_own_tags_win_over_the_event_tags():
    own = attribute("ip-dst", "198.51.100.7", Tag=[{"name": "tlp:red"}, {"name": "PAP:RED"}])
    plain = attribute("ip-dst", "198.51.100.8")
    objects = by_id(misp_to_stix(event(own, plain, Tag=[{"name": "tlp:green"}])).objects)
    assert tlp_of(objects[f"indicator--{own['uuid']}"]) is Tlp.RED
    assert ext_of(objects[f"indicator--{own['uuid']}"])["pap"] == "red"
    assert tlp_of(objects[f"indicator--{plain['uuid']}"]) is Tlp.GREEN


def test_an_attribute_tag_may_loosen_the_event_tag_but_not_the_distribution():
    own = attribute("ip-dst", "198.51.100.7", Tag=[{"name": "tlp:clear"}])
    objects = by_id(misp_to_stix(event(own, Tag=[{"name": "tlp:amber"}])).objects)
    assert tlp_of(objects[f"indicator--{own['uuid']}"]) is Tlp.GREEN  # distribution 1: GREEN floor
    org_only = event(own, Tag=[{"name": "tlp:amber"}])
    org_only["distribution"] = "0"
    objects = by_id(misp_to_stix(org_only).objects)
    assert tlp_of(objects[f"indicator--{own['uuid']}"]) is Tlp.AMBER_STRICT


@pytest.mark.parametrize(
    ("event_dist", "attribute_dist", "tlp", "audience"),
    [
        ("0", "5", Tlp.AMBER_STRICT, "law-enforcement"),
        ("1", "5", Tlp.GREEN, "law-enforcement"),
        ("2", "5", Tlp.GREEN, "law-enforcement"),
        ("3", "5", Tlp.GREEN, "partners"),
        ("3", "1", Tlp.GREEN, "law-enforcement"),
        ("3", "0", Tlp.AMBER_STRICT, "law-enforcement"),
        ("1", "3", Tlp.GREEN, "law-enforcement"),  # the event is the stricter
    ],
)
def test_distribution_maps_to_the_most_restrictive_handling(
    event_dist, attribute_dist, tlp, audience
):
    ip = attribute("ip-dst", "198.51.100.7", distribution=attribute_dist)
    ev = event(ip, Tag=[], distribution=event_dist)
    objects = by_id(misp_to_stix(ev).objects)
    indicator = objects[f"indicator--{ip['uuid']}"]
    assert tlp_of(indicator) is tlp
    assert ext_of(indicator)["audience"] == audience


def test_distribution_table_is_documented_for_each_level():
    assert set(DISTRIBUTION_MARKS) == {0, 1, 2, 3}
    doc = (Path(__file__).parents[3] / "docs" / "formats.md").read_text()
    for label in (
        "Your organisation only",
        "This community only",
        "Connected communities",
        "All communities",
        "Sharing group",
        "Inherit",
    ):
        assert label in doc


def sharing_group(*names: str) -> dict[str, Any]:
    return {
        "uuid": str(uuid.uuid4()),
        "name": "LE working group",
        "releasability": "law enforcement",
        "Organisation": {"name": names[0], "uuid": str(uuid.uuid4())},
        "SharingGroupOrg": [
            {"Organisation": {"name": name, "uuid": str(uuid.uuid4())}} for name in names[1:]
        ],
    }


def test_a_sharing_group_becomes_an_allow_list_of_the_canal_orgs_it_names():
    orgs = {"NCB Paris": OrgKind.MEMBER, "Acme Threat Labs": OrgKind.PARTNER}
    ip = attribute("ip-dst", "198.51.100.7")
    ev = event(
        ip,
        distribution="4",
        sharing_group_id="7",
        SharingGroup=sharing_group("ncb paris", "Acme Threat Labs", "Unknown Org"),
    )
    result = misp_to_stix(ev, orgs=orgs)
    indicator = by_id(result.objects)[f"indicator--{ip['uuid']}"]
    assert ext_of(indicator)["allow"] == ["Acme Threat Labs", "NCB Paris"]
    assert ext_of(indicator)["audience"] == "partners"


def test_an_attribute_sharing_group_found_by_the_event_group_id():
    orgs = {"NCB Paris": OrgKind.MEMBER}
    ip = attribute("ip-dst", "198.51.100.7", distribution="4", sharing_group_id="7")
    ev = event(ip, distribution="1", sharing_group_id="7", SharingGroup=sharing_group("NCB Paris"))
    indicator = by_id(misp_to_stix(ev, orgs=orgs).objects)[f"indicator--{ip['uuid']}"]
    assert ext_of(indicator)["allow"] == ["NCB Paris"]


def test_a_sharing_group_of_unknown_orgs_is_kept_amber_strict():
    ip = attribute("ip-dst", "198.51.100.7")
    ev = event(ip, distribution="4", SharingGroup=sharing_group("Somebody Else"), Tag=[])
    result = misp_to_stix(ev, orgs={"NCB Paris": OrgKind.MEMBER})
    assert tlp_of(by_id(result.objects)[f"indicator--{ip['uuid']}"]) is Tlp.AMBER_STRICT
    assert any("none of its orgs" in p.message and not p.dropped for p in result.problems)


# -- deletions, sightings, galaxies, objects ------------------------------------------------------


def test_a_deleted_attribute_is_a_revoked_later_version():
    live_attr = attribute("url", "http://a.example/x")
    stix_id = f"indicator--{live_attr['uuid']}"
    live = by_id(misp_to_stix(event(live_attr)).objects)[stix_id]
    gone = by_id(misp_to_stix(event({**live_attr, "deleted": True})).objects)[stix_id]
    assert "revoked" not in live
    assert gone["revoked"] is True
    assert gone["modified"] > live["modified"]
    assert gone["x_misp_attribute"]["value"] == "http://a.example/x"


def test_sightings_and_false_positives():
    ip = attribute(
        "ip-dst",
        "198.51.100.7",
        Sighting=[
            {
                "uuid": str(uuid.uuid4()),
                "type": "0",
                "date_sighting": "1700001000",
                "source": "sensor-1",
                "Organisation": {"name": "NCB Lyon", "uuid": str(uuid.uuid4())},
            },
            {"type": 1, "date_sighting": 1700002000},
            {"type": "2", "date_sighting": "1700003000"},
        ],
    )
    result = misp_to_stix(event(ip))
    sighting = next(o for o in result.objects if o["type"] == "sighting")
    assert sighting["sighting_of_ref"] == f"indicator--{ip['uuid']}"
    assert sighting["first_seen"] == "2023-11-14T22:30:00.000Z"
    assert sighting["description"] == "sensor-1"
    sighter = by_id(result.objects)[sighting["where_sighted_refs"][0]]
    assert sighter["name"] == "NCB Lyon"
    opinion = next(o for o in result.objects if o["type"] == "opinion")
    assert opinion["opinion"] == "strongly-disagree"
    assert any("expiration" in p.message for p in result.problems)
    assert validation_errors(bundle(result.objects)) == []


def galaxy(kind: str, name: str, cluster_uuid: str, **meta: Any) -> dict[str, Any]:
    return {
        "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, kind)),
        "name": kind.title(),
        "type": kind,
        "description": kind,
        "version": "3",
        "GalaxyCluster": [
            {
                "uuid": cluster_uuid,
                "type": kind,
                "value": name,
                "tag_name": f'misp-galaxy:{kind}="{name}"',
                "description": f"{name} description",
                "meta": meta,
            }
        ],
    }


@pytest.mark.parametrize(
    ("kind", "stix_type"),
    [
        ("threat-actor", "threat-actor"),
        ("ransomware", "malware"),
        ("mitre-attack-pattern", "attack-pattern"),
        ("mitre-intrusion-set", "intrusion-set"),
        ("mitre-tool", "tool"),
        ("mitre-course-of-action", "course-of-action"),
    ],
)
def test_galaxy_clusters_become_their_stix_objects(kind, stix_type):
    cluster = str(uuid.uuid4())
    ip = attribute(
        "ip-dst",
        "198.51.100.7",
        Galaxy=[
            galaxy(kind, "Wizard Spider", cluster, synonyms=["UNC1878"], external_id=["T1486"])
        ],
    )
    result = misp_to_stix(event(ip))
    objects = by_id(result.objects)
    sdo = objects[f"{stix_type}--{cluster}"]
    assert sdo["name"] == "Wizard Spider"
    if stix_type in {"threat-actor", "malware", "intrusion-set", "tool"}:
        assert sdo["aliases"] == ["UNC1878"]
    if stix_type == "malware":
        assert sdo["is_family"] is True
    link = next(o for o in result.objects if o["type"] == "relationship")
    assert link["source_ref"] == f"indicator--{ip['uuid']}"
    assert link["target_ref"] == sdo["id"]
    expected = "related-to" if stix_type == "course-of-action" else "indicates"
    assert link["relationship_type"] == expected
    assert validation_errors(bundle(result.objects)) == []


def test_event_galaxies_are_referenced_by_the_report():
    cluster = str(uuid.uuid4())
    ev = event(
        attribute("ip-dst", "198.51.100.7"), Galaxy=[galaxy("threat-actor", "FIN7", cluster)]
    )
    report = misp_to_stix(ev).objects[0]
    assert f"threat-actor--{cluster}" in report["object_refs"]
    assert report["x_misp_event"]["galaxies"] == [cluster]


def file_object() -> MISPObject:
    obj = MISPObject("file")
    obj.add_attribute("filename", value="invoice.pdf.exe")
    obj.add_attribute(
        "sha256",
        value="e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        to_ids=True,
    )
    return obj


def test_misp_objects_become_stix_through_misp_stix_with_references():
    ev = MISPEvent()
    ev.info = "objects"
    ev.uuid = EVENT_UUID
    ev.add_tag("tlp:green")
    domain_ip = MISPObject("domain-ip")
    domain_ip.add_attribute("domain", value="c2.example.net", to_ids=False)
    domain_ip.add_attribute("ip", value="203.0.113.5", to_ids=False)
    ev.add_object(domain_ip)
    dropper = file_object()
    ev.add_object(dropper)
    dropper.add_reference(domain_ip.uuid, "communicates-with")
    result = misp_to_stix(json.loads(ev.to_json()))
    assert [p for p in result.problems if p.dropped] == []
    objects = by_id(result.objects)
    assert objects[f"indicator--{dropper.uuid}"]["x_misp_object"]["name"] == "file"
    assert objects[f"observed-data--{domain_ip.uuid}"]["x_misp_object"]["name"] == "domain-ip"
    reference = objects[f"relationship--{dropper.references[0].uuid}"]
    assert reference["relationship_type"] == "communicates-with"
    assert reference["target_ref"] == f"observed-data--{domain_ip.uuid}"
    assert sco_id("domain-name", {"value": "c2.example.net"}) in objects
    assert all(tlp_of(o) is Tlp.GREEN for o in result.objects)
    assert validation_errors(bundle(result.objects)) == []


def test_what_misp_stix_drops_canal_keeps_in_its_generic_form():
    ev = event(
        Object=[
            {
                "uuid": str(uuid.uuid4()),
                "name": "x509",
                "meta-category": "network",
                "description": "x509",
                "template_uuid": str(uuid.uuid4()),
                "template_version": "1",
                "timestamp": "1700000000",
                "Attribute": [
                    {
                        **attribute("datetime", "not a date"),
                        "object_relation": "validity-not-before",
                    },
                    {**attribute("text", "0x0f"), "object_relation": "serial-number"},
                ],
            }
        ]
    )
    result = misp_to_stix(ev)
    custom = next(o for o in result.objects if o["type"] == "x-misp-object")
    assert {a["value"] for a in custom["x_misp_object"]["attributes"]} == {"not a date", "0x0f"}
    assert any("misp-stix" in p.message and not p.dropped for p in result.problems)
    assert validation_errors(bundle(result.objects)) == []


def test_when_misp_stix_raises_the_generic_form_stands_in(monkeypatch):
    def crash(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("simulated misp-stix crash")

    monkeypatch.setattr("canal.ingest.misp.misp_stix_convert", crash)
    ev = MISPEvent()
    ev.info = "objects"
    ev.add_object(file_object())
    ev.add_attribute("vulnerability", "CVE-2021-44228")
    result = misp_to_stix(json.loads(ev.to_json()))
    assert {o["type"] for o in result.objects} >= {"observed-data", "file", "x-misp-attribute"}
    assert sum("simulated misp-stix crash" in p.message for p in result.problems) == 2
    assert validation_errors(bundle(result.objects)) == []


# -- bad input -------------------------------------------------------------------------------------


def test_bad_items_give_problems_with_where_and_the_rest_is_kept():
    good = attribute("ip-dst", "198.51.100.7")
    ev = event(
        good,
        attribute("ip-dst", "198.51.100.8", uuid=None),
        attribute("not-a-type", "x"),
        attribute("filename|md5", "no-pipe-here"),
        attribute("ip-dst", "999.1.1.1"),
        attribute("md5", "xyz"),
        attribute("attachment", "a.bin", data="!!!not base64!!!"),
        "not an attribute",
        attribute("domain", "", to_ids=False),
    )
    result = misp_to_stix(ev)
    ids = {o["id"] for o in result.objects}
    assert f"indicator--{good['uuid']}" in ids
    messages = [(p.where, p.message, p.dropped) for p in result.problems]
    dropped = [m for m in messages if m[2]]
    assert len(dropped) == 7, messages
    assert any("uuid" in m and "Attribute[1]" in w for w, m, _ in dropped)
    assert any("not a MISP attribute type" in m and "Attribute[2]" in w for w, m, _ in dropped)
    assert any("composite value" in m for _, m, _ in dropped)
    assert any("not an IP address" in m for _, m, _ in dropped)
    assert any("not a md5 hash" in m for _, m, _ in dropped)
    assert any("base64" in m and not d for _, m, d in messages)
    assert all(EVENT_UUID in w for w, _, _ in messages)
    assert validation_errors(bundle(result.objects)) == []


def test_events_without_uuid_or_of_the_wrong_shape_are_errors():
    good = event(attribute("ip-dst", "198.51.100.7"))
    no_uuid = {**event(attribute("ip-dst", "198.51.100.9")), "uuid": None}
    result = misp_to_stix({"response": [{"Event": no_uuid}, {"Event": good}, 42, {"Event": "x"}]})
    assert result.events == 1
    assert len([p for p in result.problems if p.dropped]) == 3
    assert "response[0]" in result.problems[0].where


def test_not_json_and_not_misp_are_submission_errors():
    with pytest.raises(SubmissionError, match="not valid JSON"):
        misp_to_stix(b"{nope")
    with pytest.raises(SubmissionError, match="expected a MISP event"):
        misp_to_stix(b"42")


def test_wrong_types_inside_an_event_are_reported_not_raised():
    ev = event(attribute("ip-dst", "198.51.100.7"))
    ev["Attribute"] = "not a list"
    ev["Object"] = {"also": "wrong"}
    ev["timestamp"] = "yesterday"
    ev["date"] = "14/11/2023"
    ev["distribution"] = "seven"
    result = misp_to_stix(ev)
    assert {o["type"] for o in result.objects} == {"report", "identity"}
    messages = " ".join(p.message for p in result.problems)
    assert "Attribute: not a list" in messages
    assert "Object: not a list" in messages
    assert "distribution" in messages


# -- feeds -----------------------------------------------------------------------------------------


def write_feed(directory: Path, events: list[dict[str, Any]], missing: int = 0) -> None:
    manifest = {}
    for ev in events:
        (directory / f"{ev['uuid']}.json").write_bytes(orjson.dumps({"Event": ev}))
        manifest[ev["uuid"]] = {"info": ev["info"], "timestamp": ev["timestamp"]}
    for _ in range(missing):
        manifest[str(uuid.uuid4())] = {"info": "gone", "timestamp": "1"}
    (directory / "manifest.json").write_bytes(orjson.dumps(manifest))


def feed_events(count: int) -> list[dict[str, Any]]:
    out = []
    for i in range(count):
        ev = event(attribute("ip-dst", f"198.51.100.{i + 1}"))
        ev["uuid"] = str(uuid.uuid4())
        out.append(ev)
    return out


def test_a_feed_directory_with_a_missing_file(tmp_path):
    write_feed(tmp_path, feed_events(3), missing=1)
    items = list(misp_feed_events(tmp_path))
    events = [i for i in items if isinstance(i, tuple)]
    problems = [i for i in items if not isinstance(i, tuple)]
    assert len(events) == 3
    assert len(problems) == 1
    assert "manifest names this event" in problems[0].message


def test_a_feed_by_file_url(tmp_path):
    write_feed(tmp_path, feed_events(2))
    items = list(misp_feed_events(tmp_path.as_uri()))
    assert len([i for i in items if isinstance(i, tuple)]) == 2


def test_a_feed_by_http(tmp_path):
    write_feed(tmp_path, feed_events(2), missing=1)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(tmp_path), **kwargs)

        def log_message(self, *_args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        items = list(misp_feed_events(url, timeout=5))
    finally:
        server.shutdown()
        server.server_close()
    assert len([i for i in items if isinstance(i, tuple)]) == 2
    assert len([i for i in items if not isinstance(i, tuple)]) == 1


def test_an_unreachable_feed_is_a_submission_error():
    with pytest.raises(SubmissionError, match="manifest"):
        list(misp_feed_events("http://127.0.0.1:9/feed/", timeout=2))


# -- everything produced validates ------------------------------------------------------------

_HEX = {"md5": 32, "sha1": 40, "sha224": 56, "sha256": 64, "sha384": 96, "sha512": 128,
        "sha512/224": 56, "sha512/256": 64, "sha3-224": 56, "sha3-256": 64, "sha3-384": 96,
        "sha3-512": 128, "imphash": 32, "authentihash": 64, "x509-fingerprint-sha1": 40,
        "x509-fingerprint-md5": 32, "x509-fingerprint-sha256": 64, "ja3-fingerprint-md5": 32,
        "hassh-md5": 32, "hasshserver-md5": 32, "git-commit-id": 40, "cdhash": 40,
        "jarm-fingerprint": 62, "pehash": 40, "dom-hash": 32}  # fmt: skip
_SAMPLES = {
    "ip-src": "198.51.100.7", "ip-dst": "198.51.100.8", "hostname": "h.example.com",
    "domain": "example.com", "email": "a@example.com", "email-src": "a@example.com",
    "email-dst": "b@example.com", "target-email": "c@example.com", "eppn": "d@example.com",
    "whois-registrant-email": "e@example.com", "dns-soa-email": "f@example.com",
    "email-reply-to": "g@example.com", "jabber-id": "h@example.com", "url": "http://example.com/x",
    "link": "https://example.com/y", "uri": "/relative/path", "port": "443", "AS": "AS1234",
    "mac-address": "00:11:22:33:44:55", "mac-eui-64": "00:11:22:ff:fe:33:44:55",
    "size-in-bytes": "123", "counter": "3", "integer": "4", "float": "1.5",
    "datetime": "2023-01-01T00:00:00Z", "boolean": "1", "ssdeep": "3:abc:def",
    "impfuzzy": "3:abc:def", "filename": "a.exe", "regkey": "HKLM\\Software\\x",
    "attachment": "a.bin", "vulnerability": "CVE-2021-44228", "weakness": "CWE-79",
    "cpe": "cpe:2.3:a:vendor:product:1.0:*:*:*:*:*:*:*",
    "btc": "1BoatSLRHtKNngkdXEeobR76b53LETtpyT",
    "phone-number": "+33123456789", "whois-registrant-phone": "+33123456789",
    "stix2-pattern": "[ipv4-addr:value = '1.2.3.4']", "tlsh": "T1" + "A" * 70,
    "date-of-birth": "1990-01-01", "passport-expiration": "2030-01-01",
    "issue-date-of-the-visa": "2020-01-01", "whois-creation-date": "2020-01-01",
    "email-message-id": "<x@example.com>", "http-method": "GET", "hex": "0afe",
    "cortex": "{}", "onion-address": "abcdefghijklmnop.onion", "uuid": str(uuid.uuid4()),
    "ssh-fingerprint": "MD5:" + ":".join(["ab"] * 16), "cc-number": "4111111111111111",
}  # fmt: skip


def sample_value(misp_type: str) -> str:
    if "|" in misp_type and misp_type != "malware-sample":
        left, right = misp_type.split("|", 1)
        return sample_value(left) + "|" + sample_value(right)
    if misp_type == "malware-sample":
        return "a.exe|" + "a" * 32
    if misp_type in _HEX:
        return "a" * _HEX[misp_type]
    return _SAMPLES.get(misp_type, f"sample {misp_type}")


def test_every_misp_attribute_type_converts_to_valid_stix():
    types = describe_types()
    attrs = []
    for misp_type in types["types"]:
        for to_ids in (True, False):
            extra = (
                {"data": "UEsDBAoAAAAAAA=="}
                if misp_type in {"attachment", "malware-sample"}
                else {}
            )
            category = types["sane_defaults"][misp_type]["default_category"]
            attrs.append(
                attribute(
                    misp_type, sample_value(misp_type), to_ids=to_ids, category=category, **extra
                )
            )
    result = misp_to_stix(event(*attrs))
    assert result.events == 1
    converted = {
        o.get("x_misp_attribute", {}).get("type") for o in result.objects if "x_misp_attribute" in o
    }
    dropped = {p.where for p in result.problems if p.dropped}
    assert len(converted) + len(dropped) // 2 >= len(types["types"]) - 5
    assert validation_errors(bundle(result.objects)) == []


def test_every_misp_object_template_converts_to_valid_stix():
    types = describe_types()
    root = Path(MISPObject("file").misp_objects_path)
    objects = []
    for definition in sorted(root.glob("*/definition.json")):
        template = json.loads(definition.read_text())
        attrs = []
        for relation, spec in list(template["attributes"].items())[:15]:
            misp_type = spec["misp-attribute"]
            if misp_type not in types["types"]:
                continue
            choices = spec.get("values_list") or spec.get("sane_default")
            value = str(choices[0]) if choices else sample_value(misp_type)
            attrs.append(
                {
                    **attribute(misp_type, value, to_ids=len(attrs) % 2 == 0),
                    "object_relation": relation,
                }
            )
        if attrs:
            objects.append(
                {
                    "uuid": str(uuid.uuid4()),
                    "name": template["name"],
                    "meta-category": template.get("meta-category", "misc"),
                    "description": template.get("description", ""),
                    "template_uuid": template["uuid"],
                    "template_version": str(template["version"]),
                    "timestamp": "1700000000",
                    "Attribute": attrs,
                }
            )
    assert len(objects) > 300
    result = misp_to_stix(event(Object=objects))
    made = {o["x_misp_object"]["uuid"] for o in result.objects if "x_misp_object" in o}
    assert len(made) == len(objects)
    assert validation_errors(bundle(result.objects)) == []
