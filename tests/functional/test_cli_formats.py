"""`canal ingest --format auto|stix|misp|csv|text` and `canal export --format stix|misp|csv`,
run as a user runs them."""

from __future__ import annotations

import json
import uuid

import orjson
import pytest
from pymisp import MISPEvent, MISPObject

from cli_runner import Cli
from stix_validation import validation_errors


@pytest.fixture
def cli(database_url, tmp_path):
    runner = Cli(database_url, tmp_path)
    assert runner("init").code == 0
    assert runner("org", "add", "NCB Paris", "--kind", "member", "--country", "FR").code == 0
    return runner


def misp_event(info: str = "Phishing kit") -> MISPEvent:
    ev = MISPEvent()
    ev.info = info
    ev.set_date("2026-02-10")
    ev.timestamp = 1770700000
    ev.published = True
    ev.publish_timestamp = 1770700000
    ev.add_tag("tlp:green")
    ev.add_attribute("url", "http://login-example.com/kit", to_ids=True)
    ev.add_attribute("ip-dst", "198.51.100.70", to_ids=True)
    ev.add_attribute("domain", "login-example.com", to_ids=False)
    obj = MISPObject("file")
    obj.add_attribute("filename", value="kit.zip")
    obj.add_attribute("sha256", value="d" * 64, to_ids=True)
    ev.add_object(obj)
    return ev


def reports(stdout: str) -> list[dict]:
    return [orjson.loads(line) for line in stdout.splitlines() if line.strip()]


def test_a_misp_file_is_detected_and_exported_back(cli, tmp_path):
    ev = misp_event()
    path = tmp_path / "event.json"
    path.write_text(json.dumps({"Event": json.loads(ev.to_json())}))
    done = cli("ingest", str(path), "--source", "NCB Paris")
    assert done.code == 0, done.stderr
    (report,) = reports(done.stdout)
    assert report["format"] == "misp"
    assert report["created"] > 0
    assert report["problems"] == []

    exported = cli("export", "--format", "misp")
    assert exported.code == 0, exported.stderr
    (item,) = orjson.loads(exported.stdout)["response"]
    back = MISPEvent()
    back.load(item)
    assert back.uuid == ev.uuid
    assert {(a.type, a.value) for a in back.attributes} == {
        (a.type, a.value) for a in ev.attributes
    }
    assert [o.name for o in back.objects] == ["file"]
    assert "tlp:green" in [t.name for t in back.tags]

    stix = cli("export", "--format", "stix", "-o", str(tmp_path / "out.json"))
    assert stix.code == 0
    assert validation_errors((tmp_path / "out.json").read_bytes()) == []


def test_conversion_problems_are_reported_and_exit_1(cli, tmp_path):
    body = json.loads(misp_event().to_json())
    body["Attribute"].append(
        {"uuid": str(uuid.uuid4()), "type": "ip-dst", "value": "not-an-ip", "to_ids": True}
    )
    body["Attribute"].append({"type": "domain", "value": "no-uuid.example.com"})
    path = tmp_path / "event.json"
    path.write_text(json.dumps(body))
    done = cli("ingest", str(path), "--source", "NCB Paris", "--format", "misp")
    assert done.code == 1
    (report,) = reports(done.stdout)
    errors = [p for p in report["problems"] if p["severity"] == "error"]
    assert len(errors) == 2
    assert all("Attribute[" in p["where"] for p in errors)
    assert report["created"] > 0  # the valid part went in
    assert "dropped" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_feed_directory(cli, tmp_path):
    feed = tmp_path / "feed"
    feed.mkdir()
    manifest = {}
    for info in ("one", "two"):
        ev = misp_event(info)
        (feed / f"{ev.uuid}.json").write_text(json.dumps({"Event": json.loads(ev.to_json())}))
        manifest[ev.uuid] = {"info": info}
    (feed / "manifest.json").write_text(json.dumps(manifest))
    done = cli("ingest", str(feed), "--source", "NCB Paris", "--format", "misp")
    assert done.code == 0, done.stderr
    (report,) = reports(done.stdout)
    assert report["format"] == "misp"
    assert report["created"] >= 10

    manifest[str(uuid.uuid4())] = {"info": "missing"}
    (feed / "manifest.json").write_text(json.dumps(manifest))
    again = cli("ingest", feed.as_uri(), "--source", "NCB Paris")
    assert again.code == 1
    (report,) = reports(again.stdout)
    assert report["created"] == 0
    assert report["duplicate"] >= 10
    assert [p["severity"] for p in report["problems"]] == ["error"]

    wrong = cli("ingest", str(feed), "--source", "NCB Paris", "--format", "csv")
    assert wrong.code == 1
    assert "MISP feed" in wrong.stderr


def test_csv_in_and_out(cli, tmp_path):
    path = tmp_path / "iocs.csv"
    path.write_text("ioc,type,tlp\n198.51.100.80,ip-dst,red\nbad[.]example[.]com,domain,\nzzz,,\n")
    done = cli("ingest", str(path), "--source", "NCB Paris")
    assert done.code == 1  # line 4 is not an indicator
    (report,) = reports(done.stdout)
    assert report["format"] == "csv"
    assert report["created"] == 2
    assert report["problems"][0]["where"].endswith("line 4")

    exported = cli("export", "--format", "csv")
    assert exported.code == 0
    lines = exported.stdout.splitlines()
    assert lines[0] == "type,value,id,source,tlp,date_added"
    rows = {tuple(line.split(",")[:2]): line.split(",")[4] for line in lines[1:]}
    assert rows == {
        ("ipv4", "198.51.100.80"): "TLP:RED",
        ("domain", "bad.example.com"): "TLP:AMBER",
    }

    again = tmp_path / "again.csv"
    again.write_text(exported.stdout)
    reread = cli("ingest", str(again), "--source", "NCB Paris")
    assert reread.code == 0, reread.stdout
    (report,) = reports(reread.stdout)
    assert report["new-version"] + report["duplicate"] == 2


def test_text_in(cli, tmp_path):
    path = tmp_path / "brief.txt"
    path.write_text("Weekly brief\nC2 at 198.51.100.90 and hxxp://c2[.]example[.]net/gate.php\n")
    done = cli("ingest", str(path), "--source", "NCB Paris", "--tlp", "green")
    assert done.code == 0, done.stderr
    (report,) = reports(done.stdout)
    assert report["format"] == "text"
    assert report["created"] == 3  # the report and two indicators
    fake = tmp_path / "fake.pdf"
    fake.write_text("not a pdf")
    bad = cli("ingest", str(fake), "--source", "NCB Paris")
    assert bad.code == 1
    assert "not a PDF" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_stdin_is_still_read_as_stix(cli):
    bundle = {
        "type": "bundle",
        "id": f"bundle--{uuid.uuid4()}",
        "objects": [
            {
                "type": "ipv4-addr",
                "spec_version": "2.1",
                "id": f"ipv4-addr--{uuid.uuid4()}",
                "value": "198.51.100.91",
            }
        ],
    }
    done = cli("ingest", "-", "--source", "NCB Paris", stdin=orjson.dumps(bundle))
    assert done.code == 0, done.stderr
    (report,) = reports(done.stdout)
    assert report["format"] == "stix"
    assert report["created"] == 1


def test_unknown_formats_are_usage_errors(cli, tmp_path):
    assert cli("ingest", str(tmp_path), "--source", "NCB Paris", "--format", "yaml").code == 2
    assert cli("export", "--format", "xml").code == 2
