"""STIX 2.1 pattern validation: verdicts, messages, and which patterns skip stix2-patterns."""

from __future__ import annotations

from collections.abc import Iterator
from unittest import mock

import pytest

from canal.ingest import pattern as pattern_module
from canal.ingest.pattern import pattern_error

SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
MD5 = "d41d8cd98f00b204e9800998ecf8427e"
SHA1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"

# Shapes that feeds send by the thousand: the fast path must decide them on its own.
FEED_PATTERNS = [
    "[ipv4-addr:value = '198.51.100.1']",
    "[ipv4-addr:value = '198.51.100.0/24']",
    "[ipv6-addr:value = '2001:db8::1']",
    "[domain-name:value = 'evil.com']",
    "[url:value = 'http://x/y']",
    "[url:value = 'https://evil.example/a?b=c&d=\\'e\\'']",
    "[email-addr:value = 'a@b.c']",
    f"[file:hashes.'SHA-256' = '{SHA256}']",
    f"[file:hashes.MD5 = '{MD5}']",
    f"[file:hashes.'SHA-1' = '{SHA1}']",
    f"[file:hashes.SHA256 = '{SHA256.upper()}']",
    "[x-custom-type:some_prop = 'v']",
    f"[file:hashes.MD5 = '{MD5}' OR file:hashes.'SHA-1' = '{SHA1}']",
    "[file:name = 'a.exe' AND file:size > 1024]",
    "[ipv4-addr:value = '198.51.100.1'] OR [domain-name:value = 'evil.com']",
    "[url:value = 'http://x'] FOLLOWEDBY [domain-name:value = 'x']",
    "[ipv4-addr:value = '1.2.3.4'] AND [ipv4-addr:value != '5.6.7.8']",
    "[network-traffic:dst_port IN (80, 443, 8080)]",
    "[network-traffic:dst_port NOT IN (80)]",
    "[network-traffic:dst_port < 1024]",
    "[network-traffic:dst_port <= 1024]",
    "[network-traffic:dst_port >= 1024]",
    "[x:ratio > -1.5]",
    "[url:value LIKE '%evil%']",
    "[process:command_line MATCHES '^cmd\\\\.exe']",
    "[ipv4-addr:value ISSUBSET '198.51.100.0/24']",
    "[ipv4-addr:value ISSUPERSET '198.51.100.1']",
    "[x:seen = t'2020-01-01T00:00:00Z']",
    "[x:seen > t'2016-02-29T23:59:60.123Z']",
    "[x:data = h'ff00']",
    "[x:data = b'AAAA']",
    "[x:flag = true]",
    "[x:flag != false]",
    "[email-message:to_refs[*].value = 'a@b.c']",
    "[file:extensions.'windows-pebinary-ext'.sections[0].name = '.text']",
    "[windows-registry-key:key = 'HKEY_LOCAL_MACHINE\\\\Software']",
    "[x:a = 'b'] AND ([x:c = 'd'] OR [x:e = 'f'])",
    "[(x:a = 'b' OR x:c = 'd') AND x:e = 'f']",
    "[NOT EXISTS x:a]",
    "[EXISTS x:a.b]",
    "  [ ipv4-addr : value = '198.51.100.1' ]  ",
    "[ipv4-addr:value='198.51.100.1']",
]


@pytest.fixture
def library_forbidden() -> Iterator[None]:
    with mock.patch.object(
        pattern_module, "run_validator", side_effect=AssertionError("stix2-patterns called")
    ):
        yield


@pytest.mark.parametrize("pattern", FEED_PATTERNS)
@pytest.mark.usefixtures("library_forbidden")
def test_feed_patterns_are_valid_without_the_library(pattern: str) -> None:
    assert pattern_error(pattern) is None


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("[file:hashes.MD5 = 'abc']", "'abc' is not a valid MD5 hash"),
        (f"[file:hashes.'SHA-256' = '{MD5}']", f"'{MD5}' is not a valid SHA-256 hash"),
        (f"[file:hashes.MD5 IN ('{MD5}')]", f"'({MD5})' is not a valid MD5 hash"),
        (
            "[file:hashes.MD5 = 'a' OR file:hashes.SHA1 = 'b']",
            "'a' is not a valid MD5 hash (and 1 more)",
        ),
    ],
)
@pytest.mark.usefixtures("library_forbidden")
def test_hash_values_are_checked_without_the_library(pattern: str, message: str) -> None:
    assert pattern_error(pattern) == message


@pytest.mark.parametrize(
    "pattern",
    [
        "[x:a = 1] WITHIN 5 SECONDS",
        "[x:a = 1] REPEATS 2 TIMES",
        "[x:a = 1] START t'2020-01-01T00:00:00Z' STOP t'2021-01-01T00:00:00Z'",
        "[x:a = 1 /* a comment */]",
        "[x:a = 1] // a comment",
    ],
)
def test_qualifiers_and_comments_are_left_to_the_library(pattern: str) -> None:
    assert pattern_error(pattern) is None


@pytest.mark.parametrize(
    ("pattern", "fragment"),
    [
        ("", "empty"),
        (" \n\t", "empty"),
        ("[ipv4-addr:value = '1.2.3.4'", "missing ']' at '<EOF>'"),
        ("ipv4-addr:value = '1.2.3.4'", "does not start with '[' or '('"),
        ("/* comment */ [x:a = 1]", "does not start with '[' or '('"),
        ("[ipv4-addr:value = '1.2.3.4']]", "extraneous input ']'"),
        ('[ipv4-addr:value = "1.2.3.4"]', "input '\"' expecting a literal"),
        ("[x:a = 'a\\nb']", "expecting a literal"),
        ("[x:a = b64'AAAA']", "extraneous input 'b64'"),
        ("[x:a = h'abc']", "extraneous input 'h'"),
        ("[x:a = t'2020-13-01T00:00:00Z']", "extraneous input 't'"),
        ("[x:a < true]", "expecting a literal other than true or false"),
        ("[x:a LIKE 5]", "expecting StringLiteral"),
        ("[x:AND = 1]", "no viable alternative at input 'x:AND'"),
        ("[x:a-b = 'c']", "no viable alternative at input 'x:a-b'"),
        ("[1x:a = 'b']", "extraneous input '1'"),
        ("[x:a = 'b'] and [y:c = 'd']", "mismatched input 'and'"),
        ("[x:a = 'b'] AND", "mismatched input '<EOF>'"),
        ("[x:a = 1]\n]", "at line 2, column 0"),
        ("[x:a = 1] WITHIN 5 SECONDS WITHIN 6 SECONDS", "Duplicate qualifier type"),
        ("[x:a[-1] = 1]", "could not be validated"),
        ("[file:hashes[0] = 'x']", "could not be validated"),
    ],
)
def test_invalid_patterns_name_the_problem(pattern: str, fragment: str) -> None:
    message = pattern_error(pattern)
    assert message is not None
    assert fragment in message


def test_messages_stay_short() -> None:
    message = pattern_error("[x:a = ''" + "a" * 5000 + "']")
    assert message is not None
    assert len(message) <= 300


def test_library_failures_become_messages() -> None:
    with mock.patch.object(pattern_module, "run_validator", side_effect=RuntimeError("boom")):
        assert pattern_error("[x:a = 1] WITHIN 5 SECONDS") == (
            "pattern could not be validated (RuntimeError: boom)"
        )


def test_patterns_too_deep_for_the_library_are_rejected() -> None:
    deep = "(" * 300 + "[x:a = 1]" + ")" * 300
    message = pattern_error(deep)
    assert message is not None
    assert "RecursionError" in message


@pytest.mark.parametrize(
    "pattern",
    [
        "(" * 20 + "[x:a = 1]" + ")" * 20,
        "[x:a" + ".b" * 40 + " = 1]",
        " AND ".join(["[x:a = 1]"] * 100),
        "[x:a IN (" + ", ".join(["1"] * 500) + ")]",
    ],
)
def test_large_patterns_beyond_the_fast_path_bounds_are_still_judged(pattern: str) -> None:
    assert pattern_error(pattern) is None
