"""The pattern validator's verdict is stix2-patterns' verdict, on well-formed and broken input.

The fast path only ever answers for patterns it recognizes; these properties check that whenever
it answers, it agrees with stix2-patterns' run_validator (an exception from the library counts as
a rejection), and that its tokenizer agrees with the grammar's ANTLR lexer.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from unittest import mock

from antlr4 import InputStream
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from stix2patterns.v21.grammars.STIXPatternLexer import STIXPatternLexer
from stix2patterns.validator import run_validator

from canal.ingest import pattern as pattern_module
from canal.ingest.pattern import pattern_error

SETTINGS = settings(
    max_examples=1500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def library_accepts(pattern: str) -> bool:
    try:
        return run_validator(pattern, stix_version="2.1") == []
    except Exception:  # noqa: BLE001 - the library failing is a rejection
        return False


def checked_verdict(pattern: str) -> bool:
    """pattern_error's verdict, recording whether the fast path decided it."""
    with mock.patch.object(
        pattern_module, "_library_error", wraps=pattern_module._library_error
    ) as fallback:
        error = pattern_error(pattern)
    assert error is None or (isinstance(error, str) and error)
    verdict = "valid" if error is None else "invalid"
    event(f"{'fallback' if fallback.called else 'fast path'}: {verdict}")
    return error is None


def mostly(usual: st.SearchStrategy[str], unusual: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """`usual` about nine times in ten: most generated patterns stay valid, some are not."""
    return st.integers(0, 9).flatmap(lambda n: unusual if n == 0 else usual)


# --- grammar-shaped patterns -------------------------------------------------------------------

LEXER_WS = [" ", "\t", "\n", "\r", "\x0b", "\x0c", "\x85", "\xa0", "\u1680", "\u2000", "\u2009"]
LEXER_WS += ["\u200a", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000"]
# Mostly a plain space; sometimes nothing (tokens may then merge), other whitespace, a comment.
separators = mostly(
    st.sampled_from([" ", " ", " ", ""]),
    st.one_of(
        st.text(alphabet=LEXER_WS, min_size=1, max_size=3),
        st.sampled_from(["/* c */", " /**/ ", "// c\n", "\x1c", " \u200b "]),
    ),
)

identifiers = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,8}\Z")
hyphenated = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_-]{0,10}\Z")
KEYWORDS = ["AND", "OR", "NOT", "IN", "LIKE", "EXISTS", "LAST", "WITHIN", "true", "false", "TRUE"]
object_types = mostly(
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
    st.one_of(hyphenated, st.sampled_from(KEYWORDS)),
)

string_chars = st.characters(codec="utf-8", exclude_categories=["Cs"])
text_with_quotes = st.text(
    alphabet=st.one_of(string_chars, st.sampled_from(["'", "\\", '"', " ", "\n", "]", "h"])),
    max_size=12,
)


def escape(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


string_literals = mostly(
    text_with_quotes.map(escape),
    st.one_of(
        text_with_quotes.map(lambda t: "'" + t + "'"),  # unescaped: often broken
        st.sampled_from(["''", "'\\''", "'\\\\'", "'a\\nb'", "'it''s'", "'198.51.100.1'"]),
    ),
)

HASH_LENGTHS = [32, 40, 56, 64, 96, 128]
hex_strings = st.one_of(
    st.sampled_from(HASH_LENGTHS).flatmap(
        lambda n: st.text(alphabet="0123456789abcdefABCDEF", min_size=n, max_size=n)
    ),
    st.text(alphabet="0123456789abcdef", max_size=70),
)
hash_values = st.one_of(
    hex_strings.map(lambda h: f"'{h}'"),
    st.from_regex(r"\A[0-9]{1,4}:[A-Za-z0-9/+]{3,20}:[A-Za-z0-9/+.]{3,20}\Z").map(lambda s: f"'{s}'"),
)
hash_names = st.sampled_from(
    [
        "MD5",
        "md5",
        "'MD5'",
        "'SHA-1'",
        "SHA1",
        "'SHA-256'",
        "SHA256",
        "'sha-256'",
        "'SHA-512'",
        "'SHA3-256'",
        "SSDEEP",
        "'RIPEMD-160'",
        "WHIRLPOOL",
        "MD6",
        "'TLSH'",
        "'SHA\\'256'",
        "x",
    ]
)

timestamps = st.one_of(
    st.datetimes(
        min_value=datetime(1, 1, 1),  # noqa: DTZ001 - hypothesis wants naive bounds
        max_value=datetime(9999, 12, 31),  # noqa: DTZ001
        timezones=st.just(UTC),
    ).map(lambda d: "t'" + d.strftime("%Y-%m-%dT%H:%M:%S") + ("Z'" if d.microsecond % 2 else ".5Z'")),
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
numbers = mostly(
    st.one_of(
        st.integers(-(10**20), 10**20).map(str),
        st.integers(0, 99).map(lambda n: f"+{n}"),
        st.floats(allow_nan=False, allow_infinity=False, width=32).map(lambda f: f"{f:.3f}"),
    ),
    st.sampled_from([".5", "-.5", "+.5", "00.5", "01", "-0", "1.", "1e5", "1.2.3", "--1", "+-1"]),
)
binaries = mostly(
    st.binary(min_size=1, max_size=10).map(lambda b: "b'" + base64.b64encode(b).decode() + "'"),
    st.one_of(
        st.binary(min_size=1, max_size=6).map(lambda b: "b64'" + base64.b64encode(b).decode() + "'"),
        st.sampled_from(["b''", "b'AAA'", "b'A==='", "b'AA=='"]),
    ),
)
hexes = mostly(
    st.binary(max_size=6).map(lambda b: "h'" + b.hex() + "'"),
    st.sampled_from(["h'abc'", "h'AbCd'", "h'xy'", "h''"]),
)
booleans = mostly(st.sampled_from(["true", "false"]), st.sampled_from(["TRUE", "True"]))
literals = st.one_of(
    string_literals, string_literals, numbers, timestamps, binaries, hexes, booleans
)


@st.composite
def object_paths(draw: st.DrawFn) -> str:
    sep = draw(st.one_of(st.just(""), st.just(""), st.just(""), separators))
    object_type = draw(object_types)
    if draw(st.integers(0, 3)) == 0:
        return f"{object_type}{sep}:{sep}hashes{sep}.{sep}{draw(hash_names)}"
    first = draw(
        mostly(
            st.one_of(st.sampled_from(["value", "name", "hashes", "x1", "_a"]), identifiers),
            st.one_of(st.sampled_from(["a-b", "AND", "true", "1"]), string_literals),
        )
    )
    steps = draw(
        st.lists(
            mostly(
                st.one_of(
                    identifiers.map(lambda i: "." + i),
                    st.sampled_from([".hashes", ".MD5", ".'SHA-256'", ".value", "[*]", "[0]"]),
                    st.sampled_from(["[12]", "[+1]", "[ 0 ]"]),
                ),
                st.one_of(
                    string_literals.map(lambda s: "." + s),
                    st.sampled_from([".true", ". x", "[-1]", "[01]", "[x]", ".a-b", "[]"]),
                ),
            ),
            max_size=3,
        )
    )
    return f"{object_type}{sep}:{sep}{first}" + sep.join(steps)


@st.composite
def comparisons(draw: st.DrawFn) -> str:
    sep = draw(separators)
    path = draw(object_paths())
    shape = draw(st.integers(0, 9))
    negation = draw(st.sampled_from(["", "", "", "NOT" + sep]))
    if shape == 0:
        return f"{negation}EXISTS{sep}{path}"
    if shape == 1:
        items = draw(st.lists(literals, max_size=3))
        return f"{path}{sep}{negation}IN{sep}(" + f"{sep},{sep}".join(items) + ")"
    if shape == 2:
        op = draw(st.sampled_from(["LIKE", "MATCHES", "ISSUBSET", "ISSUPERSET"]))
        return f"{path}{sep}{negation}{op}{sep}{draw(string_literals)}"
    if shape in {3, 4}:
        op = draw(st.sampled_from(["<", "<=", ">", ">=", "<>", "!=", "=", "=="]))
        return f"{path}{sep}{negation}{op}{sep}{draw(literals)}"
    value = draw(hash_values) if "hashes" in path else draw(string_literals)
    op = draw(st.sampled_from(["=", "=", "=", "!=", "=="]))
    return f"{path}{sep}{negation}{op}{sep}{value}"


def joined(children: st.SearchStrategy[str], operators: list[str]) -> st.SearchStrategy[str]:
    return st.tuples(children, st.sampled_from(operators), children, separators).map(
        lambda t: f"{t[0]}{t[3]}{t[1]}{t[3]}{t[2]}"
    )


comparison_expressions = st.recursive(
    comparisons(),
    lambda inner: st.one_of(
        joined(inner, ["AND", "OR"]),
        inner.map(lambda c: f"({c})"),
    ),
    max_leaves=4,
)

qualifiers = st.sampled_from(
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
def observations(draw: st.DrawFn) -> str:
    sep = draw(separators)
    observation = f"[{sep}{draw(comparison_expressions)}{sep}]"
    if draw(st.integers(0, 19)) == 0:
        observation += draw(qualifiers)
    return observation


observation_expressions = st.recursive(
    observations(),
    lambda inner: st.one_of(
        joined(inner, ["AND", "OR", "FOLLOWEDBY"]),
        inner.map(lambda o: f"({o})"),
    ),
    max_leaves=4,
)


@st.composite
def well_formed_patterns(draw: st.DrawFn) -> str:
    return draw(st.sampled_from(["", "", " ", "\n", "("])) + draw(observation_expressions)


# --- broken patterns ---------------------------------------------------------------------------

INSERTIONS = list("[]():,.'\"\\-+*=<>!/^ \t\n\u00a0_aZh0") + [
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


@st.composite
def mutated_patterns(draw: st.DrawFn) -> str:
    pattern = draw(well_formed_patterns())
    for _ in range(draw(st.integers(1, 3))):
        position = draw(st.integers(0, len(pattern)))
        action = draw(st.integers(0, 5))
        if action == 0 and pattern:  # delete a character
            position = min(position, len(pattern) - 1)
            pattern = pattern[:position] + pattern[position + 1 :]
        elif action == 1:  # swap quote styles
            pattern = pattern.replace("'", '"') if draw(st.booleans()) else pattern.replace("'", "`", 1)
        elif action == 2:  # insert something the lexer cares about
            pattern = pattern[:position] + draw(st.sampled_from(INSERTIONS)) + pattern[position:]
        elif action == 3:  # insert arbitrary text
            pattern = pattern[:position] + draw(st.text(max_size=2)) + pattern[position:]
        elif action == 4 and pattern:  # drop a span
            end = draw(st.integers(position, min(len(pattern), position + 6)))
            pattern = pattern[:position] + pattern[end:]
        else:  # duplicate a span
            end = draw(st.integers(position, min(len(pattern), position + 8)))
            pattern = pattern[:end] + pattern[position:end] + pattern[end:]
    return pattern


# Sequences of the grammar's tokens in any order: close to valid, exercising every parse rule.
VOCABULARY = [
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
    st.lists(st.sampled_from(VOCABULARY), min_size=1, max_size=14),
    st.sampled_from([" ", "", " ", "\t"]),
).map(lambda t: t[1].join(t[0]))


@st.composite
def near_valid_soups(draw: st.DrawFn) -> str:
    # Prefixed with a plausible start so that the recognizer gets past the first token.
    start = draw(st.sampled_from(["[file:hashes.MD5 = ", "[x:a ", "([x:a = 1] ", "[", "(["]))
    return start + draw(token_soups)


# --- properties --------------------------------------------------------------------------------


@SETTINGS
@given(well_formed_patterns())
def test_well_formed_patterns_get_the_library_verdict(pattern: str) -> None:
    assert checked_verdict(pattern) == library_accepts(pattern), pattern


@SETTINGS
@given(st.one_of(mutated_patterns(), near_valid_soups(), token_soups))
def test_broken_patterns_get_the_library_verdict(pattern: str) -> None:
    assert checked_verdict(pattern) == library_accepts(pattern), pattern


# The recognizer's token names for operators and punctuation are their text.
ANTLR_NAMES = {
    "=": "EQ",
    "==": "EQ",
    "!=": "NEQ",
    "<>": "NEQ",
    "<": "LT",
    "<=": "LE",
    ">": "GT",
    ">=": "GE",
    "[": "LBRACK",
    "]": "RBRACK",
    "(": "LPAREN",
    ")": "RPAREN",
    ":": "COLON",
    ",": "COMMA",
    ".": "DOT",
    "*": "ASTERISK",
}


def antlr_tokens(pattern: str) -> list[tuple[str, str]]:
    lexer = STIXPatternLexer(InputStream(pattern))
    lexer.removeErrorListeners()
    return [(lexer.symbolicNames[token.type], token.text) for token in lexer.getAllTokens()]


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(well_formed_patterns(), mutated_patterns(), token_soups))
def test_tokenizer_agrees_with_the_antlr_lexer(pattern: str) -> None:
    try:
        kinds, texts = pattern_module._tokenize(pattern)
    except pattern_module._Fallback:
        event("tokenizer fell back")
        return
    ours = [(ANTLR_NAMES.get(kind, kind), text) for kind, text in zip(kinds, texts, strict=True)]
    assert ours[-1] == ("<EOF>", "")
    assert ours[:-1] == antlr_tokens(pattern), pattern
