"""A record: one version of one STIX object, as submitted by one source, with its handling."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from canal.model.handling import Art3Status, Handling, ReviewState


class ReleaseState(StrEnum):
    """Partner submissions wait in quarantine until the secretariat releases them (R21)."""

    RELEASED = "released"
    QUARANTINED = "quarantined"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Record:
    pk: int
    stix_id: str
    stix_type: str
    #: Microseconds since the epoch of `modified` (or `created`, or the server's version for SCOs).
    version: int
    spec_version: str
    #: Microseconds since the epoch; unique and strictly increasing across the store.
    date_added: int
    handling: Handling
    handling_id: int
    object: dict[str, Any]
    is_latest: bool
    revoked: bool
    retention_until: datetime
    review_state: ReviewState = ReviewState.ACTIVE
    art3_status: Art3Status = Art3Status.CLEARED
    release_state: ReleaseState = ReleaseState.RELEASED
    #: Set when the secretariat released a partner's submission: the org others see as the
    #: record's disseminator (the partner's identity stays with the secretariat).
    disseminator_org_id: int | None = None
    #: Why the secretariat rejected a quarantined submission.
    release_note: str | None = None
