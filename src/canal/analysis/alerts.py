"""What ingest does after writing records: index them, merge clusters, and alert the sources of
records that new data now links to (once per new link, naming only what they may see)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from canal.analysis.alert_channels import queue_link_alerts
from canal.analysis.index import Link, ObservableIndex, StoredRow
from canal.analysis.lookup import add_notices
from canal.config import Settings
from canal.model.org import DEFAULT_PURPOSE, OrgKind, Principal, Role
from canal.policy import HitAnswer, Policy
from canal.store.orgs import org_by_id
from canal.store.records import RecordReader
from canal.store.tables import observables, source_notices
from canal.store.unit import WriteUnit

_ROLE_OF_KIND = {
    OrgKind.MEMBER: Role.MEMBER,
    OrgKind.PARTNER: Role.PARTNER,
    OrgKind.SECRETARIAT: Role.ANALYST,
}


class IndexHook:
    def __init__(
        self,
        *,
        index: ObservableIndex,
        policy: Policy,
        reader: RecordReader,
        settings: Settings | None = None,
    ) -> None:
        self.index = index
        self.policy = policy
        self.reader = reader
        #: Where link alerts also go by e-mail and webhook (None: in the app only).
        self.settings = settings

    def __call__(self, unit: WriteUnit, rows: Sequence[StoredRow]) -> None:
        links = self.index.index(unit.conn, rows, now=unit.now)
        if links:
            self.alert(unit, links)

    def alert(self, unit: WriteUnit, links: Sequence[Link]) -> None:
        conn = unit.conn
        records = {
            r.pk: r
            for r in self.reader.by_pks(
                conn, [pk for link in links for pk in (link.new_pk, link.old_pk)]
            )
        }
        values = dict(
            conn.execute(
                select(observables.c.id, observables.c.kind + ":" + observables.c.value).where(
                    observables.c.id.in_(
                        {link.observable_id for link in links if link.observable_id}
                    )
                )
            ).all()
        )
        now = unit.clock_now
        wanted: dict[str, dict[str, object]] = {}
        principals: dict[int, Principal | None] = {}
        for link in links:
            new, old = records[link.new_pk], records[link.old_pk]
            recipient = old.handling.source_org_id
            if recipient == new.handling.source_org_id:
                continue
            if recipient not in principals:
                org = org_by_id(conn, recipient)
                principals[recipient] = (
                    None
                    if org is None
                    else Principal(org=org, role=_ROLE_OF_KIND[org.kind], name="alerts")
                )
            principal = principals[recipient]
            if principal is None:
                continue
            answer = self.policy.hit_answer(
                principal, new, purpose=DEFAULT_PURPOSE[principal.role], now=now
            )
            if answer is HitAnswer.NONE:
                continue  # the new record's source denied them: they learn nothing of it
            key = f"link:{old.stix_id}:{new.stix_id}"
            wanted[key] = {
                "org_id": recipient,
                "kind": "link",
                "record_id": old.stix_id,
                "other_record_id": new.stix_id if answer is HitAnswer.HIT else None,
                "other_party": None,
                "observable": values.get(link.observable_id) if link.observable_id else None,
                "detail": "new data links to your record"
                if answer is HitAnswer.HIT
                else "new data you may not read links to your record; ask the secretariat",
                "dedupe_key": key,
            }
        if not wanted:
            return
        keys = list(wanted)
        known = set(
            conn.execute(
                select(source_notices.c.dedupe_key).where(source_notices.c.dedupe_key.in_(keys))
            ).scalars()
        )
        fresh = [row for key, row in wanted.items() if key not in known]
        add_notices(unit, fresh)
        if self.settings is not None:
            recipients = {org_id: p.org for org_id, p in principals.items() if p is not None}
            queue_link_alerts(unit, self.settings, fresh, recipients)
