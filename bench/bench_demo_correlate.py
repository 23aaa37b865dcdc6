"""Correlation on the demo world at scale, the world the correlation targets name: a full
`canal correlate` (on the clusters ingest kept current, and again with none held), and
incremental linking of 10,000 new demo objects against the same ingest with the index and
clusters off.

    .venv/bin/python bench/bench_demo_correlate.py --scale 150 --keep var/demo150.db

Then lookups of demo values as bench_correlate.py measures them (in-process batches at several
shares of hits, beside a bare `IN (...)`; single lookups over HTTP with wrk, if installed).

The demo world reuses each network's infrastructure across campaigns and sources (docs/
correlation.md): about 610 distinct values and 6,900 records per unit of scale, so 1M distinct
values take a scale of about 1,650 (11M records, a store of some 22 GB); scale 150 is 1M records.
The store is loaded once and kept; the runs' objects add to it. `--compact` times `canal
compact` before the rebuilds (as the docs ask after a large load); `--cold` drops the OS's page
cache before each rebuild (root only), as on a store larger than the memory the machine gives
its page cache.
`bench_correlate.py` measures the same on a world of indicators only, three values each (the
index's worst case per object).
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time
from itertools import groupby, islice
from pathlib import Path

from sqlalchemy import delete, func, select

from canal.accounts.service import LOCAL_ADMIN
from canal.app import build_services, tune_collector
from canal.config import load_settings
from canal.demo.load import ensure_orgs, load_demo
from canal.demo.world import DEFAULT_SEED, World
from canal.store.migrate import upgrade
from canal.store.tables import cluster_members, clusters, observables, records

# The correlation bench's incremental runs, from the file beside this one.
sys.path.insert(0, str(Path(__file__).parent))
from bench_correlate import bench_http_part, bench_incremental, bench_lookups, distinct_values


def count(services, table) -> int:
    with services.database.read() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def new_objects(services, n: int, seed: int) -> list[tuple[str, list[dict[str, object]]]]:
    """The first n objects of another demo world, by source org (created where missing)."""
    world = World(seed=seed, scale=2, track_ids=False)
    ensure_orgs(services, world)
    batches = islice(((b.source.name, o) for b in world.batches() for o in b.objects), n)
    return [(name, [o for _, o in group]) for name, group in groupby(batches, key=lambda x: x[0])]


def demo_submissions(services, n: int):
    """For bench_correlate.bench_incremental: the first n objects of another demo world each
    run, by source org."""
    orgs: dict[str, object] = {}

    def submissions(round_: int, indexed: bool) -> list[tuple[object, list[dict[str, object]]]]:
        # A world of its own every run, also on a store kept from an earlier one (--keep): the
        # same seed twice would measure duplicates.
        batches = new_objects(services, n, DEFAULT_SEED + 1000 + count(services, records))
        orgs.update({o.name: o for o in services.accounts.list_orgs()})
        if round_ == 0 and indexed:
            mix = collections.Counter(o["type"] for _, objs in batches for o in objs)
            print("  new objects:", ", ".join(f"{t} {c:,}" for t, c in mix.most_common()))
        return [(orgs[name], objs) for name, objs in batches]

    return submissions


def phases():
    """A rebuild's progress, each step with the seconds since the rebuild began."""
    start = time.perf_counter()
    return lambda step: print(f"    {time.perf_counter() - start:6.1f} s  {step}", flush=True)


def rebuild(services, cold: bool):
    """A full rebuild with its phases; `cold`: from the disk, the OS's page cache dropped
    first (root only) and the pool's connections, with their own caches, closed."""
    if cold:
        services.database.engine.dispose()
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("1\n")
    return services.correlator.rebuild(LOCAL_ADMIN, progress=phases())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=int, default=150)
    parser.add_argument("--keep", required=True, help="SQLite file, loaded once and kept")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--compact", action="store_true", help="canal compact (timed) before the rebuilds"
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help="each rebuild from the disk: the OS's page cache dropped first (root only)",
    )
    parser.add_argument(
        "--joined",
        action="store_true",
        help="the first rebuild after a load, emulated: clusters joined through the families, "
        "then a rebuild that splits them",
    )
    parser.add_argument("--skip-incremental", action="store_true")
    parser.add_argument("--skip-correlate", action="store_true")
    parser.add_argument("--skip-lookups", action="store_true")
    parser.add_argument("--http-seconds", type=float, default=15)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    tune_collector()
    path = Path(args.keep)
    path.parent.mkdir(parents=True, exist_ok=True)
    services = build_services(load_settings(environ={}, database_url=f"sqlite:///{path.resolve()}"))
    upgrade(services.database)
    services.database.checkpoint_in_background()
    if count(services, records) == 0:
        start = time.perf_counter()
        summary = load_demo(services, scale=args.scale)
        print(
            f"loaded scale {args.scale}: {summary.objects:,} objects in "
            f"{time.perf_counter() - start:.0f} s"
        )
    print(
        f"store: {count(services, records):,} records, "
        f"{count(services, observables):,} distinct observables"
    )
    if not args.skip_correlate:
        if args.compact:
            # As docs/correlation.md asks after a large load: the store rewritten in order.
            start = time.perf_counter()
            saved = services.database.compact()
            print(f"canal compact: {time.perf_counter() - start:.0f} s, {saved:,} bytes saved")
        report = rebuild(services, args.cold)
        print(
            f"full correlate on the clusters ingest kept: {report.seconds:.1f} s -> "
            f"{report.clusters:,} clusters of {report.clustered_records:,} records (target < 30 s)"
        )
        report = rebuild(services, args.cold)
        print(f"again, nothing to change: {report.seconds:.1f} s (target < 30 s)")
        with services.database.write() as conn:
            conn.execute(delete(cluster_members))
            conn.execute(delete(clusters))
        report = rebuild(services, args.cold)
        print(f"full correlate with no cluster held: {report.seconds:.1f} s (target < 30 s)")
        report = rebuild(services, args.cold)
        print(f"again, nothing to change: {report.seconds:.1f} s (target < 30 s)")
    if args.joined:
        # The first rebuild after a load, again without loading: a rebuild under a hub
        # threshold no family reaches joins the networks through them, as ingest had.
        joining = build_services(
            load_settings(
                environ={"CANAL_HUB_THRESHOLD": "5000"}, database_url=services.settings.database_url
            )
        )
        report = joining.correlator.rebuild(LOCAL_ADMIN)
        joining.close()
        print(
            f"joined through the families (hub threshold 5,000): {report.seconds:.1f} s -> "
            f"{report.clusters:,} clusters of {report.clustered_records:,} records"
        )
        report = rebuild(services, args.cold)
        print(
            f"full correlate splitting them again: {report.seconds:.1f} s -> "
            f"{report.clusters:,} clusters (target < 30 s)"
        )
    if not args.skip_incremental:
        indexed, plain = bench_incremental(
            services, 10_000, rounds=args.rounds, submissions=demo_submissions(services, 10_000)
        )
        print(
            f"incremental, 10,000 new demo objects (median of {args.rounds}): {indexed:,.0f} "
            f"objects/s with links and clusters vs {plain:,.0f}/s plain = {indexed / plain:.2f} "
            "(target >= 0.5)"
        )
    if args.skip_lookups:
        services.close()
        return
    values = distinct_values(services.database)
    bench_lookups(services, values)
    # Over HTTP, a member asks (the demo's NCBs are named with their country).
    asker = next(o.name for o in services.accounts.list_orgs() if o.name.startswith("NCB Rome"))
    url = services.settings.database_url
    services.close()
    bench_http_part(url, values, args, asker=asker)


if __name__ == "__main__":
    main()
