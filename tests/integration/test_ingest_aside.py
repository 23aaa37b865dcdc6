"""Bulk ingest with the checks in a second process (`aside`, as `canal ingest` runs it) stores
exactly what ingest in one process stores, hands back the input's side problems, and fails
cleanly when the checking process does."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from canal.accounts.service import LOCAL_ADMIN
from canal.ingest.aside import AsideFailed
from canal.ingest.service import ASIDE_FROM
from canal.store.tables import audit_subjects, cluster_members, record_observables, records
from conftest import make_services
from factories import add_org, indicator, stix_id


def _mixed(n: int) -> list[Any]:
    """Indicators sharing values (links), later versions of earlier ones, exact duplicates,
    and junk the checks reject."""
    objects: list[Any] = []
    firsts: list[dict[str, Any]] = []
    for i in range(n):
        if i % 97 == 5:
            objects.append({"type": "indicator", "id": "not-an-id"})
        elif i % 89 == 7 and firsts:
            objects.append(dict(firsts[-1]))  # an exact duplicate
        elif i % 83 == 11 and firsts:
            objects.append(
                {**firsts[-1], "modified": "2026-03-01T00:00:00.000Z", "name": f"v2 {i}"}
            )
        else:
            obj = indicator(f"198.51.{i % 7}.{i % 200}", id=stix_id("indicator"))
            firsts.append(obj)
            objects.append(obj)
    return objects


def _store_state(services) -> dict[str, int]:
    # The processing log is compared by what it names: aside, the first chunk is smaller, so
    # the same records are logged over one more entry.
    with services.database.read() as conn:
        return {
            table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (records, record_observables, cluster_members, audit_subjects)
        }


def test_aside_stores_what_one_process_stores(sqlite_template: Path, tmp_path: Path):
    objects = _mixed(ASIDE_FROM + 1_500)
    outcomes = {}
    for aside in (False, True):
        path = tmp_path / f"aside-{aside}.db"
        shutil.copy(sqlite_template, path)
        services = make_services(f"sqlite:///{path}")
        try:
            org = add_org(services)
            report = services.ingest.ingest_objects(
                objects, principal=LOCAL_ADMIN, source=org, aside=aside
            )
            outcomes[aside] = (
                [(r.index, r.stix_id, r.status, r.version, r.reason) for r in report.results],
                _store_state(services),
            )
        finally:
            services.close()
    assert outcomes[True] == outcomes[False]
    results, state = outcomes[True]
    statuses = {status for _, _, status, _, _ in results}
    assert {"created", "new-version", "duplicate", "rejected"} <= statuses
    assert state["cluster_members"] > 0


class _WithProblems:
    """An input that reports problems on the side while it is read, as the MISP feed does."""

    def __init__(self, objects: list[Any]) -> None:
        self.objects = objects
        self.problems: list[str] = []

    def __iter__(self) -> Iterator[Any]:
        for i, obj in enumerate(self.objects):
            if i % 1000 == 0:
                self.problems.append(f"item {i}: a detail was dropped")
            yield obj


def test_side_problems_come_back_from_the_checking_process(sqlite_services):
    org = add_org(sqlite_services)
    feed = _WithProblems([indicator(f"203.0.113.{i % 250}") for i in range(2_500)])
    report = sqlite_services.ingest.ingest_objects(
        feed, principal=LOCAL_ADMIN, source=org, aside=True
    )
    assert report.summary()["created"] == 2_500
    assert feed.problems == [f"item {i}: a detail was dropped" for i in (0, 1000, 2000)]


class _Breaks:
    def __iter__(self) -> Iterator[Any]:
        for i in range(12_000):
            if i == 11_000:
                raise ValueError("the feed's server went away")
            yield indicator(f"192.0.2.{i % 250}")


def test_a_failing_input_fails_cleanly_and_keeps_what_was_stored(sqlite_services):
    org = add_org(sqlite_services)
    with pytest.raises(AsideFailed, match="the feed's server went away"):
        sqlite_services.ingest.ingest_objects(
            _Breaks(), principal=LOCAL_ADMIN, source=org, aside=True
        )
    # The chunks written before the failure stay (each chunk is its own transaction): a fifth
    # of a chunk first, then whole ones.
    size = sqlite_services.ingest.chunk_size
    first = size // 5
    assert _store_state(sqlite_services)["records"] == first + (11_000 - first) // size * size
