"""The pattern validator's verdict is stix2-patterns' verdict, on well-formed and broken input.

The fast path only ever answers for patterns it recognizes; these properties check that whenever
it answers, it agrees with stix2-patterns' run_validator (an exception from the library counts as
a rejection), and that its tokenizer agrees with the grammar's ANTLR lexer.
"""

from __future__ import annotations

from unittest import mock

import pytest
from antlr4 import InputStream
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from stix2patterns.v21.grammars.STIXPatternLexer import STIXPatternLexer
from stix2patterns.validator import run_validator

from canal.ingest import pattern as pattern_module
from canal.ingest.pattern import pattern_error
from strategies import (
    feed_patterns,
    mutated_patterns,
    near_valid_soups,
    token_soups,
    well_formed_patterns,
)

pytestmark = pytest.mark.slow

SETTINGS = settings(
    max_examples=1200,
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


@SETTINGS
@given(well_formed_patterns())
def test_well_formed_patterns_get_the_library_verdict(pattern: str) -> None:
    assert checked_verdict(pattern) == library_accepts(pattern), pattern


@SETTINGS
@given(st.one_of(mutated_patterns(), near_valid_soups(), token_soups))
def test_broken_patterns_get_the_library_verdict(pattern: str) -> None:
    assert checked_verdict(pattern) == library_accepts(pattern), pattern


# The shapes the whole-pattern regexes accept, intact and slightly damaged.
@settings(SETTINGS, max_examples=1000)
@given(st.one_of(feed_patterns(), mutated_patterns(feed_patterns())))
def test_feed_like_patterns_get_the_library_verdict(pattern: str) -> None:
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


@settings(SETTINGS, max_examples=800)
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
