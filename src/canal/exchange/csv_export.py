"""Streaming CSV export: one row per indicator or observable value the principal may see.

Columns: type (canal's observable kind, docs/formats.md), value, id (the STIX id of the record),
source, tlp, date_added. An indicator gives a row per value its pattern compares with `=`
(a file name only when the pattern names no hash of the file); an observable a row per value.
The file reads back with `canal ingest --format csv`.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from canal.ingest.csv_in import KIND_TO_MISP_TYPE, guess_kind
from canal.model.handling import Purpose
from canal.model.org import Principal
from canal.model.stix import format_micros
from canal.policy import Redaction
from canal.records.service import RecordService, Seen
from canal.store.records import RecordQuery

COLUMNS = ("type", "value", "id", "source", "tlp", "date_added")

_HASH_KINDS = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA1": "sha1",
    "SHA-256": "sha256",
    "SHA256": "sha256",
    "SHA-512": "sha512",
    "SHA512": "sha512",
    "SHA3-256": "sha3-256",
    "SHA3-512": "sha3-512",
}
#: Object paths of patterns (and observable properties) as canal kinds.
PATH_KINDS: dict[str, str] = {
    "ipv4-addr:value": "ipv4",
    "ipv6-addr:value": "ipv6",
    "domain-name:value": "domain",
    "url:value": "url",
    "email-addr:value": "email",
    "email-message:from_ref.value": "email",
    "email-message:sender_ref.value": "email",
    "email-message:to_refs[*].value": "email",
    "email-message:subject": "email-subject",
    "file:name": "filename",
    "mac-addr:value": "mac",
    "autonomous-system:number": "asn",
    "mutex:name": "mutex",
    "windows-registry-key:key": "regkey",
    "cryptocurrency-wallet:value": "crypto-wallet",
    "phone-number:value": "phone",
}
#: Paths whose value may be an address or a name: the value says which.
_HOST_PATHS = frozenset(
    {
        "network-traffic:dst_ref.value",
        "network-traffic:src_ref.value",
        "domain-name:resolves_to_refs[*].value",
    }
)
_COMPARISON = re.compile(
    r"([a-z0-9-]+:[A-Za-z0-9_.\-\[\]*']+)\s*=\s*('(?:[^'\\]|\\.)*'|-?\d+)(?=\s*(?:\]|AND|OR))"
)
#: The record types that can give rows.
ROW_TYPES = frozenset(
    {
        "indicator",
        "ipv4-addr",
        "ipv6-addr",
        "domain-name",
        "url",
        "email-addr",
        "email-message",
        "file",
        "mac-addr",
        "autonomous-system",
        "mutex",
        "windows-registry-key",
        "cryptocurrency-wallet",
        "phone-number",
    }
)


def _unquote(raw: str) -> str:
    if raw.startswith("'"):
        return re.sub(r"\\(.)", r"\1", raw[1:-1])
    return raw


def _path_kind(path: str, value: str) -> str | None:
    if path.startswith("file:hashes."):
        return _HASH_KINDS.get(path.removeprefix("file:hashes.").strip("'").upper())
    if path in _HOST_PATHS:
        guessed = guess_kind(value)
        return guessed if guessed in {"ipv4", "ipv6", "domain"} else None
    return PATH_KINDS.get(path)


def pattern_values(pattern: str) -> list[tuple[str, str]]:
    """(kind, value) for each `path = value` comparison of a pattern with a known kind; the
    file name only when no hash of the file is named."""
    found: list[tuple[str, str]] = []
    for path, raw in _COMPARISON.findall(pattern):
        value = _unquote(raw)
        kind = _path_kind(path, value)
        if kind is not None and (kind, value) not in found:
            found.append((kind, value))
    if any(kind != "filename" and kind in _HASH_KINDS.values() for kind, _ in found):
        found = [(k, v) for k, v in found if k != "filename"]
    return found


def observable_values(obj: dict[str, Any]) -> list[tuple[str, str]]:
    """(kind, value) of an observable object."""
    stix_type = obj.get("type")
    if stix_type == "file":
        hashes: dict[str, Any] = obj["hashes"] if isinstance(obj.get("hashes"), dict) else {}
        rows = [
            (_HASH_KINDS[name.upper()], str(digest))
            for name, digest in hashes.items()
            if name.upper() in _HASH_KINDS
        ]
        if not rows and isinstance(obj.get("name"), str):
            rows.append(("filename", obj["name"]))
        return rows
    if stix_type == "autonomous-system" and obj.get("number") is not None:
        return [("asn", f"AS{obj['number']}")]
    for path, kind in PATH_KINDS.items():
        object_type, _, prop = path.partition(":")
        if object_type == stix_type and "." not in prop and "[" not in prop:
            value = obj.get(prop)
            if isinstance(value, str) and value:
                return [(kind, value)]
    return []


def record_values(obj: dict[str, Any]) -> list[tuple[str, str]]:
    """The values a record gives rows for: its pattern's, or the observable's own."""
    if obj.get("type") == "indicator":
        pattern = obj.get("pattern")
        if obj.get("pattern_type", "stix") != "stix" or not isinstance(pattern, str):
            return []
        return [(k, v) for k, v in pattern_values(pattern) if k in KIND_TO_MISP_TYPE]
    return [(k, v) for k, v in observable_values(obj) if k in KIND_TO_MISP_TYPE]


def source_name(seen: Seen, org_names: dict[int, str]) -> str:
    """The source as the principal may be told it: a partner's record released by the
    secretariat names the secretariat (the policy's source redaction)."""
    record = seen.record
    if Redaction.SOURCE in seen.redactions and record.disseminator_org_id is not None:
        return org_names.get(record.disseminator_org_id, "secretariat")
    return org_names.get(record.handling.source_org_id, str(record.handling.source_org_id))


class CsvExporter:
    def __init__(self, *, records: RecordService) -> None:
        self.records = records

    def chunks(
        self,
        principal: Principal,
        query: RecordQuery,
        *,
        purpose: Purpose | None = None,
        log_batch: int = 5000,
    ) -> Iterator[bytes]:
        """The CSV as a stream of byte chunks; what went out is logged in batches."""
        org_names = self.records.org_names()
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(COLUMNS)
        scoped = replace(query, types=query.types & ROW_TYPES if query.types else ROW_TYPES)
        sent: list[str] = []
        rows = 0
        for seen in self.records.iterate(principal, scoped, purpose=purpose):
            record = seen.record
            values = record_values(record.object)
            if not values:
                continue
            source = source_name(seen, org_names)
            added = format_micros(record.date_added)
            tlp = record.handling.tlp.label
            for kind, value in values:
                writer.writerow((kind, value, record.stix_id, source, tlp, added))
                rows += 1
            sent.append(record.stix_id)
            if rows >= 500:
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
                rows = 0
            if len(sent) >= log_batch:
                self.records.log_export(principal, purpose, sent, "csv")
                sent = []
        yield buffer.getvalue().encode()
        self.records.log_export(principal, purpose, sent, "csv")
