"""Time observable normalisation and warninglist lookups on a mixed set of values.

Run: .venv/bin/python bench/bench_normalise.py [count]

The values are typical feed content: IPv4 and IPv6 addresses, domains, URLs, e-mail addresses,
file hashes and wallets, some of them defanged or in upper case. Baselines from the same run:
`str.strip().lower()` over the same values (the least any normalisation does) and
`ipaddress.ip_address` alone over the addresses.
"""

from __future__ import annotations

import ipaddress
import random
import sys
import time
from collections import defaultdict
from collections.abc import Callable

import base58

from canal.analysis.observables import Observable, ObservableType, normalise
from canal.analysis.warninglists import Warninglists

T = ObservableType

# Share of each type in the mix (wallet checksums are slower, and rarer in feeds).
MIX = [
    (T.IPV4, 25),
    (T.IPV6, 8),
    (T.DOMAIN, 22),
    (T.URL, 15),
    (T.EMAIL, 8),
    (T.MD5, 6),
    (T.SHA1, 4),
    (T.SHA256, 8),
    (T.WALLET, 4),
]


def values(count: int, seed: int = 11) -> list[tuple[ObservableType, str]]:
    rng = random.Random(seed)

    def word() -> str:
        return "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=rng.randint(3, 12)))

    def domain() -> str:
        name = f"{word()}.{rng.choice(['com', 'net', 'org', 'ru', 'top', 'xyz', 'co.uk'])}"
        if rng.random() < 0.3:
            name = f"{word()}.{name}"
        return name.upper() if rng.random() < 0.1 else name

    def defang(text: str) -> str:
        return text.replace(".", "[.]") if rng.random() < 0.15 else text

    def ipv4() -> str:
        return defang(".".join(str(rng.randint(1, 254)) for _ in range(4)))

    def ipv6() -> str:
        address = ipaddress.IPv6Address(
            rng.getrandbits(128) & ~((1 << 64) - 1) | rng.randint(1, 99)
        )
        return address.exploded if rng.random() < 0.3 else address.compressed

    def url() -> str:
        scheme = rng.choice(["http", "https", "hxxp", "HTTP"])
        port = rng.choice(["", "", "", ":80", ":8080"])
        return (
            f"{scheme}://{defang(domain())}{port}/{word()}/{word()}.php?id={rng.randint(0, 9999)}"
        )

    def email() -> str:
        return f"{word()}{rng.choice(['@', '@', '[at]'])}{defang(domain())}"

    def hexdigits(size: int) -> str:
        value = "".join(rng.choices("0123456789abcdef", k=size))
        return value.upper() if rng.random() < 0.2 else value

    def wallet() -> str:
        pick = rng.random()
        payload = rng.randbytes(20)
        if pick < 0.5:
            return base58.b58encode_check(b"\x00" + payload).decode()
        if pick < 0.8:
            return "0x" + payload.hex()
        return "trx:" + base58.b58encode_check(b"\x41" + payload).decode()

    makers: dict[ObservableType, Callable[[], str]] = {
        T.IPV4: ipv4,
        T.IPV6: ipv6,
        T.DOMAIN: lambda: defang(domain()),
        T.URL: url,
        T.EMAIL: email,
        T.MD5: lambda: hexdigits(32),
        T.SHA1: lambda: hexdigits(40),
        T.SHA256: lambda: hexdigits(64),
        T.WALLET: wallet,
    }
    kinds = rng.choices([k for k, _ in MIX], weights=[w for _, w in MIX], k=count)
    return [(kind, makers[kind]()) for kind in kinds]


def per_second(count: int, seconds: float) -> str:
    return f"{count / seconds:12,.0f}/s  ({1e6 * seconds / count:6.2f} us each)"


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 210_000
    mixed = values(count)

    start, cpu_start = time.perf_counter(), time.process_time()
    normalised = [(kind, normalise(kind, raw)) for kind, raw in mixed]
    overall, cpu = time.perf_counter() - start, time.process_time() - cpu_start

    start = time.perf_counter()
    for _, raw in mixed:
        raw.strip().lower()
    baseline = time.perf_counter() - start

    addresses = [normalise(kind, raw) for kind, raw in mixed if kind in (T.IPV4, T.IPV6)]
    start = time.perf_counter()
    for address in addresses:
        ipaddress.ip_address(address)
    ip_baseline = time.perf_counter() - start

    by_kind: dict[ObservableType, list[str]] = defaultdict(list)
    for kind, raw in mixed:
        by_kind[kind].append(raw)

    print(f"{count:,} values")
    print(f"normalise, all types:          {per_second(count, overall)}")
    # CPU time: the figure to compare when other processes share the machine.
    print(f"  the same in CPU time:        {per_second(count, cpu)}")
    print(f"baseline str.strip().lower():  {per_second(count, baseline)}")
    print(f"baseline ipaddress.ip_address: {per_second(len(addresses), ip_baseline)}")
    print("per type:")
    for kind, raws in sorted(by_kind.items()):
        start = time.perf_counter()
        for raw in raws:
            normalise(kind, raw)
        print(f"  {kind:8} {len(raws):8,}  {per_second(len(raws), time.perf_counter() - start)}")

    start = time.perf_counter()
    lists = Warninglists()
    lists.load()
    load = time.perf_counter() - start
    observables = [Observable(kind, value) for kind, value in normalised]
    # Add values that are on the lists, so that hits are timed too.
    observables += [Observable(T.IPV4, "8.8.8.8"), Observable(T.DOMAIN, "mail.google.com")] * (
        count // 100
    )
    start, cpu_start = time.perf_counter(), time.process_time()
    flagged = sum(1 for observable in observables if lists.flag(observable) is not None)
    lookups, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    print(f"warninglists: {len(lists.names)} lists loaded in {load:.2f} s")
    print(f"warninglist lookups:           {per_second(len(observables), lookups)}")
    print(f"  the same in CPU time:        {per_second(len(observables), cpu)}")
    print(f"  {flagged:,} of {len(observables):,} flagged")


if __name__ == "__main__":
    main()
