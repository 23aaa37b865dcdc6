"""The `canal` command line (Typer). Data goes to stdout, messages to stderr; exit 0 on success,
1 when anything was rejected or failed, 2 on usage errors. Tracebacks only with --debug."""

from __future__ import annotations

import sys

import typer

from canal.app import tune_collector
from canal.cli import analysis, audit, data, orgs, pull, review, server, tokens
from canal.cli import assist as assist_cli
from canal.cli.common import state
from canal.errors import CanalError

app = typer.Typer(
    name="canal",
    help="canal: a cybercrime intelligence channel.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
) -> None:
    state.debug = debug


server.register(app)
data.register(app)
pull.register(app)
analysis.register(app)
app.add_typer(orgs.app, name="org")
app.add_typer(tokens.app, name="token")
app.add_typer(audit.app, name="audit")
app.add_typer(assist_cli.contacts_app, name="contacts")
app.add_typer(assist_cli.requests_app, name="requests")
app.add_typer(review.quarantine_app, name="quarantine")
app.add_typer(review.proposal_app, name="proposal")


def main() -> None:
    # Standalone mode: click turns usage errors into exit 2 and typer.Exit into its code;
    # canal's own errors become one line on stderr and exit 1.
    tune_collector()
    try:
        app()
    except CanalError as exc:
        if state.debug:
            raise
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except Exception as exc:
        if state.debug:
            raise
        # Most often a store that is not set up (no `canal init` yet, or a schema behind this
        # version), whichever layer's error it surfaced as: say that, rather than what failed.
        unready = state.store_problem()
        typer.echo(
            f"error: {unready}"
            if unready
            else f"error: unexpected {type(exc).__name__}: {exc} (run with --debug for details)",
            err=True,
        )
        sys.exit(1)
    finally:
        state.close()
