"""STIX 2.1 indicator pattern validation.

Feeds carry thousands of patterns, nearly all of a few simple shapes, and the ANTLR-based
stix2-patterns validator spends a few hundred microseconds on each. A recognizer written for
those shapes answers directly; whatever it is not sure of goes to stix2-patterns, so the verdict
is always the one `stix2patterns.validator.run_validator(pattern, stix_version="2.1")` gives:
the grammar, its bracket pre-check and its hash-value check, and any exception it raises counts
as a rejection.

The recognizer follows the lexer of the grammar (STIXPattern.g4 in stix2-patterns 2.1): token
rules are tried in an order where Python's first-match alternation picks the token that ANTLR's
longest match would. Comments, qualifiers, lone signs and quotes and any character outside the
grammar's alphabet are left to stix2-patterns, as are all syntax errors, so that their messages
are the library's.
"""

from __future__ import annotations

import re
from typing import Final, TypeAlias

from stix2patterns.v21.object_validator import HASHES_REGEX
from stix2patterns.validator import run_validator

__all__ = ["pattern_error"]

# The lexer's WS rule. All of it is str.isspace, so stix2-patterns' bracket pre-check agrees.
_WS: Final = "[ \t\r\n\x0b\x0c\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"

# Token rules. Possessive quantifiers keep failing matches linear.
_STR: Final = r"'(?:[^'\\]++|\\['\\])*+'"
_HEX: Final = r"h'(?:[0-9A-Fa-f]{2})*+'"
_B64: Final = "[A-Za-z0-9+/]"
_BIN: Final = rf"b'(?:{_B64}{{4}})*(?:{_B64}{{4}}|{_B64}{{3}}=|{_B64}{{2}}==)'"
_TS: Final = (
    r"t'[0-9]{4}-(?:0[1-9]|1[012])-(?:0[1-9]|[12][0-9]|3[01])"
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:(?:[0-5][0-9]|60)(?:\.[0-9]+)?Z'"
)
_FLOAT: Final = r"[+-]?[0-9]*+\.[0-9]++"
_INT: Final = r"[+-]?(?:0|[1-9][0-9]*+)"
_IDENT: Final = "[A-Za-z_][A-Za-z0-9_-]*+"

# Optional whitespace, then one token. Alternatives are ordered so that the first one to match is
# the token ANTLR's longest match gives: h, b and t literals before identifiers, floats before
# integers and before the dot. The last two catch every other character and the end.
_TOKEN: Final = re.compile(
    rf"{_WS}*+(?:"
    rf"({_STR})"  # 1
    rf"|({_HEX})"  # 2
    rf"|({_BIN})"  # 3
    rf"|({_TS})"  # 4
    rf"|({_IDENT})"  # 5
    r"|(==?|!=|<>|<=?|>=?)"  # 6 comparison operators
    rf"|({_FLOAT})"  # 7
    rf"|({_INT})"  # 8
    r"|([\[\]():,.*])"  # 9 punctuation
    r"|([\s\S])"  # 10 anything else
    r"|\Z)"
)
_G_STR, _G_HEX, _G_BIN, _G_TS, _G_IDENT, _G_OP, _G_FLOAT, _G_INT, _G_PUNCT = range(1, 10)

# Token kinds: the grammar's token names; keywords, operators and punctuation are their text.
_K_STR: Final = "StringLiteral"
_K_INT_POS: Final = "IntPosLiteral"
_K_INT_NEG: Final = "IntNegLiteral"
_K_FLOAT_POS: Final = "FloatPosLiteral"
_K_FLOAT_NEG: Final = "FloatNegLiteral"
_K_BOOL: Final = "BoolLiteral"
_K_IDENT: Final = "IdentifierWithoutHyphen"
_K_IDENT_HYPHEN: Final = "IdentifierWithHyphen"
_K_EOF: Final = "<EOF>"
_QUOTED_KINDS: Final = {
    _G_STR: _K_STR,
    _G_HEX: "HexLiteral",
    _G_BIN: "BinaryLiteral",
    _G_TS: "TimestampLiteral",
}
# Words the lexer makes keyword or boolean tokens, never identifiers (case matters).
_KEYWORDS: Final = frozenset(
    {
        "AND",
        "OR",
        "NOT",
        "FOLLOWEDBY",
        "LIKE",
        "MATCHES",
        "ISSUPERSET",
        "ISSUBSET",
        "EXISTS",
        "LAST",
        "IN",
        "START",
        "STOP",
        "SECONDS",
        "WITHIN",
        "REPEATS",
        "TIMES",
    }
)
_BOOLEANS: Final = frozenset({"true", "false"})
_OBJECT_TYPE_KINDS: Final = frozenset({_K_IDENT, _K_IDENT_HYPHEN})
_ORDERABLE: Final = frozenset(
    {
        _K_STR,
        _K_INT_POS,
        _K_INT_NEG,
        _K_FLOAT_POS,
        _K_FLOAT_NEG,
        "HexLiteral",
        "BinaryLiteral",
        "TimestampLiteral",
    }
)
_PRIMITIVE: Final = _ORDERABLE | {_K_BOOL}
_EQUALITY_OPS: Final = frozenset({"=", "==", "!=", "<>"})
_ORDER_OPS: Final = frozenset({"<", "<=", ">", ">="})
_STRING_OPS: Final = frozenset({"LIKE", "MATCHES", "ISSUBSET", "ISSUPERSET"})

# stix2-patterns walks its parse tree recursively, so a deep enough tree fails there on Python's
# recursion limit (near 1000 path steps, or 250 nested parentheses). Far below that, these bounds
# leave room for the caller's own stack; larger patterns go to stix2-patterns itself.
_MAX_TOKENS: Final = 400
_MAX_NESTING: Final = 16
_MAX_PATH_STEPS: Final = 32
_MAX_CHAIN: Final = 64
# stix2-patterns calls int() on every list index, and int() refuses very long digit strings.
_MAX_INDEX_DIGITS: Final = 17

# Whole-pattern regexes for the shapes feeds use most: bracketed comparisons joined by AND / OR,
# observations joined by AND / OR / FOLLOWEDBY, no parentheses, no whitespace inside object
# paths. Words and numbers must end where the lexer ends them, hence the lookaheads.
_W: Final = f"{_WS}*+"
_END_WORD: Final = "(?![A-Za-z0-9_-])"
_END_NUMBER: Final = "(?![A-Za-z0-9_.-])"
_NOT_KEYWORD: Final = "(?!(?:{}){})".format("|".join(sorted(_KEYWORDS | _BOOLEANS)), _END_WORD)
_PATH_KEY: Final = rf"(?:{_NOT_KEYWORD}[A-Za-z_][A-Za-z0-9_]*+{_END_WORD}|{_STR})"
_PATH: Final = (
    rf"{_PATH_KEY}(?:\.{_PATH_KEY}|\[(?:\*|\+?(?:0|[1-9][0-9]{{0,15}}))\]){{0,{_MAX_PATH_STEPS}}}+"
)
_OBJECT_TYPE: Final = f"{_NOT_KEYWORD}{_IDENT}"
_ORDERABLE_RE: Final = rf"{_STR}|{_HEX}|{_BIN}|{_TS}|{_FLOAT}{_END_NUMBER}|{_INT}{_END_NUMBER}"
_PRIMITIVE_RE: Final = rf"{_ORDERABLE_RE}|(?:true|false){_END_WORD}"
_COMPARISON_OPERATOR: Final = (
    rf"(?:==?|!=|<>|[<>]=?){_W}(?:{_ORDERABLE_RE})"
    rf"|(?:==?|!=|<>){_W}(?:true|false){_END_WORD}"
    # A set: items each followed by a comma that is not the last thing before `)`, or by `)`.
    rf"|IN{_END_WORD}{_W}\((?:{_W}(?:{_PRIMITIVE_RE}){_W}(?:,(?!{_W}\))|(?=\))))*+{_W}\)"
    rf"|(?:LIKE|MATCHES|ISSUBSET|ISSUPERSET){_END_WORD}{_W}{_STR}"
)
_COMPARISON: Final = (
    rf"(?:{_OBJECT_TYPE}{_W}:{_W}{_PATH}{_W}(?:NOT{_END_WORD}{_W})?(?:{_COMPARISON_OPERATOR})"
    rf"|(?:NOT{_END_WORD}{_W})?EXISTS{_END_WORD}{_W}{_OBJECT_TYPE}{_W}:{_W}{_PATH})"
)
# Each comparison (observation) is followed by AND / OR (/ FOLLOWEDBY) and then more, or by the
# end; written as one loop so that the large comparison regex appears only once.
_OBSERVATION: Final = (
    rf"\[(?:{_W}{_COMPARISON}{_W}(?:(?:AND|OR){_END_WORD}(?!{_W}\])|(?=\]))){{1,{_MAX_CHAIN}}}+\]"
)
_FLAT: Final = re.compile(
    rf"(?:{_W}{_OBSERVATION}{_W}(?:(?:AND|OR|FOLLOWEDBY){_END_WORD}(?!{_W}\Z)|\Z)){{1,{_MAX_CHAIN}}}+"
)
# A single comparison, capturing what the hash check needs.
_SIMPLE: Final = re.compile(
    rf"{_W}\[{_W}{_OBJECT_TYPE}{_W}:{_W}(?P<path>{_PATH}){_W}"
    rf"(?:(?:==?|!=|<>){_W}(?P<eq>{_PRIMITIVE_RE})|[<>]=?{_W}(?P<ord>{_ORDERABLE_RE}))"
    rf"{_W}\]{_W}"
)
# Steps of a path that _PATH matched.
_PATH_STEP: Final = re.compile(rf"({_STR})|\[([^\]]*)\]|([A-Za-z_][A-Za-z0-9_]*)")

# stix2-patterns' own table, so that the check stays the one it applies.
_HASH_PATTERNS: Final = {name: re.compile(spec[0]) for name, spec in HASHES_REGEX.items()}

_MAX_MESSAGE: Final = 300
_LIBRARY_ERROR: Final = re.compile(r"(?:FAIL: )?Error found at line (\d+):(\d+)\. (.*)", re.DOTALL)
_MISSING_BRACKETS: Final = "input is missing square brackets"
# ANTLR lists every literal token it expected; one phrase reads better.
_LITERAL_SET: Final = re.compile(r"\{(\w+Literal(?:, \w+Literal){7,})\}")


class _Fallback(Exception):
    """The recognizer cannot give a certain verdict; stix2-patterns must decide."""


class _Star:
    """The `[*]` list index in an object path."""


_STAR: Final = _Star()
_PathComponent: TypeAlias = str | int | _Star
# An object path, and the literal text stix2-patterns checks hash values against.
_Comparison: TypeAlias = tuple[list[_PathComponent], str]


def pattern_error(pattern: str) -> str | None:
    """Return None if `pattern` is a valid STIX 2.1 pattern, else a short human message naming
    what is wrong."""
    if not pattern or pattern.isspace():
        return "pattern is empty"
    try:
        if "hashes" not in pattern:
            # The hash check cannot apply: a valid shape is enough.
            if _FLAT.fullmatch(pattern) is not None:
                return None
        else:
            simple = _SIMPLE.fullmatch(pattern)
            if simple is not None:
                value = simple["eq"] if simple["eq"] is not None else simple["ord"]
                return _hash_errors([(_split_path(simple["path"]), value)])
        kinds, texts = _tokenize(pattern)
        return _hash_errors(_Recognizer(kinds, texts, "hashes" in pattern).comparisons())
    except _Fallback:
        return _library_error(pattern)


def _library_error(pattern: str) -> str | None:
    try:
        errors: list[str] = run_validator(pattern, stix_version="2.1")
    except Exception as exc:  # noqa: BLE001 - a pattern that crashes the validator is unusable
        return _shorten(f"pattern could not be validated ({type(exc).__name__}: {exc})")
    if not errors:
        return None
    return _join([_humanise(error) for error in errors])


def _humanise(error: str) -> str:
    positioned = _LIBRARY_ERROR.fullmatch(error)
    if positioned is None:
        return error.removeprefix("FAIL: ")
    line, column, text = positioned.groups()
    if text == _MISSING_BRACKETS:
        return "pattern does not start with '[' or '('"
    text = _LITERAL_SET.sub(_name_literals, text)
    where = f"column {column}" if line == "1" else f"line {line}, column {column}"
    return f"{text} at {where}"


def _name_literals(expected: re.Match[str]) -> str:
    return "a literal" if "BoolLiteral" in expected[1] else "a literal other than true or false"


def _join(messages: list[str]) -> str:
    message = messages[0]
    if len(messages) > 1:
        message += f" (and {len(messages) - 1} more)"
    return _shorten(message)


def _shorten(message: str) -> str:
    if len(message) <= _MAX_MESSAGE:
        return message
    return message[: _MAX_MESSAGE - 1] + "…"


def _unquote(literal: str) -> str:
    # The same, order-dependent, unescaping stix2-patterns applies to path keys.
    return literal[1:-1].replace("\\'", "'").replace("\\\\", "\\")


def _split_path(path: str) -> list[_PathComponent]:
    components: list[_PathComponent] = []
    for step in _PATH_STEP.finditer(path):
        quoted, index, name = step.groups()
        if quoted is not None:
            components.append(_unquote(quoted))
        elif index is not None:
            components.append(_STAR if index == "*" else int(index))
        else:
            components.append(name)
    return components


def _hash_errors(comparisons: list[_Comparison]) -> str | None:
    """stix2-patterns' check that values compared with a known hash type look like one."""
    errors: list[str] = []
    for components, value in comparisons:
        if "hashes" not in components:
            continue
        selector = components[-1]
        if isinstance(selector, _Star):
            continue
        if isinstance(selector, int):
            # stix2-patterns fails on a list index here; let it report that.
            raise _Fallback
        hash_type = selector.upper().replace("-", "").replace("'", "")
        if hash_type in _HASH_PATTERNS:
            hash_string = value.replace("'", "")
            if _HASH_PATTERNS[hash_type].match(hash_string) is None:
                errors.append(f"'{hash_string}' is not a valid {selector} hash")
    return _join(errors) if errors else None


def _tokenize(pattern: str) -> tuple[list[str], list[str]]:
    """Token kinds and texts as the grammar's lexer produces them, ending with <EOF>."""
    kinds: list[str] = []
    texts: list[str] = []
    for match in _TOKEN.finditer(pattern):
        group = match.lastindex
        if group is None:  # the end, after any trailing whitespace
            continue
        text = match.group(group)
        if group == _G_IDENT:
            if "-" in text:
                kinds.append(_K_IDENT_HYPHEN)
            elif text in _KEYWORDS:
                kinds.append(text)
            elif text in _BOOLEANS:
                kinds.append(_K_BOOL)
            else:
                kinds.append(_K_IDENT)
        elif group in {_G_OP, _G_PUNCT}:
            kinds.append(text)
        elif group == _G_INT:
            kinds.append(_K_INT_NEG if text[0] == "-" else _K_INT_POS)
        elif group == _G_FLOAT:
            kinds.append(_K_FLOAT_NEG if text[0] == "-" else _K_FLOAT_POS)
        elif group in {_G_STR, _G_HEX, _G_BIN, _G_TS}:
            kinds.append(_QUOTED_KINDS[group])
        else:
            raise _Fallback
        texts.append(text)
    if len(kinds) > _MAX_TOKENS:
        raise _Fallback
    kinds.append(_K_EOF)
    texts.append("")
    return kinds, texts


class _Recognizer:
    """Recursive descent over the grammar's rules, qualifiers left out.

    Raises _Fallback on anything it does not accept. With `want_paths`, records each comparison
    for the hash check.
    """

    __slots__ = ("_comparisons", "_depth", "_kinds", "_pos", "_texts", "_want_paths")

    def __init__(self, kinds: list[str], texts: list[str], want_paths: bool) -> None:
        self._kinds = kinds
        self._texts = texts
        self._want_paths = want_paths
        self._pos = 0
        self._depth = 0
        self._comparisons: list[_Comparison] = []

    def comparisons(self) -> list[_Comparison]:
        self._observation_expressions()
        self._take(_K_EOF)
        return self._comparisons

    def _take(self, kind: str) -> str:
        if self._kinds[self._pos] != kind:
            raise _Fallback
        self._pos += 1
        return self._texts[self._pos - 1]

    def _take_if(self, kind: str) -> bool:
        if self._kinds[self._pos] == kind:
            self._pos += 1
            return True
        return False

    def _take_any(self, kinds: frozenset[str]) -> str:
        if self._kinds[self._pos] not in kinds:
            raise _Fallback
        self._pos += 1
        return self._texts[self._pos - 1]

    def _enter(self) -> None:
        self._depth += 1
        if self._depth > _MAX_NESTING:
            raise _Fallback

    def _observation_expressions(self) -> None:
        self._observation_expression()
        while self._kinds[self._pos] in {"AND", "OR", "FOLLOWEDBY"}:
            self._pos += 1
            self._observation_expression()

    def _observation_expression(self) -> None:
        if self._take_if("("):
            self._enter()
            self._observation_expressions()
            self._take(")")
            self._depth -= 1
        else:
            self._take("[")
            self._comparison_expression()
            self._take("]")

    def _comparison_expression(self) -> None:
        self._prop_test()
        while self._kinds[self._pos] in {"AND", "OR"}:
            self._pos += 1
            self._prop_test()

    def _prop_test(self) -> None:
        if self._take_if("("):
            self._enter()
            self._comparison_expression()
            self._take(")")
            self._depth -= 1
            return
        if self._kinds[self._pos] in {"NOT", "EXISTS"}:
            self._take_if("NOT")
            self._take("EXISTS")
            self._object_path()
            return
        path = self._object_path()
        self._take_if("NOT")
        operator = self._kinds[self._pos]
        self._pos += 1
        if operator in _EQUALITY_OPS:
            value = self._take_any(_PRIMITIVE)
        elif operator in _ORDER_OPS:
            value = self._take_any(_ORDERABLE)
        elif operator in _STRING_OPS:
            value = self._take(_K_STR)
        elif operator == "IN":
            value = self._set_literal()
        else:
            raise _Fallback
        if self._want_paths:
            self._comparisons.append((path, value))

    def _set_literal(self) -> str:
        # stix2-patterns checks the set's text: its tokens joined without whitespace.
        self._take("(")
        if self._take_if(")"):
            return "()"
        items = [self._take_any(_PRIMITIVE)]
        while self._take_if(","):
            items.append(self._take_any(_PRIMITIVE))
        self._take(")")
        return "(" + ",".join(items) + ")"

    def _object_path(self) -> list[_PathComponent]:
        self._take_any(_OBJECT_TYPE_KINDS)
        self._take(":")
        path: list[_PathComponent] = [self._key()]
        while True:
            if self._take_if("."):
                path.append(self._key())
            elif self._take_if("["):
                path.append(self._index())
                self._take("]")
            else:
                break
            if len(path) > _MAX_PATH_STEPS + 1:
                raise _Fallback
        return path

    def _key(self) -> str:
        kind = self._kinds[self._pos]
        self._pos += 1
        if kind == _K_IDENT:
            return self._texts[self._pos - 1]
        if kind == _K_STR:
            return _unquote(self._texts[self._pos - 1])
        raise _Fallback

    def _index(self) -> _PathComponent:
        if self._take_if("*"):
            return _STAR
        # A negative index makes stix2-patterns fail; let it report that.
        text = self._take(_K_INT_POS)
        if len(text) > _MAX_INDEX_DIGITS:
            raise _Fallback
        return int(text)
