"""Loading the demo world: its orgs first, then every object under the org that reports it.

Loading twice is safe: orgs that exist are reused, and ingest counts an object it already holds
from the same source as a duplicate, so a second run creates nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import groupby
from typing import Any, Protocol

from canal.accounts.service import LOCAL_ADMIN, AccountService
from canal.demo.world import DEFAULT_SEED, Batch, World
from canal.errors import InvalidInput
from canal.ingest.service import IngestService, ObjectStatus
from canal.model.org import Org

#: How many rejection reasons the summary keeps: enough to see what went wrong.
_REASONS_KEPT = 10


class DemoServices(Protocol):
    """What loading needs of `canal.app.Services` (which sits a layer above this package)."""

    @property
    def accounts(self) -> AccountService: ...

    @property
    def ingest(self) -> IngestService: ...


@dataclass(frozen=True, slots=True)
class DemoSummary:
    """What a load did. `rejected` is 0 for a sound world; `rejections` holds the first few
    reasons otherwise."""

    scale: int
    seed: int
    orgs: int
    orgs_created: int
    objects: int
    created: int
    new_versions: int
    duplicates: int
    rejected: int
    rejections: tuple[str, ...] = ()


def _objects(batches: Iterable[Batch]) -> Iterator[dict[str, Any]]:
    for batch in batches:
        yield from batch.objects


def ensure_orgs(services: DemoServices, world: World) -> tuple[dict[str, Org], int]:
    """The demo orgs by name, created where missing; and how many were created. An org of the
    same name but another kind or country stops the load before anything is written."""
    existing = {org.name: org for org in services.accounts.list_orgs()}
    for spec in world.orgs:
        org = existing.get(spec.name)
        if org is not None and (org.kind is not spec.kind or org.country != spec.country):
            raise InvalidInput(
                f"org {spec.name!r}",
                f"exists as a {org.kind} org ({org.country or 'no country'}), but the demo "
                f"world needs a {spec.kind} org ({spec.country or 'no country'}); "
                "load the demo into another database",
            )
    orgs: dict[str, Org] = {}
    created = 0
    for spec in world.orgs:
        org = existing.get(spec.name)
        if org is None:
            org = services.accounts.add_org(
                LOCAL_ADMIN,
                name=spec.name,
                kind=spec.kind,
                country=spec.country,
                defaults=spec.defaults,
            )
            created += 1
        orgs[spec.name] = org
    return orgs, created


def load_demo(
    services: DemoServices,
    *,
    scale: int = 1,
    seed: int = DEFAULT_SEED,
    progress: Callable[[int], None] | None = None,
) -> DemoSummary:
    """Create the demo orgs and ingest the demo world of `seed` at `scale`. `progress` is
    called with the number of objects handled so far."""
    if scale < 1:
        raise InvalidInput("scale", f"must be at least 1, not {scale}")
    # The loader needs no ground truth; not keeping it keeps memory flat at any scale.
    world = World(seed=seed, scale=scale, track_ids=False)
    orgs, orgs_created = ensure_orgs(services, world)
    counts = dict.fromkeys(ObjectStatus, 0)
    reasons: list[str] = []
    done = 0
    # One submission per org: the generator's batches stream into ingest's own chunks.
    for name, batches in groupby(world.batches(), key=lambda batch: batch.source.name):
        base = done

        def report_progress(seen: int, _total: int | None, base: int = base) -> None:
            # The submission's own total is unknown (a stream) and not the world's anyway.
            if progress is not None:
                progress(base + seen)

        report = services.ingest.ingest_objects(
            _objects(batches),
            principal=LOCAL_ADMIN,
            source=orgs[name],
            progress=report_progress,
        )
        for result in report.results:
            counts[result.status] += 1
            if result.status is ObjectStatus.REJECTED and len(reasons) < _REASONS_KEPT:
                reasons.append(f"{name}: {result.stix_id}: {result.reason}")
        done += len(report.results)
    return DemoSummary(
        scale=scale,
        seed=seed,
        orgs=len(orgs),
        orgs_created=orgs_created,
        objects=done,
        created=counts[ObjectStatus.CREATED],
        new_versions=counts[ObjectStatus.NEW_VERSION],
        duplicates=counts[ObjectStatus.DUPLICATE],
        rejected=counts[ObjectStatus.REJECTED],
        rejections=tuple(reasons),
    )
