"""Handling defaults given with a submission (CLI flags, API query parameters)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from canal.errors import InvalidInput
from canal.model.extension import split_parties
from canal.model.handling import Audience, HandlingDefaults, HandlingError, Pap, Purpose, Tlp


def split_csv(raw: str | None) -> list[str]:
    return [part.strip() for part in (raw or "").split(",") if part.strip()]


def submission_defaults(
    org_ids: Mapping[str, int],
    *,
    tlp: str | None = None,
    pap: str | None = None,
    audience: str | None = None,
    allow: str | None = None,
    deny: str | None = None,
    purposes: Iterable[str] = (),
) -> HandlingDefaults:
    """Parse handling given as text; InvalidInput names the bad value. `allow` and `deny` are
    comma-separated country codes and org names; `purposes` may repeat or be comma-separated."""
    try:
        allow_c, allow_o = split_parties(split_csv(allow), org_ids.__getitem__, "allow")
        deny_c, deny_o = split_parties(split_csv(deny), org_ids.__getitem__, "deny")
        parsed = frozenset(Purpose.parse(p) for raw in purposes for p in split_csv(raw))
        return HandlingDefaults(
            tlp=Tlp.parse(tlp) if tlp else None,
            pap=Pap.parse(pap) if pap else None,
            audience=Audience.parse(audience) if audience else None,
            allow_countries=allow_c if allow else None,
            allow_orgs=allow_o if allow else None,
            deny_countries=deny_c if deny else None,
            deny_orgs=deny_o if deny else None,
            purposes=parsed or None,
        )
    except HandlingError as exc:
        raise InvalidInput("handling", str(exc)) from None


def parse_purpose(raw: str | None) -> Purpose | None:
    if raw is None or not raw.strip():
        return None
    try:
        return Purpose.parse(raw)
    except HandlingError as exc:
        raise InvalidInput("purpose", str(exc)) from None
