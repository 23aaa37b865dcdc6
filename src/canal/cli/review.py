"""canal quarantine list|release|reject, canal proposal list|accept|reject"""

from __future__ import annotations

import typer

from canal.cli.common import TOKEN_OPTION, emit_json, message, principal, services
from canal.errors import InvalidInput
from canal.model.handling import Audience, HandlingError, Tlp
from canal.model.stix import format_micros

quarantine_app = typer.Typer(help="Partner submissions waiting for the secretariat's review.")
proposal_app = typer.Typer(help="Changes proposed to a record by someone other than its source.")


@quarantine_app.command("list")
def quarantine_list(
    limit: int = typer.Option(100, "--limit", min=1, max=1000),
    token: str | None = TOKEN_OPTION,
) -> None:
    """Quarantined partner submissions, oldest first, one JSON object per line."""
    svc = services()
    names = svc.records.org_names()
    for seen in svc.review.quarantined(principal(token), limit=limit):
        record = seen.record
        emit_json(
            {
                "id": record.stix_id,
                "type": record.stix_type,
                "version": format_micros(record.version),
                "source": names.get(record.handling.source_org_id),
                "tlp": record.handling.tlp.label,
                "audience": record.handling.audience.value,
            }
        )


@quarantine_app.command("release")
def quarantine_release(
    stix_id: str = typer.Argument(..., help="The submission's STIX id."),
    tlp: str | None = typer.Option(None, "--tlp", help="Change its TLP on release."),
    audience: str | None = typer.Option(None, "--audience", help="Change its audience."),
    token: str | None = TOKEN_OPTION,
) -> None:
    """Release a partner submission as a secretariat product."""
    try:
        new_tlp = Tlp.parse(tlp) if tlp else None
        new_audience = Audience.parse(audience) if audience else None
    except HandlingError as exc:
        raise InvalidInput("release", str(exc)) from None
    count = services().review.release(principal(token), stix_id, tlp=new_tlp, audience=new_audience)
    message(f"released {stix_id} ({count} version(s))")


@quarantine_app.command("reject")
def quarantine_reject(
    stix_id: str = typer.Argument(..., help="The submission's STIX id."),
    reason: str = typer.Option(..., "--reason", help="Why, for the partner."),
    token: str | None = TOKEN_OPTION,
) -> None:
    """Reject a partner submission; the partner sees the reason."""
    services().review.reject(principal(token), stix_id, reason)
    message(f"rejected {stix_id}")


@proposal_app.command("list")
def proposal_list(token: str | None = TOKEN_OPTION) -> None:
    """Proposals to the caller's org and those it made, one JSON object per line."""
    svc = services()
    names = svc.records.org_names()
    for p in svc.review.proposals(principal(token)):
        emit_json(
            {
                "id": p.id,
                "object_id": p.stix_id,
                "source": names.get(p.source_org_id),
                "proposer": names.get(p.proposer_org_id),
                "state": p.state.value,
                "note": p.note,
                "created": format_micros(p.created_at),
            }
        )


@proposal_app.command("accept")
def proposal_accept(
    proposal_id: int = typer.Argument(...), token: str | None = TOKEN_OPTION
) -> None:
    """Accept a proposal: it becomes the source's new version, under the source's handling."""
    result = services().review.accept(principal(token), proposal_id)
    emit_json(result.to_json())
    if result.status.value == "rejected":
        raise typer.Exit(1)


@proposal_app.command("reject")
def proposal_reject(
    proposal_id: int = typer.Argument(...),
    reason: str = typer.Option("", "--reason"),
    token: str | None = TOKEN_OPTION,
) -> None:
    """Reject a proposal."""
    services().review.reject_proposal(principal(token), proposal_id, reason)
    message(f"proposal {proposal_id} rejected")
