"""The cheap checks every object passes before it is stored: each rejection names the
property and the problem."""

from __future__ import annotations

import pytest

from canal.ingest.errors import SubmissionError
from canal.ingest.stix import ObjectRejected, check_object, read_submission, without_handling
from canal.model.extension import CANAL_EXTENSION_ID
from canal.model.handling import Tlp
from canal.model.stix import TLP2_MARKING_IDS
from factories import indicator, ipv4, malware


def rejected(obj) -> str:
    with pytest.raises(ObjectRejected) as info:
        check_object(obj)
    return str(info.value)


def test_a_valid_indicator_passes():
    checked = check_object(indicator())
    assert checked.stix_type == "indicator"
    assert checked.version is not None
    assert checked.tlp is None


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"id": "indicator--not-a-uuid"}, "id:"),
        ({"id": "malware--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"}, "does not start with its type"),
        ({"type": "Indicator"}, "type:"),
        ({"type": 7}, "type:"),
        ({"spec_version": "2.0"}, "spec_version"),
        ({"spec_version": "3.0"}, "spec_version"),
        ({"created": "yesterday"}, "created:"),
        ({"created": "2026-13-01T00:00:00Z"}, "real date"),
        ({"modified": "2020-01-01T00:00:00Z"}, "earlier than created"),
        ({"valid_until": "2026-01-01T00:00:00Z"}, "valid_until"),
        ({"pattern": "[ipv4-addr:value = '1.2.3.4'"}, "pattern:"),
        ({"pattern": 42}, "pattern"),
        ({"created_by_ref": "someone"}, "created_by_ref"),
        ({"object_marking_refs": []}, "object_marking_refs"),
        ({"object_marking_refs": ["tlp:red"]}, "object_marking_refs"),
        ({"confidence": 101}, "confidence"),
        ({"confidence": "high"}, "confidence"),
        ({"revoked": "yes"}, "revoked"),
        ({"extensions": []}, "extensions"),
        ({"extensions": {CANAL_EXTENSION_ID: "red"}}, CANAL_EXTENSION_ID),
        ({"granular_markings": [{"marking_ref": "x"}]}, "granular_markings"),
    ],
)
def test_bad_properties_are_named(change, needle):
    assert needle in rejected(indicator(**change))


@pytest.mark.parametrize(
    "missing", ["pattern", "pattern_type", "valid_from", "created", "modified"]
)
def test_missing_required_properties_are_named(missing):
    obj = indicator()
    del obj[missing]
    assert missing in rejected(obj)


def test_stix_2_0_objects_are_refused_with_the_reason():
    obj = indicator()
    del obj["spec_version"]
    assert "STIX 2.0" in rejected(obj)


def test_non_objects_are_refused():
    assert "not a JSON object" in rejected(["a", "list"])
    assert "not a JSON object" in rejected("indicator")
    assert "bundle inside a bundle" in rejected(
        {"type": "bundle", "id": "bundle--x", "objects": []}
    )


def test_observables_need_no_version_or_spec_version():
    sco = ipv4()
    del sco["spec_version"]
    checked = check_object(sco)
    assert checked.version is None
    assert checked.spec_version == "2.1"
    assert "value" in rejected({k: v for k, v in ipv4().items() if k != "value"})


def test_custom_objects_and_properties_are_kept():
    custom = {
        "type": "x-acme-ransom-note",
        "id": "x-acme-ransom-note--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        "spec_version": "2.1",
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "x_text": "pay up",
    }
    assert check_object(custom).obj is custom
    assert check_object(malware(x_acme_score=3)).obj["x_acme_score"] == 3


def test_non_stix_patterns_are_not_parsed_as_stix():
    obj = indicator(pattern="rule x { condition: true }", pattern_type="yara")
    assert check_object(obj).stix_type == "indicator"


def test_tlp_comes_from_the_markings_and_the_stricter_wins():
    obj = indicator(object_marking_refs=[TLP2_MARKING_IDS[Tlp.GREEN], TLP2_MARKING_IDS[Tlp.RED]])
    assert check_object(obj).tlp is Tlp.RED


def test_without_handling_ignores_only_the_handling_carriers():
    obj = indicator(
        object_marking_refs=[
            TLP2_MARKING_IDS[Tlp.RED],
            "marking-definition--" + "1" * 8 + "-1111-4111-8111-" + "1" * 12,
        ],
        extensions={CANAL_EXTENSION_ID: {"pap": "red"}, "x-other": {"a": 1}},
    )
    stripped = without_handling(obj)
    assert stripped["object_marking_refs"] == [obj["object_marking_refs"][1]]
    assert stripped["extensions"] == {"x-other": {"a": 1}}


def test_read_submission_shapes():
    assert len(read_submission(b'{"type":"bundle","id":"bundle--1","objects":[{},{}]}')) == 2
    assert len(read_submission(b"[{}, {}, {}]")) == 3
    assert len(read_submission(b'{"type":"indicator"}')) == 1
    for junk, needle in [
        (b"", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"12", "got JSON int"),
    ]:
        with pytest.raises(SubmissionError, match=needle):
            read_submission(junk)


def test_absurd_nesting_is_a_rejection_not_a_crash():
    deep: dict = {}
    node = deep
    for _ in range(400):
        node["x_deeper"] = {}
        node = node["x_deeper"]
    with pytest.raises(ObjectRejected):
        check_object(indicator(x_nest=deep))


def test_an_empty_purpose_list_is_refused():
    from canal.model.extension import defaults_from_extension  # noqa: PLC0415
    from canal.model.handling import HandlingError  # noqa: PLC0415

    with pytest.raises(HandlingError, match="purposes"):
        defaults_from_extension({"purposes": []}, lambda _name: 0)
