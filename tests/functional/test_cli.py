"""The command line as a user drives it: the contract of DESIGN.md, exit codes, messages."""

from __future__ import annotations

import orjson
import pytest

from canal.ingest.service import ASIDE_FROM
from canal.store.migrate import head_revision
from cli_runner import Cli
from factories import bundle, indicator, malware
from stix_validation import example_bundles, validation_errors


@pytest.fixture
def cli(database_url, tmp_path):
    runner = Cli(database_url, tmp_path)
    assert runner("init").code == 0
    assert runner("org", "add", "NCB Paris", "--kind", "member", "--country", "FR").code == 0
    return runner


def test_init_is_idempotent(cli):
    again = cli("init")
    assert again.code == 0
    # Feature migrations branch from a common parent; init reports every head it reached.
    assert f"schema revision {head_revision()}" in again.stderr


def test_a_command_on_a_store_not_set_up_says_so(tmp_path):
    """Before `canal init`, a command names the missing schema and what to run, not the SQL
    that failed."""
    runner = Cli(f"sqlite:///{tmp_path / 'new.db'}", tmp_path)
    for args in (("clusters",), ("correlate",), ("org", "list")):
        done = runner(*args)
        assert done.code == 1, args
        assert "the schema is at nothing" in done.stderr, args
        assert "canal init" in done.stderr, args
        assert "unexpected" not in done.stderr, args
        assert "SELECT" not in done.stderr, args


def test_org_add_and_list(cli):
    added = cli("org", "add", "Acme Threat Labs", "--kind", "partner")
    assert added.code == 0
    assert orjson.loads(added.stdout)["kind"] == "partner"
    listed = cli("org", "list", "--json")
    names = [orjson.loads(line)["name"] for line in listed.stdout.splitlines()]
    assert names == ["Acme Threat Labs", "NCB Paris"]


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["NCB Nowhere", "--kind", "member", "--country", "ZZ"], "ISO 3166"),
        (["NCB Nowhere", "--kind", "member"], "needs --country"),
        (["NL", "--kind", "member", "--country", "NL"], "3 to 200 characters"),
        (["Acme", "--kind", "partner", "--country", "FR"], "only member orgs"),
        (["NCB Paris", "--kind", "member", "--country", "FR"], "already exists"),
    ],
)
def test_org_add_rejects_bad_input_clearly(cli, args, reason):
    result = cli("org", "add", *args)
    assert result.code == 1
    assert reason in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_command_and_bad_options_are_usage_errors(cli):
    assert cli("frobnicate").code == 2
    assert cli("org", "add").code == 2
    assert cli("org", "add", "X Org", "--kind", "pirate").code == 2


def test_token_create_prints_once_and_is_stored_hashed(cli):
    created = cli("token", "create", "--org", "NCB Paris", "--role", "member")
    assert created.code == 0
    token = created.stdout.strip()
    assert token.startswith("canal_")
    assert "not shown again" in created.stderr
    listed = cli("token", "list")
    assert token not in listed.stdout
    assert orjson.loads(listed.stdout.splitlines()[0])["role"] == "member"
    wrong_role = cli("token", "create", "--org", "NCB Paris", "--role", "partner")
    assert wrong_role.code == 1
    assert "may hold only" in wrong_role.stderr


def test_ingest_export_round_trip(cli, tmp_path):
    path = tmp_path / "in.json"
    objects = [indicator(), malware()]
    path.write_bytes(orjson.dumps(bundle(*objects)))
    result = cli("ingest", str(path), "--source", "NCB Paris", "--tlp", "green")
    assert result.code == 0, result.stderr
    report = orjson.loads(result.stdout)
    assert report["created"] == 2
    assert report["rejected"] == 0
    out = tmp_path / "out.json"
    exported = cli("export", "--format", "stix", "--type", "indicator", "-o", str(out))
    assert exported.code == 0
    got = orjson.loads(out.read_bytes())
    ids = [o["id"] for o in got["objects"] if o["type"] == "indicator"]
    assert ids == [objects[0]["id"]]
    assert validation_errors(got) == []
    # Without -o the bundle goes to stdout.
    to_stdout = cli("export")
    assert orjson.loads(to_stdout.stdout)["type"] == "bundle"


def test_a_bulk_ingest_checked_aside_stores_and_links_everything(cli, tmp_path):
    # Past ASIDE_FROM objects the checks run in a forked process while this one writes, and the
    # WAL is copied back from a thread: the command must end cleanly with everything stored.
    path = tmp_path / "bulk.json"
    count = ASIDE_FROM + 1_000
    path.write_bytes(
        orjson.dumps(bundle(*(indicator(f"198.51.{i // 250}.{i % 250}") for i in range(count))))
    )
    result = cli("ingest", str(path), "--source", "NCB Paris", "--tlp", "green")
    assert result.code == 0, result.stderr
    assert orjson.loads(result.stdout)["created"] == count
    looked = cli("lookup", "198.51.3.7", "198.51.200.1", "--json")
    assert [orjson.loads(line)["result"] for line in looked.stdout.splitlines()] == [
        "hit",
        "no-hit",
    ]


def test_ingest_reads_stdin(cli):
    result = cli("ingest", "-", "--source", "NCB Paris", stdin=orjson.dumps(bundle(indicator())))
    assert result.code == 0
    assert orjson.loads(result.stdout)["created"] == 1


def test_ingest_exit_1_when_anything_is_rejected_and_keeps_the_good(cli, tmp_path):
    good = indicator()
    bad = indicator(pattern="[ipv4-addr:value = '1.2.3.4'")
    path = tmp_path / "mixed.json"
    path.write_bytes(orjson.dumps(bundle(good, bad)))
    result = cli("ingest", str(path), "--source", "NCB Paris")
    assert result.code == 1
    report = orjson.loads(result.stdout)
    assert report["created"] == 1
    assert report["rejections"][0]["index"] == 1
    assert report["rejections"][0]["reason"].startswith("pattern:")
    assert "object 1" in result.stderr


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"type": "bundle", "objects": [', "not valid JSON"),
        (bytes(range(256)) * 40, "not valid JSON"),
        (b'"just a string"', "expected a STIX bundle"),
        (b'{"type": "bundle", "objects": 3}', "'objects' is not a list"),
    ],
)
def test_ingest_of_unreadable_files(cli, tmp_path, content, reason):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    result = cli("ingest", str(path), "--source", "NCB Paris")
    assert result.code == 1
    assert reason in result.stderr
    assert "Traceback" not in result.stderr


def test_ingest_bad_flags_and_missing_files(cli, tmp_path):
    path = tmp_path / "in.json"
    path.write_bytes(orjson.dumps(indicator()))
    bad_tlp = cli("ingest", str(path), "--source", "NCB Paris", "--tlp", "purple")
    assert bad_tlp.code == 1
    assert "tlp" in bad_tlp.stderr
    bad_purpose = cli("ingest", str(path), "--source", "NCB Paris", "--purpose", "fun")
    assert bad_purpose.code == 1
    assert "purpose" in bad_purpose.stderr
    bad_deny = cli("ingest", str(path), "--source", "NCB Paris", "--deny", "ZZ")
    assert bad_deny.code == 1
    unknown_source = cli("ingest", str(path), "--source", "Nobody")
    assert unknown_source.code == 1
    assert "no org 'Nobody'" in unknown_source.stderr
    missing = cli("ingest", str(tmp_path / "absent.json"), "--source", "NCB Paris")
    assert missing.code == 1
    assert "cannot read the file" in missing.stderr


def test_oversized_file_is_refused(cli, tmp_path):
    path = tmp_path / "big.json"
    path.write_bytes(b" " * 2048 + orjson.dumps(indicator()))
    refused = cli(
        "ingest", str(path), "--source", "NCB Paris", env={"CANAL_MAX_SUBMISSION_BYTES": "1024"}
    )
    assert refused.code == 1
    assert "more than the limit of 1024" in refused.stderr


def test_audit_verify_passes_then_names_a_tampered_entry(cli, tmp_path, database_url):
    path = tmp_path / "in.json"
    path.write_bytes(orjson.dumps(bundle(indicator(), malware())))
    cli("ingest", str(path), "--source", "NCB Paris")
    ok = cli("audit", "verify")
    assert ok.code == 0
    assert "intact" in ok.stdout
    from sqlalchemy import create_engine, text  # noqa: PLC0415

    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'someone else' WHERE seq = 2"))
    engine.dispose()
    broken = cli("audit", "verify")
    assert broken.code == 1
    assert "entry 2" in broken.stderr


def test_compact_rewrites_the_store_and_keeps_everything(cli, tmp_path, database_url):
    """`canal compact` after space was freed: SQLite's file holds no free page and is smaller;
    PostgreSQL vacuums; on both, every record, the clusters and the processing log are as
    they were."""
    from sqlalchemy import create_engine  # noqa: PLC0415

    path = tmp_path / "in.json"
    objects = [indicator("91.203.20.1") for _ in range(3)]
    path.write_bytes(orjson.dumps(bundle(*objects, malware())))
    assert cli("ingest", str(path), "--source", "NCB Paris").code == 0
    engine = create_engine(database_url)
    sqlite = engine.dialect.name == "sqlite"

    def free_pages() -> int:
        with engine.connect() as conn:
            return conn.exec_driver_sql("PRAGMA freelist_count").scalar_one()

    if sqlite:
        with engine.begin() as conn:  # a table filled and dropped leaves its pages free
            conn.exec_driver_sql("CREATE TABLE scratch AS SELECT object FROM records")
            for _ in range(6):
                conn.exec_driver_sql("INSERT INTO scratch SELECT object FROM scratch")
            conn.exec_driver_sql("DROP TABLE scratch")
        assert free_pages() > 0
    before = orjson.loads(cli("export").stdout)["objects"]
    compacted = cli("compact")
    assert compacted.code == 0, compacted.stderr
    assert "store compacted" in compacted.stderr
    if sqlite:
        assert free_pages() == 0
        saved = int(compacted.stderr.split(" s, ")[1].split(" bytes")[0].replace(",", ""))
        assert saved > 0
    engine.dispose()
    assert orjson.loads(cli("export").stdout)["objects"] == before
    assert {o["id"] for o in objects} <= {o["id"] for o in before}
    assert cli("audit", "verify").code == 0
    clusters = [orjson.loads(line) for line in cli("clusters").stdout.splitlines()]
    assert [c["id"] for c in clusters] == [objects[0]["id"]]


def test_audit_log_lists_operations_on_a_record(cli, tmp_path):
    obj = indicator()
    path = tmp_path / "in.json"
    path.write_bytes(orjson.dumps(obj))
    cli("ingest", str(path), "--source", "NCB Paris")
    cli("export", "-o", str(tmp_path / "out.json"))
    log = cli("audit", "log", "--record", obj["id"])
    actions = [orjson.loads(line)["action"] for line in log.stdout.splitlines()]
    assert actions == ["data:record:create", "data:record:export"]


def test_token_scopes_what_the_cli_sees(cli, tmp_path):
    cli("org", "add", "NCB Rome", "--kind", "member", "--country", "IT")
    rome_token = cli("token", "create", "--org", "NCB Rome", "--role", "member").stdout.strip()
    secret = indicator()
    path = tmp_path / "in.json"
    path.write_bytes(orjson.dumps(secret))
    cli("ingest", str(path), "--source", "NCB Paris", "--tlp", "red")
    as_rome = cli("export", token=rome_token)
    assert secret["id"] not in as_rome.stdout
    as_admin = cli("export")
    assert secret["id"] in as_admin.stdout
    # A token may not submit for another org.
    refused = cli("ingest", str(path), "--source", "NCB Paris", token=rome_token)
    assert refused.code == 1
    assert "may not submit on behalf" in refused.stderr
    revoked = cli("token", "revoke", "1")
    assert revoked.code == 0
    after = cli("export", token=rome_token)
    assert after.code == 1
    assert "revoked" in after.stderr


def test_every_oasis_example_ingests_from_the_cli(cli):
    result = cli("ingest", *map(str, example_bundles()), "--source", "NCB Paris")
    assert result.code == 0, result.stderr
    reports = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert all(r["rejected"] == 0 for r in reports)
