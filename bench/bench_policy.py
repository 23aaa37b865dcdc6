"""Search under the policy over the demo world at scale: a member's filtered search against the
same search by the secretariat, and the latency of a hit-size page of 100 records.

    .venv/bin/python bench/bench_policy.py --url sqlite:///var/bench-1m.db --scale 150
    .venv/bin/python bench/bench_policy.py \
        --url postgresql+psycopg://postgres@127.0.0.1/canal_bench --scale 150

The store is loaded once (`canal demo --scale N`) and reused on later runs.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from sqlalchemy import func, select

from canal.accounts.service import LOCAL_ADMIN
from canal.app import build_services, tune_collector
from canal.config import load_settings
from canal.demo.load import load_demo
from canal.model.handling import Tlp
from canal.model.org import OrgKind, Principal, Role
from canal.records.search import Search
from canal.store.migrate import upgrade
from canal.store.records import RecordQuery
from canal.store.tables import records


def ensure_loaded(services, scale: int) -> int:
    upgrade(services.database)
    with services.database.read() as conn:
        count = conn.execute(select(func.count()).select_from(records)).scalar_one()
    if count == 0:
        start = time.perf_counter()
        summary = load_demo(services, scale=scale)
        print(
            f"loaded scale {scale}: {summary.created:,} records in "
            f"{time.perf_counter() - start:.0f} s"
        )
        with services.database.read() as conn:
            count = conn.execute(select(func.count()).select_from(records)).scalar_one()
    return count


def timed_pages(services, principal, query, positions, *, limit=100, log_reads=True):
    """Seconds per page, each page starting at one of `positions` (date_added values)."""
    out = []
    for after in positions:
        start = time.perf_counter()
        if log_reads:
            page = services.records.page(principal, query, limit=limit, after=after)
            n = len(page.items)
        else:
            now = services.clock.now()
            purpose = services.records.purpose_of(principal, None)
            scoped = services.records.scoped(principal, query, purpose=purpose, now=now)
            with services.database.read() as conn:
                n = len(services.records.reader.page(conn, scoped, limit=limit, after=after))
        out.append(time.perf_counter() - start)
        assert n >= 0
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--scale", type=int, default=150)
    parser.add_argument("--pages", type=int, default=60)
    args = parser.parse_args()
    tune_collector()  # as the CLI and the server do
    services = build_services(load_settings(environ={}, database_url=args.url))
    total = ensure_loaded(services, args.scale)
    orgs = services.accounts.list_orgs()
    gs = next(o for o in orgs if o.kind is OrgKind.SECRETARIAT)
    member_org = (
        next(o for o in orgs if o.kind is OrgKind.MEMBER and o.country == "BR")
        if any(o.country == "BR" for o in orgs)
        else next(o for o in orgs if o.kind is OrgKind.MEMBER)
    )
    partner_org = next(o for o in orgs if o.kind is OrgKind.PARTNER)
    analyst = Principal(org=gs, role=Role.ANALYST, name="bench")
    member = Principal(org=member_org, role=Role.MEMBER, name="bench")
    partner = Principal(org=partner_org, role=Role.PARTNER, name="bench")
    with services.database.read() as conn:
        low, high = conn.execute(
            select(func.min(records.c.date_added), func.max(records.c.date_added))
        ).one()
    rng = random.Random(1)
    positions = [rng.randint(low, high) for _ in range(args.pages)]
    query = RecordQuery(types=frozenset({"indicator"}))
    print(f"{total:,} records; filtered search: type=indicator, latest versions, pages of 100")
    rows = []
    for label, principal in (
        ("admin (no filter)", LOCAL_ADMIN),
        ("secretariat analyst", analyst),
        (f"member ({member_org.name})", member),
        (f"partner ({partner_org.name})", partner),
    ):
        timed_pages(services, principal, query, positions[:5])  # warm caches
        raw = timed_pages(services, principal, query, positions, log_reads=False)
        full = timed_pages(services, principal, query, positions)
        rows.append((label, statistics.median(raw), statistics.median(full), max(full)))
    print(f"{'principal':<40} {'query p50':>10} {'page p50 (logged)':>18} {'max':>8}")
    for label, raw, full, worst in rows:
        print(f"{label:<40} {raw * 1000:>8.1f}ms {full * 1000:>16.1f}ms {worst * 1000:>6.0f}ms")
    analyst_p50 = rows[1][2]
    member_p50 = rows[2][2]
    print(f"member / secretariat = {member_p50 / analyst_p50:.2f} (target <= 1.5)")
    print(f"member page p50 = {member_p50 * 1000:.1f} ms (target < 50 ms)")
    search_by_tlp(services, member)
    services.close()


def search_by_tlp(services, principal, rounds: int = 3) -> None:
    """A first page of a search by each TLP, as `GET /api/v1/search?tlp=` runs it, beside the
    same query read without asking the handling profiles first (a TLP the reader may see
    none of is then found empty by reading the whole table)."""
    print(f"search by TLP, first page of 100, {principal.org.name}, median of {rounds}:")
    for tlp in Tlp:
        search = Search(tlps=frozenset({tlp}))
        asked, unasked = [], []
        for _ in range(rounds):
            start = time.perf_counter()
            found = services.search.page(principal, search, limit=100, after=None, purpose=None)
            asked.append(time.perf_counter() - start)
            start = time.perf_counter()
            plain = services.records.page(principal, services.search.query(search), limit=100)
            unasked.append(time.perf_counter() - start)
            assert len(found.items) == len(plain.items)
        first, without = statistics.median(asked) * 1000, statistics.median(unasked) * 1000
        print(
            f"  {tlp.label:<18} {len(found.items):>4} records {first:>9.1f} ms"
            f"  (without asking the profiles first {without:,.1f} ms)"
        )


if __name__ == "__main__":
    main()
