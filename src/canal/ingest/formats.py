"""The formats canal reads, how it tells them apart, and their conversion to STIX 2.1.

Every converter returns a `Conversion`: the STIX objects it made, and one `Problem` per item it
had to drop or change, naming where the item was. Nothing valid is lost because a neighbour is
broken (DESIGN.md, invariant 4).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson

from canal.ingest.errors import SubmissionError
from canal.model.org import OrgKind


class Format(StrEnum):
    STIX = "stix"
    MISP = "misp"
    CSV = "csv"
    TEXT = "text"
    #: Leak-site tracker posts (ransomwatch, ransomware.live): canal.ingest.leaksite.
    LEAKSITE = "leaksite"


@dataclass(frozen=True, slots=True)
class Problem:
    """One item that could not be converted as it came. `dropped` is True when the item is
    lost (an error); False when it was kept with a change or a loss of detail (a warning)."""

    where: str
    message: str
    dropped: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "where": self.where,
            "severity": "error" if self.dropped else "warning",
            "message": self.message,
        }


@dataclass
class Conversion:
    objects: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def dropped(self) -> int:
        return sum(1 for p in self.problems if p.dropped)


_TEXT_SUFFIXES = (".txt", ".text", ".md", ".html", ".htm", ".xhtml", ".pdf", ".eml")
_CSV_SUFFIXES = (".csv", ".tsv")
_MISP_KEYS = frozenset({"Attribute", "Object", "Galaxy", "Orgc", "EventReport"})


def _json_kind(parsed: Any) -> Format | None:
    """STIX, MISP or leak-site posts for parsed JSON, None when it is none of them."""
    if isinstance(parsed, list):
        first = next((item for item in parsed if isinstance(item, dict)), None)
        return None if first is None else _json_kind(first)
    if not isinstance(parsed, dict):
        return None
    if "Event" in parsed or "response" in parsed:
        return Format.MISP
    stix_type = parsed.get("type")
    stix_id = parsed.get("id")
    if isinstance(stix_type, str) and isinstance(stix_id, str) and "--" in stix_id:
        return Format.STIX
    if stix_type == "bundle":
        return Format.STIX
    if parsed.keys() & _MISP_KEYS or ("info" in parsed and "uuid" in parsed):
        return Format.MISP
    if parsed.keys() & {"group_name", "group"} and parsed.keys() & {"post_title", "victim"}:
        return Format.LEAKSITE
    return None


_IOC_LINE = re.compile(r"^[^\s,;\t|]+$")


def _looks_like_csv(text: str) -> bool:
    """A list: every sampled line has the same number of delimited cells, or is one token."""
    from canal.ingest.csv_in import guess_kind, sniff_delimiter  # noqa: PLC0415 - csv_in imports this module

    lines = [line for line in text.splitlines()[:50] if line.strip()]
    if not lines:
        return False
    delimiter = sniff_delimiter(lines)
    if delimiter is not None:
        counts = {line.count(delimiter) for line in lines}
        return len(counts) == 1 and 0 not in counts
    # One value per line: a list when most of the lines are indicators.
    tokens = [line.strip() for line in lines]
    if not all(_IOC_LINE.match(t) for t in tokens):
        return False
    return sum(1 for t in tokens if guess_kind(t) is not None) * 2 > len(tokens)


def _binary(data: bytes) -> bool:
    sample = data[:8192]
    if b"\x00" in sample:
        return True
    text = sample.decode("utf-8", errors="replace")
    return text.count("\ufffd") * 20 > max(len(text), 1)


def detect_format(data: bytes, name: str | None = None) -> Format:
    """The format of `data`, from its content and, when it says something, its file name."""
    lowered = (name or "").lower()
    head = data[:2048].lstrip()
    if head.startswith(b"%PDF-") or lowered.endswith(".pdf"):
        return Format.TEXT
    if head[:1] in {b"{", b"["}:
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError:
            parsed = None
        kind = _json_kind(parsed)
        if kind is not None:
            return kind
        if parsed is not None:
            # JSON but neither STIX nor MISP: the STIX reader names what is wrong.
            return Format.STIX
    if _binary(data):
        # Not text of any kind: the STIX reader names what is wrong (not valid JSON).
        return Format.STIX
    if lowered.endswith(_CSV_SUFFIXES):
        return Format.CSV
    if lowered.endswith(_TEXT_SUFFIXES):
        return Format.TEXT
    if lowered.endswith(".json"):
        return Format.STIX
    text = data[:65536].decode("utf-8", errors="replace")
    if head[:1] == b"<":
        return Format.TEXT
    return Format.CSV if _looks_like_csv(text) else Format.TEXT


def to_stix(
    data: bytes,
    fmt: Format,
    *,
    name: str | None = None,
    source: str | None = None,
    orgs: Mapping[str, OrgKind] | None = None,
    now: datetime | None = None,
) -> Conversion:
    """Convert one file's content to STIX objects.

    `source` (the submitting org's name) seeds the ids of what canal makes up itself, so that
    the same list from the same source keeps its ids; `orgs` (canal's org names and kinds)
    resolves MISP sharing groups. Raises SubmissionError when the file as a whole is unusable.
    """
    where = name or "submission"
    if fmt is Format.STIX:
        from canal.ingest.stix import read_submission  # noqa: PLC0415 - kept beside its peers

        return Conversion(objects=read_submission(data, where=where))
    if fmt is Format.MISP:
        from canal.ingest.misp import misp_to_stix  # noqa: PLC0415 - misp imports this module

        return misp_to_stix(data, orgs=orgs, where=where)
    if fmt is Format.CSV:
        from canal.ingest.csv_in import csv_to_stix  # noqa: PLC0415 - csv_in imports this module

        return csv_to_stix(data, where=where, source=source, now=now)
    if fmt is Format.TEXT:
        from canal.ingest.text import text_to_stix  # noqa: PLC0415 - text imports this module

        return text_to_stix(data, name=name, source=source, now=now)
    if fmt is Format.LEAKSITE:
        from canal.ingest.leaksite import leaksite_to_stix  # noqa: PLC0415 - imports this module

        return leaksite_to_stix(data, where=where, source=source)
    raise SubmissionError(where, f"unknown format {fmt!r}")
