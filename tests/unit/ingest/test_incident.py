"""Ingest refuses a ransomware incident whose extension is invalid, naming every bad field
(R28), wallet checksums included."""

from __future__ import annotations

import copy

import pytest

from canal.ingest.incident import wallet_problem
from canal.ingest.stix import ObjectRejected, check_object
from canal.model.ransomware import RANSOMWARE_EXTENSION_ID
from factories import indicator
from incidents import BTC, full_extension, incident


def rejected(obj) -> str:
    with pytest.raises(ObjectRejected) as info:
        check_object(obj)
    return str(info.value)


def test_a_valid_incident_passes():
    checked = check_object(incident())
    assert checked.stix_type == "incident"


def test_an_invalid_extension_is_refused_with_each_reason():
    body = full_extension()
    body["victim"]["country"] = "XX"
    body["ttps"] = ["T1486", "1490"]
    body["extortion"]["ransom_paid"]["currency"] = "bitcoin"
    reason = rejected(incident(body))
    assert reason.startswith(f"extensions.{RANSOMWARE_EXTENSION_ID}: victim.country: 'XX' ")
    assert "; ttps[1]: '1490' must be an ATT&CK technique id" in reason
    assert "; extortion.ransom_paid.currency: 'bitcoin' must be an ISO 4217 code" in reason


def test_a_wallet_with_a_bad_checksum_is_refused():
    body = full_extension()
    wallets = body["extortion"]["wallet_addresses"]
    wallets[0]["address"] = BTC[:-1] + ("p" if BTC[-1] != "p" else "q")
    reason = rejected(incident(body))
    assert "extortion.wallet_addresses[0].address: bad checksum" in reason


def test_a_chain_canal_does_not_check_passes_as_named():
    body = copy.deepcopy(full_extension())
    body["extortion"]["wallet_addresses"] = [{"chain": "doge", "address": "D" + "a" * 33}]
    assert check_object(incident(body)).stix_type == "incident"
    assert wallet_problem("doge", "D" + "a" * 33) is None
    assert wallet_problem("eth", "0x" + "1" * 39) is not None


def test_the_extension_belongs_on_an_incident():
    obj = indicator(extensions={RANSOMWARE_EXTENSION_ID: full_extension()})
    assert rejected(obj) == (
        f"extensions.{RANSOMWARE_EXTENSION_ID}: the ransomware extension belongs on an incident"
    )


def test_an_incident_without_the_extension_is_plain_stix():
    obj = incident()
    del obj["extensions"]
    assert check_object(obj).stix_type == "incident"
