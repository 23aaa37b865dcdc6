"""Who is calling: the principal behind the request's token."""

from __future__ import annotations

import base64
import binascii

from fastapi import Request

from canal.app import Services
from canal.errors import Unauthenticated
from canal.model.org import Principal


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def bearer_token(request: Request) -> str:
    """The token presented as `Authorization: Bearer <token>`, or as the password of HTTP Basic
    (any user name): common TAXII clients speak only Basic."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthenticated("malformed Basic credentials") from None
        _user, sep, password = decoded.partition(":")
        if sep and password:
            return password
        raise Unauthenticated("send the canal token as the Basic password")
    if scheme.lower() != "bearer" or not value:
        raise Unauthenticated(
            "send 'Authorization: Bearer <token>', or HTTP Basic with the token as the password "
            "(see `canal token create`)"
        )
    return value


def current_principal(request: Request) -> Principal:
    """A FastAPI dependency: the authenticated principal, or 401."""
    return services_of(request).accounts.authenticate(bearer_token(request))
