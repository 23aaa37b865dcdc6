"""Whatever check_object accepts exports as valid STIX: stix2-validator 3.3.2 finds no error in
a bundle holding canal's preamble and the object as `present()` hands it out.

The objects are valid ones of many types, mutated: a property set to another kind of JSON
value, required properties dropped, lists and objects emptied, oddly named properties added,
junk nested anywhere, timestamps and identifiers bent. A rejection is fine; an acceptance that
the validator then faults (or crashes on) is a failure.
"""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from canal.exchange.stix_export import PREAMBLE
from canal.ingest.stix import ObjectRejected, check_object, objects_of
from canal.model.handling import Handling
from canal.model.record import Record
from canal.records.service import Seen, present
from stix_validation import example_bundles, validation_errors

C = "2026-02-01T10:00:00.000Z"
LATER = "2026-02-02T08:30:00.000Z"
TLP_GREEN_1 = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"
EXT_DEF = "extension-definition--d83fce45-ef58-4c6c-a3f4-1fbc32e98c6e"
MD5 = "d41d8cd98f00b204e9800998ecf8427e"
SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
PREAMBLE_IDS = {obj["id"] for obj in PREAMBLE}


def sid(stix_type: str, n: int) -> str:
    return f"{stix_type}--{uuid.UUID(int=n, version=4)}"


def sco_id(stix_type: str, n: int) -> str:
    return f"{stix_type}--{uuid.uuid5(uuid.NAMESPACE_URL, f'{stix_type}{n}')}"


def sdo(stix_type: str, n: int, **props: Any) -> dict[str, Any]:
    return {
        "type": stix_type,
        "spec_version": "2.1",
        "id": sid(stix_type, n),
        "created": C,
        "modified": LATER,
        **props,
    }


def sco(stix_type: str, n: int, **props: Any) -> dict[str, Any]:
    return {"type": stix_type, "spec_version": "2.1", "id": sco_id(stix_type, n), **props}


COMMON_EXTRAS: dict[str, Any] = {
    "labels": ["phishing", "eu"],
    "external_references": [
        {"source_name": "cve", "external_id": "CVE-2021-44228"},
        {"source_name": "vendor", "url": "https://example.org/r/1", "hashes": {"SHA-256": SHA256}},
    ],
    "created_by_ref": sid("identity", 900),
    "object_marking_refs": [TLP_GREEN_1],
    "granular_markings": [{"marking_ref": TLP_GREEN_1, "selectors": ["labels.[0]"]}],
    "extensions": {EXT_DEF: {"extension_type": "property-extension", "x_score": 3}},
    "lang": "en",
    "confidence": 60,
    "x_acme_tags": ["a", "b"],
}

VALID: list[dict[str, Any]] = [
    sdo(
        "indicator",
        1,
        name="C2 server",
        indicator_types=["malicious-activity"],
        pattern="[ipv4-addr:value = '198.51.100.7'] AND [file:hashes.'SHA-256' = '" + SHA256 + "']",
        pattern_type="stix",
        valid_from=C,
        valid_until=LATER,
        kill_chain_phases=[{"kill_chain_name": "lockheed", "phase_name": "c2"}],
        **COMMON_EXTRAS,
    ),
    sdo(
        "malware",
        2,
        name="LockBit",
        is_family=True,
        malware_types=["ransomware"],
        first_seen=C,
        last_seen=LATER,
        operating_system_refs=[sco_id("software", 1)],
    ),
    sdo(
        "identity",
        3,
        name="ACME",
        identity_class="organization",
        sectors=["healthcare"],
        roles=["victim"],
        contact_information="soc@acme.example",
    ),
    sdo(
        "relationship",
        4,
        relationship_type="indicates",
        source_ref=sid("indicator", 1),
        target_ref=sid("malware", 2),
        start_time=C,
        stop_time=LATER,
    ),
    sdo(
        "sighting",
        5,
        sighting_of_ref=sid("indicator", 1),
        where_sighted_refs=[sid("identity", 3)],
        observed_data_refs=[sid("observed-data", 7)],
        count=3,
        first_seen=C,
        last_seen=LATER,
        summary=False,
    ),
    sdo(
        "report",
        6,
        name="Weekly",
        published=LATER,
        report_types=["threat-report"],
        object_refs=[sid("indicator", 1), sid("malware", 2)],
        description="What we saw.",
    ),
    sdo(
        "observed-data",
        7,
        first_observed=C,
        last_observed=LATER,
        number_observed=4,
        object_refs=[sco_id("ipv4-addr", 1), sco_id("domain-name", 1)],
    ),
    sdo(
        "attack-pattern",
        8,
        name="Spearphishing",
        aliases=["T1566"],
        kill_chain_phases=[{"kill_chain_name": "mitre-attack", "phase_name": "initial-access"}],
        external_references=[{"source_name": "capec", "external_id": "CAPEC-163"}],
    ),
    sdo("location", 9, latitude=48.85, longitude=2.35, precision=10.0, country="FR"),
    sdo("note", 10, content="Seen twice.", authors=["analyst"], object_refs=[sid("malware", 2)]),
    sdo("grouping", 11, context="suspicious-activity", object_refs=[sid("indicator", 1)]),
    sdo(
        "malware-analysis",
        12,
        product="sandbox",
        result="malicious",
        submitted=C,
        sample_ref=sco_id("file", 1),
    ),
    sdo("vulnerability", 13, name="CVE-2021-44228"),
    sdo("campaign", 14, name="Op X", objective="money", first_seen=C, last_seen=LATER),
    sdo("course-of-action", 15, name="Block"),
    sdo("incident", 16, name="Breach"),
    sdo("infrastructure", 17, name="C2", infrastructure_types=["command-and-control"]),
    sdo("intrusion-set", 18, name="FIN0", goals=["money"], resource_level="team"),
    sdo("threat-actor", 19, name="Group", threat_actor_types=["crime-syndicate"]),
    sdo("tool", 20, name="psexec", tool_types=["remote-access"]),
    sdo("opinion", 21, opinion="agree", object_refs=[sid("report", 6)]),
    sdo(
        "language-content",
        22,
        object_ref=sid("report", 6),
        object_modified=LATER,
        contents={"fr": {"name": "Hebdomadaire"}},
    ),
    sdo(
        "extension-definition",
        23,
        name="acme",
        schema="https://acme.example/schema",
        version="1.0",
        extension_types=["toplevel-property-extension"],
        extension_properties=["x_acme_score"],
        created_by_ref=sid("identity", 3),
    ),
    sco("ipv4-addr", 1, value="198.51.100.7", resolves_to_refs=[sco_id("mac-addr", 1)]),
    sco("ipv6-addr", 1, value="2001:db8::1"),
    sco("domain-name", 1, value="evil.example.com"),
    sco("url", 1, value="https://evil.example.com/login?x=1"),
    sco("email-addr", 1, value="bob@example.com", display_name="Bob"),
    sco(
        "file",
        1,
        name="invoice.exe",
        size=4096,
        hashes={"MD5": MD5, "SHA-256": SHA256},
        mime_type="application/vnd.microsoft.portable-executable",
        extensions={
            "windows-pebinary-ext": {
                "pe_type": "exe",
                "time_date_stamp": "2026-01-01T00:00:00Z",
                "sections": [{"name": ".text", "entropy": 6.1}],
            }
        },
    ),
    sco(
        "network-traffic",
        1,
        src_ref=sco_id("ipv4-addr", 1),
        dst_port=443,
        protocols=["tcp", "tls"],
        start=C,
        end=LATER,
        extensions={"http-request-ext": {"request_method": "get", "request_value": "/"}},
    ),
    sco("software", 1, name="Word", cpe="cpe:2.3:a:microsoft:word:2016:*:*:*:*:*:*:*"),
    sco(
        "email-message",
        1,
        is_multipart=False,
        subject="Invoice",
        body="see attached",
        additional_header_fields={"X-Mailer": "x", "Received": ["a", "b"]},
    ),
    sco(
        "artifact",
        1,
        payload_bin="aGVsbG8=",
        mime_type="application/zip",
        hashes={"MD5": MD5},
    ),
    sco(
        "user-account",
        1,
        user_id="1001",
        account_login="bob",
        account_type="unix",
        extensions={"unix-account-ext": {"gid": 100, "groups": ["staff"]}},
    ),
    sco("directory", 1, path="C:\\Temp", path_enc="UTF-8", ctime=C),
    sco("mac-addr", 1, value="00:1a:2b:3c:4d:5e"),
    sco("mutex", 1, name="Global\\x"),
    sco("autonomous-system", 1, number=64500, name="ACME-AS"),
    sco(
        "windows-registry-key",
        1,
        key="HKEY_LOCAL_MACHINE\\Software\\Run",
        values=[{"name": "x", "data": "evil.exe", "data_type": "REG_SZ"}],
    ),
    sco(
        "x509-certificate",
        1,
        serial_number="01",
        validity_not_before=C,
        x509_v3_extensions={"key_usage": "digitalSignature"},
    ),
    sco("process", 1, pid=4242, command_line="evil.exe -q") | {"id": sid("process", 1)},
    {
        "type": "x-acme-ransom-note",
        "spec_version": "2.1",
        "id": sid("x-acme-ransom-note", 1),
        "created": C,
        "modified": C,
        "x_text": "pay up",
        "extensions": {EXT_DEF: {"extension_type": "new-sdo"}},
    },
    {"type": "x-acme-wallet", "id": sid("x-acme-wallet", 1), "x_address": "bc1qxy2k"},
    {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": sid("marking-definition", 1),
        "created": C,
        "name": "internal",
        "definition_type": "statement",
        "definition": {"statement": "Copyright ACME"},
    },
    {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
        "created": "2017-01-20T00:00:00.000Z",
        "definition_type": "tlp",
        "name": "TLP:GREEN",
        "definition": {"tlp": "green"},
    },
]


def test_the_base_objects_are_accepted_and_export_valid():
    for obj in VALID:
        check_object(copy.deepcopy(obj))
        assert exported_errors(obj) == [], obj["id"]


def test_every_oasis_example_object_is_accepted():
    count = 0
    for path in example_bundles():
        for obj in objects_of(orjson.loads(path.read_bytes()), where=path.name):
            check_object(obj)
            count += 1
    assert count > 100


def exported_errors(obj: dict[str, Any]) -> list[str]:
    """The validator's errors on a bundle of the preamble and `obj` as canal exports it."""
    record = Record(
        pk=1,
        stix_id=obj["id"],
        stix_type=obj["type"],
        version=0,
        spec_version="2.1",
        date_added=0,
        handling=Handling(source_org_id=1),
        handling_id=1,
        object=obj,
        is_latest=True,
        revoked=False,
        retention_until=datetime(2030, 1, 1, tzinfo=UTC),
    )
    objects = list(PREAMBLE)
    if obj["id"] not in PREAMBLE_IDS:  # the exporter skips those: the preamble has them
        objects.append(present(Seen(record), {1: "NCB Paris"}))
    bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}
    return validation_errors(bundle)


# --- mutations -----------------------------------------------------------------------------

_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
_interesting = st.sampled_from(
    [
        "",
        " ",
        "x",
        "ab",
        "Name",
        "2026-02-01T10:00:00Z",
        "2026-02-01T10:00:00.0000001Z",
        "2026-02-30T10:00:00.000Z",
        "2026-02-01T10:00:60.000Z",
        "2026-02-01T10:00:00.000Z",
        "1999-01-01T00:00:00.000Z",
        sid("identity", 5),
        sid("relationship", 5),
        sid("marking-definition", 5),
        "identity--00000000-0000-0000-0000-000000000000",
        "identity--01890a5d-ac96-774b-bcce-b302099a8057",
        "software--ffffffff-ffff-4fff-8fff-ffffffffffff",
        TLP_GREEN_1,
        MD5,
        "not-hex!",
        "aGVsbG8=",
        "cafe",
        "http://example.org/",
        "not a uri",
        "bob@example.com",
        "198.51.100.7",
        "2001:db8::1",
        "00:1a:2b:3c:4d:5e",
        "cpe:2.3:a:x:y:1:*:*:*:*:*:*:*",
        "en",
        "english",
        "application/zip",
        "application/x-dosexec",
        "UTF-8",
        "HKLM\\Software",
        "tlp",
        "statement",
        "[0]",
        "labels",
        "stix",
        "indicates",
        "Indicates",
        "CVE-2021-44228",
    ]
)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.sampled_from([0, 1, -1, 100, 101, 65536, 999_999_999, 1_000_000_000]),
    st.floats(allow_nan=False, allow_infinity=False),
    _text,
    _interesting,
)
_keys = st.one_of(
    st.sampled_from(
        [
            "id",
            "type",
            "name",
            "value",
            "hashes",
            "MD5",
            "SHA-256",
            "sha256",
            "x_foo",
            "X_Foo",
            "ab",
            "x_foo_bin",
            "x_foo_hex",
            "selectors",
            "marking_ref",
            "lang",
            "source_name",
            "external_id",
            "url",
            "extension_type",
            "kill_chain_name",
            "phase_name",
            "statement",
            "tlp",
            "time_date_stamp",
            "",
        ]
    ),
    _text,
)
_json: st.SearchStrategy[Any] = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_keys, inner, max_size=3)),
    max_leaves=6,
)
_odd_names = st.sampled_from(
    [
        "X",
        "ab",
        "Name",
        "x-foo",
        "x_ok",
        "x_Foo",
        "x_foo_bin",
        "x_foo_hex",
        "severity",
        "action",
        "username",
        "phone_numbers",
        "objects",
        "cpe",
        "lang",
        "defanged",
        "id2",
        "xid",
        "a" * 251,
        "café_prop",
        "x_ref",
        "x_refs",
        "granular_markings",
        "extensions",
        "external_references",
        "kill_chain_phases",
        "object_marking_refs",
        "created_by_ref",
        "labels",
        "created",
        "modified",
        "spec_version",
        "pattern_version",
        "is_family",
        "number_observed",
        "first_seen",
        "last_seen",
        "start_time",
        "stop_time",
        "hashes",
        "name",
        "value",
        "x_list",
    ]
)


_types = st.sampled_from(
    [
        "indicator",
        "malware",
        "identity",
        "ipv4-addr",
        "file",
        "process",
        "artifact",
        "user-account",
        "marking-definition",
        "extension-definition",
        "x-acme-thing",
        "x-acme-ext",
        "hex",
        "core",
        "timestamp",
        "action",
        "dictionary",
        "1abc",
        "abc",
    ]
)
_uuids = st.one_of(
    st.uuids(version=4).map(str),
    st.uuids(version=1).map(str),
    st.uuids(version=5).map(str),
    st.uuids().map(str),
    st.uuids(version=4).map(lambda u: str(u).upper()),
    st.sampled_from(
        [
            "00000000-0000-0000-0000-000000000000",
            "01890a5d-ac96-774b-bcce-b302099a8057",
            "01890a5d-ac96-474b-0cce-b302099a8057",
            "ffffffff-ffff-8fff-8fff-ffffffffffff",
        ]
    ),
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place inside `value`, as a path of keys and indexes."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, inner in value.items():
            found.extend(_paths(inner, (*prefix, key)))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found.extend(_paths(inner, (*prefix, index)))
    return found


def _parent(obj: Any, path: tuple[Any, ...]) -> Any:
    for step in path[:-1]:
        obj = obj[step]
    return obj


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    obj = copy.deepcopy(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 3]))):
        kind = draw(
            st.sampled_from(
                [
                    "set",
                    "drop",
                    "empty",
                    "add",
                    "nested",
                    "nested-drop",
                    "nested-add",
                    "bend",
                    "retype",
                    "reid",
                ]
            )
        )
        paths = _paths(obj)
        if kind == "set":
            key = draw(st.sampled_from(sorted(obj)))
            obj[key] = draw(_json)
        elif kind == "drop" and len(obj) > 2:
            del obj[draw(st.sampled_from(sorted(k for k in obj if k not in ("type", "id"))))]
        elif kind == "empty":
            containers = [p for p in paths if isinstance(_parent(obj, p)[p[-1]], (list, dict))]
            if containers:
                path = draw(st.sampled_from(containers))
                target = _parent(obj, path)[path[-1]]
                _parent(obj, path)[path[-1]] = type(target)()
        elif kind == "add":
            obj[draw(_odd_names)] = draw(_json)
        elif kind == "nested" and paths:
            path = draw(st.sampled_from(paths))
            _parent(obj, path)[path[-1]] = draw(_json)
        elif kind == "nested-drop" and paths:
            path = draw(st.sampled_from(paths))
            parent = _parent(obj, path)
            if len(path) > 1:
                del parent[path[-1]]
        elif kind == "nested-add":
            dicts = [p for p in paths if isinstance(_parent(obj, p)[p[-1]], dict)]
            if dicts:
                path = draw(st.sampled_from(dicts))
                _parent(obj, path)[path[-1]][draw(_keys)] = draw(_json)
        elif kind == "bend":
            key = draw(st.sampled_from(sorted(obj)))
            obj[key] = draw(_interesting)
        elif kind == "retype":
            obj["type"] = draw(_types)
            obj["id"] = f"{obj['type']}--{draw(_uuids)}"
        elif kind == "reid" and isinstance(obj.get("type"), str):
            obj["id"] = f"{obj['type']}--{draw(_uuids)}"
    return obj


@settings(
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(mutated())
def test_what_check_object_accepts_exports_without_validator_errors(obj):
    try:
        check_object(obj)
    except ObjectRejected:
        event("rejected")
        return
    event("accepted")
    assert exported_errors(obj) == []
