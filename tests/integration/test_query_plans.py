"""How SQLite plans the policy's filter. It has no statistics (canal does not ANALYZE SQLite
stores), so its plans depend on the SQL and the indexes alone, not on how much data there is:
a small store shows the plan a large one gets."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from canal.accounts.service import LOCAL_ADMIN
from canal.model.handling import Tlp
from canal.model.org import Principal, Role
from canal.records.search import Search
from factories import add_org, indicator

_RELEASED = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"  # TLP:GREEN


def _plans_of_record_pages(services: Any, principal: Principal, search: Search) -> list[str]:
    """EXPLAIN QUERY PLAN of each statement a search page runs on the records table."""
    statements: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.startswith("SELECT records.pk"):
            statements.append((statement, parameters))

    engine = services.database.engine
    event.listen(engine, "before_cursor_execute", keep)
    try:
        services.search.page(principal, search, limit=100, after=None, purpose=None)
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    assert statements
    plans = []
    raw = engine.raw_connection()
    try:
        for statement, parameters in statements:
            rows = raw.cursor().execute(f"EXPLAIN QUERY PLAN {statement}", parameters).fetchall()
            plans.append("\n".join(row[-1] for row in rows))
    finally:
        raw.close()
    return plans


def test_a_members_search_reads_records_in_order_not_gathered_from_the_state_indexes(
    sqlite_services,
):
    """The filter's `source is the caller OR (retention AND released AND cleared)` once made
    SQLite gather records from two indexes (the source's and the release state's, which holds
    nearly every record) and sort them, and, inside the twins' check, scan the released records
    once per row: a member's search by TLP took over 100 s on 1M records."""
    paris = add_org(sqlite_services)
    rome = add_org(sqlite_services, "NCB Rome", country="IT")
    objs = [indicator(f"91.203.20.{i}") for i in range(5)]
    for obj in objs:
        obj["object_marking_refs"] = [_RELEASED]
    sqlite_services.ingest.ingest_objects(objs, principal=LOCAL_ADMIN, source=paris)
    member = Principal(org=rome, role=Role.MEMBER, name="rome")
    for search in (Search(tlps=frozenset({Tlp.GREEN})), Search(types=frozenset({"indicator"}))):
        for plan in _plans_of_record_pages(sqlite_services, member, search):
            assert "MULTI-INDEX OR" not in plan, plan
            assert "ix_records_release_state" not in plan, plan
            assert "ix_records_retention_until" not in plan, plan
            assert "TEMP B-TREE FOR ORDER BY" not in plan, plan
