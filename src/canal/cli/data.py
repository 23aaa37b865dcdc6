"""canal ingest, canal export"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from canal.app import Services
from canal.cli.common import TOKEN_OPTION, Progress, emit_json, message, principal, services
from canal.errors import InvalidInput
from canal.exchange.csv_export import CsvExporter
from canal.exchange.misp_export import MispExporter
from canal.ingest.defaults import parse_purpose, submission_defaults
from canal.ingest.errors import SubmissionError
from canal.ingest.formats import Format, Problem, detect_format, to_stix
from canal.ingest.leaksite import LeaksiteImporter
from canal.ingest.misp import MispConverter, MispFeedObjects, is_feed_location
from canal.ingest.service import IngestReport
from canal.model.handling import HandlingDefaults
from canal.model.org import Org, Principal
from canal.model.stix import parse_timestamp, to_micros
from canal.store.records import RecordQuery


class InFormat(StrEnum):
    AUTO = "auto"
    STIX = "stix"
    MISP = "misp"
    CSV = "csv"
    TEXT = "text"
    LEAKSITE = "leaksite"


class OutFormat(StrEnum):
    STIX = "stix"
    MISP = "misp"
    CSV = "csv"


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
    app.command("export")(export)


def ingest(
    paths: list[str] = typer.Argument(
        ..., help="Files to ingest; '-' reads stdin; a directory or a URL is a MISP feed."
    ),
    source: str = typer.Option(..., "--source", help="The org the data comes from."),
    fmt: InFormat = typer.Option(InFormat.AUTO, "--format", help="Input format."),
    tlp: str | None = typer.Option(None, "--tlp", help="clear|green|amber|amber+strict|red"),
    pap: str | None = typer.Option(None, "--pap", help="clear|green|amber|red"),
    audience: str | None = typer.Option(None, "--audience", help="law-enforcement|partners"),
    allow: str | None = typer.Option(None, "--allow", help="Countries and orgs: XX,NAME,..."),
    deny: str | None = typer.Option(None, "--deny", help="Countries and orgs: XX,NAME,..."),
    purpose: list[str] = typer.Option([], "--purpose", help="Permitted purpose (repeatable)."),
    token: str | None = TOKEN_OPTION,
) -> None:
    """Ingest STIX 2.1, MISP JSON (events or a feed), CSV lists of indicators, threat-report
    text (plain, HTML, PDF) or leak-site tracker posts (ransomwatch, ransomware.live); prints a
    JSON report per file, exits 1 if anything was rejected or dropped in conversion.

    --format auto tells the formats apart by content and file name. The handling flags are
    defaults for objects that carry none of their own (MISP tags and distribution are their
    own).
    """
    svc = services()
    # The WAL is copied back into the database beside the writes, as the server does, rather
    # than inside the commit that crosses its limit (a third of a bulk import's time with the
    # observable index). The checking process forked later runs no database code, so no lock
    # this thread may hold at the fork matters to it (ingest.aside).
    svc.database.checkpoint_in_background()
    who = principal(token)
    org = svc.accounts.org(source)
    orgs = svc.accounts.list_orgs()
    org_ids = {o.name: o.id for o in orgs}
    defaults = submission_defaults(
        org_ids, tlp=tlp, pap=pap, audience=audience, allow=allow, deny=deny, purposes=purpose
    )
    run = _IngestRun(svc, who, org, defaults, {o.name: o.kind for o in orgs})
    any_rejected = False
    for raw in paths:
        where = "stdin" if raw == "-" else raw
        problems: list[Problem] = []
        try:
            if raw != "-" and is_feed_location(raw):
                chosen = _feed_format(fmt, where)
                report = run.feed(raw, problems)
            else:
                data = _read(Path(raw), svc.settings.max_submission_bytes)
                name = None if raw == "-" else Path(raw).name
                chosen = detect_format(data, name) if fmt is InFormat.AUTO else Format(fmt.value)
                report = run.file(data, chosen, where, name, problems)
        except SubmissionError as exc:
            any_rejected = True
            emit_json(
                {"path": where, "error": str(exc), "problems": [p.to_json() for p in problems]}
            )
            message(f"{where}: rejected: {exc.reason}")
            continue
        rejected = report.rejected
        dropped = [p for p in problems if p.dropped]
        any_rejected = any_rejected or bool(rejected) or bool(dropped)
        emit_json(
            {
                "path": where,
                "format": chosen.value,
                "submission": report.submission_id,
                **report.summary(),
                "rejections": [r.to_json() for r in rejected],
                "problems": [p.to_json() for p in problems],
            }
        )
        counts = ", ".join(f"{n} {status}" for status, n in report.summary().items() if n)
        message(f"{where} ({chosen.value}): {counts or 'nothing to ingest'}")
        if problems:
            message(
                f"  conversion: {len(dropped)} item(s) dropped, "
                f"{len(problems) - len(dropped)} warning(s)"
            )
        for p in problems[:20]:
            message(f"  {'dropped' if p.dropped else 'warning'}: {p.where}: {p.message}")
        if len(problems) > 20:
            message(f"  ... and {len(problems) - 20} more problems in the JSON report")
        for r in rejected[:20]:
            message(f"  object {r.index} ({r.stix_id or 'no id'}): {r.reason}")
        if len(rejected) > 20:
            message(f"  ... and {len(rejected) - 20} more rejections in the JSON report")
    if any_rejected:
        raise typer.Exit(1)


def _feed_format(fmt: InFormat, where: str) -> Format:
    if fmt not in {InFormat.AUTO, InFormat.MISP}:
        raise SubmissionError(where, "a directory or a URL is read as a MISP feed (--format misp)")
    return Format.MISP


class _IngestRun:
    """What every file of one `canal ingest` shares."""

    def __init__(
        self,
        svc: Services,
        who: Principal,
        org: Org,
        defaults: HandlingDefaults,
        orgs: dict[str, Any],
    ) -> None:
        self.svc = svc
        self.who = who
        self.org = org
        self.defaults = defaults
        self.orgs = orgs

    def _ingest(self, objects: Any, where: str) -> IngestReport:
        with Progress(f"ingesting {where}") as progress:
            return self.svc.ingest.ingest_objects(
                objects,
                principal=self.who,
                source=self.org,
                defaults=self.defaults,
                progress=progress,
                # The CLI runs no other threads: bulk input is checked in a second process
                # while this one writes (ingest.aside).
                aside=True,
            )

    def file(
        self, data: bytes, fmt: Format, where: str, name: str | None, problems: list[Problem]
    ) -> IngestReport:
        if fmt is Format.STIX:
            with Progress(f"ingesting {where}") as progress:
                return self.svc.ingest.ingest_bytes(
                    data,
                    principal=self.who,
                    source=self.org,
                    defaults=self.defaults,
                    where=where,
                    progress=progress,
                    aside=True,
                )
        if fmt is Format.LEAKSITE:
            # Settled against what the source holds, so that a re-import adds no duplicates.
            with Progress(f"ingesting {where}") as progress:
                done = LeaksiteImporter(ingest=self.svc.ingest).ingest_bytes(
                    data,
                    principal=self.who,
                    source=self.org,
                    defaults=self.defaults,
                    where=where,
                    progress=progress,
                )
            problems.extend(done.problems)
            return done.report
        conversion = to_stix(data, fmt, name=name or where, source=self.org.name, orgs=self.orgs)
        problems.extend(conversion.problems)
        return self._ingest(conversion.objects, where)

    def feed(self, location: str, problems: list[Problem]) -> IngestReport:
        """A MISP feed, converted and ingested an event at a time (memory stays flat)."""
        objects = MispFeedObjects(
            location,
            MispConverter(orgs=self.orgs),
            limit=self.svc.settings.max_submission_bytes,
        )
        report = self._ingest(objects, location)
        problems.extend(objects.problems)
        return report


def _read(path: Path, limit: int) -> bytes:
    where = str(path)
    if where == "-":
        data = sys.stdin.buffer.read(limit + 1)
    else:
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise SubmissionError(where, f"cannot read the file ({exc.strerror})") from None
        if size > limit:
            raise SubmissionError(
                where,
                f"{size} bytes is more than the limit of {limit} (CANAL_MAX_SUBMISSION_BYTES)",
            )
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SubmissionError(where, f"cannot read the file ({exc.strerror})") from None
    if len(data) > limit:
        raise SubmissionError(where, f"more than the limit of {limit} bytes")
    return data


def export(
    fmt: OutFormat = typer.Option(OutFormat.STIX, "--format", help="Output format."),
    types: list[str] = typer.Option([], "--type", help="Only objects of this type (repeatable)."),
    source: str | None = typer.Option(None, "--source", help="Only records from this org."),
    added_after: str | None = typer.Option(
        None, "--added-after", help="Only records added after this timestamp."
    ),
    all_versions: bool = typer.Option(
        False, "--all-versions", help="Every version, not only the latest."
    ),
    output: Path | None = typer.Option(None, "-o", "--output", help="File to write (stdout)."),
    purpose: str | None = typer.Option(
        None, "--purpose", help="Processing purpose of this export (default: the role's)."
    ),
    token: str | None = TOKEN_OPTION,
) -> None:
    """Export what the caller may see, streamed: a STIX 2.1 bundle, MISP events
    ({"response": [{"Event": ...}]}) or CSV (type,value,id,source,tlp,date_added)."""
    svc = services()
    who = principal(token)
    after = None
    if added_after:
        try:
            after = to_micros(parse_timestamp(added_after))
        except ValueError as exc:
            raise InvalidInput("--added-after", str(exc)) from None
    query = RecordQuery(
        types=frozenset(types),
        source_org_ids=frozenset({svc.accounts.org(source).id}) if source else frozenset(),
        added_after=after,
        latest_only=not all_versions,
    )
    chosen = parse_purpose(purpose)
    if fmt is OutFormat.MISP:
        chunks = MispExporter(records=svc.records).chunks(who, query, purpose=chosen)
    elif fmt is OutFormat.CSV:
        chunks = CsvExporter(records=svc.records).chunks(who, query, purpose=chosen)
    else:
        chunks = svc.exporter.bundle_chunks(who, query, purpose=chosen)
    if output is None:
        for chunk in chunks:
            sys.stdout.buffer.write(chunk)
        if fmt is not OutFormat.CSV:
            sys.stdout.buffer.write(b"\n")
        sys.stdout.buffer.flush()
        return
    tmp = output.with_name(output.name + ".part")
    with tmp.open("wb") as handle:
        for chunk in chunks:
            handle.write(chunk)
    tmp.replace(output)
    message(f"wrote {output}")
