"""The secretariat's own allow and deny lists of values, on top of the MISP warninglists."""

from __future__ import annotations

from sqlalchemy import Connection, delete, insert, select, update

from canal.analysis.index import ObservableIndex, read_local_lists
from canal.analysis.observables import Observable, ObservableType, guess_type, normalise
from canal.clock import Clock
from canal.errors import Forbidden, InvalidInput, NotFound
from canal.model.audit import AuditEvent, EventTag
from canal.model.org import Principal, Role
from canal.model.stix import format_micros
from canal.store.database import Database
from canal.store.tables import local_lists, observables
from canal.store.unit import write_unit

EDITORS = frozenset({Role.ANALYST, Role.ADMIN})
READERS = EDITORS | {Role.AUDITOR}
KINDS = ("allow", "deny")


class LocalListService:
    def __init__(self, *, database: Database, clock: Clock, index: ObservableIndex) -> None:
        self.database = database
        self.clock = clock
        self.index = index

    def list(self, principal: Principal) -> list[dict[str, object]]:
        if principal.role not in READERS:
            raise Forbidden(f"{principal.label} may not read the local lists")
        with self.database.read() as conn:
            rows = conn.execute(select(local_lists).order_by(local_lists.c.observable_key)).all()
        return [
            {
                "list": row.kind,
                "value": row.observable_key,
                "note": row.note,
                "added_by": row.added_by,
                "added_at": format_micros(row.added_at),
            }
            for row in rows
        ]

    def _observable(self, value: str, kind: str | None) -> Observable:
        kind = kind or (guess_type(value) or "")
        try:
            observable_type = ObservableType(kind)
            return Observable(observable_type, normalise(observable_type, value))
        except ValueError as exc:
            raise InvalidInput("value", str(exc) or f"cannot tell the type of {value!r}") from None

    def add(
        self, principal: Principal, kind: str, value: str, value_type: str | None, note: str | None
    ) -> str:
        if principal.role not in EDITORS:
            raise Forbidden(f"{principal.label} may not edit the local lists")
        if kind not in KINDS:
            raise InvalidInput("list", "allow or deny")
        observable = self._observable(value, value_type)
        with write_unit(self.database, self.clock) as unit:
            unit.conn.execute(
                delete(local_lists).where(local_lists.c.observable_key == observable.key)
            )
            unit.conn.execute(
                insert(local_lists).values(
                    kind=kind,
                    observable_key=observable.key,
                    note=note,
                    added_by=principal.label,
                    added_at=unit.now,
                )
            )
            self._reflag(unit.conn, observable)
            unit.log(
                AuditEvent(
                    action=EventTag.LOCAL_LIST_UPDATE,
                    actor=principal.label,
                    org_id=principal.org.id or None,
                    summary={"list": kind, "value": observable.key, "change": "add"},
                )
            )
        return observable.key

    def remove(self, principal: Principal, kind: str, key: str) -> None:
        if principal.role not in EDITORS:
            raise Forbidden(f"{principal.label} may not edit the local lists")
        with write_unit(self.database, self.clock) as unit:
            result = unit.conn.execute(
                delete(local_lists).where(
                    local_lists.c.kind == kind, local_lists.c.observable_key == key
                )
            )
            if not result.rowcount:
                raise NotFound(f"{kind}-list entry", key)
            type_text, _, value = key.partition(":")
            self._reflag(unit.conn, Observable(ObservableType(type_text), value))
            unit.log(
                AuditEvent(
                    action=EventTag.LOCAL_LIST_UPDATE,
                    actor=principal.label,
                    org_id=principal.org.id or None,
                    summary={"list": kind, "value": key, "change": "remove"},
                )
            )

    def _reflag(self, conn: Connection, observable: Observable) -> None:
        flag = self.index.warninglists.flag(observable, read_local_lists(conn))
        conn.execute(
            update(observables)
            .where(
                observables.c.kind == observable.type.value, observables.c.value == observable.value
            )
            .values(flag=flag)
        )
