"""Organisations and the principals that act for them."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from canal.model.handling import Confidentiality, HandlingDefaults, Purpose


class OrgKind(StrEnum):
    MEMBER = "member"  # a member country's national central bureau or cybercrime unit
    PARTNER = "partner"  # a private partner under a data-sharing agreement
    SECRETARIAT = "secretariat"  # the international secretariat


class Role(StrEnum):
    ANALYST = "analyst"
    MEMBER = "member"
    DUTY_OFFICER = "duty-officer"
    NCB_ADMIN = "ncb-admin"
    PARTNER = "partner"
    AUDITOR = "auditor"
    #: The local administrator: the CLI run on the server without a token.
    ADMIN = "admin"


#: Which roles an org of each kind may hold.
ROLES_BY_KIND: dict[OrgKind, frozenset[Role]] = {
    OrgKind.MEMBER: frozenset({Role.MEMBER, Role.DUTY_OFFICER, Role.NCB_ADMIN}),
    OrgKind.PARTNER: frozenset({Role.PARTNER}),
    OrgKind.SECRETARIAT: frozenset({Role.ANALYST, Role.AUDITOR}),
}

#: The purpose a query carries when the caller names none.
DEFAULT_PURPOSE: dict[Role, Purpose] = {
    Role.ANALYST: Purpose.THREAT_ANALYSIS,
    Role.MEMBER: Purpose.CRIMINAL_INVESTIGATION,
    Role.DUTY_OFFICER: Purpose.CRIMINAL_INVESTIGATION,
    Role.NCB_ADMIN: Purpose.CRIMINAL_INVESTIGATION,
    Role.PARTNER: Purpose.WARNING,
    Role.AUDITOR: Purpose.THREAT_ANALYSIS,
    Role.ADMIN: Purpose.THREAT_ANALYSIS,
}


@dataclass(frozen=True, slots=True)
class Org:
    id: int
    name: str
    kind: OrgKind
    country: str | None = None
    defaults: HandlingDefaults = field(default_factory=HandlingDefaults)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is acting: an org, a role in it, and the clearance of the person or token."""

    org: Org
    role: Role
    name: str
    clearance: Confidentiality = Confidentiality.RESTRICTED
    token_id: int | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def label(self) -> str:
        """How the processing log names this principal."""
        return f"{self.name}@{self.org.name}[{self.role.value}]"
