"""The demo world: reproducible, valid for ingest, sized by scale, and with ground truth that
a correlation can be scored against."""

from __future__ import annotations

import hashlib
import os
import random
import re
import subprocess
import sys
import uuid
from collections import Counter, defaultdict
from typing import Any

import orjson
import pytest
import stix2

from canal.demo.world import (
    BASE_DATE,
    SECRETARIAT,
    World,
    _Mint,
    _uuid4,
    galaxy_families,
    sco_id,
)
from canal.ingest.stix import check_object
from canal.model.extension import CANAL_EXTENSION_ID, defaults_from_extension
from canal.model.handling import Audience, Tlp
from canal.model.org import OrgKind
from canal.model.stix import TIMESTAMP_PROPERTIES, TLP2_MARKING_IDS
from stix_validation import validation_errors

MILLIS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
TLP_OF = {marking: tlp for tlp, marking in TLP2_MARKING_IDS.items()}


def serialise(world: World) -> list[tuple[str, bytes]]:
    return [(b.source.name, orjson.dumps(b.objects)) for b in world.batches()]


@pytest.fixture(scope="module")
def world() -> World:
    return World(seed=2021, scale=1)


@pytest.fixture(scope="module")
def batches(world: World) -> list[tuple[str, list[dict[str, Any]]]]:
    # Consuming the batches also completes the world's ground truth.
    return [(b.source.name, b.objects) for b in world.batches()]


@pytest.fixture(scope="module")
def objects(batches) -> list[dict[str, Any]]:
    return [obj for _, objs in batches for obj in objs]


def observable_keys(obj: dict[str, Any]) -> list[str]:
    """The ground-truth keys an observable object stands for."""
    kind = obj["type"]
    if kind == "ipv4-addr":
        return [f"ipv4:{obj['value']}"]
    if kind == "domain-name":
        return [f"domain:{obj['value']}"]
    if kind == "url":
        return [f"url:{obj['value']}"]
    if kind == "email-addr":
        return [f"email:{obj['value']}"]
    if kind == "x-crypto-wallet":
        return [f"wallet:{obj['value']}"]
    if kind == "file":
        hashes = obj["hashes"]
        return [f"sha256:{hashes['SHA-256']}", f"md5:{hashes['MD5']}"]
    return []


# Reproducibility


def test_the_same_seed_gives_byte_identical_batches():
    assert serialise(World(seed=7, scale=1)) == serialise(World(seed=7, scale=1))


def test_running_the_batches_twice_gives_the_same_objects(world, batches):
    again = [(b.source.name, b.objects) for b in world.batches()]
    assert orjson.dumps(again) == orjson.dumps(batches)


def test_the_world_does_not_depend_on_hash_randomisation(batches):
    script = (
        "import hashlib, orjson\n"
        "from canal.demo.world import World\n"
        "digest = hashlib.sha256()\n"
        "for b in World(seed=2021, scale=1).batches():\n"
        "    digest.update(b.source.name.encode() + orjson.dumps(b.objects))\n"
        "print(digest.hexdigest())\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    run = subprocess.run(  # noqa: S603 - this interpreter, on the script above
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    digest = hashlib.sha256()
    for name, objs in batches:
        digest.update(name.encode() + orjson.dumps(objs))
    assert run.stdout.strip() == digest.hexdigest()


def test_another_seed_gives_another_world():
    one, other = serialise(World(seed=7, scale=1)), serialise(World(seed=8, scale=1))
    assert one != other
    # Observable ids derive from values, which come from small reserved ranges; the rest is new.
    ids = {o["id"] for _, text in one for o in orjson.loads(text) if "created" in o}
    other_ids = {o["id"] for _, text in other for o in orjson.loads(text) if "created" in o}
    assert not ids & other_ids


def test_random_ids_are_the_uuid4_of_the_seeded_generator():
    ours, reference = random.Random(3), random.Random(3)
    for _ in range(1000):
        assert _uuid4(ours) == str(uuid.UUID(int=reference.getrandbits(128), version=4))


def test_observable_ids_are_the_stix_deterministic_ids(objects):
    by_type = {o["type"]: o for o in objects}
    ip, domain = by_type["ipv4-addr"], by_type["domain-name"]
    assert ip["id"] == stix2.IPv4Address(value=ip["value"]).id
    assert domain["id"] == stix2.DomainName(value=domain["value"]).id
    file = next(o for o in objects if o["type"] == "file" and "name" in o)
    assert file["id"] == stix2.File(hashes=file["hashes"], name=file["name"]).id
    wallet = by_type["x-crypto-wallet"]
    assert wallet["id"] == sco_id("x-crypto-wallet", {"value": wallet["value"]})


def test_an_id_names_one_object_except_shared_observables(objects):
    texts: dict[str, set[bytes]] = defaultdict(set)
    for obj in objects:
        content = {k: v for k, v in obj.items() if k not in {"extensions", "object_marking_refs"}}
        texts[obj["id"]].add(orjson.dumps(content))
    assert all(len(t) == 1 for t in texts.values())
    counts = Counter(o["id"] for o in objects)
    repeated = {stix_id.split("--")[0] for stix_id, n in counts.items() if n > 1}
    assert repeated <= {"ipv4-addr", "domain-name", "url", "email-addr", "file", "x-crypto-wallet"}


# Size and streaming


def test_scale_one_is_a_few_thousand_objects(objects):
    assert 5_000 <= len(objects) <= 10_000


def test_size_grows_linearly_with_scale(objects):
    two = sum(len(b.objects) for b in World(scale=2).batches())
    four = sum(len(b.objects) for b in World(scale=4).batches())
    assert 1.7 < two / len(objects) < 2.3
    assert 1.7 < four / two < 2.3
    # At this rate, --scale 150 reaches a million objects.
    assert four / 4 * 150 >= 1_000_000


@pytest.mark.slow
def test_scale_150_reaches_a_million_objects():
    world = World(scale=150, track_ids=False)
    assert sum(len(b.objects) for b in world.batches()) >= 1_000_000


def test_batches_are_bounded_and_come_from_one_org(world):
    for batch in world.batches():
        assert batch.objects
        assert len(batch.objects) < 1_200
        assert batch.source in world.orgs


def test_scale_must_be_positive():
    with pytest.raises(ValueError, match="scale"):
        World(scale=0)


# Validity


def test_every_object_passes_ingest_checks(objects):
    for obj in objects:
        check_object(obj)


def test_timestamps_have_milliseconds_and_fall_in_the_demo_year(objects):
    start = BASE_DATE.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    for obj in objects:
        for key in TIMESTAMP_PROPERTIES:
            if key in obj:
                assert MILLIS.match(obj[key]), (key, obj[key])
        if "created" in obj:
            assert start <= obj["created"] < "2027-01-01"
            assert obj["modified"] >= obj["created"]


def test_a_sample_of_each_type_is_valid_stix(objects):
    sample: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for obj in objects:
        if len(sample[obj["type"]]) < 5:
            sample[obj["type"]].append(obj)
    bundle = {
        "type": "bundle",
        "id": "bundle--2b4e4d1f-8c56-4a45-9a3c-2f53a7d0d1a4",
        "objects": [o for group in sample.values() for o in group],
    }
    assert validation_errors(bundle) == []


def test_values_come_from_reserved_ranges_and_invented_domains(objects):
    benign = {"8.8.8.8", "1.1.1.1", "9.9.9.9", "208.67.222.222"}
    for obj in objects:
        if obj["type"] == "ipv4-addr" and obj["value"] not in benign:
            assert obj["value"].startswith(("192.0.2.", "198.51.100.", "203.0.113.", "198.1"))
        if obj["type"] == "domain-name":
            assert obj["value"].endswith((".example", ".test", ".com"))


def test_every_kind_of_object_is_there(objects):
    types = {o["type"] for o in objects}
    assert types >= {
        "identity",
        "location",
        "malware",
        "intrusion-set",
        "campaign",
        "incident",
        "indicator",
        "sighting",
        "relationship",
        "ipv4-addr",
        "domain-name",
        "url",
        "file",
        "email-addr",
        "x-crypto-wallet",
    }
    relationships = {o["relationship_type"] for o in objects if o["type"] == "relationship"}
    assert relationships >= {"indicates", "uses", "attributed-to", "targets", "located-at"}


def test_incidents_name_their_victim_and_attribution(objects):
    by_id = {o["id"]: o for o in objects}
    targets = defaultdict(set)
    attributed = defaultdict(set)
    for rel in (o for o in objects if o["type"] == "relationship"):
        if rel["relationship_type"] == "targets":
            targets[rel["source_ref"]].add(by_id[rel["target_ref"]]["type"])
        if rel["relationship_type"] == "attributed-to" and rel["source_ref"].startswith("incident"):
            attributed[rel["source_ref"]].add(rel["target_ref"].split("--")[0])
    incidents = [o for o in objects if o["type"] == "incident"]
    assert incidents
    for incident in incidents:
        assert targets[incident["id"]] == {"identity"}
        assert attributed[incident["id"]] <= {"campaign", "intrusion-set"}
        assert attributed[incident["id"]]
        assert incident["x_ransomware_family"] in incident["name"]
    victims = [o for o in objects if o["type"] == "identity" and "x_country" in o]
    assert all(v["identity_class"] == "organization" and v["sectors"] for v in victims)


def test_sightings_are_of_indicators_where_victims_are(objects):
    identities = {o["id"] for o in objects if o["type"] == "identity"}
    sightings = [o for o in objects if o["type"] == "sighting"]
    assert sightings
    for sighting in sightings:
        assert sighting["sighting_of_ref"].startswith("indicator--")
        assert set(sighting["where_sighted_refs"]) <= identities
        assert sighting["first_seen"] <= sighting["last_seen"]


# Families


def test_families_come_from_the_galaxy(objects):
    galaxy = {name: set(synonyms) for name, synonyms, _ in galaxy_families()}
    malware = [o for o in objects if o["type"] == "malware"]
    assert malware
    for obj in malware:
        assert obj["name"] in galaxy
        assert set(obj.get("aliases", ())) <= galaxy[obj["name"]]
    # The families picked first are the documented ones: aliases show.
    assert any(o.get("aliases") for o in malware)
    for campaign in (o for o in objects if o["type"] == "campaign"):
        assert any(campaign["name"].startswith(name) for name in galaxy)


def test_family_picks_follow_the_seed():
    names = {n.family for n in World(seed=1).networks.values()}
    assert names != {n.family for n in World(seed=2).networks.values()}


# Orgs and handling


def test_the_orgs_are_members_a_secretariat_and_partners(world):
    kinds = Counter(o.kind for o in world.orgs)
    assert kinds[OrgKind.SECRETARIAT] == 1
    assert kinds[OrgKind.PARTNER] == 5
    assert 28 <= kinds[OrgKind.MEMBER] <= 32
    assert world.orgs[0].name == SECRETARIAT
    members = [o for o in world.orgs if o.kind is OrgKind.MEMBER]
    assert len({o.country for o in members}) == len(members)
    for org in world.orgs:
        assert len(org.name) >= 3
        assert not re.fullmatch(r"[A-Za-z]{2}", org.name)
        assert org.name.endswith(f"({org.country})") == (org.kind is OrgKind.MEMBER)
    assert len({o.name for o in world.orgs}) == len(world.orgs)


def test_every_org_reports_something(batches, world):
    counts = Counter()
    for name, objs in batches:
        counts[name] += len(objs)
    assert all(counts[o.name] > 1 for o in world.orgs)


def test_handling_is_readable_and_varied(world, batches):
    org_ids = {o.name: i for i, o in enumerate(world.orgs)}
    kinds = {o.name: o.kind for o in world.orgs}
    tlps: dict[OrgKind, Counter[Tlp | None]] = defaultdict(Counter)
    audiences: dict[OrgKind, Counter[str]] = defaultdict(Counter)
    allow = deny = personal = 0
    for name, objs in batches:
        for obj in objs:
            ext = obj.get("extensions", {}).get(CANAL_EXTENSION_ID)
            defaults = defaults_from_extension(ext or {}, org_ids.__getitem__)
            refs = obj.get("object_marking_refs", [])
            tlps[kinds[name]][TLP_OF[refs[0]] if refs else None] += 1
            if ext is None:
                continue
            audiences[kinds[name]][ext["audience"]] += 1
            allow += bool(ext.get("allow"))
            deny += bool(ext.get("deny"))
            if defaults.personal_data:
                personal += 1
                assert ext["audience"] == Audience.LAW_ENFORCEMENT.value
    members, partners = tlps[OrgKind.MEMBER], tlps[OrgKind.PARTNER]
    assert set(members) == {*Tlp, None}
    total = sum(members.values())
    assert (members[Tlp.AMBER] + members[Tlp.GREEN]) / total > 0.5
    assert members[Tlp.RED]
    assert members[Tlp.AMBER_STRICT]
    assert partners[Tlp.GREEN] / sum(partners.values()) > 0.5
    assert Tlp.RED not in partners
    audience = audiences[OrgKind.PARTNER]
    assert audience["partners"] / sum(audience.values()) > 0.7
    assert allow > 0
    assert deny > 0
    assert personal > 0


def test_suspects_addresses_are_personal_data(objects):
    emails = [o for o in objects if o["type"] == "email-addr"]
    assert emails
    assert all(o["extensions"][CANAL_EXTENSION_ID]["personal_data"] for o in emails)


# Ground truth


def test_networks_share_values_across_sources(world, batches):
    sources_of: dict[str, set[str]] = defaultdict(set)
    for name, objs in batches:
        for obj in objs:
            for key in observable_keys(obj):
                sources_of[key].add(name)
    assert len(world.networks) >= 10
    for network in world.networks.values():
        assert network.values
        assert network.values <= network.infrastructure
        shared = [v for v in network.values if len(sources_of[v]) >= 2]
        assert shared, network.id
        assert len(network.sources) >= 2


def test_networks_do_not_share_infrastructure(world):
    seen: dict[str, str] = {}
    for network in world.networks.values():
        for value in network.infrastructure:
            assert value not in seen, (value, seen.get(value), network.id)
            seen[value] = network.id
        assert not network.infrastructure & world.benign


def test_benign_values_show_up_across_networks(world, batches):
    # Objects about benign values come in reports on different networks.
    network_of = {i: n.id for n in world.networks.values() for i in n.stix_ids}
    victims_of_benign: set[str] = set()
    sources: set[str] = set()
    for name, objs in batches:
        for obj in objs:
            if obj["id"] in world.benign_ids:
                sources.add(name)
                if obj["type"] == "sighting":
                    victims_of_benign.update(obj["where_sighted_refs"])
            keys = observable_keys(obj)
            if keys and set(keys) <= world.benign:
                sources.add(name)
    assert "ipv4:8.8.8.8" in world.benign
    assert any(k.startswith("sha256:e3b0c442") for k in world.benign)
    assert len(sources) >= 3
    assert len({network_of[v] for v in victims_of_benign if v in network_of}) >= 2


def test_ground_truth_ids_cover_the_reported_objects(world, objects):
    network_of: dict[str, str] = {}
    for network in world.networks.values():
        for stix_id in network.stix_ids:
            kind = stix_id.split("--")[0]
            if kind != "malware":
                # At scale 1 no two networks share anything but (rarely) a family.
                assert stix_id not in network_of, stix_id
            network_of[stix_id] = network.id
    for obj in objects:
        if obj["type"] in {"incident", "campaign", "intrusion-set", "sighting", "indicator"}:
            assert obj["id"] in network_of or obj["id"] in world.benign_ids, obj["id"]
    assert not set(network_of) & world.benign_ids


def test_indicator_patterns_name_the_value_of_their_network(world, objects):
    network_of_value = {
        key.split(":", 1)[1]: n.id for n in world.networks.values() for key in n.infrastructure
    }
    network_of = {i: n.id for n in world.networks.values() for i in n.stix_ids}
    for indicator in (o for o in objects if o["type"] == "indicator"):
        if indicator["id"] in world.benign_ids:
            continue
        values = re.findall(r"= '([^']*)'", indicator["pattern"])
        assert values
        found = {network_of_value[value] for value in values}
        assert found == {network_of[indicator["id"]]}, indicator["pattern"]


def test_addresses_outlast_the_benchmarking_range():
    """A world large enough to fill 198.18.0.0/15 goes on in the shared address space instead
    of drawing taken addresses for ever; each address is still used once."""
    mint = _Mint(random.Random(1))
    drawn = [mint.ipv4("c2").sco["value"] for _ in range(140_000)]
    assert len(set(drawn)) == len(drawn)
    assert any(ip.startswith(("198.18.", "198.19.")) for ip in drawn)
    assert drawn[-1].startswith("100.")
    assert 64 <= int(drawn[-1].split(".")[1]) < 128
