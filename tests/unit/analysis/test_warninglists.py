"""Warninglist flags: the MISP lists shipped with pymispwarninglists, and small lists built here
for the exact rules (suffixes, public suffixes, narrowest network, local allow and deny)."""

from __future__ import annotations

import pytest

from canal.analysis.observables import Observable, ObservableType
from canal.analysis.warninglists import LOCAL_ALLOW, LocalLists, Warninglists

T = ObservableType


@pytest.fixture(scope="module")
def misp() -> Warninglists:
    lists = Warninglists()
    lists.load()
    return lists


def flag(lists: Warninglists, kind: ObservableType, value: str, **kwargs) -> str | None:
    return lists.flag(Observable(kind, value), **kwargs)


# The MISP warninglists -----------------------------------------------------------------------


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1"])
def test_public_resolvers_are_flagged_with_the_list_name(misp, address):
    name = flag(misp, T.IPV4, address)
    assert name is not None
    assert "public DNS resolvers" in name
    assert name in misp.names


def test_an_address_inside_a_listed_network(misp):
    assert flag(misp, T.IPV4, "10.123.45.67") == "List of RFC 1918 CIDR blocks"
    assert flag(misp, T.IPV4, "172.31.255.255") == "List of RFC 1918 CIDR blocks"
    assert flag(misp, T.IPV4, "172.32.0.0") != "List of RFC 1918 CIDR blocks"
    assert flag(misp, T.CIDR, "10.1.0.0/16") == "List of RFC 1918 CIDR blocks"


def test_documentation_ranges_are_themselves_listed(misp):
    # RFC 5735 and RFC 3849 lists name the documentation ranges: a 192.0.2.x address is flagged.
    assert flag(misp, T.IPV4, "192.0.2.77") == "List of RFC 5735 CIDR blocks"
    assert flag(misp, T.IPV6, "2001:db8::77") == "List of RFC 3849 CIDR blocks"


def test_unlisted_values_are_not_flagged(misp):
    assert flag(misp, T.DOMAIN, "c2.no-such-canal-test-host.com") is None
    assert flag(misp, T.MD5, "0123456789abcdef0123456789abcdef") is None
    assert flag(misp, T.WALLET, "btc:1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa") is None


def test_subdomain_of_a_listed_hostname(misp):
    assert flag(misp, T.DOMAIN, "wikipedia.org") is not None
    assert flag(misp, T.DOMAIN, "some.deep.sub.wikipedia.org") is not None
    assert flag(misp, T.URL, "https://en.wikipedia.org/wiki/Canal") is not None


def test_known_hashes(misp):
    empty_md5 = "d41d8cd98f00b204e9800998ecf8427e"
    assert flag(misp, T.MD5, empty_md5) is not None
    # A hash list applies to hashes, not to a domain that happens to be spelled the same.
    assert flag(misp, T.DOMAIN, empty_md5) is None


def test_the_lists_load_once_per_process(misp):
    again = Warninglists()
    assert again._get_index() is misp._get_index()


def test_local_lists_override(misp):
    resolver = Observable(T.IPV4, "8.8.8.8")
    deny = LocalLists(deny=frozenset({resolver.key}))
    assert misp.flag(resolver, local=deny) is None
    allow = LocalLists(allow=frozenset({"ipv4:198.51.100.99"}))
    assert flag(misp, T.IPV4, "203.0.113.1", local=allow) is not None  # RFC 5735, untouched
    odd = Observable(T.DOMAIN, "c2.no-such-canal-test-host.com")
    assert misp.flag(odd, local=LocalLists(allow=frozenset({odd.key}))) == LOCAL_ALLOW
    both = LocalLists(allow=frozenset({odd.key}), deny=frozenset({odd.key}))
    assert misp.flag(odd, local=both) is None


# Small lists for the exact rules ------------------------------------------------------------

SMALL = [
    {
        "name": "A wide networks",
        "type": "cidr",
        "list": ["198.51.0.0/16", "2001:db8::/32", "not a network"],
        "matching_attributes": ["ip-src", "ip-dst"],
    },
    {
        "name": "B narrow networks",
        "type": "cidr",
        "list": ["198.51.100.0/24", "198.51.100.53", "2001:db8:53::/48", "10.9.8.7/8"],
        "matching_attributes": ["ip-dst"],
    },
    {
        "name": "C top sites",
        "type": "hostname",
        "list": ["Example.com", "github.io", "localhost", "Bücher.example", "http://x.test/a"],
        "matching_attributes": ["hostname", "domain", "url"],
    },
    {
        "name": "D exact names",
        "type": "string",
        "list": ["exact.test", ".wild.test", "198.51.200.1", "*.star.test"],
        "matching_attributes": ["domain", "hostname", "ip-dst"],
    },
    {
        "name": "E hashes",
        "type": "string",
        "list": ["D41D8CD98F00B204E9800998ECF8427E"],
        "matching_attributes": ["md5", "filename|md5"],
    },
    {
        "name": "F disposable mail",
        "type": "substring",
        "list": ["mail.test"],
        "matching_attributes": ["email-src", "email-dst"],
    },
    {
        "name": "Second level TLDs (test)",
        "type": "string",
        "list": ["github.io", "co.uk"],
        "matching_attributes": ["hostname"],
    },
    {"name": "G regex", "type": "regex", "list": ["/.*/"], "matching_attributes": ["domain"]},
]


@pytest.fixture(scope="module")
def small() -> Warninglists:
    return Warninglists(SMALL)


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        # The narrowest network wins, whichever list comes first by name.
        (T.IPV4, "198.51.1.1", "A wide networks"),
        (T.IPV4, "198.51.100.1", "B narrow networks"),
        (T.IPV4, "198.51.100.53", "B narrow networks"),
        (T.IPV4, "198.51.101.0", "A wide networks"),
        (T.IPV4, "198.52.0.0", None),
        (T.IPV4, "10.200.0.1", "B narrow networks"),  # host bits in a list entry are masked
        (T.IPV4, "192.0.2.1", None),  # a documentation address on no list here
        (T.IPV6, "2001:db8:53::1", "B narrow networks"),
        (T.IPV6, "2001:db8:54::1", "A wide networks"),
        (T.IPV6, "2001:db9::1", None),
        (T.CIDR, "198.51.100.128/25", "B narrow networks"),
        (T.CIDR, "198.51.0.0/17", "A wide networks"),
        (T.CIDR, "198.0.0.0/8", None),
        # Hostname lists match the name and its subdomains.
        (T.DOMAIN, "example.com", "C top sites"),
        (T.DOMAIN, "a.b.example.com", "C top sites"),
        (T.DOMAIN, "notexample.com", None),
        (T.DOMAIN, "xn--bcher-kva.example", "C top sites"),
        (T.DOMAIN, "sub.xn--bcher-kva.example", "C top sites"),
        (T.URL, "https://www.example.com/login", "C top sites"),
        (T.URL, "http://x.test/a", "C top sites"),
        (T.URL, "http://x.test/b", None),
        # A public suffix in a hostname list matches itself only.
        (T.DOMAIN, "github.io", "C top sites"),
        (T.DOMAIN, "attacker.github.io", None),
        # String lists match exactly, unless the entry starts with "." or "*.".
        (T.DOMAIN, "exact.test", "D exact names"),
        (T.DOMAIN, "sub.exact.test", None),
        (T.DOMAIN, "wild.test", "D exact names"),
        (T.DOMAIN, "a.wild.test", "D exact names"),
        (T.DOMAIN, "a.star.test", "D exact names"),
        (T.MD5, "d41d8cd98f00b204e9800998ecf8427e", "E hashes"),
        (T.SHA1, "d41d8cd98f00b204e9800998ecf8427e", None),
        # Substring lists match whole labels of the mail domain.
        (T.EMAIL, "x@mail.test", "F disposable mail"),
        (T.EMAIL, "x@eu.mail.test", "F disposable mail"),
        (T.EMAIL, "x@gmail.test", None),
        (T.DOMAIN, "mail.test", None),  # the list applies to e-mail addresses only
        # Regex lists are not used.
        (T.DOMAIN, "anything.test", None),
    ],
)
def test_small_lists(small, kind, value, expected):
    assert flag(small, kind, value) == expected


def test_exact_address_entries_in_string_lists(small):
    # "198.51.200.1" is in the string list D and inside the /16 of list A: exact wins.
    assert flag(small, T.IPV4, "198.51.200.1") == "D exact names"


def test_local_allow_and_deny_on_small_lists(small):
    listed = Observable(T.DOMAIN, "login.example.com")
    assert small.flag(listed) == "C top sites"
    assert small.flag(listed, local=LocalLists(deny=frozenset({listed.key}))) is None
    other = Observable(T.IPV4, "203.0.113.9")
    assert small.flag(other) is None
    assert small.flag(other, local=LocalLists(allow=frozenset({other.key}))) == LOCAL_ALLOW
