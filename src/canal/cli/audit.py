"""canal audit verify|log"""

from __future__ import annotations

import orjson
import typer

from canal.cli.common import TOKEN_OPTION, emit_json, message, principal, services
from canal.model.stix import format_micros

app = typer.Typer(help="The processing log: every operation on data, hash-chained.")


@app.command("verify")
def verify() -> None:
    """Check the processing log's hash chain; exit 1 and name the first bad entry if broken."""
    report = services().audit.verify()
    if report.ok:
        typer.echo(str(report))
        return
    message(str(report))
    raise typer.Exit(1)


@app.command("log")
def log(
    record: str | None = typer.Option(None, "--record", help="Only operations on this STIX id."),
    limit: int = typer.Option(100, "--limit", help="How many of the newest entries."),
    token: str | None = TOKEN_OPTION,
) -> None:
    """Operations on data, as the caller may see them, one JSON object per line."""
    svc = services()
    who = principal(token)
    entries = (
        svc.audit.entries_for_record(who, record) if record else svc.audit.recent(who, limit=limit)
    )
    for entry in entries:
        emit_json(
            {
                "seq": entry.seq,
                "at": format_micros(entry.at),
                "actor": entry.actor,
                "action": entry.action,
                "purpose": entry.purpose,
                "summary": orjson.loads(entry.summary),
                "hash": entry.hash,
            }
        )
