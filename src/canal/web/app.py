"""The FastAPI application."""

from __future__ import annotations

from fastapi import FastAPI, Request

from canal import __version__
from canal.app import Services
from canal.web import errors, taxii
from canal.web.api import analysis, audit, handling, me, objects, review, search
from canal.web.api import assist as assist_api
from canal.web.background import lifespan
from canal.web.responses import JsonResponse

#: The API documentation's sections, in the order a reader meets them.
OPENAPI_TAGS = [
    {"name": "meta", "description": "Liveness, and who the caller is."},
    {"name": "objects", "description": "Records: submit, read, search, change handling."},
    {"name": "review", "description": "The secretariat's review of submissions."},
    {"name": "audit", "description": "The processing log and retention."},
    {"name": "analysis", "description": "Hit/no-hit, clusters, alerts, Bloom filters."},
    {"name": "24/7 network", "description": "Requests for assistance between points of contact."},
    {"name": "taxii", "description": "TAXII 2.1."},
]


def create_app(services: Services) -> FastAPI:
    app = FastAPI(
        title="canal",
        version=__version__,
        description=(
            "A cybercrime intelligence channel. Every call acts as the principal of its bearer "
            "token and sees only what the handling of each record opens to it."
        ),
        default_response_class=JsonResponse,
        openapi_tags=OPENAPI_TAGS,
        lifespan=lifespan(services),
    )
    app.state.services = services
    errors.install(app)

    @app.get("/healthz", tags=["meta"], summary="Liveness and database check")
    def healthz(request: Request) -> JsonResponse:
        request.app.state.services.database.check()
        return JsonResponse({"status": "ok"})

    # Routes are matched in order, each router's in turn: the lookups, the most frequent
    # single requests, come first (matching /api/v1/lookup behind the other routers cost
    # 50 us a request). None of their routes takes another router's path (a test checks);
    # OPENAPI_TAGS keeps the documentation's order.
    app.include_router(analysis.router)
    app.include_router(objects.router)
    app.include_router(search.router)
    app.include_router(handling.router)
    app.include_router(review.router)
    app.include_router(audit.router)
    app.include_router(me.router)
    app.include_router(assist_api.router)
    taxii.install(app)
    return app
