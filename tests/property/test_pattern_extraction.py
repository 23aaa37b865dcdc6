"""Observables read out of indicator patterns: where the regex path takes a pattern, it reads
the (object type, path, literals) that stix2-patterns' own inspection reads, escaped quotes and
backslashes included; and an onion service is told from a domain as refanging would tell it."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from canal.analysis import observables as obs
from canal.analysis.observables import ObservableType
from strategies import feed_patterns, mutated_patterns, well_formed_patterns

pytestmark = pytest.mark.slow

SETTINGS = settings(
    max_examples=600,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# Literal text with what needs escaping in a STIX string: quotes and backslashes.
_literal_text = st.text(alphabet=st.sampled_from("ab.-_ '\\é0"), max_size=12)


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


@st.composite
def escaped_patterns(draw: st.DrawFn) -> str:
    """Flat patterns over the paths feeds use, whose literals carry escapes."""
    paths = st.sampled_from(
        [
            "domain-name:value",
            "ipv4-addr:value",
            "url:value",
            "email-addr:value",
            "file:name",
            "file:hashes.'SHA-256'",
            "file:hashes.MD5",
            "network-traffic:dst_ref.value",
        ]
    )
    comparisons = []
    for _ in range(draw(st.integers(1, 3))):
        path = draw(paths)
        if draw(st.booleans()):
            comparisons.append(f"{path} = {_quoted(draw(_literal_text))}")
        else:
            items = draw(st.lists(_literal_text, min_size=1, max_size=3))
            comparisons.append(f"{path} IN (" + ", ".join(_quoted(t) for t in items) + ")")
    joiner = draw(st.sampled_from([" AND ", " OR "]))
    if draw(st.booleans()):
        return "[" + joiner.join(comparisons) + "]"
    return draw(st.sampled_from([" OR ", " AND ", " FOLLOWEDBY "])).join(
        f"[{c}]" for c in comparisons
    )


@SETTINGS
@given(
    st.one_of(
        escaped_patterns(),
        feed_patterns(),
        well_formed_patterns(),
        mutated_patterns(st.one_of(escaped_patterns(), feed_patterns())),
    )
)
# Found by this property: an object type must start with a letter.
@example("[4-addr:value = '0.0.0.0']")
def test_the_regex_path_reads_what_stix2_patterns_reads(pattern: str) -> None:
    if obs._SIMPLE_PATTERN.fullmatch(pattern) is None:
        event("left to stix2-patterns")
        return
    event("regex path")
    assert sorted(obs._pattern_comparisons(pattern)) == sorted(
        obs._inspected_comparisons(pattern)
    ), pattern


_defanged_hosts = st.builds(
    lambda parts, marks: "".join(p + m for p, m in zip(parts, marks, strict=False)),
    st.lists(st.sampled_from(["evil", "onion", "ONION", "x", "o", "nion", ""]), max_size=4),
    st.lists(st.sampled_from([".", "[.]", "(.)", "[dot]", "{.}", "\\.", "", " "]), max_size=4),
)


@settings(max_examples=500, deadline=None)
@given(_defanged_hosts)
def test_onion_services_are_told_as_refanging_tells_them(host: str) -> None:
    refanged = obs.refang(host).lower().rstrip(".")
    expected = ObservableType.ONION if refanged.endswith(".onion") else ObservableType.DOMAIN
    assert obs._host_kind(host) is expected, host
