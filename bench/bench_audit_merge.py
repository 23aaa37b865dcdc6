"""Single lookups while a server merges the processing log's subjects: how long a lookup waits
behind the merge of a batch into the by-record index (store.audit.merge_subjects_when_due).

    .venv/bin/python bench/bench_audit_merge.py [--store var/bench500k.db] [--subjects 50000]

Subjects are written as a server's writers write them (merging left to the background task),
by ingesting `--subjects` new indicators; then one thread looks values up one at a time, back
to back, each lookup its own small write as over HTTP, while the main thread runs the merge.
Reported: the merge's own time, and the lookups' p50, p99 and worst latency, of those begun
during the merge and of those begun before it (the one under way when the merge began is
among these). Use the store `bench_correlate.py --keep` leaves (its index holds a million
subjects) to see the effect at scale; without --store a new store is made.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy import select

from canal.accounts.service import LOCAL_ADMIN
from canal.analysis.lookup import LookupItem
from canal.app import build_services, tune_collector
from canal.config import load_settings
from canal.model.org import OrgKind
from canal.store.migrate import upgrade
from canal.store.tables import observables, sequencer

# The correlation bench's world and checkpoint, from the file beside this one.
sys.path.insert(0, str(Path(__file__).parent))
from bench_correlate import checkpoint, indicators


def percentiles(latencies: list[float]) -> str:
    if not latencies:
        return "no lookups"
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"{len(ordered):,} lookups, p50 {statistics.median(ordered):.1f} ms, "
        f"p99 {p99:.1f} ms, worst {ordered[-1]:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", help="SQLite file (default: a new one)")
    parser.add_argument("--subjects", type=int, default=50_000)
    parser.add_argument("--before-seconds", type=float, default=3.0)
    args = parser.parse_args()
    tune_collector()
    path = Path(args.store) if args.store else Path(tempfile.mkdtemp()) / "merge.db"
    services = build_services(load_settings(environ={}, database_url=f"sqlite:///{path}"))
    upgrade(services.database)
    services.database.checkpoint_in_background()
    services.database.merges_in_background = True  # as a server's writers
    orgs = {o.name: o for o in services.accounts.list_orgs()}
    source = orgs.get("NCB Paris") or services.accounts.add_org(
        LOCAL_ADMIN, name="NCB Paris", kind=OrgKind.MEMBER, country="FR"
    )
    with services.database.read() as conn:
        unmerged = conn.execute(select(sequencer.c.unmerged_subjects)).scalar_one()
    if unmerged < args.subjects:
        objects = list(indicators(args.subjects - unmerged, seed=int(time.time())))
        services.ingest.ingest_objects(objects, principal=LOCAL_ADMIN, source=source)
    with services.database.read() as conn:
        unmerged = conn.execute(select(sequencer.c.unmerged_subjects)).scalar_one()
        values = [
            LookupItem(value, kind)
            for kind, value in conn.execute(
                select(observables.c.kind, observables.c.value).limit(20_000)
            )
        ]
    print(f"store {path}: {unmerged:,} subjects waiting to be merged")
    checkpoint(services.database)  # what the ingest wrote, copied back before the lookups start

    phase = ["before"]
    latencies: dict[str, list[float]] = {"before": [], "during": [], "after": []}
    stop = threading.Event()

    def look_up() -> None:
        i = 0
        while not stop.is_set():
            item = values[i % len(values)]
            i += 1
            when, start = phase[0], time.perf_counter()
            services.lookups.lookup(LOCAL_ADMIN, [item])
            # Counted in the phase it started in: one that waited out the merge is "during".
            latencies[when].append((time.perf_counter() - start) * 1000)

    client = threading.Thread(target=look_up, daemon=True)
    client.start()
    time.sleep(args.before_seconds)
    phase[0] = "during"
    start = time.perf_counter()
    merged = services.audit.merge_subjects_when_due()
    took = time.perf_counter() - start
    phase[0] = "after"
    stop.set()
    client.join()
    print(f"merge: {took:.2f} s ({'merged' if merged else 'nothing to merge'})")
    print(f"lookups during the merge: {percentiles(latencies['during'])}")
    print(f"lookups begun before it: {percentiles(latencies['before'])}")
    services.close()


if __name__ == "__main__":
    main()
