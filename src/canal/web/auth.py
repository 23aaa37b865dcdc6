"""Who is calling: the principal behind the request's token."""

from __future__ import annotations

from fastapi import Request

from canal.app import Services
from canal.errors import Unauthenticated
from canal.model.org import Principal


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthenticated("send 'Authorization: Bearer <token>' (see `canal token create`)")
    return value.strip()


def current_principal(request: Request) -> Principal:
    """A FastAPI dependency: the authenticated principal, or 401."""
    return services_of(request).accounts.authenticate(bearer_token(request))
