"""The checks that keep exports valid: what stix2-validator calls an error is refused on ingest,
with a message naming the property. One example (or a few) per rule, and the tables checked
against the validator's own data."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import idna
import pytest
import stix2validator
from hypothesis import given, settings
from hypothesis import strategies as st
from rfc3986_validator import validate_rfc3986
from stix2validator.v21 import enums

from canal.ingest import schema
from canal.ingest.stix import ObjectRejected, check_object
from canal.model.extension import CANAL_EXTENSION_ID
from canal.model.stix import KNOWN_TYPES, SCO_TYPES, UNMARKED_TYPES
from factories import CREATED, indicator, ipv4, malware

GREEN = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"
AMBER_1 = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"
EXT_DEF = "extension-definition--d83fce45-ef58-4c6c-a3f4-1fbc32e98c6e"
LATER = "2026-02-02T10:00:00.000Z"


def new_id(stix_type: str) -> str:
    return f"{stix_type}--{uuid.uuid4()}"


def sdo(stix_type: str, **props: Any) -> dict[str, Any]:
    return {
        "type": stix_type,
        "spec_version": "2.1",
        "id": new_id(stix_type),
        "created": CREATED,
        "modified": CREATED,
        **props,
    }


def sco(stix_type: str, **props: Any) -> dict[str, Any]:
    return {"type": stix_type, "spec_version": "2.1", "id": new_id(stix_type), **props}


def rejected(obj: dict[str, Any]) -> str:
    with pytest.raises(ObjectRejected) as info:
        check_object(obj)
    return str(info.value)


def statement_marking(**props: Any) -> dict[str, Any]:
    return {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": new_id("marking-definition"),
        "created": CREATED,
        "definition_type": "statement",
        "definition": {"statement": "(c) ACME"},
        **props,
    }


def granular(*selectors: str) -> list[dict[str, Any]]:
    return [{"marking_ref": GREEN, "selectors": list(selectors)}]


# Each case: an object check_object used to accept and the validator faults, and the start of
# the message (the property, and below it the path).
CASES: list[tuple[str, dict[str, Any], str]] = [
    # Types of common properties.
    ("labels not a list", indicator(labels="phishing"), "labels:"),
    ("labels empty", indicator(labels=[]), "labels:"),
    ("labels of numbers", indicator(labels=[1]), "labels:"),
    ("name a number", indicator(name=5), "name:"),
    ("description an object", indicator(description={}), "description:"),
    ("lang unknown", indicator(lang="english"), "lang:"),
    ("defanged a string", ipv4(defanged="yes"), "defanged:"),
    ("pattern not a string", indicator(pattern_type="yara", pattern=5), "pattern:"),
    ("null for a read property", indicator(valid_until=None), "valid_until:"),
    ("null confidence", indicator(confidence=None), "confidence:"),
    # External references.
    ("external_references a string", indicator(external_references="x"), "external_references:"),
    (
        "reference without id, description or url",
        indicator(external_references=[{"source_name": "acme"}]),
        "external_references[0]:",
    ),
    (
        "CVE under another source name",
        indicator(external_references=[{"source_name": "nvd", "external_id": "CVE-2021-44228"}]),
        "external_references[0].source_name:",
    ),
    (
        "source cve with a bad identifier",
        indicator(external_references=[{"source_name": "cve", "external_id": "44228"}]),
        "external_references[0].external_id:",
    ),
    (
        "reference url not a URI",
        indicator(external_references=[{"source_name": "acme", "url": "not a url"}]),
        "external_references[0].url:",
    ),
    (
        "reference hash name in lower case",
        indicator(
            external_references=[{"source_name": "a", "url": "https://a/", "hashes": {"md5": "x"}}]
        ),
        "external_references[0].hashes.md5:",
    ),
    # Kill chains.
    (
        "kill chain phase without phase_name",
        indicator(kill_chain_phases=[{"kill_chain_name": "lockheed"}]),
        "kill_chain_phases[0].phase_name:",
    ),
    ("kill chain phases empty", indicator(kill_chain_phases=[]), "kill_chain_phases:"),
    # Timestamps.
    (
        "created without milliseconds",
        indicator(created="2026-02-01T10:00:00Z", modified="2026-02-01T10:00:00Z"),
        "created:",
    ),
    (
        "valid_until equal past the sixth fractional digit",
        indicator(valid_until=CREATED[:-1] + "0000001Z"),
        "valid_until:",
    ),
    (
        "last_seen before first_seen",
        malware(first_seen=LATER, last_seen=CREATED),
        "last_seen:",
    ),
    (
        "stop_time not after start_time",
        sdo(
            "relationship",
            relationship_type="uses",
            source_ref=new_id("malware"),
            target_ref=new_id("tool"),
            start_time=CREATED,
            stop_time=CREATED,
        ),
        "stop_time:",
    ),
    (
        "analysis time not a timestamp",
        sdo("malware-analysis", product="sandbox", result="malicious", submitted="yesterday"),
        "submitted:",
    ),
    # Identifiers.
    ("id with a nil UUID", indicator(id="indicator--00000000-0000-0000-0000-000000000000"), "id:"),
    (
        "id with a version 7 UUID",
        indicator(id="indicator--01890a5d-ac96-774b-bcce-b302099a8057"),
        "id:",
    ),
    (
        "created_by_ref with a bad UUID variant",
        indicator(created_by_ref="identity--01890a5d-ac96-474b-0cce-b302099a8057"),
        "created_by_ref:",
    ),
    (
        "process without a version 4 UUID",
        sco("process", pid=4, id=f"process--{uuid.uuid5(uuid.NAMESPACE_URL, 'p')}"),
        "id:",
    ),
    (
        "user-account without contributing properties nor a version 4 UUID",
        sco("user-account", display_name="Bob")
        | {"id": f"user-account--{uuid.uuid5(uuid.NAMESPACE_URL, 'u')}"},
        "id:",
    ),
    # Property names and values (common/properties.json) and reserved names.
    ("upper-case property name", indicator(x_Acme="a"), "x_Acme:"),
    ("two-letter property name", indicator(xy="a"), "xy:"),
    ("hyphen in a property name", indicator(**{"x-acme": "a"}), "x-acme:"),
    ("null custom property", indicator(x_acme=None), "x_acme:"),
    ("empty list custom property", indicator(x_acme=[]), "x_acme:"),
    ("_hex property not hex", indicator(x_acme_hex="xyz"), "x_acme_hex:"),
    ("_bin property not base64", indicator(x_acme_bin="!!"), "x_acme_bin:"),
    ("reserved property severity", indicator(severity="high"), "severity:"),
    ("reserved property phone_numbers", ipv4(phone_numbers=["1"]), "phone_numbers:"),
    ("cpe on any object", indicator(cpe="not a cpe"), "cpe:"),
    (
        "list item that looks like an object",
        indicator(x_acme=[{"id": 1, "type": "x"}]),
        "x_acme:",
    ),
    # Extensions.
    (
        "extension name neither -ext nor a definition",
        indicator(extensions={"acme": {"a": 1}}),
        "extensions.acme:",
    ),
    (
        "extension definition body without extension_type",
        indicator(extensions={EXT_DEF: {"x_score": 3}}),
        f"extensions.{EXT_DEF}.extension_type:",
    ),
    (
        "extension body empty",
        indicator(extensions={"x-acme-ext": {}}),
        "extensions.x-acme-ext:",
    ),
    (
        "extension body with a bad property name",
        indicator(extensions={"x-acme-ext": {"Score": 3}}),
        "extensions.x-acme-ext.Score:",
    ),
    (
        "time_date_stamp not a timestamp in any file extension",
        sco("file", name="a.exe", extensions={"x-acme-ext": {"time_date_stamp": 5}}),
        "extensions.x-acme-ext.time_date_stamp:",
    ),
    (
        "PE extension without pe_type",
        sco("file", name="a.exe", extensions={"windows-pebinary-ext": {"imphash": "x"}}),
        "extensions.windows-pebinary-ext.pe_type:",
    ),
    # Granular markings.
    (
        "granular marking with lang only",
        indicator(granular_markings=[{"lang": "en", "selectors": ["name"]}]),
        "granular_markings[0].marking_ref:",
    ),
    (
        "selector to a missing property",
        indicator(granular_markings=granular("description")),
        "granular_markings[0].selectors[0]:",
    ),
    (
        "selector indexing a number (the validator raises)",
        indicator(confidence=50, granular_markings=granular("confidence.[0]")),
        "granular_markings[0].selectors[0]:",
    ),
    (
        "selector into the markings export rewrites",
        indicator(
            object_marking_refs=[GREEN, AMBER_1],  # both TLP: export leaves one marking
            granular_markings=granular("object_marking_refs.[1]"),
        ),
        "granular_markings[0].selectors[0]:",
    ),
    (
        "selector not in selector syntax",
        indicator(granular_markings=granular("Name")),
        "granular_markings[0].selectors[0]:",
    ),
    # Indicator patterns.
    ("pattern object type too short", indicator(pattern="[ab:value = 'x']"), "pattern:"),
    ("pattern property in upper case", indicator(pattern="[ipv4-addr:Value = 'x']"), "pattern:"),
    (
        "pattern type with spaces round the colon",
        indicator(pattern="[ab : value = 'x']"),
        "pattern:",
    ),
    # Per type.
    ("is_family not a boolean", malware(is_family="true"), "is_family:"),
    ("family without a name", {k: v for k, v in malware().items() if k != "name"}, "name:"),
    (
        "observed-data count out of range",
        sdo(
            "observed-data",
            first_observed=CREATED,
            last_observed=CREATED,
            number_observed=0,
            object_refs=[new_id("ipv4-addr")],
        ),
        "number_observed:",
    ),
    (
        "observed-data without object_refs",
        sdo("observed-data", first_observed=CREATED, last_observed=CREATED, number_observed=1),
        "object_refs:",
    ),
    (
        "observed-data with the deprecated objects",
        sdo(
            "observed-data",
            first_observed=CREATED,
            last_observed=CREATED,
            number_observed=1,
            objects={"0": {"type": "ipv4-addr", "value": "198.51.100.1"}},
        ),
        "objects:",
    ),
    (
        "observed-data referring to a domain object",
        sdo(
            "observed-data",
            first_observed=CREATED,
            last_observed=CREATED,
            number_observed=1,
            object_refs=[new_id("indicator")],
        ),
        "object_refs[0]:",
    ),
    (
        "relationship type in capitals",
        sdo(
            "relationship",
            relationship_type="Uses",
            source_ref=new_id("malware"),
            target_ref=new_id("tool"),
        ),
        "relationship_type:",
    ),
    (
        "relationship to a relationship",
        sdo(
            "relationship",
            relationship_type="uses",
            source_ref=new_id("malware"),
            target_ref=new_id("relationship"),
        ),
        "target_ref:",
    ),
    (
        "sighting where_sighted_refs not an identity or location",
        sdo("sighting", sighting_of_ref=new_id("indicator"), where_sighted_refs=[new_id("tool")]),
        "where_sighted_refs[0]:",
    ),
    (
        "sighting count negative",
        sdo("sighting", sighting_of_ref=new_id("indicator"), count=-1),
        "count:",
    ),
    ("location with latitude only", sdo("location", latitude=48.8), "latitude:"),
    ("location latitude out of range", sdo("location", latitude=91, longitude=0), "latitude:"),
    (
        "opinion outside its vocabulary",
        sdo("opinion", opinion="meh", object_refs=[new_id("report")]),
        "opinion:",
    ),
    (
        "language-content with an unknown language",
        sdo("language-content", object_ref=new_id("report"), contents={"xx": {"name": "n"}}),
        "contents.xx:",
    ),
    (
        "extension_properties without a top-level extension",
        sdo(
            "extension-definition",
            name="acme",
            schema="https://acme.example/s",
            version="1",
            extension_types=["property-extension"],
            extension_properties=["x_a"],
            created_by_ref=new_id("identity"),
        ),
        "extension_properties:",
    ),
    # Observables.
    ("ipv4 value not an address", ipv4(value="198.51.100.999"), "value:"),
    ("ipv4 value a number", sco("ipv4-addr", value=5), "value:"),
    (
        "ipv6 with an embedded IPv4 (the schema's pattern refuses it)",
        sco("ipv6-addr", value="::ffff:1.2.3.4"),
        "value:",
    ),
    ("mac address in capitals", sco("mac-addr", value="00:1A:2B:3C:4D:5E"), "value:"),
    ("domain name with an underscore", sco("domain-name", value="_dmarc.example.com"), "value:"),
    ("url not absolute", sco("url", value="example.com/login"), "value:"),
    ("email address without a domain", sco("email-addr", value="bob"), "value:"),
    ("hashes a list", sco("file", hashes=["d41d8cd98f00b204e9800998ecf8427e"]), "hashes:"),
    ("MD5 of the wrong length", sco("file", hashes={"MD5": "abc"}), "hashes.MD5:"),
    ("file size negative", sco("file", name="a", size=-1), "size:"),
    ("file name_enc not a known charset", sco("file", name="a", name_enc="utf8"), "name_enc:"),
    (
        "artifact with payload and url",
        sco("artifact", payload_bin="aGk=", url="https://a/"),
        "url:",
    ),
    (
        "artifact media type not registered",
        sco("artifact", payload_bin="aGk=", mime_type="application/x-dosexec"),
        "mime_type:",
    ),
    (
        "created without spec_version (read as STIX 2.0)",
        {k: v for k, v in ipv4(created=CREATED).items() if k != "spec_version"},
        "spec_version:",
    ),
    ("objects on an observable", ipv4(objects={"0": {"type": "file"}}), "objects:"),
    (
        "network-traffic without src_ref or dst_ref",
        sco("network-traffic", protocols=["tcp"]),
        "src_ref:",
    ),
    (
        "network-traffic port out of range",
        sco("network-traffic", protocols=["tcp"], src_ref=new_id("ipv4-addr"), src_port=70000),
        "src_port:",
    ),
    (
        "network-traffic active with an end",
        sco(
            "network-traffic",
            protocols=["tcp"],
            dst_ref=new_id("ipv4-addr"),
            is_active=True,
            end=CREATED,
        ),
        "end:",
    ),
    (
        "email-message multipart with a body",
        sco("email-message", is_multipart=True, body="x"),
        "body:",
    ),
    (
        "email header given as one-item list",
        sco("email-message", is_multipart=False, additional_header_fields={"X-A": ["a"]}),
        "additional_header_fields.X-A:",
    ),
    (
        "registry key with an abbreviated hive",
        sco("windows-registry-key", key="HKLM\\Software"),
        "key:",
    ),
    ("software cpe malformed", sco("software", name="w", cpe="cpe:/a:microsoft:word"), "cpe:"),
    (
        "software language unknown",
        sco("software", name="w", languages=["english"]),
        "languages[0]:",
    ),
    # Marking definitions and custom objects.
    (
        "statement marking without a statement",
        statement_marking(definition={"text": "x"}),
        "definition:",
    ),
    (
        "marking without definition or extensions",
        {k: v for k, v in statement_marking().items() if k != "definition_type"},
        "definition:",
    ),
    (
        "tlp marking other than the four of STIX 2.1",
        statement_marking(definition_type="tlp", definition={"tlp": "purple"}),
        "definition_type:",
    ),
    (
        "marking listing itself",
        statement_marking() | {"id": GREEN[:-1] + "9", "object_marking_refs": [GREEN[:-1] + "9"]},
        "object_marking_refs:",
    ),
    ("marking with empty extensions", statement_marking(extensions={}), "extensions:"),
    (
        "marking with a -ext extension",
        statement_marking(extensions={"x-acme-ext": {"a": 1}}),
        "extensions.x-acme-ext:",
    ),
    (
        "custom object with created and no modified",
        {
            "type": "x-acme-note",
            "spec_version": "2.1",
            "id": new_id("x-acme-note"),
            "created": CREATED,
        },
        "modified:",
    ),
    ("custom type named like a shared schema", {"type": "hex", "id": new_id("hex")}, "type:"),
    ("custom type starting with a digit", {"type": "1acme", "id": new_id("1acme")}, "type:"),
]


@pytest.mark.parametrize(("label", "obj", "start"), CASES, ids=[c[0] for c in CASES])
def test_a_rule_refuses_with_the_property_named(label, obj, start):
    message = rejected(obj)
    assert message.startswith(start), (label, message)
    assert re.match(r"[^\s:]+: ", message), message


def test_patterns_are_read_as_stix_2_1_only():
    # stix2-validator would parse a 2.0 pattern with the 2.0 grammar; canal checks 2.1 only.
    assert rejected(indicator(pattern_version="2.0")).startswith("pattern_version:")


@pytest.mark.parametrize(
    "obj",
    [
        indicator(
            labels=["x"],
            description="d",
            lang="fr-BE",
            external_references=[
                {"source_name": "cve", "external_id": "CVE-2021-44228"},
                {"source_name": "capec", "external_id": "CAPEC-163"},
                {"source_name": "acme", "url": "https://a.example/r?q=1#f"},
            ],
            kill_chain_phases=[{"kill_chain_name": "lockheed", "phase_name": "c2"}],
            granular_markings=granular("labels.[0]", "external_references.[2].url"),
            extensions={
                EXT_DEF: {"extension_type": "property-extension", "x_score": 3},
                "x-acme-ext": {"x_tags": ["a"]},
                CANAL_EXTENSION_ID: {"pap": "green"},
            },
            x_acme_hex="cafe",
            x_acme_bin="aGk=",
            x_acme_any={"Anything": [None, {}]},
        ),
        indicator(extensions={}),
        indicator(pattern="[file:'name' = 'a' /* it's */] OR [x-acme-thing:x_value = 'b']"),
        sco("domain-name", value="xn--bcher-kva.example"),
        sco("domain-name", value="bücher.example"),
        sco("software", name="w", cpe="cpe:2.3:a:microsoft:word:2016:*:*:*:*:*:*:*"),
        sco("artifact", payload_bin="aGk=", mime_type="application/zip"),
        {"type": "x-acme-wallet", "id": new_id("x-acme-wallet"), "x_address": "bc1"},
        statement_marking(),
        statement_marking(definition_type="x-acme", definition={"level": 2}),
        {
            k: v
            for k, v in statement_marking(
                extensions={EXT_DEF: {"extension_type": "property-extension", "x_pap": "a"}}
            ).items()
            if k not in ("definition", "definition_type")
        },
    ],
)
def test_valid_objects_still_pass(obj):
    check_object(obj)


# --- the tables against the validator's data ----------------------------------------------


def test_language_codes_are_the_validators():
    assert frozenset(enums.LANG_CODES) == schema._LANG_CODES


def test_media_types_and_charsets_are_registered_ones():
    assert schema._MEDIA_TYPES.issubset(enums.media_types())
    assert schema._CHARSETS.issubset(enums.char_sets())


def test_observable_properties_are_the_validators():
    expected = {k: frozenset(v) for k, v in enums.OBSERVABLE_PROPERTIES.items()}
    assert dict(schema._SCO_PROPERTIES) == expected


def test_every_known_type_has_a_table():
    assert frozenset(schema._SPECS) == KNOWN_TYPES
    assert frozenset(schema._SCOS) == SCO_TYPES


def test_reserved_custom_types_are_the_shared_schema_files():
    common = Path(stix2validator.__file__).parent / "schemas-2.1" / "schemas" / "common"
    shared = {path.stem for path in common.glob("*.json")} - KNOWN_TYPES - {"bundle"}
    assert shared | {"action"} == schema._RESERVED_TYPES


def test_unmarked_types_keep_their_extensions_as_received():
    # Export adds canal's extension to every other type, so only these need a non-empty one.
    for stix_type in UNMARKED_TYPES:
        extensions = schema._SPECS[stix_type].props["extensions"]
        assert extensions is not None
        assert extensions({}) is not None
    marked = schema._SPECS["indicator"].props["extensions"]
    assert marked is not None
    assert marked({}) is None


# --- hand-written formats against the libraries the validator uses ------------------------

_url_ish = st.one_of(
    st.text(max_size=30),
    st.from_regex(r"\A[a-z]{1,5}://[a-z0-9.@:%\[\]-]{0,20}(/[a-z0-9%?#&=.~-]{0,10}){0,3}\Z"),
)


@settings(max_examples=400, deadline=None)
@given(_url_ish)
def test_uri_check_agrees_with_rfc3986_validator(text):
    expected = bool(validate_rfc3986(text, rule="URI")) and not text.endswith("\n")
    assert (schema._uri(text) is None) == expected


_hosts = st.one_of(
    st.text(max_size=20),
    st.from_regex(r"\A[a-zA-Z0-9_-]{1,64}(\.[a-zA-Z0-9-]{1,12}){0,4}\.?\Z"),
    st.sampled_from(["a" * 63 + ".com", "a" * 64 + ".com", ("a" * 62 + ".") * 4 + "com", "xn--ab"]),
)


@settings(max_examples=400, deadline=None)
@given(_hosts)
def test_hostname_check_agrees_with_idna(text):
    try:
        idna.encode(text)
        expected = True
    except Exception:  # noqa: BLE001 - any failure is a refusal for the validator too
        expected = False
    assert (schema._hostname(text) is None) == expected
