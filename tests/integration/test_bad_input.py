"""Bad input at scale: the bad object is named, every good one is stored, nothing leaks a
traceback."""

from __future__ import annotations

import orjson
import pytest

from canal.accounts.service import LOCAL_ADMIN
from canal.ingest.service import ObjectStatus
from canal.model.org import OrgKind
from canal.store.records import RecordQuery, RecordReader
from cli_runner import Cli
from factories import indicator


@pytest.mark.slow
def test_one_bad_object_in_the_middle_of_100k(sqlite_services):
    services = sqlite_services
    org = services.accounts.add_org(
        LOCAL_ADMIN, name="NCB Paris", kind=OrgKind.MEMBER, country="FR"
    )
    objects = [indicator(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}") for i in range(100_000)]
    objects[50_000]["pattern"] = "[ipv4-addr:value = 'unterminated]"
    report = services.ingest.ingest_bytes(
        orjson.dumps({"type": "bundle", "id": "bundle--1", "objects": objects}),
        principal=LOCAL_ADMIN,
        source=org,
    )
    assert report.count(ObjectStatus.CREATED) == 99_999
    [bad] = report.rejected
    assert bad.index == 50_000
    assert bad.stix_id == objects[50_000]["id"]
    assert bad.reason.startswith("pattern:")
    with services.database.read() as conn:
        assert RecordReader.count(conn, RecordQuery()) == 99_999
    assert services.audit.verify().ok


def test_wrong_types_everywhere_are_each_named(sqlite_services):
    services = sqlite_services
    org = services.accounts.add_org(
        LOCAL_ADMIN, name="NCB Paris", kind=OrgKind.MEMBER, country="FR"
    )
    good = indicator()
    junk = [
        None,
        17,
        "indicator",
        [good],
        {"type": "indicator"},
        indicator(created=20260101),
        indicator(spec_version=2.1),
        indicator(object_marking_refs="marking-definition--x"),
        indicator(external_references="none"),
        indicator(labels=[]),
        indicator(name=5),
    ]
    report = services.ingest.ingest_objects([*junk, good], principal=LOCAL_ADMIN, source=org)
    reasons = [r.reason for r in report.results]
    assert all(reason for reason in reasons[: len(junk)])
    assert "external_references" in reasons[8]
    assert "labels" in reasons[9]
    assert "name" in reasons[10]
    assert report.results[-1].status is ObjectStatus.CREATED


@pytest.mark.slow
def test_a_200_mb_file_of_junk_is_refused_quickly_and_clearly(sqlite_url, tmp_path):
    path = tmp_path / "junk.bin"
    with path.open("wb") as handle:
        block = bytes(range(256)) * 4096
        for _ in range(200):
            handle.write(block)
    cli = Cli(sqlite_url, tmp_path)
    cli("org", "add", "NCB Paris", "--kind", "member", "--country", "FR")
    result = cli("ingest", str(path), "--source", "NCB Paris")
    assert result.code == 1
    assert "not valid JSON" in result.stderr
    assert "Traceback" not in result.stderr
