"""The data-processing rules (DOMAIN.md §1.2, R1-R22, invariants 1 and 2 of DESIGN.md).

Visibility of a record to a principal, for a purpose, at a time:

- The source org always sees its own records, and only it may update or delete them (R1).
- Nobody but the source and the secretariat's analysts sees a record that is in partner
  quarantine or rejected (R21), or whose neutrality review is not cleared (R4). Nobody but the
  source sees a record past its retention deadline (R6, R7).
- For everyone else, the record's handling decides:
  - deny lists win over everything: a denied country or org sees nothing (R2);
  - the query's purpose must be one the source permits, and H0 limits use to fighting crime
    (R3, R18);
  - the principal's clearance must reach the record's confidentiality level (R16);
  - an allow list, when set, names the only parties besides the source and the secretariat (R2);
  - TLP 2.0 (R13, R14): CLEAR and GREEN open the record to the community its audience names;
    AMBER to law enforcement, and to a partner only if its allow list names that partner;
    AMBER+STRICT and RED to the parties its allow list names;
  - partners see only records whose audience includes partners, never personal data and never
    TLP:RED (invariant 2).
- The secretariat's analysts see every record, in quarantine too, for analysis, within the deny
  lists, purposes and clearance; auditors read the processing log and no record.

`decide` and `visible_clause` are written side by side, rule for rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    ColumnElement,
    FromClause,
    and_,
    false,
    not_,
    or_,
    select,
    true,
)

from canal.model.handling import Art3Status, Audience, Handling, HandlingCode, Purpose, Tlp
from canal.model.org import OrgKind, Principal, Role
from canal.model.record import Record, ReleaseState
from canal.model.stix import to_micros
from canal.store.sql import InSmallSet, NoIndex
from canal.store.tables import handlings, records


class Action(StrEnum):
    READ = "read"
    SEARCH = "search"
    EXPORT = "export"
    SHARE = "share"  # onward dissemination to a third party (TAXII push, report to others)
    UPDATE = "update"
    DELETE = "delete"
    HIT_CHECK = "hit-check"
    REPORT_INCLUDE = "report-include"


#: Actions that read a record's content; they follow the visibility rules.
READ_ACTIONS = frozenset({Action.READ, Action.SEARCH, Action.EXPORT})

#: H0: "may only be used for preventing and combating crime".
CRIME_PURPOSES = frozenset(Purpose) - {Purpose.SECURITY_CHECK, Purpose.BORDER_MANAGEMENT}


class Redaction(StrEnum):
    #: The record came from a partner and was released by the secretariat: others see the
    #: secretariat as its disseminator, never the partner (R21).
    SOURCE = "source"


class HitAnswer(StrEnum):
    """What a hit check on a record tells the asker (R9)."""

    HIT = "hit"  # the asker may read the record
    RESTRICTED = "restricted"  # a hit; the asker is told whom to contact, nothing more
    NONE = "none"  # as if the record did not exist (the source denied the asker)


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str
    redactions: frozenset[Redaction] = frozenset()

    def __bool__(self) -> bool:
        return self.allowed


_ALLOWED = Decision(allowed=True, reason="allowed")


def _deny(reason: str) -> Decision:
    return Decision(allowed=False, reason=reason)


def _in_list(column: ColumnElement[str], value: str) -> ColumnElement[bool]:
    return column.like(f"%,{value},%")


class Policy:
    """The one place the rules live."""

    # -- the decision function ------------------------------------------------------------

    def decide(
        self,
        principal: Principal,
        action: Action,
        record: Record,
        *,
        purpose: Purpose,
        now: datetime,
    ) -> Decision:
        handling = record.handling
        if principal.role is Role.ADMIN:
            return _ALLOWED
        own = handling.source_org_id == principal.org.id
        if action in {Action.UPDATE, Action.DELETE}:
            return _ALLOWED if own else _deny("only the source may change or delete a record")
        if principal.role is Role.AUDITOR:
            return _deny("auditors read the processing log, not records")
        if own:
            return _ALLOWED
        visible = self._visible(principal, record, purpose=purpose, now=now)
        if not visible:
            return visible
        if action in {Action.SHARE, Action.REPORT_INCLUDE}:
            if HandlingCode.H2 in handling.handling_codes:
                return _deny("H2: no onward dissemination without the source's permission")
            if handling.tlp in {Tlp.AMBER_STRICT, Tlp.RED}:
                return _deny(f"{handling.tlp.label} may not be passed on")
        return visible

    def may_read(
        self, principal: Principal, record: Record, *, purpose: Purpose, now: datetime
    ) -> bool:
        return self.decide(principal, Action.READ, record, purpose=purpose, now=now).allowed

    def _visible(
        self, principal: Principal, record: Record, *, purpose: Purpose, now: datetime
    ) -> Decision:
        if to_micros(now) >= to_micros(record.retention_until):
            return _deny("past its retention deadline")
        analyst = principal.role is Role.ANALYST
        if not analyst and (
            record.release_state is not ReleaseState.RELEASED
            or record.art3_status is not Art3Status.CLEARED
        ):
            return _deny("not released")
        reason = self._handling_denies(principal, record.handling, purpose)
        if reason is not None:
            return _deny(reason)
        if record.disseminator_org_id is not None and not analyst:
            return Decision(
                allowed=True, reason="allowed", redactions=frozenset({Redaction.SOURCE})
            )
        return _ALLOWED

    @staticmethod
    def _handling_denies(principal: Principal, handling: Handling, purpose: Purpose) -> str | None:
        org = principal.org
        country = org.country
        if org.id in handling.deny_orgs or (
            country is not None and country in handling.deny_countries
        ):
            return "denied by the source"
        if purpose not in handling.purposes:
            return f"the source does not permit the purpose {purpose.value}"
        if HandlingCode.H0 in handling.handling_codes and purpose not in CRIME_PURPOSES:
            return "H0: only for preventing and combating crime"
        if principal.clearance < handling.confidentiality:
            return "clearance below the record's confidentiality"
        if principal.role is Role.ANALYST:
            return None
        named = org.id in handling.allow_orgs or (
            country is not None and country in handling.allow_countries
        )
        has_allow_list = bool(handling.allow_orgs or handling.allow_countries)
        if has_allow_list and not named:
            return "not on the source's allow list"
        if org.kind is OrgKind.PARTNER:
            if handling.audience is not Audience.PARTNERS:
                return "law enforcement only"
            if handling.personal_data:
                return "personal data never goes to partners"
            if handling.tlp is Tlp.RED:
                return "TLP:RED never goes to partners"
            if handling.tlp in {Tlp.AMBER, Tlp.AMBER_STRICT} and org.id not in handling.allow_orgs:
                return f"{handling.tlp.label} reaches a partner only if the source names it"
            return None
        if handling.tlp in {Tlp.AMBER_STRICT, Tlp.RED} and not named:
            return f"{handling.tlp.label} reaches only the parties the source names"
        return None

    def hit_answer(
        self, principal: Principal, record: Record, *, purpose: Purpose, now: datetime
    ) -> HitAnswer:
        """A hit on `record`: full for those who may read it; nothing at all for those the
        source denied; otherwise "restricted" (contact the source)."""
        if self.may_read(principal, record, purpose=purpose, now=now):
            return HitAnswer.HIT
        handling = record.handling
        country = principal.org.country
        if principal.org.id in handling.deny_orgs or (
            country is not None and country in handling.deny_countries
        ):
            return HitAnswer.NONE
        if to_micros(now) >= to_micros(record.retention_until):
            return HitAnswer.NONE
        return HitAnswer.RESTRICTED

    # -- the same rules as SQL ------------------------------------------------------------

    def visible_clause(
        self,
        principal: Principal,
        *,
        purpose: Purpose,
        now: datetime,
        table: FromClause = records,
    ) -> ColumnElement[bool] | None:
        """The SQL filter on `table` (records or an alias of it) that keeps exactly the records
        `may_read` allows. None means no filter (the local administrator)."""
        if principal.role is Role.ADMIN:
            return None
        if principal.role is Role.AUDITOR:
            return false()
        org_id = principal.org.id
        # A profile's source is its records' source, so "own, or opened by the rules" can be
        # asked of the small handlings table once; only the record's own state remains per
        # row. Written as AND, not OR, so that no planner turns it into an OR-scan of indexes.
        profiles = select(handlings.c.id).where(self._open_profile(principal, purpose))
        # The record's state out of SQLite's indexes (store.sql.NoIndex): read in order and
        # checked, not gathered from the release state's index and sorted.
        state: list[ColumnElement[bool]] = [NoIndex(table.c.retention_until) > to_micros(now)]
        if principal.role is not Role.ANALYST:
            state.append(NoIndex(table.c.release_state) == ReleaseState.RELEASED.value)
            state.append(NoIndex(table.c.art3_status) == Art3Status.CLEARED.value)
        return and_(
            InSmallSet(table.c.handling_id, profiles),
            or_(table.c.source_org_id == org_id, and_(*state)),
        )

    def open_profiles(self, principal: Principal, *, purpose: Purpose) -> ColumnElement[bool]:
        """A predicate on the handlings table: the profiles some of whose records `principal`
        may see for `purpose` (its own, or opened by the rules; the record's state decides the
        rest). A search narrowed to profiles none of which is open can answer at once."""
        if principal.role is Role.ADMIN:
            return true()
        if principal.role is Role.AUDITOR:
            return false()
        return self._open_profile(principal, purpose)

    def _open_profile(self, principal: Principal, purpose: Purpose) -> ColumnElement[bool]:
        return or_(
            handlings.c.source_org_id == principal.org.id,
            self._profile_clause(principal, purpose),
        )

    @staticmethod
    def _profile_clause(principal: Principal, purpose: Purpose) -> ColumnElement[bool]:
        """The handling rules of `_handling_denies`, as a predicate on the handlings table."""
        h = handlings.c
        org = principal.org
        org_id = str(org.id)
        country = org.country
        denied = _in_list(h.deny_orgs, org_id)
        if country is not None:
            denied = or_(denied, _in_list(h.deny_countries, country))
        clauses: list[ColumnElement[bool]] = [
            not_(denied),
            h.purposes.op("&")(purpose.bit) != 0,
            h.confidentiality <= int(principal.clearance),
        ]
        if purpose not in CRIME_PURPOSES:
            clauses.append(not_(h.handling_codes.like("%H0%")))
        if principal.role is Role.ANALYST:
            return and_(*clauses)
        named = _in_list(h.allow_orgs, org_id)
        if country is not None:
            named = or_(named, _in_list(h.allow_countries, country))
        no_allow_list = and_(h.allow_orgs == "", h.allow_countries == "")
        clauses.append(or_(no_allow_list, named))
        if org.kind is OrgKind.PARTNER:
            clauses += [
                h.audience == Audience.PARTNERS.value,
                h.personal_data.is_(False),
                h.tlp != Tlp.RED.value,
                or_(
                    h.tlp.in_([Tlp.CLEAR.value, Tlp.GREEN.value]),
                    _in_list(h.allow_orgs, org_id),
                ),
            ]
        else:
            clauses.append(
                or_(h.tlp.in_([Tlp.CLEAR.value, Tlp.GREEN.value, Tlp.AMBER.value]), named)
            )
        return and_(*clauses)
