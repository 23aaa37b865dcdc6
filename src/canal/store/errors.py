from __future__ import annotations

from canal.errors import CanalError


class StoreError(CanalError):
    """The store could not do what was asked."""

    code = "store-error"


class StoreUnavailable(StoreError):
    """The database cannot be reached or is not set up."""

    code = "store-unavailable"

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(
            f"cannot use the database at {url}: {reason}. Check CANAL_DATABASE_URL and run "
            "'canal init'."
        )


class WriteBusy(StoreError):
    """A write asked not to wait found another writer at work (Database.write(wait=False))."""

    code = "write-busy"


class TooManyRows(StoreError):
    """A search asked for at most so many rows found more (store.sql.rows_where_in)."""

    code = "too-many-rows"


class WriteConflict(StoreError):
    """A write collided with data stored meanwhile (for example by another worker)."""

    code = "conflict"
