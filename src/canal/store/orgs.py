"""Orgs and API tokens."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, Row, insert, select, update
from sqlalchemy.exc import IntegrityError

from canal.model.handling import Confidentiality, HandlingDefaults
from canal.model.org import Org, OrgKind, Role
from canal.store.errors import WriteConflict
from canal.store.sql import driver_rows
from canal.store.tables import orgs, tokens


def org_from_row(row: Row[tuple[object, ...]]) -> Org:
    return org_from_mapping(row._mapping)  # noqa: SLF001 - SQLAlchemy's API


def org_from_mapping(data: Mapping[Any, Any]) -> Org:
    country = data["country"]
    return Org(
        id=int(data["id"]),
        name=str(data["name"]),
        kind=OrgKind(str(data["kind"])),
        country=None if country is None else str(country),
        defaults=HandlingDefaults.from_json(orjson.loads(str(data["defaults"]))),
    )


def insert_org(
    conn: Connection,
    *,
    name: str,
    kind: OrgKind,
    country: str | None,
    defaults: HandlingDefaults,
    now: int,
) -> Org:
    try:
        with conn.begin_nested():
            result = conn.execute(
                insert(orgs).values(
                    name=name,
                    kind=kind.value,
                    country=country,
                    defaults=orjson.dumps(defaults.to_json()).decode(),
                    created_at=now,
                )
            )
    except IntegrityError:
        raise WriteConflict(f"an org named {name!r} already exists") from None
    org_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    return Org(id=org_id, name=name, kind=kind, country=country, defaults=defaults)


def update_org_defaults(conn: Connection, org_id: int, defaults: HandlingDefaults) -> None:
    conn.execute(
        update(orgs)
        .where(orgs.c.id == org_id)
        .values(defaults=orjson.dumps(defaults.to_json()).decode())
    )


def org_by_name(conn: Connection, name: str) -> Org | None:
    row = conn.execute(select(orgs).where(orgs.c.name == name)).first()
    return None if row is None else org_from_row(row)


def org_by_id(conn: Connection, org_id: int) -> Org | None:
    row = conn.execute(select(orgs).where(orgs.c.id == org_id)).first()
    return None if row is None else org_from_row(row)


def list_orgs(conn: Connection) -> list[Org]:
    return [org_from_row(r) for r in conn.execute(select(orgs).order_by(orgs.c.name))]


def org_names(conn: Connection) -> dict[int, tuple[str, OrgKind]]:
    """Each org's name and kind, without its handling defaults (whose parsing costs a
    lookup naming a contact more than its search)."""
    return {
        int(org_id): (str(name), OrgKind(str(kind)))
        for org_id, name, kind in driver_rows(conn, "SELECT id, name, kind FROM orgs")
    }


@dataclass(frozen=True, slots=True)
class TokenRow:
    id: int
    org_id: int
    role: Role
    name: str
    clearance: Confidentiality
    prefix: str
    created_at: int
    expires_at: int | None
    revoked_at: int | None


def _token_from_row(row: Row[tuple[object, ...]]) -> TokenRow:
    return _token_from_mapping(row._mapping)  # noqa: SLF001 - SQLAlchemy's API


def _token_from_mapping(data: Mapping[Any, Any]) -> TokenRow:
    return TokenRow(
        id=int(data["id"]),
        org_id=int(data["org_id"]),
        role=Role(str(data["role"])),
        name=str(data["name"]),
        clearance=Confidentiality(int(data["clearance"])),
        prefix=str(data["prefix"]),
        created_at=int(data["created_at"]),
        expires_at=None if data["expires_at"] is None else int(data["expires_at"]),
        revoked_at=None if data["revoked_at"] is None else int(data["revoked_at"]),
    )


def insert_token(
    conn: Connection,
    *,
    org_id: int,
    role: Role,
    name: str,
    clearance: Confidentiality,
    secret_hash: str,
    prefix: str,
    now: int,
    expires_at: int | None,
) -> int:
    result = conn.execute(
        insert(tokens).values(
            org_id=org_id,
            role=role.value,
            name=name,
            clearance=int(clearance),
            secret_hash=secret_hash,
            prefix=prefix,
            created_at=now,
            expires_at=expires_at,
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


# Every authenticated request runs it: token and org in one query, on the driver's cursor
# (store.sql.driver_rows, about 70 us less than SQLAlchemy's execution).
_TOKEN_COLUMNS = tuple(c.name for c in tokens.c)
_ORG_COLUMNS = tuple(c.name for c in orgs.c)
_TOKEN_BY_HASH = (
    f"SELECT {', '.join(f't.{c}' for c in _TOKEN_COLUMNS)}, "
    f"{', '.join(f'o.{c}' for c in _ORG_COLUMNS)} "
    "FROM tokens t JOIN orgs o ON o.id = t.org_id WHERE t.secret_hash = {mark}"
)


def token_by_hash(conn: Connection, secret_hash: str) -> tuple[TokenRow, str, Org] | None:
    """The token with this secret hash, the hash as stored, and the token's org."""
    rows = driver_rows(conn, _TOKEN_BY_HASH, (secret_hash,))
    if not rows:
        return None
    token = dict(zip(_TOKEN_COLUMNS, rows[0], strict=False))
    org = dict(zip(_ORG_COLUMNS, rows[0][len(_TOKEN_COLUMNS) :], strict=True))
    return _token_from_mapping(token), str(token["secret_hash"]), org_from_mapping(org)


def token_by_id(conn: Connection, token_id: int) -> TokenRow | None:
    row = conn.execute(select(tokens).where(tokens.c.id == token_id)).first()
    return None if row is None else _token_from_row(row)


def list_tokens(conn: Connection, org_id: int | None = None) -> list[TokenRow]:
    query = select(tokens).order_by(tokens.c.id)
    if org_id is not None:
        query = query.where(tokens.c.org_id == org_id)
    return [_token_from_row(r) for r in conn.execute(query)]


def revoke_token(conn: Connection, token_id: int, now: int) -> None:
    conn.execute(update(tokens).where(tokens.c.id == token_id).values(revoked_at=now))
