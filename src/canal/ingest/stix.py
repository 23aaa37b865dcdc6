"""Reading a STIX 2.1 submission and the cheap checks on each object.

`stix2.parse` costs about 35 times `json.loads` (PEERS.md), so ingest checks what matters here by
hand: identifier form, required properties, timestamps, spec_version, references, and indicator
patterns (fast path, with stix2-patterns behind it). What the checks let through is stored as
received, custom objects and properties included.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson

from canal.ingest.errors import SubmissionError
from canal.ingest.incident import ransomware_rejection
from canal.ingest.pattern import pattern_error
from canal.ingest.schema import schema_problem
from canal.model.extension import CANAL_EXTENSION_ID
from canal.model.handling import Tlp
from canal.model.stix import (
    ID_RE,
    KNOWN_TYPES,
    REQUIRED_PROPERTIES,
    SCO_TYPES,
    TIMESTAMP_PROPERTIES,
    TIMESTAMP_RE,
    TLP_BY_MARKING_ID,
    TYPE_RE,
    VERSIONED_TYPES,
    to_micros,
)


class ObjectRejected(ValueError):
    """One object failed a check; the message says which property and why."""


@dataclass(slots=True)
class CheckedObject:
    stix_id: str
    stix_type: str
    #: `modified`, else `created`, in microseconds; None when the server must assign one (SCOs).
    version: int | None
    spec_version: str
    #: The object as a dict; None where only its text came along (a checking process sends
    #: the text, and the dict is parsed again only if something asks for it).
    parsed: dict[str, Any] | None
    text: str
    revoked: bool
    tlp: Tlp | None
    extension: dict[str, Any] | None

    @property
    def obj(self) -> dict[str, Any]:
        if self.parsed is None:
            self.parsed = orjson.loads(self.text)
        return self.parsed


def read_submission(data: bytes | str, *, where: str = "submission") -> list[Any]:
    """The objects of a bundle, a JSON list, or a single object. The items are not checked."""
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise SubmissionError(where, f"not valid JSON ({exc})") from None
    return objects_of(parsed, where=where)


def objects_of(parsed: Any, *, where: str = "submission") -> list[Any]:
    if isinstance(parsed, list):
        return parsed
    if isinstance(parsed, dict):
        if parsed.get("type") == "bundle":
            objects = parsed.get("objects", [])
            if not isinstance(objects, list):
                raise SubmissionError(where, "the bundle's 'objects' is not a list")
            return objects
        return [parsed]
    raise SubmissionError(
        where, "expected a STIX bundle, a list of objects or one object, got JSON " + _kind(parsed)
    )


def _kind(value: Any) -> str:
    return type(value).__name__.replace("str", "string").replace("NoneType", "null")


def _check_ref(key: str, value: Any, where: str = "") -> None:
    if not isinstance(value, str) or ID_RE.match(value) is None:
        raise ObjectRejected(f"{where}{key}: {value!r} is not a STIX identifier (type--uuid)")


def _check_refs(obj: dict[str, Any], where: str = "") -> None:
    for key, value in obj.items():
        if key.endswith("_ref"):
            _check_ref(key, value, where)
        elif key.endswith("_refs"):
            if not isinstance(value, list) or not value:
                raise ObjectRejected(f"{where}{key}: must be a non-empty list of identifiers")
            for item in value:
                _check_ref(key, item, where)


@lru_cache(maxsize=65536)
def _micros(raw: str) -> int | str:
    """The timestamp in microseconds, or the reason it is not one. Cached: within a feed the
    same few timestamps repeat on every object (created, modified, valid_from)."""
    if TIMESTAMP_RE.match(raw) is None:
        return "is not a STIX timestamp (YYYY-MM-DDTHH:MM:SS[.s]Z)"
    try:
        return to_micros(datetime.fromisoformat(raw))
    except ValueError as exc:
        return f"is not a real date ({exc})"


def _timestamp(obj: dict[str, Any], key: str) -> int | None:
    raw = obj.get(key)
    if raw is None:
        return None
    result = _micros(raw) if isinstance(raw, str) else "is not a STIX timestamp"
    if isinstance(result, str):
        raise ObjectRejected(f"{key}: {raw!r} {result}")
    return result


def check_object(obj: Any) -> CheckedObject:
    """Check one object; raise ObjectRejected with the reason, or return what ingest needs."""
    if not isinstance(obj, dict):
        raise ObjectRejected(f"not a JSON object but {_kind(obj)}")
    stix_type = obj.get("type")
    if not isinstance(stix_type, str) or TYPE_RE.match(stix_type) is None:
        raise ObjectRejected(f"type: {stix_type!r} is not a STIX type name")
    if stix_type == "bundle":
        raise ObjectRejected("a bundle inside a bundle is not allowed")
    stix_id = obj.get("id")
    match = ID_RE.match(stix_id) if isinstance(stix_id, str) else None
    if match is None:
        raise ObjectRejected(f"id: {stix_id!r} is not a STIX identifier (type--uuid)")
    if match.group(1) != stix_type:
        raise ObjectRejected(f"id: {stix_id!r} does not start with its type {stix_type!r}")

    is_sco = stix_type in SCO_TYPES
    spec_version = obj.get("spec_version")
    if spec_version is None:
        # STIX 2.1 lets observables omit it; anything else without one is STIX 2.0.
        if not (is_sco or (stix_type not in KNOWN_TYPES and "created" not in obj)):
            raise ObjectRejected(
                "spec_version: missing; canal takes STIX 2.1 (STIX 2.0 objects have none)"
            )
        spec_version = "2.1"
    elif spec_version != "2.1":
        raise ObjectRejected(f"spec_version: {spec_version!r} is not supported; canal takes 2.1")

    for required in REQUIRED_PROPERTIES.get(stix_type, ()):
        if isinstance(required, tuple):
            if not any(name in obj for name in required):
                raise ObjectRejected(f"needs one of the properties {', '.join(required)}")
        elif required not in obj:
            raise ObjectRejected(f"{required}: required for {stix_type} and missing")

    stamps = {key: _timestamp(obj, key) for key in obj.keys() & TIMESTAMP_PROPERTIES}
    created, modified = stamps.get("created"), stamps.get("modified")
    if stix_type in VERSIONED_TYPES:
        if created is None:
            raise ObjectRejected(f"created: required for {stix_type} and missing")
        if modified is None:
            raise ObjectRejected(f"modified: required for {stix_type} and missing")
    elif stix_type == "marking-definition" and created is None:
        raise ObjectRejected("created: required for marking-definition and missing")
    if created is not None and modified is not None and modified < created:
        raise ObjectRejected("modified: earlier than created")

    valid_from, valid_until = stamps.get("valid_from"), stamps.get("valid_until")
    if valid_from is not None and valid_until is not None and valid_until <= valid_from:
        raise ObjectRejected("valid_until: must be later than valid_from")

    revoked = obj.get("revoked", False)
    if not isinstance(revoked, bool):
        raise ObjectRejected(f"revoked: {revoked!r} is not true or false")
    confidence = obj.get("confidence")
    if confidence is not None and (
        not isinstance(confidence, int)
        or isinstance(confidence, bool)
        or not 0 <= confidence <= 100
    ):
        raise ObjectRejected(f"confidence: {confidence!r} is not an integer from 0 to 100")

    _check_refs(obj)
    granular = obj.get("granular_markings")
    if granular is not None:
        if not isinstance(granular, list):
            raise ObjectRejected("granular_markings: must be a list")
        for item in granular:
            if not isinstance(item, dict) or "selectors" not in item:
                raise ObjectRejected("granular_markings: each entry needs selectors")
            _check_refs(item, "granular_markings.")

    tlp = _tlp_of(obj)
    extension = _canal_extension(obj)

    if stix_type == "indicator" and obj.get("pattern_type") == "stix":
        pattern = obj.get("pattern")
        if not isinstance(pattern, str):
            raise ObjectRejected("pattern: must be a string")
        problem = pattern_error(pattern)
        if problem is not None:
            raise ObjectRejected(f"pattern: {problem}")

    # Whatever is accepted here must export as valid STIX (stix2-validator finds no error).
    problem = schema_problem(obj)
    if problem is None:
        problem = ransomware_rejection(obj)
    if problem is not None:
        raise ObjectRejected(problem)

    return CheckedObject(
        stix_id=stix_id,  # type: ignore[arg-type]  # matched by ID_RE above, so a str
        stix_type=stix_type,
        version=modified if modified is not None else created,
        spec_version=spec_version,
        parsed=obj,
        text=_serialise(obj),
        revoked=revoked,
        tlp=tlp,
        extension=extension,
    )


def _serialise(obj: dict[str, Any]) -> str:
    try:
        return orjson.dumps(obj).decode()
    except orjson.JSONEncodeError as exc:  # nested deeper than any STIX object needs
        raise ObjectRejected(f"cannot be stored as JSON ({exc})") from None


def _tlp_of(obj: dict[str, Any]) -> Tlp | None:
    refs = obj.get("object_marking_refs")
    if not refs:
        return None
    found = [TLP_BY_MARKING_ID[ref] for ref in refs if ref in TLP_BY_MARKING_ID]
    if not found:
        return None
    # Two TLP markings on one object: honour the stricter, never the looser.
    return max(found, key=lambda tlp: tlp.rank)


def _canal_extension(obj: dict[str, Any]) -> dict[str, Any] | None:
    extensions = obj.get("extensions")
    if extensions is None:
        return None
    if not isinstance(extensions, dict):
        raise ObjectRejected("extensions: must be an object keyed by extension name")
    body = extensions.get(CANAL_EXTENSION_ID)
    if body is not None and not isinstance(body, dict):
        raise ObjectRejected(f"extensions.{CANAL_EXTENSION_ID}: must be an object")
    return body


def without_handling(obj: dict[str, Any]) -> dict[str, Any]:
    """The object minus what carries handling, to compare content across handling changes (an
    object exported with canal's markings and read back is the same object)."""
    out = {k: v for k, v in obj.items() if k != "object_marking_refs"}
    refs = [r for r in obj.get("object_marking_refs", ()) if r not in TLP_BY_MARKING_ID]
    if refs:
        out["object_marking_refs"] = refs
    extensions = obj.get("extensions")
    if isinstance(extensions, dict) and CANAL_EXTENSION_ID in extensions:
        rest = {k: v for k, v in extensions.items() if k != CANAL_EXTENSION_ID}
        if rest:
            out["extensions"] = rest
        else:
            out.pop("extensions", None)
    return out


def iter_checked(objects: list[Any]) -> Iterator[tuple[int, CheckedObject | ObjectRejected]]:
    for index, obj in enumerate(objects):
        try:
            yield index, check_object(obj)
        except ObjectRejected as exc:
            yield index, exc
