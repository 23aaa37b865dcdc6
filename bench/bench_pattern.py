"""Time pattern_error against stix2-patterns on 10,000 typical feed patterns.

Run: .venv/bin/python bench/bench_pattern.py [count]
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable

from stix2patterns.validator import run_validator

from canal.ingest.pattern import pattern_error


def typical_patterns(count: int, seed: int = 7) -> list[str]:
    """A mix of ipv4, domain, url and file-hash patterns with varying values."""
    rng = random.Random(seed)

    def word() -> str:
        return "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=rng.randint(3, 12)))

    def hexdigits(size: int) -> str:
        return "".join(rng.choices("0123456789abcdef", k=size))

    makers = [
        lambda: f"[ipv4-addr:value = '{'.'.join(str(rng.randint(0, 255)) for _ in range(4))}']",
        lambda: f"[domain-name:value = '{word()}.{rng.choice(['com', 'net', 'example'])}']",
        lambda: f"[url:value = 'http://{word()}.example/{word()}?id={rng.randint(0, 9999)}']",
        lambda: f"[file:hashes.MD5 = '{hexdigits(32)}']",
        lambda: f"[file:hashes.'SHA-1' = '{hexdigits(40)}']",
        lambda: f"[file:hashes.'SHA-256' = '{hexdigits(64)}']",
    ]
    return [rng.choice(makers)() for _ in range(count)]


def rate(check: Callable[[str], object], patterns: list[str]) -> float:
    start = time.perf_counter()
    for pattern in patterns:
        check(pattern)
    return len(patterns) / (time.perf_counter() - start)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    patterns = typical_patterns(count)
    # Both must agree that every generated pattern is valid, or the timing means nothing.
    assert all(pattern_error(p) is None for p in patterns)
    assert all(run_validator(p, stix_version="2.1") == [] for p in patterns[:500])

    fast = rate(pattern_error, patterns)
    library = rate(lambda p: run_validator(p, stix_version="2.1"), patterns)
    print(f"{count} patterns")
    print(f"pattern_error:  {fast:12,.0f} patterns/s  ({1e6 / fast:8.2f} us each)")
    print(f"stix2-patterns: {library:12,.0f} patterns/s  ({1e6 / library:8.2f} us each)")
    print(f"ratio:          {fast / library:12,.1f}x")


if __name__ == "__main__":
    main()
