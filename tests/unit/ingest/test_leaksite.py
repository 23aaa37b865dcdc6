"""Leak-site tracker posts to ransomware incidents: mapping, keys and broken posts (R29)."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from canal.ingest.errors import SubmissionError
from canal.ingest.formats import Format, detect_format, to_stix
from canal.ingest.leaksite import incident_id, leaksite_to_stix, sector_of, settle_versions
from canal.ingest.stix import check_object
from canal.model.ransomware import RANSOMWARE_EXTENSION_ID, Sector

ONION = "lockbitapt6vx57t3eeqjofwgcglmutr3a35nygvokja5uuccip4ykyd.onion"


def live_post(**overrides):
    """A ransomware.live API v1 post."""
    post = {
        "post_title": "Acme Hospital",
        "group_name": "lockbit3",
        "discovered": "2024-01-10 10:38:06.449286",
        "published": "2024-01-10 10:33:32.000000",
        "post_url": f"http://{ONION}/post/acme",
        "website": "acme-hospital.example",
        "country": "US",
        "activity": "Healthcare",
        "description": "Patient records.",
    }
    post.update(overrides)
    return post


def convert(posts, source="NCB Paris"):
    return leaksite_to_stix(orjson.dumps(posts), where="posts.json", source=source)


def ext(obj):
    return obj["extensions"][RANSOMWARE_EXTENSION_ID]


def test_a_ransomware_live_post_maps_to_an_incident():
    result = convert([live_post()])
    assert result.problems == []
    (obj,) = result.objects
    assert obj["type"] == "incident"
    assert obj["created"] == obj["modified"] == "2024-01-10T10:33:32.000Z"
    assert obj["name"] == "Acme Hospital (lockbit3)"
    assert obj["description"] == "Patient records."
    body = ext(obj)
    assert body["actor"]["family"] == "Lockbit3"
    assert body["actor"]["group"] == "lockbit3"
    assert body["actor"]["family_galaxy_uuid"]
    assert body["victim"] == {
        "name": "Acme Hospital",
        "website": "acme-hospital.example",
        "country": "US",
        "sector": "healthcare-and-public-health",
        "sector_detail": "Healthcare",
    }
    assert body["dates"] == {
        "leak_post_discovered": "2024-01-10T10:38:06.449Z",
        "leak_post_published": "2024-01-10T10:33:32.000Z",
    }
    assert body["extortion"] == {"exfiltration": True, "leak_site_url": f"http://{ONION}/post/acme"}
    check_object(obj)


def test_a_ransomwatch_post_has_only_discovered():
    (obj,) = convert(
        [
            {
                "post_title": "foo.example",
                "group_name": "alphv",
                "discovered": "2022-10-03 12:40:55.123456",
            }
        ]
    ).objects
    assert obj["created"] == "2022-10-03T12:40:55.123Z"
    assert ext(obj)["actor"]["family"] == "BlackCat"
    assert ext(obj)["dates"] == {"leak_post_discovered": "2022-10-03T12:40:55.123Z"}
    assert "leak_post_published" not in ext(obj)["dates"]


def test_api_v2_names_are_read():
    post = {
        "victim": "Foo GmbH",
        "group": "akira",
        "attackdate": "2024-03-01 00:00:00",
        "discovered": "2024-03-02 09:00:00",
        "claim_url": f"{ONION}/foo",
        "domain": "foo.example",
        "country": "Germany",
        "activity": "Manufacturing",
    }
    (obj,) = convert([post]).objects
    body = ext(obj)
    assert body["actor"]["family"] == "Akira"
    assert body["victim"]["country"] == "DE"
    assert body["victim"]["website"] == "foo.example"
    assert body["victim"]["sector"] == "critical-manufacturing"
    assert body["extortion"]["leak_site_url"] == f"http://{ONION}/foo"
    assert obj["id"] == incident_id(
        "NCB Paris", "akira", "Foo GmbH", datetime(2024, 3, 1, tzinfo=UTC)
    )


def test_broken_posts_are_dropped_each_with_its_problem_and_the_rest_kept():
    posts = [
        live_post(post_title="Kept One"),
        live_post(group_name=""),
        live_post(post_title=None),
        {"post_title": "No date", "group_name": "play"},
        live_post(published="next tuesday"),
        live_post(published="2024-02-30 00:00:00"),
        "not a post",
        live_post(post_title="Kept Two", discovered="garbage"),
    ]
    result = convert(posts)
    assert [ext(o)["victim"]["name"] for o in result.objects] == ["Kept One", "Kept Two"]
    problems = [(p.where, p.message, p.dropped) for p in result.problems]
    assert problems == [
        ("posts.json item 1", "missing or blank: group (group_name or group)", True),
        ("posts.json item 2", "missing or blank: victim (post_title or victim)", True),
        ("posts.json item 3", "no date: needs published (or discovered)", True),
        ("posts.json item 4", "published: 'next tuesday' is not a date", True),
        ("posts.json item 5", "published: '2024-02-30 00:00:00' is not a date", True),
        ("posts.json item 6", "not a JSON object", True),
        ("posts.json item 7", "discovered: 'garbage' is not a date; left out", False),
    ]


def test_a_field_the_extension_refuses_is_left_out_with_a_warning():
    result = convert([live_post(country="Atlantis", post_url="http://bad host/x")])
    (obj,) = result.objects
    assert "country" not in ext(obj)["victim"]
    assert "leak_site_url" not in ext(obj)["extortion"]
    assert [p.dropped for p in result.problems] == [False, False]
    assert result.problems[0].message.startswith("victim.country: 'Atlantis' must be")
    check_object(obj)


def test_the_key_is_group_victim_and_published_date():
    base = convert([live_post()]).objects[0]["id"]
    same = [
        live_post(post_title="ACME  hospital."),
        live_post(group_name="LockBit3"),
        live_post(published="2024-01-10T23:59:59Z", description="changed"),
    ]
    assert {o["id"] for o in convert(same).objects} == {base}
    other = [
        live_post(post_title="Acme Clinic"),
        live_post(group_name="lockbit"),
        live_post(published="2024-01-11 00:00:00"),
    ]
    assert base not in {o["id"] for o in convert(other).objects}
    assert convert([live_post()], source="NCB Berlin").objects[0]["id"] != base


def test_the_same_post_twice_in_a_file_is_one_incident():
    result = convert([live_post(), live_post(), live_post(description="another text")])
    assert len(result.objects) == 1
    (problem,) = result.problems
    assert problem.where == "posts.json item 2"
    assert "folded into that incident" in problem.message
    assert not problem.dropped


def test_conversion_is_deterministic():
    data = [live_post(), live_post(post_title="Other")]
    assert convert(data).objects == convert(data).objects


def test_the_format_is_detected_and_dispatched():
    data = orjson.dumps([live_post()])
    assert detect_format(data, "posts.json") is Format.LEAKSITE
    assert detect_format(orjson.dumps([{"group": "x", "victim": "y"}])) is Format.LEAKSITE
    assert len(to_stix(data, Format.LEAKSITE, source="NCB Paris").objects) == 1


def test_wrapped_lists_are_read_and_other_json_is_refused():
    assert len(leaksite_to_stix(orjson.dumps({"posts": [live_post()]})).objects) == 1
    assert len(leaksite_to_stix(orjson.dumps(live_post())).objects) == 1
    with pytest.raises(SubmissionError, match="leak-site posts"):
        leaksite_to_stix(b'{"hello": "world"}')
    with pytest.raises(SubmissionError, match="not valid JSON"):
        leaksite_to_stix(b"[{")


@pytest.mark.parametrize(
    ("label", "sector"),
    [
        ("Healthcare", Sector.HEALTHCARE_AND_PUBLIC_HEALTH),
        ("Hospitality and Tourism", Sector.COMMERCIAL_FACILITIES),
        ("Financial Services", Sector.FINANCIAL_SERVICES),
        ("Education", Sector.GOVERNMENT_FACILITIES),
        ("Public Sector", Sector.GOVERNMENT_FACILITIES),
        ("Technology", Sector.INFORMATION_TECHNOLOGY),
        ("Telecommunication", Sector.COMMUNICATIONS),
        ("Transportation/Logistics", Sector.TRANSPORTATION_SYSTEMS),
        ("Agriculture and Food Production", Sector.FOOD_AND_AGRICULTURE),
        ("Energy", Sector.ENERGY),
        ("Manufacturing", Sector.CRITICAL_MANUFACTURING),
        ("Construction", Sector.OTHER),
        ("Business Services", Sector.OTHER),
        ("Not Found", None),
        ("", None),
    ],
)
def test_activity_labels_map_to_cisa_sectors(label, sector):
    assert sector_of(label) is sector


def test_settling_keeps_unchanged_posts_and_versions_changed_ones():
    (first,) = convert([live_post()]).objects
    held = {first["id"]: dict(first, modified="2024-05-01T00:00:00.000Z")}
    now = datetime(2024, 6, 1, tzinfo=UTC)
    (same,) = settle_versions(convert([live_post()]).objects, held, now=now)
    assert same["modified"] == "2024-05-01T00:00:00.000Z"
    (changed,) = settle_versions(convert([live_post(country="CA")]).objects, held, now=now)
    assert changed["created"] == first["created"]
    assert changed["modified"] == "2024-06-01T00:00:00.000Z"
    early = datetime(2024, 1, 1, tzinfo=UTC)  # a clock behind the held version
    (changed,) = settle_versions(convert([live_post(country="CA")]).objects, held, now=early)
    assert changed["modified"] == "2024-05-01T00:00:00.001Z"
    (new,) = settle_versions(convert([live_post(post_title="New")]).objects, held, now=now)
    assert new["modified"] == new["created"]
