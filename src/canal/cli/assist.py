"""canal contacts ..., canal requests ...: the 24/7 network from the command line."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import orjson
import typer

from canal.assist.present import (
    contact_json,
    delivery_json,
    figures_json,
    notification_json,
    request_json,
)
from canal.cli.common import TOKEN_OPTION, emit_json, message, principal, services
from canal.errors import InvalidInput
from canal.model.stix import to_micros

contacts_app = typer.Typer(help="The directory of 24/7 points of contact (R23).")
requests_app = typer.Typer(help="Requests for assistance between 24/7 points of contact.")


# -- contacts ---------------------------------------------------------------------------------


@contacts_app.command("list")
def contacts_list(
    country: str | None = typer.Option(None, "--country", help="Only this country."),
    token: str | None = TOKEN_OPTION,
) -> None:
    """Points of contact, one JSON object per line."""
    caller = principal(token)
    for contact in services().assist.contacts(caller, country):
        emit_json(contact_json(contact, caller))


@contacts_app.command("set")
def contacts_set(
    country: str = typer.Argument(..., help="ISO 3166-1 alpha-2 code."),
    slot: str = typer.Argument(..., help="primary or backup"),
    name: str = typer.Option(..., "--name", help="The person or desk."),
    phone: str = typer.Option(..., "--phone", help="International number, +CC ..."),
    email: str | None = typer.Option(None, "--email"),
    webhook_url: str | None = typer.Option(None, "--webhook-url"),
    webhook_secret: str | None = typer.Option(
        None,
        "--webhook-secret",
        envvar="CANAL_CONTACT_WEBHOOK_SECRET",
        help="Key that signs the webhooks (at least 16 characters).",
    ),
    hours: str = typer.Option("24/7", "--hours"),
    languages: str = typer.Option("", "--languages", help="ISO 639-1 codes: en,fr"),
    inactive: bool = typer.Option(False, "--inactive", help="On file but not reachable now."),
    token: str | None = TOKEN_OPTION,
) -> None:
    """Set a country's primary or backup contact (its NCB administrator)."""
    caller = principal(token)
    body = {
        "name": name,
        "phone": phone,
        "email": email,
        "webhook_url": webhook_url,
        "webhook_secret": webhook_secret,
        "hours": hours,
        "languages": languages,
        "active": not inactive,
    }
    saved = services().assist.set_contact(caller, country, slot, body)
    emit_json(contact_json(saved, caller))
    message(f"{saved.slot.value} contact of {saved.country} set")


@contacts_app.command("remove")
def contacts_remove(
    country: str = typer.Argument(...),
    slot: str = typer.Argument(...),
    token: str | None = TOKEN_OPTION,
) -> None:
    """Remove a contact."""
    services().assist.remove_contact(principal(token), country, slot)
    message(f"{slot} contact of {country.upper()} removed")


@contacts_app.command("missing")
def contacts_missing(token: str | None = TOKEN_OPTION) -> None:
    """Member countries with no active point of contact, one JSON object per line."""
    missing = services().assist.missing_contacts(principal(token))
    for item in missing:
        emit_json(item)
    message(f"{len(missing)} member countr{'y' if len(missing) == 1 else 'ies'} without one")


# -- requests ---------------------------------------------------------------------------------


def _read_json(path: str) -> dict[str, object]:
    raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(path, f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidInput(path, "must hold one JSON object")
    return value


def _now_micros() -> int:
    return to_micros(services().clock.now())


@requests_app.command("file")
def requests_file(
    path: str = typer.Argument(..., help="The request as a JSON object ('-' for stdin)."),
    token: str | None = TOKEN_OPTION,
) -> None:
    """File a request (the same JSON as POST /api/v1/requests)."""
    svc = services()
    filed = svc.assist.file(principal(token), _read_json(path))
    out = request_json(filed.shown, svc.records.org_names(), now=_now_micros())
    out["links_hidden_from_requested_country"] = filed.hidden_from_requested
    emit_json(out)
    message(f"request {filed.shown.request.id} {filed.shown.request.state.value}")


@requests_app.command("list")
def requests_list(
    direction: str | None = typer.Option(None, "--direction", help="sent or received"),
    state: str | None = typer.Option(None, "--state"),
    token: str | None = TOKEN_OPTION,
) -> None:
    """Requests the caller may see, one JSON object per line."""
    svc = services()
    names = svc.records.org_names()
    now = _now_micros()
    for shown in svc.assist.find(principal(token), direction=direction, state=state):
        emit_json(request_json(shown, names, now=now, detail=False))


@requests_app.command("show")
def requests_show(request_id: str = typer.Argument(...), token: str | None = TOKEN_OPTION) -> None:
    """One request with its links and history."""
    svc = services()
    shown = svc.assist.get(principal(token), request_id)
    emit_json(request_json(shown, svc.records.org_names(), now=_now_micros()))


@requests_app.command("move")
def requests_move(
    request_id: str = typer.Argument(...),
    to: str = typer.Argument(..., help="The next state: acknowledged, in-progress, ..."),
    reason: str | None = typer.Option(None, "--reason"),
    ground: str | None = typer.Option(None, "--ground", help="A refusal's ground."),
    answer: str | None = typer.Option(None, "--answer", help="What was done."),
    mla_reference: str | None = typer.Option(None, "--mla-reference"),
    token: str | None = TOKEN_OPTION,
) -> None:
    """Move a request to its next state."""
    svc = services()
    shown = svc.assist.transition(
        principal(token),
        request_id,
        to,
        reason=reason,
        ground=ground,
        answer=answer,
        mla_reference=mla_reference,
    )
    emit_json(request_json(shown, svc.records.org_names(), now=_now_micros()))
    message(f"request {request_id} is {shown.request.state.value}")


def _parse_now(raw: str) -> datetime:
    try:
        at = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidInput("--now", f"{raw!r} is not a time such as 2026-03-01T12:00:00Z") from None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


@requests_app.command("sweep")
def requests_sweep(
    now: str | None = typer.Option(
        None, "--now", help="Apply the deadlines as of this time (UTC; default: now)."
    ),
) -> None:
    """Apply every deadline: escalations, overdue answers, reminders, expiries; then deliver
    queued e-mails and webhooks."""
    report = services().assist.sweep(None if now is None else _parse_now(now))
    emit_json(report.to_json())


@requests_app.command("figures")
def requests_figures(token: str | None = TOKEN_OPTION) -> None:
    """Per requested country: times to acknowledge and answer, overdue counts."""
    for figures in services().assist.figures(principal(token)):
        emit_json(figures_json(figures))


@requests_app.command("notifications")
def requests_notifications(
    unread: bool = typer.Option(False, "--unread"), token: str | None = TOKEN_OPTION
) -> None:
    """The caller's in-app notifications, newest first."""
    for item in services().assist.notifications(principal(token), unread_only=unread):
        emit_json(notification_json(item))


@requests_app.command("deliveries")
def requests_deliveries(
    state: str | None = typer.Option(None, "--state", help="pending, sent or failed"),
    token: str | None = TOKEN_OPTION,
) -> None:
    """E-mails and webhooks and how their delivery went."""
    for item in services().assist.deliveries(principal(token), state=state):
        emit_json(delivery_json(item))


@requests_app.command("retry")
def requests_retry(
    delivery_id: int = typer.Argument(...), token: str | None = TOKEN_OPTION
) -> None:
    """Send a failed delivery again (at the next sweep)."""
    emit_json(delivery_json(services().assist.retry_delivery(principal(token), delivery_id)))


@requests_app.command("close-incident")
def requests_close_incident(
    stix_id: str = typer.Argument(...),
    note: str | None = typer.Option(None, "--note"),
    token: str | None = TOKEN_OPTION,
) -> None:
    """Declare an incident closed (its source)."""
    services().packages.close_incident(principal(token), stix_id, note)
    message(f"incident {stix_id} closed")


@requests_app.command("package")
def requests_package(
    stix_id: str = typer.Argument(..., help="The closed incident."),
    fmt: str = typer.Option("stix", "--format", help="stix or html"),
    output: Path | None = typer.Option(None, "-o", "--output", help="File (default: stdout)."),
    token: str | None = TOKEN_OPTION,
) -> None:
    """The post-event package of a closed incident (R36)."""
    if fmt not in {"stix", "html"}:
        raise InvalidInput("--format", f"{fmt!r} is not stix or html")
    packages = services().packages
    built = packages.build(principal(token), stix_id)
    if fmt == "html":
        data = packages.html(built).encode()
    else:
        data = orjson.dumps(packages.stix_bundle(built), option=orjson.OPT_INDENT_2)
    if output is None:
        sys.stdout.buffer.write(data + b"\n")
    else:
        output.write_bytes(data)
        message(f"package written to {output}")
