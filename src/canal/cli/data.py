"""canal ingest, canal export"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path

import typer

from canal.cli.common import TOKEN_OPTION, Progress, emit_json, message, principal, services
from canal.errors import InvalidInput
from canal.ingest.defaults import parse_purpose, submission_defaults
from canal.ingest.errors import SubmissionError
from canal.model.stix import parse_timestamp, to_micros
from canal.store.records import RecordQuery


class InFormat(StrEnum):
    AUTO = "auto"
    STIX = "stix"


class OutFormat(StrEnum):
    STIX = "stix"


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
    app.command("export")(export)


def ingest(
    paths: list[Path] = typer.Argument(..., help="Files to ingest; '-' reads stdin."),
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
    """Ingest files of STIX 2.1; prints a JSON report per file, exits 1 if anything was rejected.

    Each file holds a bundle, a list of objects or one object. The handling flags are defaults
    for objects that carry none of their own.
    """
    svc = services()
    who = principal(token)
    org = svc.accounts.org(source)
    org_ids = {o.name: o.id for o in svc.accounts.list_orgs()}
    defaults = submission_defaults(
        org_ids, tlp=tlp, pap=pap, audience=audience, allow=allow, deny=deny, purposes=purpose
    )
    del fmt  # only STIX is read for now; auto detects it
    any_rejected = False
    for path in paths:
        where = "stdin" if str(path) == "-" else str(path)
        try:
            data = _read(path, svc.settings.max_submission_bytes)
            with Progress(f"ingesting {where}") as progress:
                report = svc.ingest.ingest_bytes(
                    data,
                    principal=who,
                    source=org,
                    defaults=defaults,
                    where=where,
                    progress=progress,
                )
        except SubmissionError as exc:
            any_rejected = True
            emit_json({"path": where, "error": str(exc)})
            message(f"{where}: rejected: {exc.reason}")
            continue
        rejected = report.rejected
        any_rejected = any_rejected or bool(rejected)
        emit_json(
            {
                "path": where,
                "submission": report.submission_id,
                **report.summary(),
                "rejections": [r.to_json() for r in rejected],
            }
        )
        counts = ", ".join(f"{n} {status}" for status, n in report.summary().items() if n)
        message(f"{where}: {counts or 'nothing to ingest'}")
        for r in rejected[:20]:
            message(f"  object {r.index} ({r.stix_id or 'no id'}): {r.reason}")
        if len(rejected) > 20:
            message(f"  ... and {len(rejected) - 20} more rejections in the JSON report")
    if any_rejected:
        raise typer.Exit(1)


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
    """Export what the caller may see as a STIX 2.1 bundle, streamed."""
    del fmt  # STIX is the only output format so far
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
    chunks = svc.exporter.bundle_chunks(who, query, purpose=parse_purpose(purpose))
    if output is None:
        for chunk in chunks:
            sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.write(b"\n")
        sys.stdout.buffer.flush()
        return
    tmp = output.with_name(output.name + ".part")
    with tmp.open("wb") as handle:
        for chunk in chunks:
            handle.write(chunk)
    tmp.replace(output)
    message(f"wrote {output}")
