"""`canal ingest FILE --format leaksite` (and `--format auto`), run as a user runs it: a
re-import is all duplicates, a broken post is reported and fails the run."""

from __future__ import annotations

import orjson
import pytest

from cli_runner import Cli

ONION = "lockbitapt6vx57t3eeqjofwgcglmutr3a35nygvokja5uuccip4ykyd.onion"
POSTS = [
    {
        "post_title": "Acme Hospital",
        "group_name": "lockbit3",
        "discovered": "2024-01-10 10:38:06.449286",
        "published": "2024-01-10 10:33:32.000000",
        "post_url": f"http://{ONION}/post/acme",
        "country": "US",
        "activity": "Healthcare",
    },
    {"post_title": "beta.example", "group_name": "alphv", "discovered": "2024-01-11 08:00:00"},
]


@pytest.fixture
def cli(database_url, tmp_path):
    runner = Cli(database_url, tmp_path)
    assert runner("init").code == 0
    assert runner("org", "add", "NCB Paris", "--kind", "member", "--country", "FR").code == 0
    return runner


def report(stdout: str) -> dict:
    (line,) = [line for line in stdout.splitlines() if line.strip()]
    return orjson.loads(line)


def test_a_leak_site_feed_imports_once(cli, tmp_path):
    path = tmp_path / "posts.json"
    path.write_bytes(orjson.dumps(POSTS))
    done = cli("ingest", str(path), "--format", "leaksite", "--source", "NCB Paris")
    assert done.code == 0, done.stderr
    first = report(done.stdout)
    assert (first["format"], first["created"], first["problems"]) == ("leaksite", 2, [])

    again = cli("ingest", str(path), "--source", "NCB Paris")  # --format auto
    assert again.code == 0, again.stderr
    second = report(again.stdout)
    assert (second["format"], second["created"], second["duplicate"]) == ("leaksite", 0, 2)

    exported = cli("export", "--type", "incident")
    assert exported.code == 0, exported.stderr
    incidents = [o for o in orjson.loads(exported.stdout)["objects"] if o["type"] == "incident"]
    assert len(incidents) == 2


def test_a_broken_post_is_reported_and_fails_the_run(cli, tmp_path):
    path = tmp_path / "posts.json"
    path.write_bytes(orjson.dumps([*POSTS, {"post_title": "No group", "discovered": "2024"}]))
    done = cli("ingest", str(path), "--format", "leaksite", "--source", "NCB Paris")
    assert done.code == 1
    result = report(done.stdout)
    assert result["created"] == 2
    (problem,) = result["problems"]
    assert problem["where"].endswith("item 2")
    assert problem["severity"] == "error"
    assert "missing or blank: group" in problem["message"]
