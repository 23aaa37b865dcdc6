"""The canal handling extension: how handling travels on a STIX object.

TLP rides in `object_marking_refs` as the standard TLP 2.0 marking definitions; everything else
rides in this property extension, published as an `extension-definition` by canal's identity.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from canal.model.handling import (
    Audience,
    Confidentiality,
    Credibility,
    Handling,
    HandlingCode,
    HandlingDefaults,
    HandlingError,
    Pap,
    Purpose,
    Reliability,
    is_country_token,
    parse_country,
)
from canal.model.stix import format_timestamp, parse_timestamp

CANAL_EXTENSION_ID = "extension-definition--0737874a-106f-43e6-ac24-01df261779b1"
CANAL_IDENTITY_ID = "identity--92d58963-170d-4a92-8705-c6c47f0416bf"
_PUBLISHED = "2026-11-29T00:00:00.000Z"

CANAL_IDENTITY: dict[str, Any] = {
    "type": "identity",
    "spec_version": "2.1",
    "id": CANAL_IDENTITY_ID,
    "created": _PUBLISHED,
    "modified": _PUBLISHED,
    "name": "canal",
    "identity_class": "system",
    "description": "The canal cybercrime intelligence channel.",
}

CANAL_EXTENSION_DEFINITION: dict[str, Any] = {
    "type": "extension-definition",
    "spec_version": "2.1",
    "id": CANAL_EXTENSION_ID,
    "created_by_ref": CANAL_IDENTITY_ID,
    "created": _PUBLISHED,
    "modified": _PUBLISHED,
    "name": "canal handling",
    "description": (
        "Handling set by the source of the object: PAP, handling codes H0-H3, audience, "
        "allow and deny lists of countries and organisations, permitted processing purposes, "
        "4x4 evaluation (with its 6x6 Admiralty equivalent), personal data, confidentiality "
        "level and retention deadline. TLP travels in object_marking_refs."
    ),
    "schema": "https://canal.example.org/docs/stix-extension.md",
    "version": "1.0.0",
    "extension_types": ["property-extension"],
}


def _strings(ext: dict[str, Any], key: str) -> list[str]:
    value = ext.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise HandlingError(key, value, "a list of strings")
    return value


def split_parties(
    tokens: list[str], resolve_org: Callable[[str], int], field_name: str
) -> tuple[frozenset[str], frozenset[int]]:
    """Split an allow/deny list into country codes and org ids."""
    countries: set[str] = set()
    org_ids: set[int] = set()
    for token in tokens:
        if is_country_token(token):
            countries.add(parse_country(token))
        else:
            try:
                org_ids.add(resolve_org(token.strip()))
            except KeyError:
                raise HandlingError(field_name, token, "a known org name or a country") from None
    return frozenset(countries), frozenset(org_ids)


def defaults_from_extension(
    ext: dict[str, Any], resolve_org: Callable[[str], int]
) -> HandlingDefaults:
    """Read the extension's handling. Raises HandlingError naming the bad field."""
    if not isinstance(ext, dict):
        raise HandlingError("canal extension", ext, "an object")
    values: dict[str, Any] = {}
    if "pap" in ext:
        values["pap"] = Pap.parse(str(ext["pap"]))
    if "audience" in ext:
        values["audience"] = Audience.parse(str(ext["audience"]))
    if "handling_codes" in ext:
        values["handling_codes"] = frozenset(
            HandlingCode.parse(c) for c in _strings(ext, "handling_codes")
        )
    if "h3_text" in ext:
        values["h3_text"] = str(ext["h3_text"])
    if "allow" in ext:
        countries, org_ids = split_parties(_strings(ext, "allow"), resolve_org, "allow")
        values["allow_countries"], values["allow_orgs"] = countries, org_ids
    if "deny" in ext:
        countries, org_ids = split_parties(_strings(ext, "deny"), resolve_org, "deny")
        values["deny_countries"], values["deny_orgs"] = countries, org_ids
    if "purposes" in ext:
        values["purposes"] = frozenset(Purpose.parse(p) for p in _strings(ext, "purposes"))
        if not values["purposes"]:
            # A record no one may use for anything is not worth keeping; a list that says so
            # is a mistake, and STIX forbids empty lists anyway.
            raise HandlingError("purposes", [], "at least one purpose")
    if "source_reliability" in ext:
        values["source_reliability"] = Reliability.parse(str(ext["source_reliability"]))
    if "information_credibility" in ext:
        values["information_credibility"] = Credibility.parse(ext["information_credibility"])
    if "personal_data" in ext:
        if not isinstance(ext["personal_data"], bool):
            raise HandlingError("personal_data", ext["personal_data"], "true or false")
        values["personal_data"] = ext["personal_data"]
    if "confidentiality" in ext:
        values["confidentiality"] = Confidentiality.parse(ext["confidentiality"])
    if "retention_until" in ext:
        try:
            values["retention_until"] = parse_timestamp(str(ext["retention_until"]))
        except ValueError as exc:
            raise HandlingError("retention_until", ext["retention_until"], str(exc)) from None
    return HandlingDefaults(**values)


def extension_from_handling(
    handling: Handling,
    *,
    org_name: Callable[[int], str],
    retention_until: datetime,
    include_source: bool = True,
) -> dict[str, Any]:
    """The extension body that carries `handling` on an exported object."""
    ext: dict[str, Any] = {"extension_type": "property-extension"}
    if include_source:
        ext["source"] = org_name(handling.source_org_id)
    ext["pap"] = handling.pap.value
    ext["audience"] = handling.audience.value
    if handling.handling_codes:
        ext["handling_codes"] = sorted(c.value for c in handling.handling_codes)
    if handling.h3_text:
        ext["h3_text"] = handling.h3_text
    allow = sorted(handling.allow_countries) + sorted(org_name(o) for o in handling.allow_orgs)
    deny = sorted(handling.deny_countries) + sorted(org_name(o) for o in handling.deny_orgs)
    if allow:
        ext["allow"] = allow
    if deny:
        ext["deny"] = deny
    ext["purposes"] = sorted(p.value for p in handling.purposes)
    ext["source_reliability"] = handling.source_reliability.value
    ext["information_credibility"] = handling.information_credibility.value
    ext["admiralty"] = handling.admiralty
    ext["personal_data"] = handling.personal_data
    ext["confidentiality"] = handling.confidentiality.label
    ext["retention_until"] = format_timestamp(retention_until)
    return ext
