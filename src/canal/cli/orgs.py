"""canal org add|list"""

from __future__ import annotations

import typer

from canal.cli.common import TOKEN_OPTION, emit_json, message, principal, services
from canal.model.handling import HandlingDefaults, Tlp
from canal.model.org import OrgKind

app = typer.Typer(help="Organisations: member countries, partners, the secretariat.")


@app.command("add")
def add(
    name: str = typer.Argument(..., help="The org's name (3 to 200 characters)."),
    kind: OrgKind = typer.Option(..., "--kind", help="member, partner or secretariat."),
    country: str | None = typer.Option(
        None, "--country", help="ISO 3166-1 alpha-2 code; members only."
    ),
    tlp: str | None = typer.Option(
        None, "--default-tlp", help="TLP for what the org submits without markings."
    ),
    token: str | None = TOKEN_OPTION,
) -> None:
    """Add an organisation."""
    defaults = HandlingDefaults(tlp=Tlp.parse(tlp) if tlp else None)
    org = services().accounts.add_org(
        principal(token), name=name, kind=kind, country=country, defaults=defaults
    )
    emit_json({"id": org.id, "name": org.name, "kind": org.kind, "country": org.country})
    message(f"org {org.name!r} added")


@app.command("list")
def list_(
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """List organisations."""
    for org in services().accounts.list_orgs():
        if as_json:
            emit_json(
                {
                    "id": org.id,
                    "name": org.name,
                    "kind": org.kind,
                    "country": org.country,
                    "defaults": org.defaults.to_json(),
                }
            )
        else:
            typer.echo(f"{org.id}\t{org.kind.value}\t{org.country or '-'}\t{org.name}")
