"""Hypothesis strategies shared by the tests.

STIX patterns: grammar-shaped ones (mostly valid, with a little noise in every part) and broken
ones (mutations of valid patterns, shuffled tokens), for checking a pattern validator against
stix2-patterns.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from hypothesis import strategies as st

__all__ = [
    "feed_patterns",
    "mutated_patterns",
    "near_valid_soups",
    "token_soups",
    "well_formed_patterns",
]


def _mostly(
    usual: st.SearchStrategy[str], unusual: st.SearchStrategy[str]
) -> st.SearchStrategy[str]:
    """`usual` 15 times in 16: most generated patterns stay valid, some are not."""
    return st.sampled_from([usual] * 15 + [unusual]).flatmap(lambda chosen: chosen)


# --- grammar-shaped patterns -------------------------------------------------------------------

_LEXER_WS = [" ", "\t", "\n", "\r", "\x0b", "\x0c", "\x85", "\xa0", "\u1680", "\u2000", "\u2009"]
_LEXER_WS += ["\u200a", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000"]
# Mostly a plain space; sometimes nothing (tokens may then merge), other whitespace, a comment.
_separators = _mostly(
    st.sampled_from([" ", " ", " ", " ", " ", ""]),
    st.one_of(
        st.text(alphabet=_LEXER_WS, min_size=1, max_size=3),
        st.sampled_from(["/* c */", " /**/ ", "// c\n", "\x1c", " \u200b "]),
    ),
)

_identifiers = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,8}\Z")
_hyphenated = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_-]{0,10}\Z")
_KEYWORDS = ["AND", "OR", "NOT", "IN", "LIKE", "EXISTS", "LAST", "WITHIN", "true", "false", "TRUE"]
_object_types = _mostly(
    st.sampled_from(
        [
            "ipv4-addr",
            "ipv6-addr",
            "domain-name",
            "url",
            "file",
            "email-addr",
            "x-custom-type",
            "network-traffic",
            "windows-registry-key",
        ]
    ),
    st.one_of(_hyphenated, st.sampled_from(_KEYWORDS)),
)

_string_chars = st.characters(codec="utf-8", exclude_categories=["Cs"])
_text_with_quotes = st.text(
    alphabet=st.one_of(_string_chars, st.sampled_from(["'", "\\", '"', " ", "\n", "]", "h"])),
    max_size=12,
)


def _escape(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


_string_literals = _mostly(
    _text_with_quotes.map(_escape),
    st.one_of(
        _text_with_quotes.map(lambda t: "'" + t + "'"),  # unescaped: often broken
        st.sampled_from(["''", "'\\''", "'\\\\'", "'a\\nb'", "'it''s'", "'198.51.100.1'"]),
    ),
)

# Hash names as written in paths, with the length of a value that suits them.
_HASH_NAMES = {
    "MD5": 32,
    "md5": 32,
    "'MD5'": 32,
    "'SHA-1'": 40,
    "SHA1": 40,
    "'SHA-256'": 64,
    "SHA256": 64,
    "'sha-256'": 64,
    "'SHA-512'": 128,
    "'SHA3-256'": 64,
    "'RIPEMD-160'": 40,
    "WHIRLPOOL": 128,
    "MD6": 40,
    "SSDEEP": 0,
    "'TLSH'": 70,
    "'SHA\\'256'": 64,
    "x": 8,
}
_HEX = "0123456789abcdefABCDEF"


@st.composite
def _hash_comparisons(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(sorted(_HASH_NAMES)))
    size = _HASH_NAMES[name]
    if draw(st.sampled_from(range(10))) == 0:
        size = draw(st.sampled_from([0, 1, 31, 33, 63, 65, 127, 129]))
    if name == "SSDEEP" and size == 0:
        value = draw(st.from_regex(r"\A[0-9]{1,4}:[A-Za-z0-9/+]{3,20}:[A-Za-z0-9/+.]{3,20}\Z"))
    else:
        value = draw(st.text(alphabet=_HEX, min_size=size, max_size=size))
    object_type = draw(_object_types)
    op = draw(st.sampled_from(["="] * 6 + ["!=", "IN", "LIKE"]))
    literal = f"('{value}')" if op == "IN" else f"'{value}'"
    return f"{object_type}:hashes.{name} {op} {literal}"


def _timestamp_literal(d: datetime) -> str:
    fraction = f".{d.microsecond}" if d.microsecond % 2 else ""
    return f"t'{d.year:04d}-{d.month:02d}-{d.day:02d}T{d:%H:%M:%S}{fraction}Z'"


_timestamps = st.one_of(
    st.datetimes(
        min_value=datetime(1, 1, 1),  # noqa: DTZ001 - hypothesis wants naive bounds
        max_value=datetime(9999, 12, 31),  # noqa: DTZ001
        timezones=st.just(UTC),
    ).map(_timestamp_literal),
    st.sampled_from(
        [
            "t'2016-02-29T23:59:60Z'",
            "t'2020-13-01T00:00:00Z'",
            "t'2020-00-10T00:00:00Z'",
            "t'2020-01-32T00:00:00Z'",
            "t'2020-01-01T24:00:00Z'",
            "t'2020-01-01T00:00:00'",
            "t'2020-01-01 00:00:00Z'",
            "t'2020-01-01T00:00:00.Z'",
        ]
    ),
)
_numbers = _mostly(
    st.one_of(
        st.integers(-(10**20), 10**20).map(str),
        st.integers(0, 99).map(lambda n: f"+{n}"),
        st.floats(allow_nan=False, allow_infinity=False, width=32).map(lambda f: f"{f:.3f}"),
    ),
    st.sampled_from([".5", "-.5", "+.5", "00.5", "01", "-0", "1.", "1e5", "1.2.3", "--1", "+-1"]),
)
_binaries = _mostly(
    st.binary(min_size=1, max_size=10).map(lambda b: "b'" + base64.b64encode(b).decode() + "'"),
    st.one_of(
        st.binary(min_size=1, max_size=6).map(
            lambda b: "b64'" + base64.b64encode(b).decode() + "'"
        ),
        st.sampled_from(["b''", "b'AAA'", "b'A==='", "b'AA=='"]),
    ),
)
_hexes = _mostly(
    st.binary(max_size=6).map(lambda b: "h'" + b.hex() + "'"),
    st.sampled_from(["h'abc'", "h'AbCd'", "h'xy'", "h''"]),
)
_booleans = _mostly(st.sampled_from(["true", "false"]), st.sampled_from(["TRUE", "True"]))
_literals = st.one_of(
    _string_literals, _string_literals, _numbers, _timestamps, _binaries, _hexes, _booleans
)


@st.composite
def _object_paths(draw: st.DrawFn) -> str:
    sep = draw(st.one_of(st.just(""), st.just(""), st.just(""), _separators))
    object_type = draw(_object_types)
    if draw(st.integers(0, 7)) == 0:
        hash_name = draw(st.sampled_from(sorted(_HASH_NAMES)))
        return f"{object_type}{sep}:{sep}hashes{sep}.{sep}{hash_name}"
    first = draw(
        _mostly(
            st.one_of(st.sampled_from(["value", "name", "hashes", "x1", "_a"]), _identifiers),
            st.one_of(st.sampled_from(["a-b", "AND", "true", "1"]), _string_literals),
        )
    )
    steps = draw(
        st.lists(
            _mostly(
                st.one_of(
                    _identifiers.map(lambda i: "." + i),
                    st.sampled_from([".hashes", ".MD5", ".'SHA-256'", ".value", "[*]", "[0]"]),
                    st.sampled_from(["[12]", "[+1]", "[ 0 ]"]),
                ),
                st.one_of(
                    _string_literals.map(lambda s: "." + s),
                    st.sampled_from([".true", ". x", "[-1]", "[01]", "[x]", ".a-b", "[]"]),
                ),
            ),
            max_size=3,
        )
    )
    return f"{object_type}{sep}:{sep}{first}" + sep.join(steps)


@st.composite
def _comparisons(draw: st.DrawFn) -> str:
    sep = draw(_separators)
    path = draw(_object_paths())
    shape = draw(st.integers(0, 9))
    negation = draw(st.sampled_from(["", "", "", "NOT" + sep]))
    if shape == 0:
        return f"{negation}EXISTS{sep}{path}"
    if shape == 1:
        items = draw(st.lists(_literals, max_size=3))
        return f"{path}{sep}{negation}IN{sep}(" + f"{sep},{sep}".join(items) + ")"
    if shape == 2:
        op = draw(st.sampled_from(["LIKE", "MATCHES", "ISSUBSET", "ISSUPERSET"]))
        return f"{path}{sep}{negation}{op}{sep}{draw(_string_literals)}"
    if shape in {3, 4}:
        op = draw(st.sampled_from(["<", "<=", ">", ">=", "<>", "!=", "=", "=="]))
        return f"{path}{sep}{negation}{op}{sep}{draw(_literals)}"
    if shape in {5, 6}:
        return draw(_hash_comparisons())
    op = draw(st.sampled_from(["=", "=", "=", "!=", "=="]))
    return f"{path}{sep}{negation}{op}{sep}{draw(_string_literals)}"


def _joined(children: st.SearchStrategy[str], operators: list[str]) -> st.SearchStrategy[str]:
    return st.tuples(children, st.sampled_from(operators), children, _separators).map(
        lambda t: f"{t[0]}{t[3]}{t[1]}{t[3]}{t[2]}"
    )


_comparison_expressions = st.recursive(
    _comparisons(),
    lambda inner: st.one_of(
        _joined(inner, ["AND", "OR"]),
        inner.map(lambda c: f"({c})"),
    ),
    max_leaves=4,
)

_qualifiers = st.sampled_from(
    [
        " WITHIN 5 SECONDS",
        " WITHIN 2.5 SECONDS",
        " REPEATS 3 TIMES",
        " START t'2020-01-01T00:00:00Z' STOP t'2021-01-01T00:00:00Z'",
        " WITHIN 5 SECONDS WITHIN 6 SECONDS",
        " REPEATS -1 TIMES",
    ]
)


@st.composite
def _observations(draw: st.DrawFn) -> str:
    sep = draw(_separators)
    observation = f"[{sep}{draw(_comparison_expressions)}{sep}]"
    if draw(st.integers(0, 19)) == 0:
        observation += draw(_qualifiers)
    return observation


_observation_expressions = st.recursive(
    _observations(),
    lambda inner: st.one_of(
        _joined(inner, ["AND", "OR", "FOLLOWEDBY"]),
        inner.map(lambda o: f"({o})"),
    ),
    max_leaves=4,
)


@st.composite
def well_formed_patterns(draw: st.DrawFn) -> str:
    return draw(st.sampled_from(["", "", " ", "\n"])) + draw(_observation_expressions)


# --- broken patterns ---------------------------------------------------------------------------

# Characters and fragments the lexer treats specially.
_INSERTIONS = [
    *"[]():,.'\"\\-+*=<>!/^ \t\n\u00a0_aZh0",
    "AND",
    " OR ",
    "NOT ",
    "true",
    "'",
    "''",
    "\\'",
    "/*",
    "*/",
    "//",
    "h'",
    "t'",
    "b'",
    "[*]",
    "\x00",
    "\u00e9",
    "\U0001f600",
]


# Shapes seen in real feeds, with varying values.
_FEED_TEMPLATES = [
    "[ipv4-addr:value = '{ip}']",
    "[ipv6-addr:value = '2001:db8::{n}']",
    "[domain-name:value = '{word}.example']",
    "[url:value = 'http://{word}.example/{word}?q={n}']",
    "[email-addr:value = '{word}@{word}.example']",
    "[file:hashes.MD5 = '{md5}']",
    "[file:hashes.'SHA-256' = '{sha256}']",
    "[file:hashes.'SHA-1' = '{sha1}' OR file:hashes.MD5 = '{md5}']",
    "[x-custom-type:some_prop = '{word}']",
    "[file:name = '{word}.exe' AND file:size > {n}]",
    "[ipv4-addr:value = '{ip}'] OR [domain-name:value = '{word}.example']",
    "[network-traffic:dst_port IN ({n}, 443)] FOLLOWEDBY [url:value != '{word}']",
    "[url:value LIKE '%{word}%']",
    "[process:command_line MATCHES '^{word}\\\\d']",
    "[ipv4-addr:value ISSUBSET '198.51.{n}.0/24']",
    "[x-type:seen > t'2020-01-01T00:00:00Z' AND x-type:b = h'ff00']",
    "[x-type:blob = b'AAAA'] AND [x-type:flag = true]",
    "[x-type:ratio >= -{n}.5]",
    "[email-message:to_refs[*].value = '{word}@example.com']",
    "[windows-registry-key:key = 'HKEY_LOCAL_MACHINE\\\\{word}']",
]


@st.composite
def feed_patterns(draw: st.DrawFn) -> str:
    words = st.from_regex(r"\A[a-z][a-z0-9]{0,7}\Z")
    return draw(st.sampled_from(_FEED_TEMPLATES)).format(
        ip=".".join(str(draw(st.integers(0, 255))) for _ in range(4)),
        n=draw(st.integers(0, 9999)),
        word=draw(words),
        md5=draw(st.text(alphabet=_HEX, min_size=32, max_size=32)),
        sha1=draw(st.text(alphabet=_HEX, min_size=40, max_size=40)),
        sha256=draw(st.text(alphabet=_HEX, min_size=64, max_size=64)),
    )


@st.composite
def mutated_patterns(draw: st.DrawFn, bases: st.SearchStrategy[str] | None = None) -> str:
    """One to three edits (deletions, insertions, quote swaps...) of a pattern from `bases`."""
    pattern = draw(
        bases if bases is not None else st.one_of(feed_patterns(), well_formed_patterns())
    )
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 3]))):
        position = draw(st.integers(0, len(pattern)))
        action = draw(st.sampled_from(range(8)))
        if action == 0 and pattern:  # delete a character
            position = min(position, len(pattern) - 1)
            pattern = pattern[:position] + pattern[position + 1 :]
        elif action == 1:  # swap quote styles
            pattern = (
                pattern.replace("'", '"') if draw(st.booleans()) else pattern.replace("'", "`", 1)
            )
        elif action == 2:  # insert something the lexer cares about
            pattern = pattern[:position] + draw(st.sampled_from(_INSERTIONS)) + pattern[position:]
        elif action == 3:  # insert arbitrary text
            pattern = pattern[:position] + draw(st.text(max_size=2)) + pattern[position:]
        elif action == 4 and pattern:  # drop a span
            end = draw(st.integers(position, min(len(pattern), position + 6)))
            pattern = pattern[:position] + pattern[end:]
        elif action == 5:  # drop or change whitespace
            pattern = pattern.replace(" ", draw(st.sampled_from(["", "  ", "\t", "\u3000"])), 1)
        elif action == 6:  # change the case of a word
            word = draw(st.sampled_from(["AND", "OR", "IN", "true", "value", "hashes", "MD5"]))
            pattern = pattern.replace(word, word.swapcase(), 1)
        else:  # duplicate a span
            end = draw(st.integers(position, min(len(pattern), position + 8)))
            pattern = pattern[:end] + pattern[position:end] + pattern[end:]
    return pattern


# Sequences of the grammar's tokens in any order: close to valid, exercising every parse rule.
_VOCABULARY = [
    "[",
    "]",
    "(",
    ")",
    ":",
    ".",
    ",",
    "*",
    "=",
    "!=",
    "<",
    ">=",
    "AND",
    "OR",
    "NOT",
    "FOLLOWEDBY",
    "IN",
    "LIKE",
    "EXISTS",
    "x-type",
    "file",
    "hashes",
    "MD5",
    "'SHA-256'",
    "value",
    "'v'",
    "1",
    "-1",
    "2.5",
    "true",
    "h'ab'",
    "b'AAAA'",
    "t'2020-01-01T00:00:00Z'",
    "'d41d8cd98f00b204e9800998ecf8427e'",
]
token_soups = st.tuples(
    st.lists(st.sampled_from(_VOCABULARY), min_size=1, max_size=14),
    st.sampled_from([" ", "", " ", "\t"]),
).map(lambda t: t[1].join(t[0]))


@st.composite
def near_valid_soups(draw: st.DrawFn) -> str:
    # Prefixed with a plausible start so that the recognizer gets past the first token.
    start = draw(st.sampled_from(["[file:hashes.MD5 = ", "[x:a ", "([x:a = 1] ", "[", "(["]))
    return start + draw(token_soups)
