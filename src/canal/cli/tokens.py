"""canal token create|list|revoke"""

from __future__ import annotations

import typer

from canal.cli.common import TOKEN_OPTION, emit_json, message, principal, services
from canal.model.handling import Confidentiality
from canal.model.org import Role
from canal.model.stix import format_micros

app = typer.Typer(help="API tokens: each acts as one principal (an org and a role).")


@app.command("create")
def create(
    org: str = typer.Option(..., "--org", help="The org the token acts for."),
    role: Role = typer.Option(..., "--role", help="The role it acts in."),
    name: str | None = typer.Option(None, "--name", help="A label for the processing log."),
    clearance: str = typer.Option(
        "restricted", "--clearance", help="official-use, restricted or confidential."
    ),
    days: int = typer.Option(365, "--days", help="Days until the token expires."),
    token: str | None = TOKEN_OPTION,
) -> None:
    """Create a token and print it once on stdout; only its hash is kept."""
    svc = services()
    issued = svc.accounts.create_token(
        principal(token),
        org=svc.accounts.org(org),
        role=role,
        name=name,
        clearance=Confidentiality.parse(clearance),
        days=days,
    )
    typer.echo(issued.token)
    message(
        f"token {issued.row.id} for {org!r} as {role.value}; store it now, it is not shown again"
    )


@app.command("list")
def list_(
    org: str | None = typer.Option(None, "--org", help="Only this org's tokens."),
    token: str | None = TOKEN_OPTION,
) -> None:
    """List tokens (never their secrets)."""
    svc = services()
    for row in svc.accounts.list_tokens(
        principal(token), None if org is None else svc.accounts.org(org)
    ):
        emit_json(
            {
                "id": row.id,
                "org_id": row.org_id,
                "role": row.role,
                "name": row.name,
                "prefix": row.prefix,
                "created": format_micros(row.created_at),
                "expires": None if row.expires_at is None else format_micros(row.expires_at),
                "revoked": None if row.revoked_at is None else format_micros(row.revoked_at),
            }
        )


@app.command("revoke")
def revoke(
    token_id: int = typer.Argument(..., help="The token's id (see `canal token list`)."),
    token: str | None = TOKEN_OPTION,
) -> None:
    """Revoke a token; it stops working at once."""
    services().accounts.revoke_token(principal(token), token_id)
    message(f"token {token_id} revoked")
