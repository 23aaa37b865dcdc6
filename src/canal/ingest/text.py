"""Threat reports as plain text, HTML or PDF: one STIX `report` keeping the text, and an
indicator for each value found in it (iocextract, refanged), referenced by the report.

The text's own defanging ([.], hxxp, [@]...) is undone before extraction; bare domains are taken
only where the text defangs them, since a bare "report.pdf" or "e.g." is not an indicator. Very
long texts are cut at a word boundary in the report's description, and the report says so.
"""

from __future__ import annotations

import hashlib
import io
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import iocextract
from pypdf import PdfReader
from pypdf.errors import PdfReadError, PyPdfError

from canal.ingest.csv_in import LIST_NAMESPACE, guess_kind, make_indicator, refang
from canal.ingest.errors import SubmissionError
from canal.ingest.formats import Conversion, Problem
from canal.ingest.misp import InvalidValue, parse_ip
from canal.model.stix import format_timestamp

#: The report's description keeps at most this many characters of the text.
MAX_DESCRIPTION = 100_000
#: Longer texts are refused: extraction is for reports, not dumps (it would take minutes).
MAX_TEXT = 20_000_000
#: At most this many indicators from one text (a dump, not a report, beyond that).
MAX_INDICATORS = 20_000

_DEFANGED = ("[.]", "(.)", "{.}", "[dot]", "(dot)", "[@]", "(@)", "[at]", "hxxp", "[:]", "fxp")
_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
_WALLET = re.compile(r"\b(bc1[02-9ac-hj-np-z]{11,87}|[13][1-9A-HJ-NP-Za-km-z]{25,34})\b")
_TRAILING = ".,;:!?)]}>'\""


class _Html(HTMLParser):
    """The visible text of an HTML page, and its title."""

    _SKIP = frozenset({"script", "style", "noscript", "template", "svg"})
    _BREAK = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6",
                        "section", "article", "pre", "table", "ul", "ol"})  # fmt: skip

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self._skipping = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        del attrs
        if tag in self._SKIP:
            self._skipping += 1
        elif tag == "title":
            self._in_title = True
        elif tag in self._BREAK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skipping:
            self._skipping -= 1
        elif tag == "title":
            self._in_title = False
        elif tag in self._BREAK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._skipping:
            return
        if self._in_title:
            self.title.append(data)
        else:
            self.parts.append(data)


def _is_html(data: bytes, name: str | None) -> bool:
    if (name or "").lower().endswith((".html", ".htm", ".xhtml")):
        return True
    head = data[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<body" in head


def html_text(data: bytes) -> tuple[str, str | None]:
    parser = _Html()
    parser.feed(data.decode("utf-8", errors="replace"))
    parser.close()
    text = re.sub(r"[ \t\r\f\v]+", " ", "".join(parser.parts))
    text = re.sub(r"\n\s*\n+", "\n\n", text).strip()
    title = " ".join("".join(parser.title).split()) or None
    return text, title


def pdf_text(data: bytes, where: str, problems: list[Problem]) -> tuple[str, str | None]:
    """The text of every page. Raises SubmissionError when it is not a readable PDF."""
    if data.lstrip()[:5] != b"%PDF-":
        raise SubmissionError(where, "not a PDF: the file does not start with %PDF-")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise SubmissionError(where, "the PDF is encrypted with a password")
        pages = list(reader.pages)
        metadata = reader.metadata
    except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SubmissionError(where, f"not a readable PDF ({exc})") from None
    texts: list[str] = []
    for number, page in enumerate(pages, start=1):
        try:
            texts.append(page.extract_text() or "")
        except (PyPdfError, ValueError, KeyError, TypeError, AttributeError) as exc:
            problems.append(Problem(f"{where} page {number}", f"text not extracted ({exc})"))
    title = None
    if metadata is not None and isinstance(metadata.title, str) and metadata.title.strip():
        title = metadata.title.strip()
    return "\n\n".join(t.strip() for t in texts if t.strip()), title


def _refanged(text: str) -> str:
    """The text with each defanged token made whole again."""

    def fix(match: re.Match[str]) -> str:
        token = match.group(0)
        lowered = token.lower()
        return refang(token) if any(mark in lowered for mark in _DEFANGED) else token

    return re.sub(r"\S+", fix, text)


def _clean(value: str) -> str:
    return value.strip().rstrip(_TRAILING).lstrip("<(['\"")


def extract(text: str) -> Iterator[tuple[str, str]]:
    """(kind, value) for each indicator in the text, in order, each once."""
    plain = _refanged(text)
    seen: set[tuple[str, str]] = set()

    def once(kind: str | None, value: str) -> Iterator[tuple[str, str]]:
        if kind is not None and value and (kind, value) not in seen:
            seen.add((kind, value))
            yield kind, value

    for url in iocextract.extract_urls(plain, refang=True):
        value = _clean(url)
        if guess_kind(value) == "url":
            yield from once("url", value)
    for raw in iocextract.extract_ipv4s(plain, refang=True):
        yield from once(_ip_kind(_clean(raw)), _clean(raw))
    for raw in iocextract.extract_ipv6s(plain):
        yield from once(_ip_kind(_clean(raw)), _clean(raw))
    for raw in iocextract.extract_emails(plain):
        # iocextract lets "name x@y" through as one address: keep the last word only.
        value = _clean(refang(raw.split()[-1]))
        if _EMAIL.match(value):
            yield from once("email", value.lower())
    for kind, found in (
        ("md5", iocextract.extract_md5_hashes(plain)),
        ("sha1", iocextract.extract_sha1_hashes(plain)),
        ("sha256", iocextract.extract_sha256_hashes(plain)),
        ("sha512", iocextract.extract_sha512_hashes(plain)),
    ):
        for digest in found:
            yield from once(kind, digest.lower())
    for token in text.split():
        lowered = token.lower()
        if any(mark in lowered for mark in ("[.]", "(.)", "{.}", "[dot]", "(dot)")):
            value = _clean(refang(token))
            if guess_kind(value) == "domain":
                yield from once("domain", value.lower().rstrip("."))
    for match in _WALLET.finditer(plain):
        yield from once("crypto-wallet", match.group(0))


def _ip_kind(value: str) -> str | None:
    try:
        sco_type, _ = parse_ip(value)
    except InvalidValue:
        return None
    return "ipv4" if sco_type == "ipv4-addr" else "ipv6"


def _title(text: str, given: str | None, name: str | None) -> str:
    if given:
        return given[:250]
    for line in text.splitlines():
        if line.strip():
            words = " ".join(line.split())
            return words if len(words) <= 200 else words[:197] + "..."
    return name or "Untitled report"


def truncated(text: str, limit: int = MAX_DESCRIPTION) -> tuple[str, bool]:
    """The text cut at a word boundary near `limit`, with a note saying how much is kept."""
    if len(text) <= limit:
        return text, False
    cut = text.rfind(" ", int(limit * 0.9), limit)
    kept = text[: cut if cut > 0 else limit].rstrip()
    note = f"\n\n[truncated by canal: the first {len(kept):,} of {len(text):,} characters]"
    return kept + note, True


def text_to_stix(
    data: bytes | str,
    *,
    name: str | None = None,
    source: str | None = None,
    now: datetime | None = None,
) -> Conversion:
    """A report for the text and an indicator per value found in it.

    Raises SubmissionError for a file that claims to be a PDF and cannot be read as one."""
    where = name or "text"
    now = now or datetime.now(UTC)
    result = Conversion()
    raw = data.encode() if isinstance(data, str) else data
    title: str | None = None
    if raw.lstrip()[:5] == b"%PDF-" or where.lower().endswith(".pdf"):
        text, title = pdf_text(raw, where, result.problems)
    elif _is_html(raw, name):
        text, title = html_text(raw)
    else:
        text = raw.decode("utf-8", errors="replace")
    if not text.strip():
        result.problems.append(Problem(where, "no text to read", dropped=False))
        return result
    if len(text) > MAX_TEXT:
        raise SubmissionError(
            where,
            f"{len(text):,} characters of text is more than the {MAX_TEXT:,} read for indicators",
        )
    indicators: list[dict[str, Any]] = []
    for kind, value in extract(text):
        if len(indicators) >= MAX_INDICATORS:
            result.problems.append(
                Problem(where, f"more than {MAX_INDICATORS:,} indicators: the rest are left out")
            )
            break
        try:
            indicators.append(
                make_indicator(kind, value, source=source, now=now, indicator_type="unknown")
            )
        except InvalidValue as exc:
            result.problems.append(Problem(f"{where}: {value!r}", str(exc)))
    if not indicators:
        result.problems.append(
            Problem(where, "no indicators found; nothing to ingest", dropped=False)
        )
        return result
    description, cut = truncated(text)
    if cut:
        result.problems.append(
            Problem(
                where,
                f"the text is {len(text):,} characters; the report keeps the first "
                f"{MAX_DESCRIPTION:,} or so",
                dropped=False,
            )
        )
    digest = hashlib.sha256(text.encode()).hexdigest()
    stamp = format_timestamp(now)
    report = {
        "type": "report",
        "spec_version": "2.1",
        "id": f"report--{uuid.uuid5(LIST_NAMESPACE, (source or '') + ':' + digest)}",
        "created": stamp,
        "modified": stamp,
        "name": _title(text, title, name),
        "description": description,
        "report_types": ["threat-report"],
        "published": stamp,
        "object_refs": [i["id"] for i in indicators],
        "x_canal_text_sha256": digest,
    }
    result.objects = [report, *indicators]
    return result
