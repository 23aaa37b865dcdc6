"""canal pull: take what a TAXII 2.1 collection added since last time; --scheduled runs the
feeds of CANAL_PULL_FEEDS when they are due."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import typer

from canal.app import Services
from canal.cli.common import TOKEN_OPTION, Progress, emit_json, message, principal, services
from canal.errors import InvalidInput
from canal.exchange.pull import Credentials, Feed, PullError, load_feeds
from canal.ingest.defaults import split_csv, submission_defaults
from canal.model.org import Principal

#: How long a scheduler holds a feed it runs before another may take it over.
LEASE_SECONDS = 3600


def register(app: typer.Typer) -> None:
    app.command("pull")(pull)


def pull(
    url: str | None = typer.Argument(None, help="TAXII 2.1 discovery or API root URL."),
    collection: str | None = typer.Option(
        None, "--collection", help="Collection id (or alias or title) to pull."
    ),
    source: str | None = typer.Option(
        None, "--source", help="The org the pulled objects are recorded for."
    ),
    user: str | None = typer.Option(None, "--user", help="HTTP Basic user at the remote."),
    password: str | None = typer.Option(
        None, "--password", envvar="CANAL_PULL_PASSWORD", help="HTTP Basic password."
    ),
    bearer: str | None = typer.Option(
        None, "--bearer", envvar="CANAL_PULL_BEARER", help="Bearer token at the remote."
    ),
    tlp: str | None = typer.Option(None, "--tlp", help="clear|green|amber|amber+strict|red"),
    pap: str | None = typer.Option(None, "--pap", help="clear|green|amber|red"),
    audience: str | None = typer.Option(None, "--audience", help="law-enforcement|partners"),
    allow: str | None = typer.Option(None, "--allow", help="Countries and orgs: XX,NAME,..."),
    deny: str | None = typer.Option(None, "--deny", help="Countries and orgs: XX,NAME,..."),
    purpose: list[str] = typer.Option([], "--purpose", help="Permitted purpose (repeatable)."),
    page_size: int = typer.Option(1000, "--page-size", min=1, max=1000, help="Objects per page."),
    scheduled: bool = typer.Option(
        False, "--scheduled", help="Run the feeds listed in CANAL_PULL_FEEDS when due."
    ),
    once: bool = typer.Option(False, "--once", help="With --scheduled: run what is due, exit."),
    token: str | None = TOKEN_OPTION,
) -> None:
    """Pull from a TAXII 2.1 server, incrementally: the position reached is kept per (server,
    collection), so the next pull, or one after the remote failed mid-way, carries on from
    there. Objects are recorded for --source under their own markings, then the flags, then
    the source org's defaults. Prints a JSON report; exits 1 if anything was rejected or the
    remote failed."""
    svc = services()
    who = principal(token)
    if scheduled:
        raise typer.Exit(_scheduled(svc, who, once=once))
    if not url or not collection or not source:
        message("error: give URL, --collection and --source (or --scheduled)")
        raise typer.Exit(2)
    feed = Feed(
        url,
        collection,
        source,
        every=3600,
        credentials=Credentials(user=user, password=password, bearer=bearer),
        handling={
            k: v
            for k, v in {
                "tlp": tlp,
                "pap": pap,
                "audience": audience,
                "allow": allow,
                "deny": deny,
                "purposes": ",".join(purpose),
            }.items()
            if v
        },
    )
    raise typer.Exit(_run(svc, who, feed, page_size=page_size))


def _run(svc: Services, who: Principal, feed: Feed, *, page_size: int = 1000) -> int:
    org = svc.accounts.org(feed.source)
    org_ids = {o.name: o.id for o in svc.accounts.list_orgs()}
    h = feed.handling
    defaults = submission_defaults(
        org_ids,
        tlp=h.get("tlp"),
        pap=h.get("pap"),
        audience=h.get("audience"),
        allow=h.get("allow"),
        deny=h.get("deny"),
        purposes=split_csv(h.get("purposes")),
    )
    with Progress(f"pulling {feed.collection}") as progress:
        try:
            result = svc.pulls.pull(
                feed.url,
                feed.collection,
                principal=who,
                source=org,
                defaults=defaults,
                credentials=feed.credentials,
                page_size=page_size,
                progress=progress,
            )
        except PullError as exc:
            emit_json(
                {
                    "server": feed.url,
                    "collection": feed.collection,
                    "error": str(exc),
                    "position": svc.pulls.position(feed.url, feed.collection),
                }
            )
            message(f"error: {exc} (the next pull resumes where this one stopped)")
            return 1
    emit_json(result.to_json())
    counts = ", ".join(f"{n} {status}" for status, n in result.counts.items() if n)
    message(f"{feed.url} {feed.collection}: {result.objects} objects, {counts or 'nothing new'}")
    return 1 if result.rejected else 0


def _scheduled(svc: Services, who: Principal, *, once: bool) -> int:
    path = svc.settings.pull_feeds
    if not path:
        raise InvalidInput("CANAL_PULL_FEEDS", "name the TOML file of feeds to pull")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput("CANAL_PULL_FEEDS", f"cannot read {path} ({exc.strerror})") from None
    feeds = load_feeds(text, dict(os.environ), where=path)
    owner = f"{socket.gethostname()}:{os.getpid()}"
    while True:
        failed = False
        for feed in feeds:
            org = svc.accounts.org(feed.source)
            if not svc.pulls.claim(feed.url, feed.collection, org, owner, LEASE_SECONDS):
                continue
            code = 1
            try:
                code = _run(svc, who, feed)
            finally:
                error = None if code == 0 else "the last pull failed or had rejections"
                svc.pulls.release(feed.url, feed.collection, feed.every, error)
            failed = failed or code != 0
        if once:
            return 1 if failed else 0
        due = [svc.pulls.next_due(f.url, f.collection) for f in feeds]
        now = time.time() * 1_000_000
        waits = [(d - now) / 1_000_000 for d in due if d is not None]
        time.sleep(min(60.0, max(1.0, min(waits, default=60.0))))
