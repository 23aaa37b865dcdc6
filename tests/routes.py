"""Every (method, path) the web app serves, for tests that must cover each route."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def app_routes(app: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    for route in app.routes if hasattr(app, "routes") else app:
        if hasattr(route, "original_router"):  # a router included into the app
            context = route.include_context
            yield from app_routes(route.original_router, prefix + (context.prefix or ""))
            continue
        methods = getattr(route, "methods", None) or {"GET"}
        for method in sorted(methods - {"HEAD"}):
            yield method, prefix + route.path
