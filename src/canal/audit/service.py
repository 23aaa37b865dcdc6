"""Checking the processing log's chain, and listing operations on data."""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from sqlalchemy import select

from canal.errors import Forbidden, NotFound
from canal.model.audit import GENESIS_HASH, LogEntry, entry_hash
from canal.model.org import Principal, Role
from canal.store import audit as audit_store
from canal.store.database import Database
from canal.store.sequencer import read_head
from canal.store.tables import records

#: Who reads the whole processing log: the oversight role, and the local administrator.
OVERSIGHT = frozenset({Role.AUDITOR, Role.ADMIN})


@dataclass(frozen=True, slots=True)
class ChainReport:
    ok: bool
    entries: int
    head_hash: str
    #: The sequence number of the first entry that fails, and why.
    bad_seq: int | None = None
    problem: str | None = None

    def __str__(self) -> str:
        if self.ok:
            return f"processing log intact: {self.entries} entries, head {self.head_hash}"
        return f"processing log broken at entry {self.bad_seq}: {self.problem}"


class AuditService:
    def __init__(self, *, database: Database) -> None:
        self.database = database

    def verify(self) -> ChainReport:
        """Walk the chain from the start. An edited entry no longer matches its hash; a removed
        or reordered one breaks the next entry's link; a removed tail no longer reaches the
        head kept in the sequencer."""
        prev_hash = GENESIS_HASH
        expected_seq = 1
        count = 0
        with self.database.read() as conn:
            head = read_head(conn)
            for page in audit_store.iter_entry_pages(conn):
                subjects = audit_store.subjects_of(conn, [entry.seq for entry in page])
                for entry in page:
                    problem = self._check(entry, expected_seq, prev_hash)
                    if problem is None and subjects[entry.seq] != set(
                        orjson.loads(entry.summary).get("subjects", [])
                    ):
                        problem = "its record index does not match the records the entry names"
                    if problem is not None:
                        return ChainReport(
                            ok=False,
                            entries=count,
                            head_hash=prev_hash,
                            bad_seq=entry.seq,
                            problem=problem,
                        )
                    prev_hash = entry.hash
                    expected_seq = entry.seq + 1
                    count += 1
            if head.last_log_seq != expected_seq - 1 or head.last_log_hash != prev_hash:
                return ChainReport(
                    ok=False,
                    entries=count,
                    head_hash=prev_hash,
                    bad_seq=expected_seq,
                    problem=f"the log ends before the recorded head (entry {head.last_log_seq})",
                )
        return ChainReport(ok=True, entries=count, head_hash=prev_hash)

    @staticmethod
    def _check(entry: LogEntry, expected_seq: int, prev_hash: str) -> str | None:
        if entry.seq != expected_seq:
            return f"expected entry {expected_seq} here (an entry was removed or reordered)"
        if entry.prev_hash != prev_hash:
            return "its link to the previous entry is wrong (an entry was removed or reordered)"
        recomputed = entry_hash(
            prev_hash=entry.prev_hash,
            seq=entry.seq,
            at=entry.at,
            actor=entry.actor,
            org_id=entry.org_id,
            action=entry.action,
            purpose=entry.purpose,
            summary=entry.summary,
        )
        if recomputed != entry.hash:
            return "its content does not match its hash (the entry was edited)"
        return None

    def merge_subjects_when_due(self) -> bool:
        """For a server's background task: merge the log's subjects into their index once
        enough have come in, so that its writers need not (see store.audit)."""
        return audit_store.merge_subjects_when_due(self.database)

    def entries_for_record(self, principal: Principal, stix_id: str) -> list[LogEntry]:
        """Every operation on a record (R8): for the auditor, and for the record's source. For
        anyone else the answer is the one a record that does not exist gets."""
        with self.database.read() as conn:
            if principal.role not in OVERSIGHT:
                sources = conn.execute(
                    select(records.c.source_org_id).where(records.c.stix_id == stix_id).distinct()
                ).scalars()
                if principal.org.id not in set(sources):
                    raise NotFound("record", stix_id)
            return audit_store.entries_for_record(conn, stix_id)

    def recent(self, principal: Principal, *, limit: int = 100) -> list[LogEntry]:
        """The newest entries: all of them for oversight, the org's own actions otherwise."""
        with self.database.read() as conn:
            if principal.role in OVERSIGHT:
                return audit_store.last_entries(conn, limit)
            return audit_store.last_entries(conn, limit, org_id=principal.org.id)

    def require_oversight(self, principal: Principal) -> None:
        if principal.role not in OVERSIGHT:
            raise Forbidden(f"{principal.label} may not check the processing log")
