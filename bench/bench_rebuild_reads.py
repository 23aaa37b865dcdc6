"""The rebuild's read that walks one index while searching another (references by their
targets), and its read of the clusters' members (their table in record order), timed a row at
a time on a kept store, beside the whole rebuild; with --reindex, again once the references'
index and the records' are rewritten in order.

    .venv/bin/python bench/bench_demo_correlate.py --scale 500 --keep var/demo500.db \\
        --skip-correlate --skip-incremental --skip-lookups
    .venv/bin/python bench/bench_rebuild_reads.py --keep var/demo500.db --reindex
"""

from __future__ import annotations

import argparse
import sqlite3
import time
from pathlib import Path

from canal.accounts.service import LOCAL_ADMIN
from canal.analysis.correlate import HELD_MEMBERS, REFERENCES
from canal.app import build_services, tune_collector
from canal.config import load_settings
from canal.store.database import Database

#: The indexes those reads walk: the references' (target_id, record_pk), and the records'
#: (stix_id, version, source), rewritten with their table.
WALKED = ("ix_record_refs_target_id", "records")


def rebuild(url: str, label: str) -> None:
    services = build_services(load_settings(environ={}, database_url=url))
    cpu = time.process_time()
    report = services.correlator.rebuild(LOCAL_ADMIN)
    print(
        f"{label}: rebuild {report.seconds:.1f} s (CPU {time.process_time() - cpu:.1f} s), "
        f"{report.records:,} records, {report.clusters:,} clusters",
        flush=True,
    )
    services.close()


def reads(url: str, label: str) -> None:
    database = Database(url)
    for name, columns in (("references", REFERENCES), ("members", HELD_MEMBERS)):
        with database.read(bulk=True) as conn:
            ranges = columns.ranges(conn)
            start = time.perf_counter()
            rows = sum(len(columns.read_range(conn, r)) for r in ranges)
            spent = time.perf_counter() - start
            print(
                f"{label}: {name} {rows:,} rows in {spent:.1f} s "
                f"({spent / max(rows, 1) * 1e6:.2f} us a row)",
                flush=True,
            )
    database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keep", required=True, help="a SQLite store loaded by the demo bench")
    parser.add_argument("--reindex", action="store_true")
    args = parser.parse_args()
    tune_collector()
    path = Path(args.keep).resolve()
    url = f"sqlite:///{path}"
    rebuild(url, "first")
    rebuild(url, "again")
    reads(url, "as stored")
    if not args.reindex:
        return
    start = time.perf_counter()
    conn = sqlite3.connect(path)
    for name in WALKED:
        conn.execute(f"REINDEX {name}")
    conn.commit()
    conn.close()
    print(f"REINDEX: {time.perf_counter() - start:.1f} s", flush=True)
    reads(url, "indexes rewritten in order")
    rebuild(url, "after REINDEX")


if __name__ == "__main__":
    main()
