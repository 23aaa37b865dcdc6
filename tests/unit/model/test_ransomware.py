"""The ransomware-incident extension's checks (R28): every bad field is named."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from canal.model.ransomware import (
    RANSOMWARE_EXTENSION_DEFINITION,
    RANSOMWARE_EXTENSION_ID,
    Sector,
    incident_problems,
    ransomware_extension,
)
from incidents import BTC, ETH, full_extension, tox_id


def with_value(path: str, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(full_extension())
    *parents, last = path.split(".")
    target: Any = body
    for name in parents:
        target = target[name]
    target[last] = value
    return body


def test_a_full_extension_is_valid():
    assert incident_problems(full_extension()) == []


def test_the_smallest_extension_is_a_family():
    assert (
        incident_problems({"extension_type": "property-extension", "actor": {"family": "Akira"}})
        == []
    )


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("actor.family", ""),
        ("actor.family", 7),
        ("actor.family_aliases", []),
        ("actor.family_galaxy_uuid", "not-a-uuid"),
        ("actor.raas", "yes"),
        ("victim.name", "   "),
        ("victim.name_personal_data", 1),
        ("victim.country", "XX"),
        ("victim.country", "fr"),
        ("victim.country", "FRA"),
        ("victim.sector", "healthcare"),
        ("victim.size_band", "huge"),
        ("dates.first_intrusion", "2026-01-02"),
        ("dates.encryption", "2026-02-30T00:00:00Z"),
        ("dates.reported", 1767225600),
        ("initial_access", {"vector": "rdp"}),
        ("initial_access", {"cves": ["CVE-2023-4966"]}),
        ("initial_access.cves", ["CVE-23-1"]),
        ("ttps", ["T1486", "t1490"]),
        ("ttps", ["T1486.1"]),
        ("ttps", ["TA0001"]),
        ("extortion.encryption", "true"),
        ("extortion.ransom_demanded", {"amount": 100}),
        ("extortion.ransom_demanded", {"amount": -5, "currency": "USD"}),
        ("extortion.ransom_demanded", {"amount": True, "currency": "USD"}),
        ("extortion.ransom_demanded", {"amount": 5, "currency": "usd"}),
        ("extortion.ransom_demanded", {"amount": 5, "currency": "DOLLARS"}),
        ("extortion.ransom_paid", {"amount": 5, "currency": "XMR", "date": "last week"}),
        ("extortion.wallet_addresses", [{"chain": "BTC", "address": BTC}]),
        ("extortion.wallet_addresses", [{"address": BTC}]),
        ("extortion.wallet_addresses", [{"chain": "btc", "address": "bc1 q"}]),
        ("extortion.wallet_addresses", [BTC]),
        ("extortion.negotiation_url", "ftp://chat.example/"),
        ("extortion.leak_site_url", "lockbit.onion/post"),
        ("extortion.ransom_note_hash", "abc"),
        ("extortion.contact_emails", ["not an address"]),
        ("extortion.tox_ids", [tox_id()[:-4] + "FFFF"]),
        ("extortion.tox_ids", ["A1B2"]),
        ("impact.downtime_hours", -1),
        ("impact.data_types_exposed", ["passwords"]),
        ("impact.estimated_loss", {"amount": 1, "currency": "EURO"}),
        ("impact.critical_service_disruption", None),
    ],
)
def test_each_bad_field_is_named(path, value):
    problems = incident_problems(with_value(path, value))
    assert problems, path
    assert all(p.startswith(path) for p in problems), problems


def test_every_bad_field_is_reported_at_once():
    body = with_value("victim.country", "XX")
    body["victim"]["sector"] = "banking"
    body["ttps"] = ["T1"]
    problems = incident_problems(body)
    assert [p.partition(":")[0] for p in problems] == ["victim.country", "victim.sector", "ttps[0]"]


def test_messages_say_what_is_wrong():
    (problem,) = incident_problems(with_value("victim.country", "XX"))
    assert problem == (
        "victim.country: 'XX' must be an ISO 3166-1 alpha-2 code in capitals (FR, BR)"
    )
    (problem,) = incident_problems(with_value("victim.sector", "banking"))
    assert problem.startswith("victim.sector: 'banking' must be one of chemical, ")
    assert "other" in problem
    (problem,) = incident_problems(with_value("ttps", ["T14860"]))
    assert problem == "ttps[0]: 'T14860' must be an ATT&CK technique id (T1486 or T1078.002)"


def test_the_sector_list_is_cisa_sixteen_and_other():
    assert len(Sector) == 17
    assert Sector.OTHER in Sector


def test_a_crypto_ticker_is_a_currency():
    body = with_value("extortion.ransom_demanded", {"amount": 50, "currency": "XMR"})
    assert incident_problems(body) == []


def test_family_is_required():
    body = full_extension()
    del body["actor"]["family"]
    assert incident_problems(body) == ["actor.family: required and missing"]
    del body["actor"]
    assert incident_problems(body) == ["actor: required and missing"]


def test_unknown_fields_are_refused_by_name():
    body = with_value("victim.colour", "blue")
    body["x_note"] = "kept?"
    assert incident_problems(body) == [
        "victim.colour: not a field of the ransomware extension",
        "x_note: not a field of the ransomware extension",
    ]


def test_null_is_not_absent():
    assert incident_problems(with_value("victim.website", None)) == [
        "victim.website: must not be null (leave the field out)"
    ]


def test_extension_type_is_property_extension():
    body = full_extension()
    body["extension_type"] = "new-sdo"
    assert incident_problems(body) == ["extension_type: must be property-extension"]
    assert incident_problems("body") == ["must be an object"]


def test_cves_go_with_the_exploit_vector():
    body = with_value("initial_access.vector", "phishing")
    assert incident_problems(body) == [
        "initial_access.cves: only with the vector vulnerability-exploit"
    ]
    assert incident_problems(with_value("initial_access", {"vector": "phishing"})) == []


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("dates.encryption", "2025-12-31T00:00:00Z", "dates.encryption: earlier than"),
        ("dates.reported", "2026-01-09T05:00:00Z", "dates.reported: earlier than dates.detected"),
        (
            "extortion.ransom_paid",
            {"amount": 1, "currency": "BTC", "date": "2025-01-01T00:00:00Z"},
            "extortion.ransom_paid.date: earlier than dates.first_intrusion",
        ),
    ],
)
def test_dates_in_an_impossible_order(path, value, expected):
    problems = incident_problems(with_value(path, value))
    assert len(problems) == 1
    assert problems[0].startswith(expected)


def test_a_wallet_check_names_the_wallet():
    seen = []

    def check(chain, address):
        seen.append((chain, address))
        return "bad checksum" if chain == "eth" else None

    assert incident_problems(full_extension(), wallet_check=check) == [
        "extortion.wallet_addresses[1].address: bad checksum"
    ]
    assert seen == [("btc", BTC), ("eth", ETH)]


def test_a_wallet_of_the_wrong_shape_is_not_checked_again():
    body = with_value("extortion.wallet_addresses", [{"chain": "BTC", "address": BTC}])
    problems = incident_problems(body, wallet_check=lambda _chain, _address: "never called")
    assert problems == [
        (
            "extortion.wallet_addresses[0].chain: 'BTC' must be a chain name in lower case "
            "(btc, eth, xmr, ...)"
        )
    ]


def test_the_definition_is_published_by_canal():
    definition = RANSOMWARE_EXTENSION_DEFINITION
    assert definition["id"] == RANSOMWARE_EXTENSION_ID
    assert definition["extension_types"] == ["property-extension"]
    assert definition["created_by_ref"].startswith("identity--")


def test_the_body_is_found_on_an_object():
    body = full_extension()
    assert ransomware_extension({"extensions": {RANSOMWARE_EXTENSION_ID: body}}) is body
    assert ransomware_extension({"extensions": {}}) is None
    assert ransomware_extension({}) is None
