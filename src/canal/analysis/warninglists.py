"""Known-benign values: the MISP warninglists, indexed for bulk lookups.

The lists come from `pymispwarninglists` (about 2.5 million entries in some 120 lists). Its own
`search()` walks every list for every value; here they are loaded once per process and indexed
per kind of entry:

- exact entries (`string` lists, and hash lists) in one dict, value -> lists;
- host names (`hostname` lists, `string` entries written `.example.com`, and the domain entries
  of `substring` lists) in a dict of suffixes, looked up for the name and each parent domain;
- networks (`cidr` lists) as sorted, disjoint intervals for bisection (O(log n) per address),
  and per prefix length for the containment of a network.

`regex` lists (unattributed phone numbers, common contact addresses) are not used: their
expressions are written for MISP's raw values, not canal's normalised ones. `substring` entries
are matched as whole domain labels (`mail.com` flags `x.mail.com`, not `gmail.com`).

When several lists match, the most specific match wins: an exact value before a suffix, a longer
suffix before a shorter one, a narrower network before a wider one; then list names in order.
docs/observables.md describes the behaviour.
"""

from __future__ import annotations

import bisect
import contextlib
import gc
import importlib.util
import ipaddress
import socket
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson

from canal.analysis.observables import NormaliseError, Observable, ObservableType, normalise

__all__ = ["LOCAL_ALLOW", "LocalLists", "Warninglists"]

T = ObservableType
LOCAL_ALLOW: Final = "local-allow"

_IPS: Final = frozenset({T.IPV4, T.IPV6, T.CIDR})
_HASHES: Final = frozenset({T.MD5, T.SHA1, T.SHA256, T.SHA512, T.SSDEEP, T.JA3})
# The MISP attribute types a list says it applies to, as canal observable types.
_MISP_TYPES: Final[dict[str, frozenset[ObservableType]]] = {
    "ip-src": _IPS,
    "ip-dst": _IPS,
    "ip-src|port": _IPS,
    "ip-dst|port": _IPS,
    "domain|ip": _IPS | {T.DOMAIN},
    "domain": frozenset({T.DOMAIN}),
    "hostname": frozenset({T.DOMAIN}),
    "hostname|port": frozenset({T.DOMAIN}),
    "url": frozenset({T.URL}),
    "uri": frozenset({T.URL}),
    "link": frozenset({T.URL}),
    "email": frozenset({T.EMAIL}),
    "email-src": frozenset({T.EMAIL}),
    "email-dst": frozenset({T.EMAIL}),
    "email-reply-to": frozenset({T.EMAIL}),
    "target-email": frozenset({T.EMAIL}),
    "whois-registrant-email": frozenset({T.EMAIL}),
    "dns-soa-email": frozenset({T.EMAIL}),
    "md5": frozenset({T.MD5}),
    "sha1": frozenset({T.SHA1}),
    "sha256": frozenset({T.SHA256}),
    "sha512": frozenset({T.SHA512}),
    "ssdeep": frozenset({T.SSDEEP}),
    "filename|md5": frozenset({T.MD5}),
    "filename|sha1": frozenset({T.SHA1}),
    "filename|sha256": frozenset({T.SHA256}),
    "filename|sha512": frozenset({T.SHA512}),
    "filename|ssdeep": frozenset({T.SSDEEP}),
    "ja3-fingerprint-md5": frozenset({T.JA3}),
    "phone-number": frozenset({T.PHONE}),
    "whois-registrant-phone": frozenset({T.PHONE}),
    "AS": frozenset({T.ASN}),
    "filename": frozenset({T.FILENAME}),
    "mutex": frozenset({T.MUTEX}),
    "regkey": frozenset({T.REGKEY}),
    "user-agent": frozenset({T.USER_AGENT}),
    "btc": frozenset({T.WALLET}),
    "xmr": frozenset({T.WALLET}),
}
# For lists that do not say.
_DEFAULT_TYPES: Final[dict[str, frozenset[ObservableType]]] = {
    "cidr": _IPS,
    "hostname": frozenset({T.DOMAIN, T.URL}),
    "substring": frozenset({T.DOMAIN, T.URL, T.EMAIL}),
    "string": frozenset(T) - {T.PHONE},
    "regex": frozenset(),
}
# Public suffixes (co.uk, github.io ...) come from these lists. A `hostname` entry that is a
# public suffix matches only itself: "github.io" in a top-sites list must not vouch for every
# user's site under it.
_SUFFIX_LIST_PREFIXES: Final = ("second level tlds", "tlds as known")


@dataclass(frozen=True, slots=True)
class LocalLists:
    """The secretariat's own lists, as observable keys ("ipv4:8.8.8.8").

    `allow` flags values as benign (as "local-allow"); `deny` stops any flag on a value known to
    be malicious, whatever a warninglist says. A key in both is denied.
    """

    allow: frozenset[str] = field(default_factory=frozenset)
    deny: frozenset[str] = field(default_factory=frozenset)


class _Index:
    """The lists, indexed. Read-only once built."""

    __slots__ = (
        "by_prefix_v4",
        "by_prefix_v6",
        "dispatch",
        "exact",
        "names",
        "starts_v4",
        "starts_v6",
        "suffix",
        "types",
        "values_v4",
        "values_v6",
    )

    def __init__(self) -> None:
        self.names: list[str] = []
        self.types: list[frozenset[ObservableType]] = []
        self.exact: dict[str, tuple[int, ...]] = {}
        self.suffix: dict[str, tuple[int, ...]] = {}
        # Disjoint intervals: starts[i] .. starts[i+1]-1 belong to list values[i] (-1: none).
        self.starts_v4: list[int] = []
        self.values_v4: list[int] = []
        self.starts_v6: list[int] = []
        self.values_v6: list[int] = []
        # Prefix length -> {network start: list}, longest prefix first.
        self.by_prefix_v4: list[tuple[int, dict[int, int]]] = []
        self.by_prefix_v6: list[tuple[int, dict[int, int]]] = []
        self.dispatch: dict[ObservableType, Callable[[str, ObservableType], str | None]] = {
            T.IPV4: self.address,
            T.IPV6: self.address,
            T.CIDR: self.network,
            T.DOMAIN: self.host,
            T.URL: self.url,
            T.EMAIL: self.email,
        }

    def first(self, found: tuple[int, ...] | None, kind: ObservableType) -> str | None:
        if found is not None:
            for i in found:
                if kind in self.types[i]:
                    return self.names[i]
        return None

    def host(self, name: str, kind: ObservableType) -> str | None:
        hit = self.first(self.exact.get(name), kind)
        if hit is not None:
            return hit
        suffix = self.suffix
        position = 0
        while True:
            candidate = name[position:] if position else name
            found = suffix.get(candidate)
            if found is not None:
                hit = self.first(found, kind)
                if hit is not None:
                    return hit
            dot = name.find(".", position)
            if dot < 0:
                return None
            position = dot + 1

    def address(self, text: str, kind: ObservableType) -> str | None:
        hit = self.first(self.exact.get(text), kind)
        if hit is not None:
            return hit
        try:
            if ":" in text:
                value = int.from_bytes(socket.inet_pton(socket.AF_INET6, text), "big")
                starts, values = self.starts_v6, self.values_v6
            else:
                value = int.from_bytes(socket.inet_aton(text), "big")
                starts, values = self.starts_v4, self.values_v4
        except OSError:
            return None
        i = bisect.bisect_right(starts, value) - 1
        if i < 0 or values[i] < 0:
            return None
        return self.names[values[i]]

    def containing_network(self, text: str) -> str | None:
        try:
            net = ipaddress.ip_network(text)
        except ValueError:
            return None
        bits = net.max_prefixlen
        start = int(net.network_address)
        prefixes = self.by_prefix_v6 if net.version == 6 else self.by_prefix_v4
        for length, starts in prefixes:
            if length > net.prefixlen:
                continue
            mask = ((1 << length) - 1) << (bits - length) if length else 0
            label = starts.get(start & mask)
            if label is not None:
                return self.names[label]
        return None

    def network(self, text: str, kind: ObservableType) -> str | None:
        hit = self.first(self.exact.get(text), kind)
        return hit if hit is not None else self.containing_network(text)

    def url(self, value: str, kind: ObservableType) -> str | None:
        hit = self.first(self.exact.get(value), kind)
        if hit is None:
            host = _url_host(value)
            if host:
                hit = self.host(host, kind)
        return hit

    def email(self, value: str, kind: ObservableType) -> str | None:
        hit = self.first(self.exact.get(value), kind)
        return hit if hit is not None else self.host(value.rpartition("@")[2], kind)

    def other(self, value: str, kind: ObservableType) -> str | None:
        return self.first(self.exact.get(value), kind)

    def lookup(self, observable: Observable) -> str | None:
        kind = observable.type
        return self.dispatch.get(kind, self.other)(observable.value, kind)


def _url_host(url: str) -> str:
    # Normalised URLs only: scheme://[userinfo@]host[:port]/...
    authority = url.partition("://")[2].partition("/")[0]
    host = authority.rpartition("@")[2]
    if host.startswith("["):
        return host[1 : host.find("]")]
    return host.partition(":")[0]


class _Builder:
    def __init__(self) -> None:
        self.index = _Index()
        # Label tuples are shared: most values are on one list, and one tuple per list serves.
        self.tuples: dict[tuple[int, ...], tuple[int, ...]] = {}
        self.nets: dict[int, list[tuple[int, int, int, int]]] = {4: [], 6: []}
        self.public_suffixes: set[str] = set()

    def build(self, lists: Iterable[Mapping[str, Any]]) -> _Index:
        ordered = sorted(
            (wl for wl in lists if isinstance(wl.get("list"), list)),
            key=lambda wl: str(wl.get("name", "")),
        )
        for wl in ordered:
            if str(wl.get("name", "")).lower().startswith(_SUFFIX_LIST_PREFIXES):
                self.public_suffixes.update(
                    str(e).strip().lower().strip(".") for e in wl["list"] if isinstance(e, str)
                )
        # Millions of small objects and no cycles: the cyclic collector would only rescan them.
        collecting = gc.isenabled()
        gc.disable()
        try:
            for wl in ordered:
                self._add_list(wl)
            index = self.index
            index.starts_v4, index.values_v4, index.by_prefix_v4 = _intervals(self.nets[4])
            index.starts_v6, index.values_v6, index.by_prefix_v6 = _intervals(self.nets[6])
        finally:
            if collecting:
                gc.enable()
        return self.index

    def _put_many(
        self, target: dict[str, tuple[int, ...]], keys: Iterable[str], one: tuple[int, ...]
    ) -> None:
        # Whole lists at a time: dict and set operations in C, Python only where lists overlap.
        new = dict.fromkeys(keys, one)
        earlier = {key: target[key] for key in new.keys() & target.keys()}
        target.update(new)
        label = one[0]
        for key, found in earlier.items():
            labels = found if label in found else (*found, label)
            target[key] = self.tuples.setdefault(labels, labels)

    def _add_list(self, wl: Mapping[str, Any]) -> None:
        list_type = str(wl.get("type", "string"))
        attributes = wl.get("matching_attributes")
        if isinstance(attributes, list) and attributes:
            types = frozenset().union(*(_MISP_TYPES.get(str(a), frozenset()) for a in attributes))
        else:
            types = _DEFAULT_TYPES.get(list_type, frozenset())
        if not types or list_type == "regex":
            return
        label = len(self.index.names)
        self.index.names.append(str(wl.get("name", f"list {label}")))
        self.index.types.append(types)
        one = (label,)
        entries = [e.strip().lower() for e in wl["list"] if isinstance(e, str)]
        if list_type == "cidr":
            for entry in entries:
                self._add_network(entry, label)
            return
        exact_keys: list[str] = []
        suffix_keys: list[str] = []
        if not types & {T.DOMAIN, T.URL, T.EMAIL}:
            # Hashes and other values compared as they are.
            ips = bool(types & _IPS)
            for entry in entries:
                if entry:
                    address = _address_text(entry) if ips and not entry.isalnum() else None
                    exact_keys.append(address or entry)
            self._put_many(self.index.exact, exact_keys, one)
            return
        ips = bool(types & _IPS)
        host_suffixes = list_type in ("hostname", "substring")
        public = self.public_suffixes
        plain: list[str] = []
        odd: list[str] = []
        for entry in entries:
            if (
                entry
                and entry.isascii()
                and entry[0] not in ".*"
                and entry[-1] != "."
                and "/" not in entry
                and ":" not in entry
                and not (ips and entry[0].isdigit())
            ):
                plain.append(entry)
            elif entry:
                odd.append(entry)
        if host_suffixes:
            for name in plain:
                (suffix_keys if "." in name and name not in public else exact_keys).append(name)
        else:
            exact_keys = plain
        for entry in odd:
            self._add_odd(entry, types, host_suffixes, exact_keys, suffix_keys)
        self._put_many(self.index.exact, exact_keys, one)
        self._put_many(self.index.suffix, suffix_keys, one)

    def _add_odd(
        self,
        entry: str,
        types: frozenset[ObservableType],
        host_suffixes: bool,
        exact_keys: list[str],
        suffix_keys: list[str],
    ) -> None:
        if types & _IPS and (":" in entry or entry[0].isdigit()):
            address = _address_text(entry)
            if address is not None:
                exact_keys.append(address)
                return
        if "://" in entry:
            if T.URL in types:
                with contextlib.suppress(NormaliseError):
                    exact_keys.append(normalise(T.URL, entry))
            return
        # Host names: ".example.com" and "*.example.com" mean the name and its subdomains.
        wildcard = entry[0] in ".*"
        name = entry.lstrip("*").strip(".")
        if not name:
            return
        if not name.isascii() or "/" in name or ":" in name:
            try:
                name = normalise(T.DOMAIN, name)
            except NormaliseError:
                return
        if wildcard or (host_suffixes and "." in name and name not in self.public_suffixes):
            suffix_keys.append(name)
        else:
            exact_keys.append(name)

    def _add_network(self, entry: str, label: int) -> None:
        address, _, length_text = entry.partition("/")
        try:
            if ":" in address:
                version, bits = 6, 128
                value = int.from_bytes(socket.inet_pton(socket.AF_INET6, address), "big")
            else:
                version, bits = 4, 32
                value = int.from_bytes(socket.inet_pton(socket.AF_INET, address), "big")
            length = int(length_text) if length_text else bits
        except (OSError, ValueError):
            return
        if not 0 <= length <= bits:
            return
        host_bits = bits - length
        start = value >> host_bits << host_bits
        self.nets[version].append((start, length, start | ((1 << host_bits) - 1), label))


def _address_text(entry: str) -> str | None:
    try:
        address = ipaddress.ip_address(entry)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped
        return f"::ffff:{mapped}" if mapped is not None else address.compressed
    return str(address)


def _intervals(
    nets: list[tuple[int, int, int, int]],
) -> tuple[list[int], list[int], list[tuple[int, dict[int, int]]]]:
    """Disjoint intervals, each labelled with the narrowest listed network that covers it.

    CIDR blocks are either nested or disjoint, so one pass over them sorted by start (wider
    first) with a stack of the enclosing blocks gives the partition.
    """
    nets.sort()
    starts: list[int] = []
    values: list[int] = []
    by_prefix: dict[int, dict[int, int]] = {}

    def mark(position: int, label: int) -> None:
        if starts and starts[-1] == position:
            values[-1] = label
        elif not values or values[-1] != label:
            starts.append(position)
            values.append(label)

    stack: list[tuple[int, int]] = []  # (last address, label) of the enclosing blocks
    previous: tuple[int, int] | None = None
    for start, length, last, label in nets:
        if (start, length) == previous:
            continue  # the same block in a later list: the first list keeps it
        previous = (start, length)
        by_prefix.setdefault(length, {})[start] = label
        while stack and stack[-1][0] < start:
            end, _ = stack.pop()
            mark(end + 1, stack[-1][1] if stack else -1)
        mark(start, label)
        stack.append((last, label))
    while stack:
        end, _ = stack.pop()
        mark(end + 1, stack[-1][1] if stack else -1)
    prefixes = sorted(by_prefix.items(), reverse=True)
    return starts, values, prefixes


def _package_lists() -> list[Mapping[str, Any]]:
    """The lists shipped in pymispwarninglists, read straight from its data files (its loader
    also builds a set per list, which this module does not need); its loader if they move."""
    # Found without importing the package: its import pulls in jsonschema, whose format
    # checkers compile grammars for over a second.
    spec = importlib.util.find_spec("pymispwarninglists")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    files = [
        path
        for location in locations
        for path in sorted(
            (Path(location) / "data" / "misp-warninglists" / "lists").glob("*/list.json")
        )
    ]
    if files:
        return [orjson.loads(path.read_bytes()) for path in files]
    from pymispwarninglists.api import WarningLists  # noqa: PLC0415

    return [wl.warninglist for wl in WarningLists().values()]


_package_index: _Index | None = None
_package_lock = threading.Lock()


def _shared_package_index() -> _Index:
    global _package_index  # noqa: PLW0603 - one read-only index per process
    with _package_lock:
        if _package_index is None:
            _package_index = _Builder().build(_package_lists())
        return _package_index


class Warninglists:
    """Flags observables found on a warninglist (known-benign or otherwise noteworthy values).

    Without `lists`, the MISP warninglists of pymispwarninglists are used, loaded on first use
    and shared by every instance in the process. `lists` takes warninglists in their JSON form
    (name, type, list, matching_attributes) instead.
    """

    def __init__(self, lists: Iterable[Mapping[str, Any]] | None = None) -> None:
        self._lists = None if lists is None else list(lists)
        self._index: _Index | None = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Build the index now rather than on the first lookup (for example at start-up)."""
        self._get_index()

    def _get_index(self) -> _Index:
        index = self._index
        if index is None:
            with self._lock:
                if self._index is None:
                    if self._lists is None:
                        self._index = _shared_package_index()
                    else:
                        self._index = _Builder().build(self._lists)
                index = self._index
        return index

    @property
    def names(self) -> list[str]:
        """The names of the lists in use."""
        return list(self._get_index().names)

    def flag(self, observable: Observable, local: LocalLists | None = None) -> str | None:
        """The name of the list the value is on, or None; `local` lists take precedence."""
        if local is not None:
            key = observable.key
            if key in local.deny:
                return None
            if key in local.allow:
                return LOCAL_ALLOW
        return self._get_index().lookup(observable)
