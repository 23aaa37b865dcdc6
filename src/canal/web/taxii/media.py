"""Media types of TAXII requests: the Accept and Content-Type rules of TAXII 2.1 §1.6.8 and §3.1
with RFC 7231 media ranges (parameters, q-values)."""

from __future__ import annotations

from dataclasses import dataclass

TAXII = "application/taxii+json"
STIX = "application/stix+json"
VERSION = "2.1"


@dataclass(frozen=True, slots=True)
class MediaRange:
    type: str
    params: dict[str, str]
    q: float


def parse_ranges(header: str) -> list[MediaRange]:
    out: list[MediaRange] = []
    for part in header.split(","):
        pieces = [p.strip() for p in part.split(";")]
        media = pieces[0].lower()
        if not media:
            continue
        params: dict[str, str] = {}
        for piece in pieces[1:]:
            key, sep, value = piece.partition("=")
            if sep:
                params[key.strip().lower()] = value.strip().strip('"')
        try:
            q = float(params.pop("q", "1"))
        except ValueError:
            q = 0.0
        out.append(MediaRange(media, params, q))
    return out


def _version_ok(params: dict[str, str]) -> bool:
    # No version means "the newest the server speaks" (§1.6.8.2).
    return params.get("version", VERSION) == VERSION


def acceptable(header: str | None, *, stix_too: bool = False) -> bool:
    """Whether a TAXII 2.1 response satisfies `Accept`. Wildcards count: `*/*` and
    `application/*` include TAXII 2.1."""
    if header is None or not header.strip():
        return False
    for media in parse_ranges(header):
        if media.q <= 0:
            continue
        if media.type in {"*/*", "application/*"}:
            return True
        if media.type == TAXII and _version_ok(media.params):
            return True
        if stix_too and media.type == STIX and _version_ok(media.params):
            return True
    return False


def taxii_content(header: str | None) -> bool:
    """Whether a request body's Content-Type is a TAXII 2.1 envelope."""
    if header is None:
        return False
    ranges = parse_ranges(header)
    return len(ranges) == 1 and ranges[0].type == TAXII and _version_ok(ranges[0].params)
