"""Time and identifiers, injected so that tests and the demo world are reproducible."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that stands still until told to move (tests, `--now` in the CLI)."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def set(self, at: datetime) -> None:
        self.at = at


class IdFactory(Protocol):
    def __call__(self) -> uuid.UUID: ...


def random_uuid() -> uuid.UUID:
    return uuid.uuid4()
