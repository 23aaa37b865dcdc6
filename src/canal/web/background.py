"""Work the server does on its own: loading the warninglists at start-up, the 24/7
network's deadline sweep and notification delivery.

Every worker runs it; the sweep claims each step in the database, so several workers (or a
`canal requests sweep` from cron) never take the same step twice, and no state lives here."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

from canal.app import Services, tune_collector

log = logging.getLogger("canal.web")


async def merge_subjects_forever(services: Services, interval: float = 0.5) -> None:
    """The processing log's subjects, merged into their index off the request path: the merge
    runs in SQLite, outside the interpreter lock, while requests parse and check their input."""
    while True:
        try:
            await asyncio.to_thread(services.audit.merge_subjects_when_due)
        except Exception:
            # Writers merge themselves past SUBJECT_MERGE_CAP; the loop must not die.
            log.exception("merging the processing log's subjects failed")
        await asyncio.sleep(interval)


async def sweep_forever(services: Services, interval: float) -> None:
    while True:
        try:
            report = await asyncio.to_thread(services.assist.sweep)
            if any(report.to_json().values()):
                log.info("24/7 sweep: %s", report.to_json())
        except Exception:
            # A failed sweep is retried at the next tick; the loop must not die.
            log.exception("24/7 sweep failed")
        await asyncio.sleep(interval)


def lifespan(services: Services) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def run(_app: FastAPI) -> AsyncIterator[None]:
        # The warninglists index takes seconds to build: before the first request, not in it.
        await asyncio.to_thread(services.index.warninglists.load)
        # What start-up built lives as long as the process: out of the collector's sight.
        tune_collector()
        # Small writes (lookups, the read log) must not wait behind a commit that copies the
        # WAL back into the database: a thread of the server's own does it.
        services.database.checkpoint_in_background()
        services.database.merges_in_background = True
        tasks = [asyncio.create_task(merge_subjects_forever(services))]
        interval = services.settings.assist_sweep_seconds
        if interval > 0:
            tasks.append(asyncio.create_task(sweep_forever(services, interval)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    return run
