"""Lists of indicators (CSV) to STIX 2.1 indicators with simple patterns.

Columns are found by a mapping the caller gives, else by the header (value/indicator/ioc/
observable, type, comment, tags, first_seen, last_seen, tlp), else the file is read as values
alone, with their kinds guessed. A line that cannot be read gives a problem naming its number;
the other lines are kept.

The kinds are canal's observable vocabulary (docs/formats.md), shared with text extraction and
the CSV and MISP exports; MISP attribute type names and STIX observable names are accepted as
aliases.
"""

from __future__ import annotations

import csv
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from canal.ingest.errors import SubmissionError
from canal.ingest.formats import Conversion, Problem
from canal.ingest.misp import FAST_TYPES, InvalidValue, parse_ip
from canal.model.handling import HandlingError, Tlp
from canal.model.stix import TLP2_MARKING_IDS, format_timestamp

#: Namespace of the ids canal gives to indicators read from lists and texts.
LIST_NAMESPACE = uuid.UUID("a3c5c0b4-6f7e-4a51-9f7b-3d9d2f0c8e12")

#: canal's observable kinds, as the MISP attribute type whose conversion they share.
KIND_TO_MISP_TYPE: dict[str, str] = {
    "ipv4": "ip-dst",
    "ipv6": "ip-dst",
    "domain": "domain",
    "url": "url",
    "email": "email",
    "email-subject": "email-subject",
    "md5": "md5",
    "sha1": "sha1",
    "sha256": "sha256",
    "sha512": "sha512",
    "sha3-256": "sha3-256",
    "sha3-512": "sha3-512",
    "filename": "filename",
    "mac": "mac-address",
    "asn": "AS",
    "mutex": "mutex",
    "regkey": "regkey",
    "crypto-wallet": "btc",
    "phone": "phone-number",
}

#: Other names for the kinds: MISP attribute types, STIX observable types, common spellings.
KIND_ALIASES: dict[str, str] = {
    **{kind: kind for kind in KIND_TO_MISP_TYPE},
    "ip": "ip",
    "ip-src": "ip",
    "ip-dst": "ip",
    "ipv4-addr": "ipv4",
    "ipv6-addr": "ipv6",
    "ip-address": "ip",
    "hostname": "domain",
    "domain-name": "domain",
    "fqdn": "domain",
    "uri": "url",
    "link": "url",
    "email-addr": "email",
    "email-src": "email",
    "email-dst": "email",
    "e-mail": "email",
    "sha-1": "sha1",
    "sha-256": "sha256",
    "sha-512": "sha512",
    "file-name": "filename",
    "mac-address": "mac",
    "mac-addr": "mac",
    "as": "asn",
    "autonomous-system": "asn",
    "btc": "crypto-wallet",
    "xmr": "crypto-wallet",
    "dash": "crypto-wallet",
    "bitcoin": "crypto-wallet",
    "wallet": "crypto-wallet",
    "cryptocurrency-wallet": "crypto-wallet",
    "phone-number": "phone",
    "windows-registry-key": "regkey",
}

_HASH_LENGTHS = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_DOMAIN = re.compile(
    r"^(?=.{4,253}$)([a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]\.?$",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://\S+$", re.IGNORECASE)
_BTC = re.compile(r"^(bc1[02-9ac-hj-np-z]{11,87}|[13][1-9A-HJ-NP-Za-km-z]{25,34})$")
_MAC = re.compile(r"^[0-9a-f]{2}([:-][0-9a-f]{2}){5}$", re.IGNORECASE)
_FILE_SUFFIXES = frozenset(
    {"exe", "dll", "doc", "docx", "xls", "xlsx", "pdf", "zip", "rar", "js", "ps1", "bat", "vbs",
     "scr", "lnk", "iso", "jar", "hta", "msi", "bin", "sh", "py", "txt"}
)  # fmt: skip


def refang(value: str) -> str:
    """Undo the usual defanging: hxxp, [.], (.), [dot], [at], [:]."""
    text = value.strip()
    text = re.sub(r"^hxxp", "http", text, flags=re.IGNORECASE)
    text = re.sub(r"^fxp", "ftp", text, flags=re.IGNORECASE)
    for pattern, plain in (
        (r"\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\)", "."),
        (r"\[@\]|\(@\)|\[at\]|\(at\)", "@"),
        (r"\[:\]", ":"),
        (r"\[/\]", "/"),
    ):
        text = re.sub(pattern, plain, text, flags=re.IGNORECASE)
    return text


def guess_kind(value: str) -> str | None:
    """The kind of a bare value, or None when it does not look like an indicator."""
    text = value.strip()
    if not text or any(c.isspace() for c in text):
        return None
    try:
        sco_type, _ = parse_ip(text)
    except InvalidValue:
        pass
    else:
        return "ipv4" if sco_type == "ipv4-addr" else "ipv6"
    if _HEX.match(text) and len(text) in _HASH_LENGTHS:
        return _HASH_LENGTHS[len(text)]
    if _URL.match(text):
        return "url"
    if _EMAIL.match(text):
        return "email"
    if _MAC.match(text):
        return "mac"
    if _BTC.match(text):
        return "crypto-wallet"
    if re.match(r"^AS\d{1,10}$", text, re.IGNORECASE):
        return "asn"
    if _DOMAIN.match(text):
        suffix = text.rstrip(".").rsplit(".", 1)[-1].lower()
        return "filename" if suffix in _FILE_SUFFIXES else "domain"
    return None


def kind_of(raw_type: str, value: str) -> str | None:
    """A declared type read as a canal kind ("ip" becomes ipv4 or ipv6 by the value)."""
    kind = KIND_ALIASES.get(raw_type.strip().lower())
    if kind == "ip":
        guessed = guess_kind(value)
        return guessed if guessed in {"ipv4", "ipv6"} else "ipv4"
    return kind


def pattern_for(kind: str, value: str) -> str:
    """The STIX pattern of one value. Raises InvalidValue when the value does not fit."""
    return FAST_TYPES[KIND_TO_MISP_TYPE[kind]][0](value)


def list_id(source: str | None, kind: str, value: str) -> str:
    """The same value from the same source keeps its id: a re-import is a new version of the
    indicator rather than a second indicator."""
    key = "\x1f".join((source or "", kind, value))
    return f"indicator--{uuid.uuid5(LIST_NAMESPACE, key)}"


def make_indicator(
    kind: str,
    value: str,
    *,
    source: str | None,
    now: datetime,
    comment: str | None = None,
    labels: Sequence[str] = (),
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    tlp: Tlp | None = None,
    indicator_type: str = "malicious-activity",
) -> dict[str, Any]:
    """An indicator for one value of a list or a text. Raises InvalidValue."""
    pattern = pattern_for(kind, value)
    stamp = format_timestamp(now)
    obj: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": list_id(source, kind, value),
        "created": stamp,
        "modified": stamp,
        "name": value if len(value) <= 256 else value[:253] + "...",
    }
    if comment:
        obj["description"] = comment
    obj["indicator_types"] = [indicator_type]
    obj["pattern"] = pattern
    obj["pattern_type"] = "stix"
    start = valid_from or now
    obj["valid_from"] = format_timestamp(start)
    if valid_until is not None and valid_until > start:
        obj["valid_until"] = format_timestamp(valid_until)
    if labels:
        obj["labels"] = list(labels)
    if tlp is not None:
        obj["object_marking_refs"] = [TLP2_MARKING_IDS[tlp]]
    return obj


# -- reading the file --------------------------------------------------------------------------

#: Header names (lower case, spaces and dashes as underscores) for each column role.
COLUMN_NAMES: dict[str, tuple[str, ...]] = {
    "value": ("value", "indicator", "ioc", "observable", "ioc_value", "indicator_value", "data",
              "artifact", "iocs", "indicators"),
    "type": ("type", "ioc_type", "indicator_type", "kind", "observable_type", "attribute_type",
             "category_type"),
    "comment": ("comment", "description", "note", "notes", "context", "info"),
    "tags": ("tags", "tag", "labels", "label"),
    "first_seen": ("first_seen", "firstseen", "date", "date_added", "created", "valid_from",
                   "first_seen_utc"),
    "last_seen": ("last_seen", "lastseen", "valid_until", "expiry", "expires"),
    "tlp": ("tlp", "tlp_level", "marking"),
}  # fmt: skip
_ROLE_BY_NAME = {name: role for role, names in COLUMN_NAMES.items() for name in names}
_DELIMITERS = (",", ";", "\t", "|")


@dataclass(frozen=True, slots=True)
class Columns:
    """Column index of each role; value is required."""

    value: int
    type: int | None = None
    comment: int | None = None
    tags: int | None = None
    first_seen: int | None = None
    last_seen: int | None = None
    tlp: int | None = None


def _header_key(cell: str) -> str:
    return re.sub(r"[\s-]+", "_", cell.strip().lower().lstrip("\ufeff#"))


def sniff_delimiter(lines: Sequence[str]) -> str | None:
    """The delimiter every sampled line has the same (non-zero) number of, if any."""
    for delimiter in _DELIMITERS:
        counts = {len(next(csv.reader([line], delimiter=delimiter))) for line in lines}
        if len(counts) == 1 and counts != {1}:
            return delimiter
    best = max(_DELIMITERS, key=lambda d: sum(line.count(d) for line in lines))
    return best if any(best in line for line in lines) else None


def columns_from_header(row: Sequence[str]) -> Columns | None:
    roles: dict[str, int] = {}
    for index, cell in enumerate(row):
        role = _ROLE_BY_NAME.get(_header_key(cell))
        if role is not None and role not in roles:
            roles[role] = index
    if "value" not in roles:
        return None
    return Columns(**roles)


def columns_from_mapping(mapping: Mapping[str, int | str], header: Sequence[str]) -> Columns:
    """The caller's mapping (role -> column index or header name) as Columns."""
    keys = {_header_key(cell): index for index, cell in enumerate(header)}
    roles: dict[str, int] = {}
    for role, column in mapping.items():
        if role not in COLUMN_NAMES:
            raise SubmissionError(
                "columns", f"unknown role {role!r}; known: {sorted(COLUMN_NAMES)}"
            )
        if isinstance(column, int):
            roles[role] = column
        elif _header_key(column) in keys:
            roles[role] = keys[_header_key(column)]
        else:
            raise SubmissionError("columns", f"no column named {column!r} for {role}")
    if "value" not in roles:
        raise SubmissionError("columns", "the mapping needs a value column")
    return Columns(**roles)


def _guess_columns(rows: Sequence[Sequence[str]]) -> Columns:
    """No header: the value is the column where most cells look like indicators, the type a
    column whose cells are kind names."""
    width = max(len(row) for row in rows)
    scores = [0] * width
    type_scores = [0] * width
    for row in rows[:50]:
        for index, cell in enumerate(row):
            if guess_kind(refang(cell)) is not None:
                scores[index] += 1
            if cell.strip().lower() in KIND_ALIASES:
                type_scores[index] += 1
    value = max(range(width), key=lambda i: scores[i])
    kinds = [i for i in range(width) if type_scores[i] and i != value]
    return Columns(value=value, type=kinds[0] if kinds else None)


def _cell(row: Sequence[str], index: int | None) -> str:
    if index is None or index >= len(row):
        return ""
    return row[index].strip()


def _time(raw: str) -> datetime:
    text = raw.strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text), UTC)
    at = datetime.fromisoformat(text.replace(" ", "T", 1) if len(text) > 10 else text)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _tags(raw: str) -> list[str]:
    return [t.strip() for t in re.split(r"[,;|]", raw) if t.strip()]


def csv_to_stix(
    data: bytes | str,
    *,
    where: str = "csv",
    source: str | None = None,
    columns: Mapping[str, int | str] | None = None,
    now: datetime | None = None,
) -> Conversion:
    """Indicators for every readable line of a CSV list. Each line is read on its own (a quoted
    cell may not span lines), so that a broken line costs only itself."""
    text = data.decode("utf-8-sig", errors="replace") if isinstance(data, bytes) else data
    now = now or datetime.now(UTC)
    lines = [
        (number, line)
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    result = Conversion()
    if not lines:
        result.problems.append(Problem(where, "no lines to read", dropped=False))
        return result
    delimiter = sniff_delimiter([line for _, line in lines[:50]]) or ","
    numbered: list[tuple[int, list[str]]] = []
    for number, line in lines:
        try:
            numbered.extend(
                (number, row) for row in csv.reader([line], delimiter=delimiter, strict=True)
            )
        except csv.Error as exc:
            result.problems.append(Problem(f"{where} line {number}", f"not CSV ({exc})"))
    if not numbered:
        return result
    header = numbered[0][1]
    from_header = columns_from_header(header)
    if columns is not None:
        chosen = columns_from_mapping(columns, header)
        named = any(isinstance(c, str) for c in columns.values())
        if from_header is not None or named:
            numbered = numbered[1:]
    elif from_header is not None:
        chosen, numbered = from_header, numbered[1:]
    else:
        chosen = _guess_columns([row for _, row in numbered])
    seen: set[str] = set()
    for number, row in numbered:
        obj = _row(row, chosen, f"{where} line {number}", result.problems, source=source, now=now)
        if obj is not None and obj["id"] not in seen:
            seen.add(obj["id"])
            result.objects.append(obj)
    return result


def _row(
    row: Sequence[str],
    cols: Columns,
    at: str,
    problems: list[Problem],
    *,
    source: str | None,
    now: datetime,
) -> dict[str, Any] | None:
    if not any(cell.strip() for cell in row):
        return None
    value = refang(_cell(row, cols.value))
    if not value:
        problems.append(Problem(at, "no value"))
        return None
    declared = _cell(row, cols.type)
    kind = kind_of(declared, value) if declared else guess_kind(value)
    if kind is None:
        reason = f"type {declared!r} is not known" if declared else "not recognised as an indicator"
        problems.append(Problem(at, f"{value!r}: {reason}"))
        return None
    try:
        first = _time(_cell(row, cols.first_seen)) if _cell(row, cols.first_seen) else None
        last = _time(_cell(row, cols.last_seen)) if _cell(row, cols.last_seen) else None
    except ValueError as exc:
        problems.append(Problem(at, f"a date cannot be read ({exc})"))
        return None
    tlp: Tlp | None = None
    if _cell(row, cols.tlp):
        try:
            tlp = Tlp.parse(_cell(row, cols.tlp))
        except HandlingError as exc:
            problems.append(Problem(at, str(exc)))
            return None
    try:
        return make_indicator(
            kind,
            value,
            source=source,
            now=now,
            comment=_cell(row, cols.comment) or None,
            labels=_tags(_cell(row, cols.tags)),
            valid_from=first,
            valid_until=last,
            tlp=tlp,
        )
    except InvalidValue as exc:
        problems.append(Problem(at, f"{kind}: {exc}"))
        return None
