"""canal correlate, lookup, clusters, alerts, alert-channels ..., bloom ..., local-list ..."""

from __future__ import annotations

from pathlib import Path

import typer

from canal.analysis.alert_channels import present_channels
from canal.analysis.bloom import BloomFilter
from canal.analysis.clusters import view_json
from canal.analysis.lookup import LookupItem, Outcome, notices_for
from canal.analysis.observables import Observable, ObservableType, guess_type, normalise
from canal.cli.common import TOKEN_OPTION, emit_json, message, principal, services
from canal.errors import InvalidInput
from canal.ingest.defaults import parse_purpose
from canal.model.stix import format_micros

bloom_app = typer.Typer(help="Bloom filters for partners to check values offline.")
local_app = typer.Typer(help="The secretariat's allow and deny lists of values.")
channels_app = typer.Typer(help="Where an org's link alerts go besides the app.")
ORG_OPTION = typer.Option(None, "--org", help="The org (local administrator only).")


def register(app: typer.Typer) -> None:
    app.command("correlate")(correlate)
    app.command("lookup")(lookup)
    app.command("clusters")(clusters)
    app.command("alerts")(alerts)
    app.add_typer(bloom_app, name="bloom")
    app.add_typer(local_app, name="local-list")
    app.add_typer(channels_app, name="alert-channels")


def correlate(
    reflag: bool = typer.Option(
        False, "--reflag", help="Check every value against the warninglists again first."
    ),
    blind_tokens: bool = typer.Option(
        False, "--blind-tokens", help="Also compute the tokens blind lookups match against."
    ),
    token: str | None = TOKEN_OPTION,
) -> None:
    """Rebuild links and clusters from scratch."""
    svc = services()
    report = svc.correlator.rebuild(
        principal(token), reflag=reflag, blind_tokens=blind_tokens, progress=message
    )
    emit_json(
        {
            "records": report.records,
            "observables": report.observables,
            "links_by_value": report.links_by_value,
            "links_by_reference": report.links_by_reference,
            "clusters": report.clusters,
            "clustered_records": report.clustered_records,
            "reflagged": report.flagged,
            "blind_tokens": report.tokens,
            "hubs": [{"value": v, "records": n} for v, n in report.hubs[:50]],
            "seconds": round(report.seconds, 2),
        }
    )
    message(
        f"{report.clusters:,} clusters over {report.clustered_records:,} of {report.records:,} "
        f"records, {len(report.hubs)} hubs, in {report.seconds:.1f} s"
    )


def lookup(
    values: list[str] = typer.Argument(..., help="Values to check ('-' reads one per line)."),
    value_type: str | None = typer.Option(None, "--type", help="Their type (default: guessed)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per value."),
    blind: bool = typer.Option(
        False, "--blind", help="Send keyed tokens, never the values (an oblivious lookup)."
    ),
    purpose: str | None = typer.Option(None, "--purpose", help="Processing purpose."),
    token: str | None = TOKEN_OPTION,
) -> None:
    """Hit/no-hit: is this value in anyone's data, and whom to ask. Exit 1 on invalid values."""
    import sys  # noqa: PLC0415

    if values == ["-"]:
        values = [line.strip() for line in sys.stdin if line.strip()]
    svc = services()
    who = principal(token)
    why = parse_purpose(purpose)
    if blind:
        answers = svc.lookups.lookup_blind(
            who, [LookupItem(v, value_type) for v in values], purpose=why
        )
    else:
        answers = svc.lookups.lookup(who, [LookupItem(v, value_type) for v in values], purpose=why)
    invalid = False
    for value, answer in zip(values, answers, strict=True):
        invalid = invalid or answer.outcome is Outcome.INVALID
        if as_json:
            emit_json({**answer.to_json(), "value": value})
            continue
        detail = ""
        if answer.records:
            detail = " " + ", ".join(answer.records)
        elif answer.contacts:
            detail = " contact: " + ", ".join(answer.contacts)
        elif answer.flag:
            detail = f" (warninglist: {answer.flag})"
        elif answer.error:
            detail = f" ({answer.error})"
        typer.echo(f"{value}\t{answer.outcome.value}{detail}")
    if invalid:
        raise typer.Exit(1)


def clusters(
    cluster_id: str | None = typer.Argument(None, help="A cluster (its anchor's STIX id)."),
    limit: int = typer.Option(20, "--limit", min=1, max=100),
    purpose: str | None = typer.Option(None, "--purpose", help="Processing purpose."),
    token: str | None = TOKEN_OPTION,
) -> None:
    """Clusters as the caller may see them, one JSON object per line; or one with members."""
    svc = services()
    who = principal(token)
    names = svc.records.org_names()
    if cluster_id:
        view = svc.clusters.get(who, cluster_id, purpose=parse_purpose(purpose))
        emit_json(view_json(view, names, members=True))
        return
    views, _ = svc.clusters.list(who, purpose=parse_purpose(purpose), limit=limit)
    for view in views:
        emit_json(view_json(view, names, members=False))


def alerts(
    limit: int = typer.Option(100, "--limit", min=1, max=1000), token: str | None = TOKEN_OPTION
) -> None:
    """Notices to the caller's org: hits on its data and new links to its records."""
    svc = services()
    for row in notices_for(svc.database, principal(token), limit=limit):
        emit_json(
            {
                "kind": row["kind"],
                "record": row["record_id"],
                "linked_record": row["other_record_id"],
                "asked_by": row["other_party"],
                "value": row["observable"],
                "detail": row["detail"],
                "at": format_micros(int(str(row["created_at"]))),
            }
        )


@channels_app.command("show")
def channels_show(org: str | None = ORG_OPTION, token: str | None = TOKEN_OPTION) -> None:
    """The org's link-alert e-mail and webhook (the signing key is never shown)."""
    emit_json(present_channels(services().alert_channels.channels(principal(token), org)))


@channels_app.command("set")
def channels_set(
    email: str | None = typer.Option(None, "--email", help="E-mail address for link alerts."),
    webhook_url: str | None = typer.Option(None, "--webhook", help="http(s) URL to POST to."),
    webhook_secret: str | None = typer.Option(
        None, "--secret", help="The webhook's signing key (16 characters or more)."
    ),
    org: str | None = ORG_OPTION,
    token: str | None = TOKEN_OPTION,
) -> None:
    """Send the org's link alerts by e-mail and/or a signed webhook too."""
    body = {"email": email, "webhook_url": webhook_url, "webhook_secret": webhook_secret}
    saved = services().alert_channels.set_channels(principal(token), body, org)
    emit_json(present_channels(saved))


@channels_app.command("clear")
def channels_clear(org: str | None = ORG_OPTION, token: str | None = TOKEN_OPTION) -> None:
    """Send the org's link alerts to the app only."""
    services().alert_channels.clear_channels(principal(token), org)
    message("link alerts go to the app only")


@bloom_app.command("export")
def bloom_export(
    output: Path = typer.Option(..., "-o", "--output", help="File to write."),
    fp_rate: float = typer.Option(0.001, "--fp-rate", help="False-positive rate."),
    token: str | None = TOKEN_OPTION,
) -> None:
    """Write the (partner) caller's filter of the values it may know about."""
    export = services().bloom.export(principal(token), fp_rate=fp_rate)
    output.write_bytes(export.filter.to_bytes())
    message(
        f"wrote {output}: {export.filter.n:,} values, false-positive rate "
        f"{export.filter.fp_rate:.3g}, key generation {export.generation}"
    )


@bloom_app.command("check")
def bloom_check(
    path: Path = typer.Argument(..., help="A filter written by `canal bloom export`."),
    values: list[str] = typer.Argument(..., help="Values to check."),
    value_type: str | None = typer.Option(None, "--type", help="Their type (default: guessed)."),
) -> None:
    """Check values against a filter, offline. 'maybe' can be a false positive; 'no' is sure."""
    try:
        found = BloomFilter.from_bytes(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise InvalidInput(str(path), str(exc)) from None
    for value in values:
        kind = value_type or guess_type(value) or ""
        try:
            key = Observable(ObservableType(kind), normalise(kind, value)).key
        except ValueError as exc:
            typer.echo(f"{value}\tinvalid ({exc})")
            continue
        typer.echo(f"{value}\t{'maybe' if found.might_contain(key) else 'no'}")


@bloom_app.command("rotate")
def bloom_rotate(
    org: str = typer.Argument(..., help="The partner org."), token: str | None = TOKEN_OPTION
) -> None:
    """Give a partner a new Bloom key (its older filters stop matching)."""
    svc = services()
    generation = svc.bloom.rotate(principal(token), svc.accounts.org(org))
    message(f"{org}: key generation {generation}")


@local_app.command("list")
def local_list(token: str | None = TOKEN_OPTION) -> None:
    """The allow and deny lists, one JSON object per line."""
    for row in services().local_lists.list(principal(token)):
        emit_json(row)


@local_app.command("add")
def local_add(
    kind: str = typer.Argument(..., help="allow or deny"),
    value: str = typer.Argument(...),
    value_type: str | None = typer.Option(None, "--type"),
    note: str | None = typer.Option(None, "--note"),
    token: str | None = TOKEN_OPTION,
) -> None:
    """Mark a value benign (allow: it links nothing) or keep it linking (deny)."""
    key = services().local_lists.add(principal(token), kind, value, value_type, note)
    message(f"{key} on the {kind} list")


@local_app.command("remove")
def local_remove(
    kind: str = typer.Argument(..., help="allow or deny"),
    key: str = typer.Argument(..., help="type:value as listed"),
    token: str | None = TOKEN_OPTION,
) -> None:
    """Take a value off a local list."""
    services().local_lists.remove(principal(token), kind, key)
    message(f"{key} removed from the {kind} list")
