"""`canal pull` against real TAXII 2.1 peers on loopback: medallion (the OASIS reference server,
which gives a whole POST one date_added) and a second canal. Incremental, resumable after the
remote dies in the middle of a page, and under the source's handling."""

from __future__ import annotations

import shutil

import orjson
import pytest

from canal.accounts.service import LOCAL_ADMIN
from canal.app import build_services
from canal.config import load_settings
from canal.exchange.pull import Credentials, PullError, load_feeds
from canal.model.extension import CANAL_EXTENSION_ID
from canal.model.handling import Tlp
from canal.model.org import Role
from canal.model.stix import TLP2_MARKING_IDS
from canal.store.records import RecordQuery
from canal.web.app import create_app
from cli_runner import Cli
from factories import add_org, all_records, indicator, malware
from servers import CuttingProxy, Medallion, serve_app

MEDALLION = Credentials(user=Medallion.USER, password=Medallion.PASSWORD)


def stored_ids(services) -> list[str]:
    return [r.stix_id for r in all_records(services, RecordQuery(latest_only=False))]


def cut_after(proxy: CuttingProxy, pages: int):
    seen = []

    def progress(_objects: int) -> None:
        seen.append(_objects)
        if len(seen) == pages:
            proxy.cut_next_response()

    return progress


def test_pull_from_medallion_is_incremental_and_resumable(services, tmp_path):
    berlin = add_org(services, "NCB Berlin", country="DE")
    sent = [indicator(f"198.51.100.{i}") for i in range(250)]
    with Medallion(tmp_path) as medallion, CuttingProxy(medallion.port) as proxy:
        # Three POSTs: medallion gives each one date_added, so pages end inside ties.
        for start in (0, 100, 200):
            medallion.add(sent[start : start + 100])
        url = proxy.url + "/taxii2/"
        with pytest.raises(PullError):
            services.pulls.pull(
                url,
                medallion.collection,
                principal=LOCAL_ADMIN,
                source=berlin,
                credentials=MEDALLION,
                page_size=40,
                progress=cut_after(proxy, 1),
            )
        assert len(stored_ids(services)) == 40
        resumed = services.pulls.pull(
            url,
            medallion.collection,
            principal=LOCAL_ADMIN,
            source=berlin,
            credentials=MEDALLION,
            page_size=40,
        )
        assert resumed.rejected == 0
        ids = stored_ids(services)
        assert sorted(ids) == sorted(o["id"] for o in sent)
        assert resumed.position is not None

        more = [malware(f"Family {i}") for i in range(30)]
        medallion.add(more)
        again = services.pulls.pull(
            url, medallion.collection, principal=LOCAL_ADMIN, source=berlin, credentials=MEDALLION
        )
        assert again.objects == 30
        assert again.counts.get("created") == 30
        assert again.counts.get("duplicate", 0) == 0
        nothing = services.pulls.pull(
            url, medallion.collection, principal=LOCAL_ADMIN, source=berlin, credentials=MEDALLION
        )
        assert nothing.objects == 0
    records = all_records(services)
    assert {r.handling.source_org_id for r in records} == {berlin.id}


def _ext(**handling):
    return {CANAL_EXTENSION_ID: {"extension_type": "property-extension", **handling}}


def test_pull_from_a_second_canal(services, tmp_path, sqlite_template):
    remote_path = tmp_path / "remote.db"
    shutil.copy(sqlite_template, remote_path)
    remote = build_services(load_settings(environ={}, database_url=f"sqlite:///{remote_path}"))
    try:
        madrid_remote = add_org(remote, "NCB Madrid", country="ES")
        add_org(remote, "Remote Only Org", country="PT")
        token = remote.accounts.create_token(LOCAL_ADMIN, org=madrid_remote, role=Role.MEMBER).token
        green = TLP2_MARKING_IDS[Tlp.GREEN]
        sent = [indicator(f"203.0.113.{i}", object_marking_refs=[green]) for i in range(120)]
        sent[0]["extensions"] = _ext(deny=["Remote Only Org", "RU"])
        sent[1]["extensions"] = _ext(allow=["Remote Only Org"])
        report = remote.ingest.ingest_objects(sent, principal=LOCAL_ADMIN, source=madrid_remote)
        assert report.rejected == []
        madrid = add_org(services, "NCB Madrid", country="ES")
        with (
            serve_app(create_app(remote)) as base,
            CuttingProxy(int(base.rsplit(":", 1)[1])) as proxy,
        ):
            url = proxy.url + "/taxii2/canal/"
            credentials = Credentials(bearer=token)
            with pytest.raises(PullError):
                services.pulls.pull(
                    url,
                    "law-enforcement",
                    principal=LOCAL_ADMIN,
                    source=madrid,
                    credentials=credentials,
                    page_size=30,
                    progress=cut_after(proxy, 3),
                )
            assert len(stored_ids(services)) == 90
            # The position is past the second page: the third is read again, nothing lost.
            resumed = services.pulls.pull(
                url,
                "law-enforcement",
                principal=LOCAL_ADMIN,
                source=madrid,
                credentials=credentials,
                page_size=30,
            )
            assert resumed.counts.get("duplicate") == 30
            assert resumed.counts.get("created") == 30
            assert sorted(stored_ids(services)) == sorted(o["id"] for o in sent)

            later = [indicator(f"192.0.2.{i}") for i in range(10)]
            remote.ingest.ingest_objects(later, principal=LOCAL_ADMIN, source=madrid_remote)
            again = services.pulls.pull(
                url,
                "law-enforcement",
                principal=LOCAL_ADMIN,
                source=madrid,
                credentials=credentials,
            )
            assert again.objects == 10
            assert again.counts == {**dict.fromkeys(again.counts, 0), "created": 10}
        by_id = {r.stix_id: r for r in all_records(services)}
        # The source's handling came along; orgs unknown here never widen it.
        assert by_id[sent[5]["id"]].handling.tlp is Tlp.GREEN
        assert by_id[sent[5]["id"]].handling.source_org_id == madrid.id
        assert by_id[sent[0]["id"]].handling.deny_countries == frozenset({"RU"})
        assert by_id[sent[1]["id"]].handling.allow_orgs == frozenset({madrid.id})
        assert by_id[later[0]["id"]].handling.tlp is Tlp.AMBER
    finally:
        remote.close()


def test_pull_refuses_an_unknown_collection(services, tmp_path):
    berlin = add_org(services, "NCB Berlin", country="DE")
    with Medallion(tmp_path) as medallion:
        with pytest.raises(PullError, match="no collection"):
            services.pulls.pull(
                medallion.url + "/taxii2/",
                "nope",
                principal=LOCAL_ADMIN,
                source=berlin,
                credentials=MEDALLION,
            )
        with pytest.raises(PullError):
            services.pulls.pull(
                medallion.url + "/taxii2/",
                medallion.collection,
                principal=LOCAL_ADMIN,
                source=berlin,
                credentials=Credentials(user="admin", password="wrong"),
            )


def test_cli_pull_and_the_scheduled_form(sqlite_url, tmp_path):
    cli = Cli(sqlite_url, tmp_path)
    assert cli("org", "add", "NCB Berlin", "--kind", "member", "--country", "DE").code == 0
    with Medallion(tmp_path) as medallion:
        medallion.add([indicator(f"198.51.100.{i}") for i in range(20)])
        first = cli(
            "pull",
            medallion.url + "/taxii2/",
            "--collection",
            medallion.collection,
            "--source",
            "NCB Berlin",
            "--user",
            "admin",
            "--tlp",
            "green",
            env={"CANAL_PULL_PASSWORD": Medallion.PASSWORD},
        )
        assert first.code == 0, first.stderr
        assert orjson.loads(first.stdout)["created"] == 20
        usage = cli("pull", medallion.url + "/taxii2/")
        assert usage.code == 2

        medallion.add([indicator(f"198.51.101.{i}") for i in range(5)])
        feeds = tmp_path / "feeds.toml"
        feeds.write_text(
            "[[feed]]\n"
            f'url = "{medallion.url}/taxii2/"\n'
            f'collection = "{medallion.collection}"\n'
            'source = "NCB Berlin"\n'
            "every = 3600\n"
            'user = "admin"\n'
            'password_env = "FEED_PASSWORD"\n'
        )
        env = {"CANAL_PULL_FEEDS": str(feeds), "FEED_PASSWORD": Medallion.PASSWORD}
        scheduled = cli("pull", "--scheduled", "--once", env=env)
        assert scheduled.code == 0, scheduled.stderr
        assert orjson.loads(scheduled.stdout)["created"] == 5
        # Not due again for an hour: the schedule lives in the database, not in a process.
        idle = cli("pull", "--scheduled", "--once", env=env)
        assert idle.code == 0
        assert idle.stdout == ""


def test_feed_files_are_checked():
    text = '[[feed]]\nurl = "http://x/taxii2/"\ncollection = "c"\nsource = "S"\nbearer_env = "T"\n'
    [feed] = load_feeds(text, {"T": "secret"})
    assert feed.credentials.bearer == "secret"
    assert feed.every == 3600
    with pytest.raises(PullError, match="T is not set"):
        load_feeds(text, {})
    with pytest.raises(PullError, match="needs"):
        load_feeds("[[feed]]\nurl = 'x'\n", {})
    with pytest.raises(PullError, match="TOML"):
        load_feeds("[[feed", {})
