from __future__ import annotations

import pytest

from canal.model.handling import (
    ADMIRALTY_TO_CREDIBILITY,
    ADMIRALTY_TO_RELIABILITY,
    CREDIBILITY_TO_ADMIRALTY,
    RELIABILITY_TO_ADMIRALTY,
    Confidentiality,
    Credibility,
    Handling,
    HandlingDefaults,
    HandlingError,
    Pap,
    Purpose,
    Reliability,
    Tlp,
    parse_country,
    purposes_from_mask,
    purposes_mask,
)


@pytest.mark.parametrize(
    ("raw", "tlp"),
    [
        ("TLP:WHITE", Tlp.CLEAR),
        ("white", Tlp.CLEAR),
        ("tlp:clear", Tlp.CLEAR),
        ("TLP:AMBER+STRICT", Tlp.AMBER_STRICT),
        ("Red", Tlp.RED),
    ],
)
def test_tlp_parse(raw, tlp):
    assert Tlp.parse(raw) is tlp


@pytest.mark.parametrize("raw", ["TLP:PURPLE", "amber strict", "", "TLP:"])
def test_tlp_rejects_what_is_not_tlp_2(raw):
    with pytest.raises(HandlingError) as info:
        Tlp.parse(raw)
    assert info.value.field_name == "tlp"
    assert "amber+strict" in str(info.value)


def test_tlp_white_never_goes_out():
    assert "white" not in {t.value for t in Tlp}
    assert Tlp.CLEAR.label == "TLP:CLEAR"
    assert [t.rank for t in Tlp] == sorted(t.rank for t in Tlp)


def test_pap_white_alias():
    assert Pap.parse("PAP:WHITE") is Pap.CLEAR
    with pytest.raises(HandlingError):
        Pap.parse("PAP:AMBER+STRICT")


def test_admiralty_mapping_round_trips():
    for grade in Reliability:
        assert ADMIRALTY_TO_RELIABILITY[RELIABILITY_TO_ADMIRALTY[grade]] is grade
    for grade in Credibility:
        assert ADMIRALTY_TO_CREDIBILITY[CREDIBILITY_TO_ADMIRALTY[grade]] is grade
    assert set(ADMIRALTY_TO_RELIABILITY) == set("ABCDEF")
    assert set(ADMIRALTY_TO_CREDIBILITY) == set("123456")
    handling = Handling(
        source_org_id=1,
        source_reliability=Reliability.C,
        information_credibility=Credibility.UNCORROBORATED,
    )
    assert handling.admiralty == "D6"


def test_purposes_mask_round_trip():
    every = frozenset(Purpose)
    assert purposes_from_mask(purposes_mask(every)) == every
    assert purposes_from_mask(0) == frozenset()
    with pytest.raises(HandlingError, match="threat-analysis"):
        Purpose.parse("curiosity")


def test_confidentiality_levels_and_parse():
    assert Confidentiality.parse("restricted") is Confidentiality.RESTRICTED
    assert Confidentiality.parse(3) is Confidentiality.CONFIDENTIAL
    assert Confidentiality.CONFIDENTIAL > Confidentiality.OFFICIAL_USE
    with pytest.raises(HandlingError):
        Confidentiality.parse("top-secret")


def test_countries_are_iso_3166():
    assert parse_country("fr") == "FR"
    for bad in ("ZZ", "FRA", "F", "12", "UK"):
        with pytest.raises(HandlingError):
            parse_country(bad)


def test_defaults_merge_field_by_field():
    submission = HandlingDefaults(tlp=Tlp.RED)
    org = HandlingDefaults(tlp=Tlp.GREEN, pap=Pap.RED)
    merged = submission.over(org)
    assert merged.tlp is Tlp.RED
    assert merged.pap is Pap.RED
    handling = merged.apply(7)
    assert handling.source_org_id == 7
    assert handling.audience.value == "law-enforcement"


def test_defaults_json_round_trip():
    defaults = HandlingDefaults(
        tlp=Tlp.AMBER_STRICT,
        allow_countries=frozenset({"FR", "DE"}),
        deny_orgs=frozenset({4}),
        purposes=frozenset({Purpose.WARNING}),
        confidentiality=Confidentiality.RESTRICTED,
        personal_data=True,
    )
    assert HandlingDefaults.from_json(defaults.to_json()) == defaults
