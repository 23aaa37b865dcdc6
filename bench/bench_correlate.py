"""Correlation at scale: a full rebuild over 1M distinct observables, incremental linking
during ingest against plain ingest, batch lookups against a bare SQLite IN (...) ceiling, and
the latency of single HTTP lookups under 20 concurrent clients (wrk, back to back and with
think time). All on SQLite, in one run.

    .venv/bin/python bench/bench_correlate.py [--records 400000] [--keep var/bench-corr.db]
    .venv/bin/python bench/bench_correlate.py --database-url postgresql+psycopg://postgres@127.0.0.1/bench

(PostgreSQL: create the database first, `createdb -h 127.0.0.1 -U postgres bench`; the bench
migrates and fills it, and keeps it between runs.)

The store: indicators in networks of 20, each carrying two values of its own and one shared
with its network (so about 2.5 distinct values per record), over domains, IPv4 and SHA-256.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from canal.accounts.service import LOCAL_ADMIN
from canal.analysis.lookup import LookupItem
from canal.app import build_services, tune_collector
from canal.config import load_settings
from canal.model.org import OrgKind, Role
from canal.store.migrate import upgrade

STAMP = "2026-05-01T10:00:00.000Z"
NETWORK = 20


def value_of(rng: random.Random, kind: int) -> tuple[str, str]:
    if kind == 0:
        return "domain-name:value", f"x{rng.getrandbits(48):012x}.net"
    if kind == 1:
        # 91.0.0.0/8 and the like: public space, mostly off the warninglists.
        return (
            "ipv4-addr:value",
            (
                f"{rng.choice((91, 92, 93, 94))}.{rng.randrange(256)}."
                f"{rng.randrange(256)}.{rng.randrange(1, 255)}"
            ),
        )
    return "file:hashes.'SHA-256'", f"{rng.getrandbits(256):064x}"


def indicators(count: int, seed: int) -> Iterator[dict[str, object]]:
    rng = random.Random(seed)
    shared: tuple[str, str] = ("", "")
    for i in range(count):
        if i % NETWORK == 0:
            shared = value_of(rng, rng.randrange(3))
        own = [value_of(rng, rng.randrange(3)) for _ in range(2)]
        pattern = " OR ".join(f"[{path} = '{value}']" for path, value in (shared, *own))
        yield {
            "type": "indicator",
            "spec_version": "2.1",
            "id": f"indicator--{uuid.UUID(int=rng.getrandbits(128), version=4)}",
            "created": STAMP,
            "modified": STAMP,
            "name": f"indicator {i}",
            "pattern": pattern,
            "pattern_type": "stix",
            "pattern_version": "2.1",
            "valid_from": STAMP,
            "object_marking_refs": ["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"],
        }


def fill(services, records: int) -> None:
    from sqlalchemy import func, select  # noqa: PLC0415

    from canal.store.tables import records as records_table  # noqa: PLC0415

    with services.database.read() as conn:
        have = conn.execute(select(func.count()).select_from(records_table)).scalar_one()
    if have >= records:
        return
    orgs = {o.name: o for o in services.accounts.list_orgs()}
    sources = [
        orgs.get(name)
        or services.accounts.add_org(LOCAL_ADMIN, name=name, kind=OrgKind.MEMBER, country=country)
        for name, country in (("NCB Paris", "FR"), ("NCB Rome", "IT"), ("NCB Lagos", "NG"))
    ]
    start = time.perf_counter()
    batch = 50_000
    for n, first in enumerate(range(have, records, batch)):
        size = min(batch, records - first)
        services.ingest.ingest_objects(
            list(indicators(size, seed=first)), principal=LOCAL_ADMIN, source=sources[n % 3]
        )
        done = first + size
        print(
            f"  loaded {done:,} records ({done / (time.perf_counter() - start):,.0f}/s)", flush=True
        )


def held_records(services) -> int:
    from sqlalchemy import func, select  # noqa: PLC0415

    from canal.store.tables import records as records_table  # noqa: PLC0415

    with services.database.read() as conn:
        return conn.execute(select(func.count()).select_from(records_table)).scalar_one()


def distinct_values(database) -> list[str]:
    from sqlalchemy import select  # noqa: PLC0415

    from canal.store.tables import observables  # noqa: PLC0415

    with database.read() as conn:
        return [
            f"{k}:{v}" for k, v in conn.execute(select(observables.c.kind, observables.c.value))
        ]


def checkpoint(database) -> None:
    """Copy the WAL back into the database and empty it, so that no timed run pays for the
    checkpoint of the run before it. PostgreSQL: nothing to do."""
    if not database.is_sqlite:
        return
    raw = database.engine.raw_connection()
    try:
        # Busy while the background checkpointer runs a pass of its own: until it is done.
        while raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]:
            time.sleep(0.01)
    finally:
        raw.close()


def bench_incremental(
    services,
    n: int,
    *,
    rounds: int = 3,
    aside: bool = False,
    submissions: Callable[[int, bool], list[tuple[Any, list[dict[str, Any]]]]] | None = None,
) -> tuple[float, float]:
    """(with index, plain) ingest rates for n new objects into the big store: the median of
    `rounds` runs of each, alternating, each from an empty WAL to an empty WAL. `aside`: as
    `canal ingest` runs a bulk import, with objects checked (and the index's part worked out)
    in a second process. `submissions(round, indexed)`: the (source org, objects) to ingest,
    n objects in all (default: n new bench indicators from one org)."""
    if submissions is None:
        org = services.accounts.org("NCB Paris")

        def submissions(_round: int, _indexed: bool) -> list[tuple[Any, list[dict[str, Any]]]]:
            # New objects on every run, also on a store kept from an earlier one (--keep): the
            # same seed twice would measure duplicates.
            return [(org, list(indicators(n, seed=987_654_321 + held_records(services))))]

    hook, derive = services.ingest.after_write, services.ingest.derive
    rates: dict[bool, list[float]] = {True: [], False: []}
    for r in range(rounds):
        for indexed in (False, True):
            batches = submissions(r, indexed)
            if indexed:
                services.ingest.after_write, services.ingest.derive = hook, derive
            else:
                services.ingest.after_write = services.ingest.derive = None
            checkpoint(services.database)
            start = time.perf_counter()
            for source, objs in batches:
                services.ingest.ingest_objects(
                    objs, principal=LOCAL_ADMIN, source=source, aside=aside
                )
            # Each run pays for copying what it wrote into the database file: a run that wrote
            # less than the WAL's limit would otherwise leave its checkpoint to the next one.
            checkpoint(services.database)
            rates[indexed].append(n / (time.perf_counter() - start))
    services.ingest.after_write, services.ingest.derive = hook, derive
    return statistics.median(rates[True]), statistics.median(rates[False])


def bench_lookup(
    services, values: list[str], n: int, hit_share: float, seed: int, *, rounds: int = 3
) -> tuple[float, float]:
    """(canal, bare IN) rates for `rounds` batches of n values of which `hit_share` are in
    the store, the rest new domains: all the values over all the time, so that work a batch
    leaves to a later one (the processing log's subjects, merged once 50,000 wait) is counted
    where it falls, and one lucky or unlucky batch does not make the figure."""
    rng = random.Random(seed)
    samples: list[list[str]] = []
    for r in range(rounds):
        hits = int(n * hit_share)
        sample = rng.sample(values, hits) + [
            f"domain:none{seed}-{r}-{i}.example.net" for i in range(n - hits)
        ]
        rng.shuffle(sample)
        samples.append(sample)
    services.lookups.lookup(LOCAL_ADMIN, [LookupItem("warm.example.net", "domain")] * 1000)
    spent = 0.0
    for sample in samples:
        items = [LookupItem(v.split(":", 1)[1], v.split(":", 1)[0]) for v in sample]
        start = time.perf_counter()
        services.lookups.lookup(LOCAL_ADMIN, items)
        spent += time.perf_counter() - start
    canal_rate = rounds * n / spent
    # The ceiling: the same values in a bare indexed table, looked up with IN (...).
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "bare.db")
        conn.execute("CREATE TABLE v (key TEXT PRIMARY KEY)")
        conn.executemany("INSERT INTO v VALUES (?)", ((v,) for v in values))
        conn.commit()
        start = time.perf_counter()
        for sample in samples:
            for i in range(0, n, 500):
                chunk = sample[i : i + 500]
                conn.execute(
                    f"SELECT key FROM v WHERE key IN ({','.join('?' * len(chunk))})", chunk
                ).fetchall()
        bare_rate = rounds * n / (time.perf_counter() - start)
        conn.close()
    return canal_rate, bare_rate


def start_server(
    url: str, workers: int, port: int, asker: str = "NCB Rome"
) -> tuple[subprocess.Popen[bytes], str]:
    env = {
        **os.environ,
        "CANAL_DATABASE_URL": url,
        "CANAL_LOOKUP_PER_MINUTE": "100000000",
        "CANAL_LOOKUP_PER_TYPE_PER_MINUTE": "100000000",
        "CANAL_ASSIST_SWEEP_SECONDS": "0",
    }
    services = build_services(load_settings(environ={}, database_url=url))
    token = services.accounts.create_token(
        LOCAL_ADMIN, org=services.accounts.org(asker), role=Role.MEMBER
    ).token
    services.close()
    server = subprocess.Popen(
        [sys.executable, "-m", "canal", "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    return server, token


def wrk_latency(
    base: str, token: str, values: list[str], seconds: int, pace_ms: int = 0
) -> str | None:
    """wrk (C, so the load costs the server little CPU), 20 connections. pace_ms = 0: back to
    back (saturation: latency is then queueing, 20 / throughput). pace_ms > 0: each connection
    waits an exponential think time of that mean between requests (independent clients,
    Poisson arrivals), as clients checking values one at a time would."""
    if shutil.which("wrk") is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write("\n".join(values[:20_000]))
    script = Path(__file__).with_name("lookup.lua")
    done = subprocess.run(
        ["wrk", "-t2", "-c20", f"-d{seconds}s", "--latency", "-s", str(script), base],
        env={
            **os.environ,
            "CANAL_BENCH_VALUES": handle.name,
            "CANAL_BENCH_TOKEN": token,
            "CANAL_BENCH_PACE_MS": str(pace_ms),
        },
        capture_output=True,
        text=True,
        check=True,
    )
    Path(handle.name).unlink()
    keep = ("50%", "90%", "99%", "Requests/sec", "Non-2xx")
    return " | ".join(
        line.strip() for line in done.stdout.splitlines() if line.strip().startswith(keep)
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=400_000)
    parser.add_argument("--keep", help="SQLite file to keep between runs")
    parser.add_argument(
        "--database-url", help="a store of another kind (PostgreSQL), kept between runs"
    )
    parser.add_argument("--http-seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--http-only", action="store_true")
    args = parser.parse_args()
    tune_collector()  # as the CLI and the server do
    path = Path(args.keep) if args.keep else Path(tempfile.mkdtemp()) / "corr.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    url = args.database_url or f"sqlite:///{path.resolve()}"
    services = build_services(load_settings(environ={}, database_url=url))
    upgrade(services.database)
    fill(services, args.records)
    values = distinct_values(services.database)
    print(f"store: {held_records(services):,} records, {len(values):,} distinct observables")

    if args.http_only:
        services.close()
        bench_http_part(url, values, args)
        return
    # As the server and `canal ingest` run: the WAL copied back from a thread of its own.
    services.database.checkpoint_in_background()
    report = services.correlator.rebuild(LOCAL_ADMIN)
    print(
        f"full correlate: {report.seconds:.1f} s for {report.observables:,} observables, "
        f"{report.records:,} records -> {report.clusters:,} clusters (target < 30 s)"
    )
    for aside, how in ((False, "in one process"), (True, "as canal ingest runs it")):
        indexed, plain = bench_incremental(services, 10_000, aside=aside)
        print(
            f"incremental, 10,000 objects {how} (median of 3): {indexed:,.0f} objects/s with "
            f"links and clusters vs {plain:,.0f}/s plain = {indexed / plain:.2f} (target >= 0.5)"
        )
    bench_lookups(services, values)
    services.close()
    bench_http_part(url, values, args)


def bench_lookups(services, values: list[str]) -> None:
    """A batch's rate at several shares of hits: every hit is written to the processing log
    and notified to its source (R9), so the rate depends on how many values hit."""
    for n, share in enumerate((0.0, 0.01, 0.1, 0.5)):
        canal_rate, bare_rate = bench_lookup(services, values, 100_000, share, seed=5 + n)
        print(
            f"lookup, 3 batches of 100,000 values in-process, {share:.0%} hits: "
            f"{canal_rate:,.0f} values/s; "
            f"bare SQLite IN (...): {bare_rate:,.0f}/s (target >= 200,000/s)"
        )


def bench_http_part(
    url: str, values: list[str], args: argparse.Namespace, asker: str = "NCB Rome"
) -> None:
    if shutil.which("wrk") is None:
        print("HTTP part skipped: install wrk (apt-get install wrk)")
        return
    port = 18765
    server, token = start_server(url, workers=args.workers, port=port, asker=asker)
    base = f"http://127.0.0.1:{port}"
    seconds = int(args.http_seconds)
    try:
        for pace in (0, 200, 100):
            how = f"think time {pace} ms (exponential)" if pace else "back to back"
            print(
                f"HTTP single-value lookup, wrk, 20 connections, {how}, "
                f"{args.workers} worker(s) (target p99 < 10 ms):"
            )
            print("    " + str(wrk_latency(base, token, values, seconds, pace)))
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
