"""Export streams with flat memory: peak RSS of `canal export` at 100k and at 1M records.

The export runs as its own process (the real CLI) so that its peak RSS is its own; the
baseline is the peak RSS of the same CLI doing no export (`canal org list`) in the same run.

    .venv/bin/python bench/bench_export.py [--sizes 100000,1000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from canal.accounts.service import LOCAL_ADMIN
from canal.app import build_services, tune_collector
from canal.config import load_settings
from canal.model.org import OrgKind
from canal.store.migrate import upgrade
from generate import generate


def fill(url: str, target: int) -> None:
    services = build_services(load_settings(environ={}, database_url=url))
    upgrade(services.database)
    orgs = services.accounts.list_orgs()
    org = (
        orgs[0]
        if orgs
        else services.accounts.add_org(
            LOCAL_ADMIN, name="NCB Paris", kind=OrgKind.MEMBER, country="FR"
        )
    )
    with services.database.read() as conn:
        from sqlalchemy import func, select  # noqa: PLC0415

        from canal.store.tables import records  # noqa: PLC0415

        have = conn.execute(select(func.count()).select_from(records)).scalar_one()
    if have < target:
        # Seeded by the current size, so each step adds new objects.
        batch = list(generate(target - have, seed=have + 1))
        services.ingest.ingest_objects(batch, principal=LOCAL_ADMIN, source=org)
    services.close()


def run_cli(url: str, *args: str) -> tuple[float, int]:
    """(seconds, peak RSS in MB) of one `canal` run."""
    env = {**os.environ, "CANAL_DATABASE_URL": url}
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "canal", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if status != 0:
        raise SystemExit(
            f"canal {' '.join(args)} failed: {proc.stderr.read().decode() if proc.stderr else ''}"
        )
    return elapsed, usage.ru_maxrss // 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--keep", help="directory to keep the database in between runs")
    parser.add_argument("--fill", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    tune_collector()  # as the CLI and the server do
    if args.fill:
        fill(args.url, args.fill)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp())
    workdir.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{workdir}/export-bench.db"
    out = workdir / "export.json"
    rows = []
    for size in sizes:
        # Filling runs in a child of its own: a large parent would inflate the children's peak
        # RSS (a forked child counts the parent's pages until it execs).
        subprocess.run([sys.executable, __file__, "--fill", str(size), "--url", url], check=True)
        _, floor_mb = run_cli(url, "org", "list")
        seconds, peak_mb = run_cli(url, "export", "--format", "stix", "-o", str(out))
        rows.append((size, seconds, peak_mb, floor_mb, out.stat().st_size / 1e6))
    print(
        f"{'records':>10} {'seconds':>8} {'objects/s':>10} {'peak RSS':>9} "
        f"{'CLI floor':>9} {'bundle':>9}"
    )
    for size, seconds, peak, floor, mb in rows:
        print(
            f"{size:>10,} {seconds:>8.1f} {size / seconds:>10,.0f} {peak:>7} MB "
            f"{floor:>7} MB {mb:>6.0f} MB"
        )
    if len(rows) > 1:
        print(f"peak RSS at {rows[-1][0]:,} / at {rows[0][0]:,} = {rows[-1][2] / rows[0][2]:.2f}")
    out.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
