"""MISP feed import: a generated feed of 1,000 events x 100 attributes, read, converted and
ingested into a fresh SQLite canal, beside baselines from the same run: orjson.loads of the same
files (the floor of any importer), canal's conversion alone, and misp-stix's conversion of a
sample of the events.

    .venv/bin/python bench/bench_misp.py [--events 1000] [--attributes 100] [--to-ids 0.6]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

import orjson

from canal.accounts.service import LOCAL_ADMIN
from canal.app import build_services, tune_collector
from canal.config import load_settings
from canal.ingest.misp import MispConverter, MispFeedObjects, misp_feed_events
from canal.model.org import OrgKind
from canal.store.migrate import upgrade

TYPES = (
    "ip-dst",
    "ip-src",
    "domain",
    "hostname",
    "url",
    "md5",
    "sha1",
    "sha256",
    "email-src",
    "filename",
    "filename|sha256",
    "btc",
)
ORGC = {"name": "CIRCL", "uuid": "55f6ea5e-2c60-40e5-964f-47a8950d210f"}
ACTOR = {
    "uuid": "698774c7-8022-42c4-917f-8d6e4f06ada3",
    "name": "Threat Actor",
    "type": "threat-actor",
    "description": "Threat actors",
    "version": "1",
    "GalaxyCluster": [
        {
            "uuid": "5b4ee3ea-eee3-4c8e-8323-85ae32658754",
            "type": "threat-actor",
            "value": "APT28",
            "tag_name": 'misp-galaxy:threat-actor="APT28"',
            "description": "A threat actor",
            "meta": {"synonyms": ["Fancy Bear"]},
        }
    ],
}


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _value(rng: random.Random, kind: str) -> str:
    if kind.startswith("ip-"):
        return f"198.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}"
    if kind in {"domain", "hostname"}:
        return f"x{rng.getrandbits(40):x}.example.com"
    if kind == "url":
        return f"http://x{rng.getrandbits(32):x}.example.net/p/{rng.getrandbits(24):x}"
    if kind == "md5":
        return f"{rng.getrandbits(128):032x}"
    if kind == "sha1":
        return f"{rng.getrandbits(160):040x}"
    if kind == "sha256":
        return f"{rng.getrandbits(256):064x}"
    if kind == "email-src":
        return f"u{rng.getrandbits(24):x}@example.org"
    if kind == "filename":
        return f"f{rng.getrandbits(24):x}.exe"
    if kind == "filename|sha256":
        return f"f{rng.getrandbits(24):x}.exe|{rng.getrandbits(256):064x}"
    return f"1{rng.getrandbits(160):040x}"[:34]


def event(rng: random.Random, index: int, attributes: int, to_ids: float) -> dict[str, Any]:
    stamp = 1_700_000_000 + index * 60
    attrs = []
    for _ in range(attributes):
        kind = rng.choice(TYPES)
        attr: dict[str, Any] = {
            "uuid": _uuid(rng),
            "type": kind,
            "category": "Network activity",
            "value": _value(rng, kind),
            "to_ids": rng.random() < to_ids,
            "timestamp": str(stamp),
            "distribution": "5",
            "deleted": False,
            "comment": "",
        }
        if rng.random() < 0.05:
            attr["Tag"] = [{"name": "tlp:red"}]
        attrs.append(attr)
    return {
        "Event": {
            "uuid": _uuid(rng),
            "info": f"Generated event {index}",
            "date": "2023-11-14",
            "timestamp": str(stamp),
            "publish_timestamp": str(stamp),
            "published": True,
            "distribution": "1",
            "threat_level_id": "2",
            "analysis": "2",
            "Orgc": ORGC,
            "Tag": [{"name": "tlp:amber"}, {"name": "PAP:GREEN"}],
            "Galaxy": [ACTOR],
            "Attribute": attrs,
        }
    }


def write_feed(directory: Path, events: int, attributes: int, to_ids: float) -> int:
    rng = random.Random(11)
    manifest: dict[str, Any] = {}
    size = 0
    for index in range(events):
        body = event(rng, index, attributes, to_ids)
        ev = body["Event"]
        data = orjson.dumps(body)
        size += len(data)
        (directory / f"{ev['uuid']}.json").write_bytes(data)
        manifest[ev["uuid"]] = {"info": ev["info"], "timestamp": ev["timestamp"], "Orgc": ORGC}
    (directory / "manifest.json").write_bytes(orjson.dumps(manifest))
    return size


def loads_only(directory: Path) -> float:
    start = time.perf_counter()
    for path in directory.glob("*.json"):
        orjson.loads(path.read_bytes())
    return time.perf_counter() - start


def convert_only(directory: Path) -> tuple[float, int]:
    start = time.perf_counter()
    converter = MispConverter()
    objects = 0
    for item in misp_feed_events(directory):
        if isinstance(item, tuple):
            objects += len(converter.convert_event(item[1], where=item[0]).objects)
    return time.perf_counter() - start, objects


def misp_stix_sample(directory: Path, sample: int) -> tuple[float, int]:
    from misp_stix_converter import MISPtoSTIX21Parser  # noqa: PLC0415 - a baseline only

    paths = sorted(p for p in directory.glob("*.json") if p.name != "manifest.json")[:sample]
    bodies = [orjson.loads(p.read_bytes()) for p in paths]
    attributes = sum(len(b["Event"]["Attribute"]) for b in bodies)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for body in bodies:
            parser = MISPtoSTIX21Parser()
            parser.parse_misp_event(body)
            parser.bundle.serialize()
    return time.perf_counter() - start, attributes


class Timed:
    """An iterable that sums the seconds spent producing its items (reading and converting
    the feed), and shows the problems of the one it wraps."""

    def __init__(self, inner: MispFeedObjects) -> None:
        self.inner = inner
        self.seconds = 0.0

    @property
    def problems(self) -> list[Any]:
        return self.inner.problems

    def __iter__(self) -> Any:
        items = iter(self.inner)
        while True:
            started = time.perf_counter()
            item = next(items, None)
            self.seconds += time.perf_counter() - started
            if item is None:
                return
            yield item


def canal_import(
    directory: Path, workdir: Path, *, aside: bool
) -> tuple[float, float, dict[str, int], int, float]:
    """(seconds end to end, seconds of it spent reading and converting (0 when `aside`), ingest
    counts, conversion problems, seconds of start-up: the warninglists index)."""
    workdir.mkdir()
    services = build_services(
        load_settings(environ={}, database_url=f"sqlite:///{workdir}/canal.db")
    )
    upgrade(services.database)
    org = services.accounts.add_org(
        LOCAL_ADMIN, name="NCB Paris", kind=OrgKind.MEMBER, country="FR"
    )
    # The server loads the warninglists at start-up, before its first request; timed apart.
    started = time.perf_counter()
    services.index.warninglists.load()
    startup = time.perf_counter() - started
    feed = Timed(MispFeedObjects(directory, MispConverter(orgs={org.name: org.kind})))
    start = time.perf_counter()
    report = services.ingest.ingest_objects(feed, principal=LOCAL_ADMIN, source=org, aside=aside)
    elapsed = time.perf_counter() - start
    services.close()
    # Timed in the child when aside: not known here.
    converting = 0.0 if aside else feed.seconds
    return elapsed, converting, report.summary(), len(feed.problems), startup


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--attributes", type=int, default=100)
    parser.add_argument("--to-ids", type=float, default=0.6, help="share of to_ids attributes")
    parser.add_argument("--misp-stix-sample", type=int, default=10, help="events; 0 to skip")
    args = parser.parse_args()
    tune_collector()  # as the CLI and the server do
    total = args.events * args.attributes
    with tempfile.TemporaryDirectory() as tmp:
        feed = Path(tmp) / "feed"
        feed.mkdir()
        size = write_feed(feed, args.events, args.attributes, args.to_ids)
        print(
            f"feed: {args.events:,} events x {args.attributes} attributes = {total:,} "
            f"({size / 1e6:.1f} MB), {args.to_ids:.0%} to_ids, common types"
        )
        loads_s = loads_only(feed)
        convert_s, objects = convert_only(feed)
        # `canal ingest`'s way first, as in a fresh CLI process; it pays the warninglists
        # start-up (timed apart), which the one-process import then finds done.
        canal_s, _, aside_counts, aside_problems, startup_s = canal_import(
            feed, Path(tmp) / "aside", aside=True
        )
        one_s, converting_s, counts, problems, _ = canal_import(
            feed, Path(tmp) / "one", aside=False
        )
        assert (aside_counts, aside_problems) == (counts, problems), "the two imports differ"
        ingested = sum(counts.values())
        rates = {
            "orjson.loads of the feed (floor)": total / loads_s,
            "canal conversion alone": total / convert_s,
            "canal import, one process": total / one_s,
            "  of which the ingest stage": total / (one_s - converting_s),
            "canal import end to end (SQLite)": total / canal_s,
        }
        if args.misp_stix_sample:
            sample_s, sample_n = misp_stix_sample(feed, args.misp_stix_sample)
            rates[f"misp-stix conversion ({args.misp_stix_sample} events)"] = sample_n / sample_s
    for label, rate in rates.items():
        print(f"{label:<40} {rate:>10,.0f} attributes/s")
    print(
        f"STIX objects per attribute: {objects / total:.2f}; ingest {counts}; problems {problems}"
    )
    print(
        f"start-up (warninglists index, once per process, not in the rates): {startup_s:.1f} s; "
        f"with it, end to end {total / (canal_s + startup_s):,.0f} attributes/s"
    )
    print(
        f"one process: ingest stage {ingested / (one_s - converting_s):,.0f} objects/s, "
        f"conversion {converting_s / one_s:.0%} of its time. End to end is `canal ingest`'s "
        "way: conversion and checks in a second process while the first writes"
    )
    end_to_end = rates["canal import end to end (SQLite)"]
    print(
        f"target >= 10,000 attributes/s end to end: {'met' if end_to_end >= 10_000 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
