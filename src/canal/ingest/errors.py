from __future__ import annotations

from canal.errors import CanalError


class SubmissionError(CanalError):
    """The submission as a whole cannot be read (not JSON, not STIX, too large)."""

    code = "invalid-submission"

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"{where}: {reason}")
