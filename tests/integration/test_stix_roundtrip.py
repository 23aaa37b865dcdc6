"""The OASIS STIX 2.1 example bundles go in whole and come back out with the same ids and
versions, in a bundle the OASIS validator accepts."""

from __future__ import annotations

import orjson
import pytest

from canal.accounts.service import LOCAL_ADMIN
from canal.exchange.stix_export import PREAMBLE
from canal.ingest.stix import objects_of
from canal.model.extension import CANAL_EXTENSION_ID
from canal.model.handling import Tlp
from canal.model.stix import TLP2_MARKING_IDS
from canal.store.records import RecordQuery
from factories import add_org, indicator, record_versions
from stix_validation import example_bundles, validation_errors


def _version(obj):
    return obj.get("modified") or obj.get("created")


def test_the_examples_are_there():
    assert len(example_bundles()) >= 8


def test_oasis_examples_round_trip_and_validate(services):
    org = add_org(services)
    sent: dict[tuple[str, str | None], dict] = {}
    for path in example_bundles():
        report = services.ingest.ingest_bytes(
            path.read_bytes(), principal=LOCAL_ADMIN, source=org, where=path.name
        )
        assert report.rejected == [], (path.name, [r.reason for r in report.rejected])
        for obj in objects_of(orjson.loads(path.read_bytes())):
            sent[obj["id"], _version(obj)] = obj
    exported = b"".join(services.exporter.bundle_chunks(LOCAL_ADMIN, RecordQuery()))
    bundle = orjson.loads(exported)
    preamble_ids = {obj["id"] for obj in PREAMBLE}
    got = {(o["id"], _version(o)): o for o in bundle["objects"] if o["id"] not in preamble_ids}
    assert set(got) == {k for k in sent if k[0] not in preamble_ids}
    for key, obj in got.items():
        original = sent[key]
        # Same content; handling added as the TLP 2.0 marking and the canal extension.
        for name, value in original.items():
            if name not in {"object_marking_refs", "extensions"}:
                assert obj[name] == value, (key, name)
        if obj["type"] not in {"marking-definition", "extension-definition"}:
            assert CANAL_EXTENSION_ID in obj["extensions"]
    assert validation_errors(exported) == []


def test_export_carries_the_handling(services):
    org = add_org(services)
    obj = indicator()
    services.ingest.ingest_objects(
        [dict(obj, object_marking_refs=[TLP2_MARKING_IDS[Tlp.RED]])],
        principal=LOCAL_ADMIN,
        source=org,
    )
    bundle = orjson.loads(b"".join(services.exporter.bundle_chunks(LOCAL_ADMIN, RecordQuery())))
    out = next(o for o in bundle["objects"] if o["id"] == obj["id"])
    assert out["object_marking_refs"] == [TLP2_MARKING_IDS[Tlp.RED]]
    ext = out["extensions"][CANAL_EXTENSION_ID]
    assert ext["source"] == org.name
    assert ext["pap"] == "amber"
    assert ext["admiralty"] == "F6"
    assert validation_errors(bundle) == []


@pytest.mark.parametrize("tlp_ref", ["marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"])
def test_tlp_white_reads_as_clear_and_goes_out_as_tlp2_clear(services, tlp_ref):
    org = add_org(services)
    obj = indicator(object_marking_refs=[tlp_ref])
    services.ingest.ingest_objects([obj], principal=LOCAL_ADMIN, source=org)
    record = record_versions(services, obj["id"])[0]
    assert record.handling.tlp is Tlp.CLEAR
    bundle = orjson.loads(b"".join(services.exporter.bundle_chunks(LOCAL_ADMIN, RecordQuery())))
    out = next(o for o in bundle["objects"] if o["id"] == obj["id"])
    assert out["object_marking_refs"] == [TLP2_MARKING_IDS[Tlp.CLEAR]]


def test_exported_objects_read_back_as_duplicates(services):
    """Export, then ingest the export: handling carriers do not make a new object."""
    org = add_org(services)
    services.ingest.ingest_objects([indicator()], principal=LOCAL_ADMIN, source=org)
    exported = b"".join(services.exporter.bundle_chunks(LOCAL_ADMIN, RecordQuery()))
    report = services.ingest.ingest_bytes(exported, principal=LOCAL_ADMIN, source=org)
    assert report.rejected == []
    assert report.count(report.results[0].status.__class__("created")) == len(PREAMBLE)
    assert {r.status.value for r in report.results[len(PREAMBLE) :]} == {"duplicate"}
