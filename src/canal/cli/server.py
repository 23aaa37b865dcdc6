"""canal init, canal compact, canal serve, canal demo"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict
from typing import Any

import typer

from canal.cli.common import Progress, emit_json, message, services
from canal.store.migrate import upgrade


def log_config() -> dict[str, Any]:
    """uvicorn's logging, with a plain formatter for the access log: uvicorn's own copies
    every record to colour it, a tenth of a small request's time."""
    from uvicorn.config import LOGGING_CONFIG  # noqa: PLC0415 - only serve needs uvicorn

    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["access"] = {
        "()": "logging.Formatter",
        "fmt": "%(levelname)s:     %(message)s",
    }
    return config


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("compact")(compact)
    app.command("serve")(serve)
    app.command("demo")(demo)


def init() -> None:
    """Create or migrate the database."""
    revision = upgrade(services().database)
    message(f"database ready at schema revision {revision}")


def compact() -> None:
    """Rewrite the store's file in order, after a large load or deletion (SQLite's VACUUM):
    reads that walk an index then read the disk in sequence. Writers wait until it is done."""
    svc = services()
    svc.database.check()
    message("compacting the store (writers wait; SQLite needs free disk of twice its size)")
    started = time.perf_counter()
    saved = svc.database.compact()
    message(f"store compacted in {time.perf_counter() - started:.1f} s, {saved:,} bytes saved")


def serve(
    host: str | None = typer.Option(None, "--host", help="Address to listen on."),
    port: int | None = typer.Option(None, "--port", help="Port to listen on."),
    workers: int = typer.Option(
        1, "--workers", min=1, help="Worker processes (each serves requests on its own)."
    ),
) -> None:
    """Run the web app: REST API and TAXII 2.1."""
    import uvicorn  # noqa: PLC0415 - only this command needs the server

    svc = services()
    svc.database.check()
    address, number = host or svc.settings.host, port or svc.settings.port
    if workers > 1:
        # Each worker builds its own services from the environment (canal.web.asgi).
        uvicorn.run(
            "canal.web.asgi:app",
            factory=True,
            workers=workers,
            host=address,
            port=number,
            log_level="info",
            log_config=log_config(),
        )
        return
    from canal.web.app import create_app  # noqa: PLC0415

    uvicorn.run(
        create_app(svc), host=address, port=number, log_level="info", log_config=log_config()
    )


def demo(
    scale: int = typer.Option(1, "--scale", min=1, help="Multiplies the world's size."),
    seed: int = typer.Option(2021, "--seed", help="Seed of the world; same seed, same world."),
) -> None:
    """Load the reproducible demo world (orgs and a year of cybercrime as STIX)."""
    from canal.demo.load import load_demo  # noqa: PLC0415 - only this command needs it

    svc = services()
    svc.database.check()
    with Progress("loading the demo world") as progress:
        summary = load_demo(svc, scale=scale, seed=seed, progress=progress)
    emit_json(asdict(summary))
    message("demo world loaded")
