"""What every command shares: the settings, the services, and the acting principal."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Self

import orjson
import typer

from canal.accounts.service import LOCAL_ADMIN
from canal.app import Services, build_services
from canal.config import load_settings
from canal.model.org import Principal
from canal.store.errors import StoreUnavailable

TOKEN_OPTION = typer.Option(
    None,
    "--token",
    envvar="CANAL_TOKEN",
    help="Act as the principal of this API token (default: the local administrator).",
    show_envvar=True,
)


@dataclass
class _State:
    debug: bool = False
    services: Services | None = None

    def get_services(self) -> Services:
        if self.services is None:
            self.services = build_services(load_settings())
        return self.services

    def store_problem(self) -> str | None:
        """Why the store cannot be used (unreachable, not set up, schema behind), if so."""
        if self.services is None:
            return None
        try:
            self.services.database.check()
        except StoreUnavailable as exc:
            return str(exc)
        except Exception:  # noqa: BLE001 - asked on the way out of another error: never raise
            return None
        return None

    def close(self) -> None:
        if self.services is not None:
            self.services.close()
            self.services = None


state = _State()


def services() -> Services:
    return state.get_services()


def principal(token: str | None) -> Principal:
    """The principal the command acts as: the token's, or the local administrator's."""
    if not token:
        return LOCAL_ADMIN
    return services().accounts.authenticate(token)


def emit_json(value: object) -> None:
    typer.echo(orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode())


def message(text: str) -> None:
    typer.echo(text, err=True)


class Progress:
    """A progress line on stderr for long work, drawn only on a terminal (logs stay clean)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.enabled = sys.stderr.isatty()
        self.drawn = False

    def __call__(self, done: int, total: int | None = None) -> None:
        if not self.enabled:
            return
        text = f"{self.label}: {done:,}"
        if total:
            width = 30
            filled = width * done // total
            text = f"{self.label} [{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,}"
        sys.stderr.write("\r" + text)
        sys.stderr.flush()
        self.drawn = True

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.drawn:
            sys.stderr.write("\n")
            sys.stderr.flush()
