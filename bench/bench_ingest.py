"""Bulk ingest of generated STIX objects into SQLite, beside two baselines from the same run:
stix2.parse of the same objects (canal's whole ingest should beat parse alone), and the
ceiling of orjson.loads plus a bare SQLite insert.

    .venv/bin/python bench/bench_ingest.py [--objects 100000]
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
import warnings
from pathlib import Path

import orjson

from canal.accounts.service import LOCAL_ADMIN
from canal.app import build_services, tune_collector
from canal.config import load_settings
from canal.model.org import OrgKind
from canal.store.migrate import upgrade
from generate import generate


def canal_ingest(
    data: bytes, workdir: Path, *, index: bool = False
) -> tuple[float, dict[str, int]]:
    """Ingest into a fresh store. Without `index`, the plain ingest: checks, handling,
    versions, records and the processing log. With it, also the observable index, links and
    clusters (the warninglists are loaded before the clock starts: a once-per-process cost)."""
    name = "indexed" if index else "plain"
    services = build_services(
        load_settings(environ={}, database_url=f"sqlite:///{workdir}/{name}.db")
    )
    upgrade(services.database)
    if index:
        services.index.warninglists.load()
    else:
        services.ingest.after_write = None
        services.ingest.derive = None
    org = services.accounts.add_org(
        LOCAL_ADMIN, name="NCB Paris", kind=OrgKind.MEMBER, country="FR"
    )
    start = time.perf_counter()
    report = services.ingest.ingest_bytes(data, principal=LOCAL_ADMIN, source=org)
    elapsed = time.perf_counter() - start
    services.close()
    return elapsed, report.summary()


def stix2_parse(data: bytes) -> float:
    import stix2  # noqa: PLC0415 - a baseline only

    objects = orjson.loads(data)["objects"]
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for obj in objects:
            stix2.parse(obj, allow_custom=True)
    return time.perf_counter() - start


def bare_sqlite(data: bytes, workdir: Path) -> float:
    path = workdir / "bare.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE objects (id TEXT PRIMARY KEY, body TEXT NOT NULL)")
    start = time.perf_counter()
    objects = orjson.loads(data)["objects"]
    conn.executemany(
        "INSERT INTO objects VALUES (?, ?)",
        ((obj["id"], orjson.dumps(obj).decode()) for obj in objects),
    )
    conn.commit()
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument(
        "--no-parse", action="store_true", help="skip the (slow) stix2.parse baseline"
    )
    args = parser.parse_args()
    tune_collector()  # as the CLI and the server do
    n = args.objects
    data = orjson.dumps({"type": "bundle", "id": "bundle--1", "objects": list(generate(n))})
    print(f"{n:,} objects ({len(data) / 1e6:.1f} MB), about half indicators")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        canal_s, counts = canal_ingest(data, workdir)
        indexed_s, _ = canal_ingest(data, workdir, index=True)
        bare_s = bare_sqlite(data, workdir)
    canal_rate, bare_rate = n / canal_s, n / bare_s
    print(f"canal ingest (SQLite, log on)    {canal_rate:>10,.0f} objects/s  {counts}")
    print(f"  ... with index and clusters    {n / indexed_s:>10,.0f} objects/s")
    if not args.no_parse:
        parse_rate = n / stix2_parse(data)
        print(f"stix2.parse alone                {parse_rate:>10,.0f} objects/s")
    print(f"orjson + bare SQLite (ceiling)   {bare_rate:>10,.0f} objects/s")
    if not args.no_parse:
        print(f"canal / stix2.parse = {canal_rate / parse_rate:.1f}x")
    print(f"canal / ceiling     = {canal_rate / bare_rate:.2f}")
    print(f"target >= 20,000 objects/s: {'met' if canal_rate >= 20_000 else 'NOT met'}")


if __name__ == "__main__":
    main()
