"""Who may do what to which record. Every read on behalf of a principal goes through here.

Two faces of the same rules: `may_read` decides for one record, `visible_clause` is the SQL
filter that queries use. They must agree; a property test checks that they do.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, FromClause, and_, or_, select, true

from canal.model.handling import Audience, Tlp
from canal.model.org import OrgKind, Principal, Role
from canal.model.record import Record
from canal.store.tables import handlings, records

#: Roles that see every record, for analysis or administration.
SEE_ALL = frozenset({Role.ADMIN, Role.ANALYST})
_SHAREABLE_TLP = (Tlp.CLEAR.value, Tlp.GREEN.value)


class Policy:
    """The rules as they stand: the source sees its own records; the secretariat's analysts
    see all; other members see what TLP:CLEAR and TLP:GREEN open to the community; partners
    only what is also open to partners."""

    def may_read(self, principal: Principal, record: Record) -> bool:
        if principal.role in SEE_ALL:
            return True
        if principal.role is Role.AUDITOR:
            return False
        handling = record.handling
        if handling.source_org_id == principal.org.id:
            return True
        if handling.tlp not in {Tlp.CLEAR, Tlp.GREEN}:
            return False
        if principal.org.kind is OrgKind.PARTNER:
            return handling.audience is Audience.PARTNERS and not handling.personal_data
        return True

    def visible_clause(
        self, principal: Principal, table: FromClause = records
    ) -> ColumnElement[bool] | None:
        """The SQL filter on `table` (records or an alias of it); None means no filter."""
        if principal.role in SEE_ALL:
            return None
        if principal.role is Role.AUDITOR:
            return ~true()
        open_profiles = select(handlings.c.id).where(handlings.c.tlp.in_(_SHAREABLE_TLP))
        if principal.org.kind is OrgKind.PARTNER:
            open_profiles = open_profiles.where(
                handlings.c.audience == Audience.PARTNERS.value,
                handlings.c.personal_data.is_(False),
            )
        return or_(
            table.c.source_org_id == principal.org.id,
            and_(table.c.handling_id.in_(open_profiles)),
        )
