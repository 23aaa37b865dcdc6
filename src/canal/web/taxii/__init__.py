"""The TAXII 2.1 server: routes, media types, and its error resource."""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from canal.web.taxii.errors import TaxiiProblem, is_taxii_path, taxii_error
from canal.web.taxii.routes import router


class TrailingSlash:
    """TAXII endpoint paths end in '/' (§3.1); without it canal answers 404 naming the right
    path, rather than serving or redirecting (docs/taxii.md, G-02)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and is_taxii_path(path) and not path.endswith("/"):
            response = taxii_error(404, "not-found", f"TAXII paths end in '/': try {path}/")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def install(app: FastAPI) -> None:
    @app.exception_handler(TaxiiProblem)
    async def _problem(_request: Request, exc: TaxiiProblem) -> Response:
        return taxii_error(exc.status, exc.code, exc.description)

    app.add_middleware(TrailingSlash)
    app.include_router(router)
