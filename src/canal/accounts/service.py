"""Managing orgs and tokens, and turning a presented token into a principal."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection

from canal.clock import Clock
from canal.errors import Forbidden, InvalidInput, NotFound, Unauthenticated
from canal.model.audit import AuditEvent, EventTag
from canal.model.handling import Confidentiality, HandlingDefaults, HandlingError, parse_country
from canal.model.org import ROLES_BY_KIND, Org, OrgKind, Principal, Role
from canal.model.stix import to_micros
from canal.store import orgs as org_store
from canal.store.database import Database
from canal.store.orgs import TokenRow
from canal.store.unit import write_unit

TOKEN_PREFIX = "canal_"  # noqa: S105 - a public prefix, not a secret
LOCAL_ADMIN_ORG = Org(id=0, name="local", kind=OrgKind.SECRETARIAT)
LOCAL_ADMIN = Principal(
    org=LOCAL_ADMIN_ORG, role=Role.ADMIN, name="admin", clearance=Confidentiality.CONFIDENTIAL
)


def hash_secret(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    row: TokenRow


class AccountService:
    def __init__(self, *, database: Database, clock: Clock) -> None:
        self.database = database
        self.clock = clock

    # Orgs

    def add_org(
        self,
        principal: Principal,
        *,
        name: str,
        kind: OrgKind,
        country: str | None = None,
        defaults: HandlingDefaults = HandlingDefaults(),
    ) -> Org:
        if principal.role not in {Role.ADMIN, Role.ANALYST}:
            raise Forbidden(f"{principal.label} may not manage orgs")
        name = name.strip()
        if len(name) < 3 or len(name) > 200:
            # Two-letter names would read as countries in allow and deny lists.
            raise InvalidInput("org name", f"{name!r} must be 3 to 200 characters long")
        if kind is OrgKind.MEMBER:
            if not country:
                raise InvalidInput("country", "a member org needs --country (ISO 3166-1 alpha-2)")
            try:
                country = parse_country(country)
            except HandlingError as exc:
                raise InvalidInput("country", str(exc)) from None
        elif country:
            raise InvalidInput("country", f"only member orgs have a country, not a {kind} org")
        with write_unit(self.database, self.clock) as unit:
            org = org_store.insert_org(
                unit.conn, name=name, kind=kind, country=country, defaults=defaults, now=unit.now
            )
            unit.log(
                AuditEvent(
                    action=EventTag.ORG_CREATE,
                    actor=principal.label,
                    org_id=principal.org.id or None,
                    summary={"org": name, "kind": kind.value, "country": country},
                )
            )
        return org

    def list_orgs(self) -> list[Org]:
        with self.database.read() as conn:
            return org_store.list_orgs(conn)

    def org(self, name: str) -> Org:
        with self.database.read() as conn:
            found = org_store.org_by_name(conn, name)
        if found is None:
            raise NotFound("org", name)
        return found

    def org_by_id(self, org_id: int) -> Org:
        with self.database.read() as conn:
            found = org_store.org_by_id(conn, org_id)
        if found is None:
            raise NotFound("org", str(org_id))
        return found

    # Tokens

    def create_token(
        self,
        principal: Principal,
        *,
        org: Org,
        role: Role,
        name: str | None = None,
        clearance: Confidentiality = Confidentiality.RESTRICTED,
        days: int | None = 365,
    ) -> IssuedToken:
        if role is Role.ADMIN:
            raise InvalidInput("role", "the local administrator has no token; use the CLI")
        if role not in ROLES_BY_KIND[org.kind]:
            allowed = ", ".join(sorted(r.value for r in ROLES_BY_KIND[org.kind]))
            raise InvalidInput("role", f"a {org.kind} org may hold only: {allowed}")
        self._check_may_manage(principal, org)
        if days is not None and days <= 0:
            raise InvalidInput("days", "a token must live at least one day")
        secret = secrets.token_urlsafe(32)
        prefix = secret[:8]
        token = f"{TOKEN_PREFIX}{secret}"
        now = self.clock.now()
        expires = None if days is None else to_micros(now + timedelta(days=days))
        with write_unit(self.database, self.clock) as unit:
            token_id = org_store.insert_token(
                unit.conn,
                org_id=org.id,
                role=role,
                name=name or f"{role.value}-{prefix}",
                clearance=clearance,
                secret_hash=hash_secret(token),
                prefix=prefix,
                now=unit.now,
                expires_at=expires,
            )
            unit.log(
                AuditEvent(
                    action=EventTag.TOKEN_CREATE,
                    actor=principal.label,
                    org_id=principal.org.id or None,
                    summary={"token": token_id, "org": org.name, "role": role.value},
                )
            )
            row = org_store.token_by_id(unit.conn, token_id)
        assert row is not None  # noqa: S101 - just inserted in this transaction
        return IssuedToken(token=token, row=row)

    def _check_may_manage(self, principal: Principal, org: Org) -> None:
        """Member countries' users are their NCB administrator's alone (R19): no other
        country and not the secretariat may create them or change their scope."""
        if principal.role is Role.ADMIN:
            return
        if (
            principal.role is Role.NCB_ADMIN
            and org.kind is OrgKind.MEMBER
            and org.country == principal.org.country
        ):
            return
        if principal.role is Role.ANALYST and org.kind is not OrgKind.MEMBER:
            return
        raise Forbidden(f"{principal.label} may not manage the tokens of {org.name!r}")

    def revoke_token(self, principal: Principal, token_id: int) -> None:
        with self.database.read() as conn:
            row = org_store.token_by_id(conn, token_id)
        if row is None:
            raise NotFound("token", str(token_id))
        self._check_may_manage(principal, self.org_by_id(row.org_id))
        with write_unit(self.database, self.clock) as unit:
            org_store.revoke_token(unit.conn, token_id, unit.now)
            unit.log(
                AuditEvent(
                    action=EventTag.TOKEN_REVOKE,
                    actor=principal.label,
                    org_id=principal.org.id or None,
                    summary={"token": token_id},
                )
            )

    def list_tokens(self, principal: Principal, org: Org | None = None) -> list[TokenRow]:
        """The tokens of `org`, or of every org the principal manages."""
        if org is not None:
            self._check_may_manage(principal, org)
            with self.database.read() as conn:
                return org_store.list_tokens(conn, org.id)
        with self.database.read() as conn:
            managed = {o.id for o in org_store.list_orgs(conn) if self._manages(principal, o)}
            return [t for t in org_store.list_tokens(conn) if t.org_id in managed]

    def _manages(self, principal: Principal, org: Org) -> bool:
        try:
            self._check_may_manage(principal, org)
        except Forbidden:
            return False
        return True

    def authenticate(self, token: str, *, conn: Connection | None = None) -> Principal:
        """The principal a presented token stands for. The same error for every failure that
        could tell an attacker something. `conn`: a read transaction of the caller's to read
        the token in (a lookup reads it in the one it searches in), instead of one of its own."""
        if not token.startswith(TOKEN_PREFIX):
            raise Unauthenticated("the token is not a canal token")
        digest = hash_secret(token)
        with self.database.read(within=conn) as reading:
            found = org_store.token_by_hash(reading, digest)
            if found is None:
                raise Unauthenticated("unknown token")
            row, stored, org = found
            if not hmac.compare_digest(stored, digest):
                raise Unauthenticated("unknown token")
        now = to_micros(self.clock.now())
        if row.revoked_at is not None:
            raise Unauthenticated("the token was revoked")
        if row.expires_at is not None and row.expires_at <= now:
            raise Unauthenticated("the token has expired")
        return Principal(
            org=org, role=row.role, name=row.name, clearance=row.clearance, token_id=row.id
        )
