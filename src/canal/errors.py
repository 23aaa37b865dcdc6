"""The root of canal's errors. Each package defines its subclasses next to its interface.

An error carries fields; ``__str__`` builds the message from them, so that tests can assert
both and every edge (web, CLI) can show the message as it is.
"""

from __future__ import annotations


class CanalError(Exception):
    """Root of every error canal raises on purpose."""

    #: A short, stable code for API clients ("not-found", "invalid-input", ...).
    code = "error"

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidInput(CanalError):
    """The caller sent something canal cannot accept; the message names what and why."""

    code = "invalid-input"

    def __init__(self, what: str, reason: str) -> None:
        self.what = what
        self.reason = reason
        super().__init__(f"{what}: {reason}")


class NotFound(CanalError):
    """The thing does not exist, or the caller may not know that it does (the same answer)."""

    code = "not-found"

    def __init__(self, kind: str, key: str) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"no {kind} {key!r}")


class Conflict(CanalError):
    """The request contradicts what is stored (a duplicate name, a stale version)."""

    code = "conflict"


class Forbidden(CanalError):
    """The principal is known but may not do this."""

    code = "forbidden"


class Unauthenticated(CanalError):
    """No principal could be established (no token, an unknown, expired or revoked token)."""

    code = "unauthenticated"


class TooMany(CanalError):
    """The caller went past a rate limit; it may try again after `retry_after` seconds."""

    code = "rate-limited"

    def __init__(self, message: str, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(message)
