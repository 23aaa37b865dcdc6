"""The schema the migrations build is the one `store.tables` describes: the code reads tables.py
to know which indexes exist (and says why some do not), and every store is made by the
migrations (`canal init`, the tests' own stores)."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text

from canal.accounts.service import LOCAL_ADMIN
from canal.store.database import Database
from canal.store.migrate import _config, upgrade
from canal.store.tables import cluster_members, clusters, metadata, records
from conftest import make_services
from factories import add_org, indicator


def test_the_migrated_schema_is_the_one_the_tables_describe(database_url: str) -> None:
    database = Database(database_url)
    try:
        with database.read() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            differences = compare_metadata(context, metadata)
    finally:
        database.dispose()
    assert differences == []


def test_clusters_keyed_by_stix_id_are_numbered_by_their_lowest_record(scratch_url: str) -> None:
    """Migration 0011: the clusters a store held under their anchors' STIX ids are carried over,
    each numbered by its lowest member, and a rebuild then finds nothing to write."""
    services = make_services(scratch_url)
    try:
        upgrade(services.database)
        paris = add_org(services)
        objs = [indicator(f"91.203.20.{i // 2}") for i in range(4)]
        services.ingest.ingest_objects(objs, principal=LOCAL_ADMIN, source=paris)
        with services.database.read() as conn:
            pks = [
                conn.execute(select(records.c.pk).where(records.c.stix_id == o["id"])).scalar_one()
                for o in objs
            ]
        config = _config()
        with services.database.write() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0008")
            # As the old schema held them: the second cluster named after its later member.
            conn.execute(
                text(
                    "INSERT INTO clusters (id, first_added, size, updated_at) "
                    "VALUES (:a, 1, 2, 7), (:d, 3, 2, 9)"
                ),
                {"a": objs[0]["id"], "d": objs[3]["id"]},
            )
            conn.execute(
                text(
                    "INSERT INTO cluster_members (record_pk, cluster_id) "
                    "VALUES (:p0, :a), (:p1, :a), (:p2, :d), (:p3, :d)"
                ),
                {
                    "a": objs[0]["id"],
                    "d": objs[3]["id"],
                    **{f"p{i}": pk for i, pk in enumerate(pks)},
                },
            )
        upgrade(services.database)
        with services.database.read() as conn:
            held = conn.execute(select(clusters.c.no, clusters.c.size, clusters.c.updated_at)).all()
            members = dict(
                conn.execute(
                    select(cluster_members.c.record_pk, cluster_members.c.cluster_no)
                ).all()
            )
        assert sorted(map(tuple, held)) == [(pks[0], 2, 7), (pks[2], 2, 9)]
        assert members == {pks[0]: pks[0], pks[1]: pks[0], pks[2]: pks[2], pks[3]: pks[2]}
        services.correlator.rebuild(LOCAL_ADMIN)
        with services.database.read() as conn:
            again = conn.execute(
                select(clusters.c.no, clusters.c.size, clusters.c.updated_at)
            ).all()
        assert sorted(map(tuple, again)) == sorted(map(tuple, held))
    finally:
        services.close()
