"""`canal contacts ...` and `canal requests ...` as a user drives them, `sweep --now` included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from assist_support import add_countries, assist_services, contact_body, emergency_body
from canal.model.org import Role
from cli_runner import Cli


@pytest.fixture
def cli(sqlite_url, tmp_path):
    """The CLI on a store made in-process (each `canal` run costs seconds of start-up); the
    behaviour under test does not depend on the back end, which the service tests cover."""
    services = assist_services(sqlite_url)
    countries = add_countries(services)
    services.close()
    runner = Cli(sqlite_url, tmp_path)
    runner.tokens = {
        ("NCB Paris", "member"): countries.tokens["FR", Role.MEMBER],
        ("NCB Rome", "duty-officer"): countries.tokens["IT", Role.DUTY_OFFICER],
        ("NCB Rome", "ncb-admin"): countries.tokens["IT", Role.NCB_ADMIN],
    }
    return runner


def test_contacts_from_the_command_line(cli):
    admin = cli.tokens["NCB Rome", "ncb-admin"]
    body = contact_body()
    made = cli(
        "contacts",
        "set",
        "IT",
        "primary",
        "--name",
        body["name"],
        "--phone",
        body["phone"],
        "--email",
        body["email"],
        "--languages",
        "it,en",
        token=admin,
    )
    assert made.code == 0, made.stderr
    assert orjson.loads(made.stdout)["phone"] == "+390646861234"
    listed = cli("contacts", "list", token=cli.tokens["NCB Paris", "member"])
    assert [orjson.loads(line)["country"] for line in listed.stdout.splitlines()] == ["IT"]
    missing = cli("contacts", "missing")
    assert [orjson.loads(line)["country"] for line in missing.stdout.splitlines()] == ["DE", "FR"]
    refused = cli(
        "contacts",
        "set",
        "FR",
        "primary",
        "--name",
        "x",
        "--phone",
        "+33 1 23 45 67 89",
        token=admin,
    )
    assert refused.code == 1
    assert "may not change the contacts of FR" in refused.stderr
    assert cli("contacts", "remove", "IT", "primary", token=admin).code == 0


def test_a_request_filed_swept_and_answered(cli, tmp_path):
    path = tmp_path / "request.json"
    path.write_bytes(orjson.dumps(emergency_body()))
    filed = cli("requests", "file", str(path), token=cli.tokens["NCB Paris", "member"])
    assert filed.code == 0, filed.stderr
    request_id = orjson.loads(filed.stdout)["id"]
    assert "submitted" in filed.stderr

    early = cli(
        "requests", "sweep", "--now", (datetime.now(UTC) + timedelta(minutes=30)).isoformat()
    )
    assert orjson.loads(early.stdout)["escalations"] == 0
    late = (datetime.now(UTC) + timedelta(hours=5)).isoformat()
    swept = cli("requests", "sweep", "--now", late)
    assert swept.code == 0, swept.stderr
    assert orjson.loads(swept.stdout)["escalations"] == 3

    duty = cli.tokens["NCB Rome", "duty-officer"]
    wrong = cli("requests", "move", request_id, "executed", "--answer", "x", token=duty)
    assert wrong.code == 1
    assert "cannot go to executed" in wrong.stderr
    assert "Traceback" not in wrong.stderr
    acked = cli("requests", "move", request_id, "acknowledged", token=duty)
    assert acked.code == 0, acked.stderr
    assert orjson.loads(acked.stdout)["state"] == "acknowledged"
    shown = orjson.loads(cli("requests", "show", request_id, token=duty).stdout)
    assert [h["kind"] for h in shown["history"]].count("escalation") == 3
    [line] = [orjson.loads(x) for x in cli("requests", "figures", token=duty).stdout.splitlines()]
    assert (line["country"], line["received"], line["escalated"]) == ("IT", 1, 1)


def test_bad_command_line_input_is_named(cli, tmp_path):
    path = tmp_path / "request.json"
    path.write_bytes(orjson.dumps(emergency_body()))
    as_admin = cli("requests", "file", str(path))
    assert as_admin.code == 1
    assert "member country's officer" in as_admin.stderr
    path.write_text("{not json")
    assert (
        "not JSON"
        in cli("requests", "file", str(path), token=cli.tokens["NCB Paris", "member"]).stderr
    )
    when = cli("requests", "sweep", "--now", "teatime")
    assert when.code == 1
    assert "--now" in when.stderr
    missing = cli("requests", "package", "incident--00000000-0000-4000-8000-000000000001")
    assert missing.code == 1
    assert "no incident" in missing.stderr


def test_alert_channels_from_the_command_line(cli):
    admin = cli.tokens["NCB Rome", "ncb-admin"]
    made = cli(
        "alert-channels",
        "set",
        "--webhook",
        "https://soar.example.it/canal",
        "--secret",
        "it-alerts-signing-key-0001",
        token=admin,
    )
    assert made.code == 0, made.stderr
    assert orjson.loads(made.stdout)["webhook_signed"] is True
    assert "it-alerts-signing-key" not in made.stdout
    shown = cli("alert-channels", "show", token=cli.tokens["NCB Paris", "member"])
    assert orjson.loads(shown.stdout)["webhook_url"] is None  # Paris's own: none
    # The local administrator (no token) names the org.
    set_by_admin = cli(
        "alert-channels", "set", "--email", "cyber@ncb.example.fr", "--org", "NCB Paris"
    )
    assert set_by_admin.code == 0, set_by_admin.stderr
    shown = cli("alert-channels", "show", token=cli.tokens["NCB Paris", "member"])
    assert orjson.loads(shown.stdout)["email"] == "cyber@ncb.example.fr"
    bad = cli("alert-channels", "set", "--email", "nobody", token=admin)
    assert bad.code != 0
    assert "email" in bad.stderr
    assert "Traceback" not in bad.stderr
    refused = cli("alert-channels", "clear", token=cli.tokens["NCB Rome", "duty-officer"])
    assert refused.code != 0
    assert "ncb-admin" in refused.stderr
    cleared = cli("alert-channels", "clear", token=admin)
    assert cleared.code == 0, cleared.stderr
    assert orjson.loads(cli("alert-channels", "show", token=admin).stdout)["webhook_url"] is None
