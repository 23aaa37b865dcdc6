"""The REST edge's one error mapper: every canal error becomes a status and one JSON shape,
{"error": {"code", "message"}}; nothing else reaches the client, never a traceback."""

from __future__ import annotations

import logging

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from canal.errors import (
    CanalError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    TooMany,
    Unauthenticated,
)
from canal.ingest.errors import SubmissionError
from canal.store.errors import StoreUnavailable, WriteBusy, WriteConflict
from canal.web.taxii.errors import is_taxii, taxii_error

log = logging.getLogger("canal.web")

STATUS_BY_ERROR: tuple[tuple[type[CanalError], int], ...] = (
    (Unauthenticated, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (WriteConflict, 409),
    (SubmissionError, 400),
    (InvalidInput, 400),
    (StoreUnavailable, 503),
    # Only a write asked not to wait raises it, and its callers go on in a thread instead.
    (WriteBusy, 503),
    (TooMany, 429),
)


def error_body(code: str, message: str, **details: object) -> bytes:
    error: dict[str, object] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return orjson.dumps({"error": error})


def json_error(status: int, code: str, message: str, **details: object) -> Response:
    headers = (
        {"WWW-Authenticate": 'Bearer realm="canal", Basic realm="canal"'} if status == 401 else None
    )
    return Response(
        error_body(code, message, **details),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def status_of(exc: CanalError) -> int:
    for cls, status in STATUS_BY_ERROR:
        if isinstance(exc, cls):
            return status
    return 400


def _error(request: Request, status: int, code: str, message: str) -> Response:
    # TAXII routes answer with TAXII's error resource; everything else with the REST shape.
    if is_taxii(request):
        return taxii_error(status, code, message)
    return json_error(status, code, message)


def install(app: FastAPI) -> None:
    @app.exception_handler(CanalError)
    async def _canal_error(request: Request, exc: CanalError) -> Response:
        response = _error(request, status_of(exc), exc.code, str(exc))
        if isinstance(exc, TooMany):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        problems = [
            f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg', 'invalid')}"
            for err in exc.errors()
        ]
        return _error(request, 400, "invalid-input", "; ".join(problems) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        return _error(request, exc.status_code, code, str(exc.detail))

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def _out_of_range(request: Request, _exc: Exception) -> Response:
        # A number too large for the store's columns (a path id of 30 digits): the request's
        # fault, not the server's.
        return _error(request, 400, "invalid-input", "a value is out of range")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.error("unexpected error", exc_info=exc)
        return _error(request, 500, "internal", "canal failed to handle this request; it is logged")
