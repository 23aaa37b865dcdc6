"""TAXII 2.1 servers side by side, on this machine, in the same run: canal (SQLite, policy and
processing log on, `canal serve`) and medallion 3.0.0 (memory backend), each in its own
process, driven over HTTP by the same client.

- POST envelopes of 1,000 objects until the collection holds --objects (canal) or until a POST
  takes longer than --medallion-budget seconds (medallion slows as it grows): rate per size.
- GET /objects/ in pages of 1,000 across the whole collection: rate, and the server's RSS after
  the walk at 10k objects and at the end.

With `--workers N --clients N`, canal serves from N worker processes (`canal serve --workers`)
and the client POSTs N envelopes at a time and runs N walks at once, as several feeds and
consumers do; rates are then the server's total. medallion (one process) always gets one client.

    .venv/bin/python bench/bench_taxii.py [--objects 100000] [--workers 2 --clients 2]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import psutil
import requests

T21 = "application/taxii+json;version=2.1"
ENVELOPE = 1000
HEADERS = {"Accept": T21, "Content-Type": T21}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            requests.get(url, timeout=2)
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
        else:
            return


def indicators(n: int, seed: str) -> Iterator[dict[str, Any]]:
    """Distinct indicators, as a feed carries them."""
    for i in range(n):
        stamp = f"2026-03-{1 + i % 28:02d}T10:{i % 60:02d}:00.000Z"
        yield {
            "type": "indicator",
            "spec_version": "2.1",
            "id": f"indicator--{uuid.uuid5(uuid.NAMESPACE_URL, f'{seed}-{i}')}",
            "created": stamp,
            "modified": stamp,
            "name": f"C2 server {i}",
            "pattern": f"[ipv4-addr:value = '10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}']",
            "pattern_type": "stix",
            "valid_from": stamp,
            "labels": ["malicious-activity"],
        }


class Server:
    name = ""
    base = ""
    objects_url = ""
    auth: Any = None
    process: subprocess.Popen[bytes]

    def rss_mb(self) -> float:
        process = psutil.Process(self.process.pid)
        total = process.memory_info().rss
        for child in process.children(recursive=True):
            total += child.memory_info().rss
        return total / 1e6

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


class Canal(Server):
    name = "canal"

    def __init__(self, workdir: Path, workers: int = 1) -> None:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CANAL_")}
        env["CANAL_DATABASE_URL"] = f"sqlite:///{workdir}/canal.db"

        def cli(*args: str) -> str:
            done = subprocess.run(
                [sys.executable, "-m", "canal", *args],
                env=env,
                capture_output=True,
                check=True,
                cwd=workdir,
            )
            return done.stdout.decode().strip()

        cli("init")
        cli("org", "add", "NCB Paris", "--kind", "member", "--country", "FR")
        token = cli("token", "create", "--org", "NCB Paris", "--role", "member")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "canal",
                "serve",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            env=env,
            cwd=workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.base = f"http://127.0.0.1:{port}"
        self.auth = ("bench", token)
        wait_for(self.base + "/healthz")
        # Every worker loads the warninglists at start-up; the first answers before the rest.
        time.sleep(10 if workers > 1 else 0)
        collections = requests.get(
            self.base + "/taxii2/canal/collections/", headers=HEADERS, auth=self.auth, timeout=30
        ).json()["collections"]
        own = next(c for c in collections if c["alias"] == "own")
        self.objects_url = f"{self.base}/taxii2/canal/collections/{own['id']}/objects/"


class Medallion(Server):
    name = "medallion"

    def __init__(self, workdir: Path) -> None:
        port = free_port()
        collection = str(uuid.uuid4())
        data = {
            "/discovery": {"title": "medallion", "default": "/api1/", "api_roots": ["/api1/"]},
            "api1": {
                "information": {"title": "api1", "versions": [T21], "max_content_length": 10**9},
                "status": [],
                "collections": [
                    {
                        "id": collection,
                        "title": "bench",
                        "can_read": True,
                        "can_write": True,
                        "media_types": ["application/stix+json;version=2.1"],
                        "objects": [],
                        "manifest": [],
                    }
                ],
            },
        }
        (workdir / "medallion-data.json").write_text(json.dumps(data))
        config = {
            "backend": {
                "module": "medallion.backends.memory_backend",
                "module_class": "MemoryBackend",
                "filename": str(workdir / "medallion-data.json"),
            },
            "users": {"admin": "Password0"},
            "taxii": {"max_page_size": ENVELOPE},
        }
        (workdir / "medallion.json").write_text(json.dumps(config))
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "medallion.scripts.run",
                "--port",
                str(port),
                "--log-level",
                "ERROR",
                str(workdir / "medallion.json"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.base = f"http://127.0.0.1:{port}"
        self.auth = ("admin", "Password0")
        wait_for(self.base + "/taxii2/")
        self.objects_url = f"{self.base}/api1/collections/{collection}/objects/"


def post_all(
    server: Server,
    total: int,
    budget: float,
    sessions: list[requests.Session],
    *,
    start: int = 0,
) -> list[tuple[int, float]]:
    """(size of the collection, objects/s) from `start` objects until `total`, or until a POST
    takes more than `budget` seconds. The envelopes are made before the clock starts (the
    client's work is not the server's); each session POSTs its share one after the other, all
    sessions at once, and a rate is taken over each run of as many POSTs as there are sessions.
    """
    feed = indicators(total, server.name)
    for _ in range(start):
        next(feed)
    bodies = [
        orjson.dumps({"objects": [next(feed) for _ in range(ENVELOPE)]})
        for _ in range((total - start) // ENVELOPE)
    ]
    done: list[float] = []
    stop = threading.Event()

    def post(session: requests.Session, mine: list[bytes]) -> None:
        for body in mine:
            if stop.is_set():
                return
            t0 = time.perf_counter()
            response = session.post(server.objects_url, data=body, headers=HEADERS, timeout=600)
            response.raise_for_status()
            status = orjson.loads(response.content)
            assert status["success_count"] == ENVELOPE, status
            finished = time.perf_counter()
            done.append(finished)
            if finished - t0 > budget:
                stop.set()

    width = len(sessions)
    began = time.perf_counter()
    with ThreadPoolExecutor(width) as pool:
        list(pool.map(post, sessions, [bodies[i::width] for i in range(width)]))
    done.sort()
    rates: list[tuple[int, float]] = []
    before = began
    for end in range(width, len(done) + 1, width):
        rates.append((start + end * ENVELOPE, width * ENVELOPE / (done[end - 1] - before)))
        before = done[end - 1]
    if len(done) % width:
        rest = len(done) % width
        rates.append((start + len(done) * ENVELOPE, rest * ENVELOPE / (done[-1] - before)))
    return rates


def walk(server: Server, session: requests.Session, timeout: float) -> tuple[int, float] | None:
    """Every object by pages of 1,000 with `next`: (objects, objects/s); None when a page takes
    longer than `timeout` seconds."""
    count, params = 0, {"limit": str(ENVELOPE)}
    start = time.perf_counter()
    while True:
        try:
            response = session.get(
                server.objects_url, params=params, headers=HEADERS, timeout=timeout
            )
        except requests.Timeout:
            return None
        response.raise_for_status()
        # orjson on both servers' pages: the client's parse must not be what is measured.
        body = orjson.loads(response.content)
        count += len(body.get("objects", []))
        if not body.get("more"):
            break
        params = {"limit": str(ENVELOPE), "next": body["next"]}
    return count, count / (time.perf_counter() - start)


def walks(
    server: Server, sessions: list[requests.Session], timeout: float
) -> tuple[int, float] | None:
    """One walk per session, all at once: (objects read in all, objects/s in all)."""
    start = time.perf_counter()
    with ThreadPoolExecutor(len(sessions)) as pool:
        done = list(pool.map(lambda session: walk(server, session, timeout), sessions))
    if any(found is None for found in done):
        return None
    count = sum(found[0] for found in done if found is not None)
    return count, count / (time.perf_counter() - start)


def rate_at(rates: list[tuple[int, float]], size: int) -> float:
    """Mean rate of the POSTs that ended within 5% of `size`."""
    near = [r for held, r in rates if abs(held - size) <= max(ENVELOPE, size // 20)]
    return sum(near) / len(near)


def run(server: Server, total: int, budget: float, timeout: float, clients: int) -> dict[str, Any]:
    """POST up to 1k, 10k, then `total` objects, walking the collection at each step; a server
    that gets slower than `budget` per round stops growing there."""
    sessions = []
    for _ in range(clients):
        session = requests.Session()
        session.auth = server.auth
        sessions.append(session)
    out: dict[str, Any] = {"rates": [], "walks": {}, "rss": {}}
    held = 0
    for target in sorted({min(total, 1_000), min(total, 10_000), total}):
        rates = post_all(server, target, budget, sessions, start=held)
        out["rates"] += rates
        held = rates[-1][0] if rates else held
        out["walks"][held] = walks(server, sessions, timeout)
        out["rss"][held] = server.rss_mb()
        if held < target:
            break
    out["held"] = held
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument(
        "--medallion-budget",
        type=float,
        default=5.0,
        help="stop POSTing to medallion once one POST of 1,000 objects takes this long (s)",
    )
    parser.add_argument(
        "--page-timeout", type=float, default=60.0, help="give up a walk after a page this slow"
    )
    parser.add_argument("--workers", type=int, default=1, help="canal's worker processes")
    parser.add_argument(
        "--clients", type=int, default=1, help="concurrent POSTs and walks against canal"
    )
    args = parser.parse_args()
    results: dict[str, dict[str, Any]] = {}
    print(f"canal: {args.workers} worker(s), {args.clients} client(s); medallion: 1 client")
    with tempfile.TemporaryDirectory() as tmp:
        for name, budget, clients in (
            ("canal", 600.0, args.clients),
            ("medallion", args.medallion_budget, 1),
        ):
            workdir = Path(tmp) / name
            workdir.mkdir()
            server: Server = Canal(workdir, args.workers) if name == "canal" else Medallion(workdir)
            try:
                results[name] = run(server, args.objects, budget, args.page_timeout, clients)
            finally:
                server.stop()
    canal, medallion = results["canal"], results["medallion"]
    c_rates, m_rates = canal["rates"], medallion["rates"]
    print(f"POST envelopes of {ENVELOPE:,} objects (objects/s, by collection size)")
    print(f"{'size':>8} {'canal':>10} {'medallion':>10} {'ratio':>7}")
    sizes = [s for s in (1_000, 5_000, 10_000, 20_000, 50_000, 100_000) if s <= canal["held"]]
    for size in sizes:
        c = rate_at(c_rates, size)
        if size <= medallion["held"]:
            m = rate_at(m_rates, size)
            print(f"{size:>8,} {c:>10,.0f} {m:>10,.0f} {c / m:>6.1f}x")
        else:
            print(f"{size:>8,} {c:>10,.0f} {'-':>10} {'':>7}")
    # Each round's seconds: the objects it added over its rate.
    previous = [0] + [held for held, _ in c_rates[:-1]]
    seconds = sum((held - before) / r for (held, r), before in zip(c_rates, previous, strict=True))
    sustained = canal["held"] / seconds
    at_1k, at_end = rate_at(c_rates, 1_000), rate_at(c_rates, canal["held"])
    print(f"canal sustained {sustained:,.0f} objects/s over {canal['held']:,} objects")
    print(f"canal rate at {canal['held']:,} / rate at 1,000 = {at_end / at_1k:.2f}")
    print(
        f"medallion reached {medallion['held']:,} objects (it stops once one POST takes more "
        f"than {args.medallion_budget} s)"
    )
    print()
    print(f"GET /objects/ by pages of {ENVELOPE:,}: objects/s, and server RSS after the walk")
    for name, result in results.items():
        for size, found in result["walks"].items():
            rss = result["rss"][size]
            if found is None:
                slow = f"a page took > {args.page_timeout} s"
                print(f"{name:>10} at {size:>7,}: {slow}; RSS {rss:.0f} MB")
            else:
                print(f"{name:>10} at {size:>7,}: {found[1]:>8,.0f}/s; RSS {rss:.0f} MB")
    for size, found in medallion["walks"].items():
        mine = canal["walks"].get(size)
        if found is not None and mine is not None:
            print(f"GET ratio canal/medallion at {size:,}: {mine[1] / found[1]:.1f}x")
    end_walk = canal["walks"][canal["held"]]
    rss_10k = canal["rss"].get(10_000, canal["rss"][canal["held"]])
    post_ok = sustained >= 10_000 and at_end >= 0.8 * at_1k
    get_ok = end_walk is not None and end_walk[1] >= 20_000
    rss_ok = canal["rss"][canal["held"]] <= rss_10k * 1.2 + 20
    print()
    verdict = "met" if post_ok else "NOT met"
    print(f"target POST >= 10,000/s sustained, within 20% at the end: {verdict}")
    print(f"target GET >= 20,000/s: {'met' if get_ok else 'NOT met'}")
    print(f"target server RSS flat from 10k to {canal['held']:,}: {'met' if rss_ok else 'NOT met'}")


if __name__ == "__main__":
    main()
