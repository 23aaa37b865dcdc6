"""TAXII's error resource (TAXII 2.1 §3.6.1): every error under /taxii2/ answers with it, in
TAXII's media type, never HTML and never the REST API's shape."""

from __future__ import annotations

from http import HTTPStatus

import orjson
from starlette.requests import Request
from starlette.responses import Response

from canal.exchange.taxii import T21

PREFIX = "/taxii2"
CHALLENGE = 'Basic realm="canal", Bearer realm="canal"'


class TaxiiProblem(Exception):
    """An error only TAXII has (406, 413, 415, 422), raised by the TAXII routes."""

    def __init__(self, status: int, code: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.code = code
        self.description = description


def is_taxii_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def is_taxii(request: Request) -> bool:
    return is_taxii_path(request.url.path)


def taxii_error(status: int, code: str, description: str) -> Response:
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    body = {
        "title": title,
        "description": description,
        "error_code": code,
        "http_status": str(status),
    }
    return Response(
        orjson.dumps(body),
        status_code=status,
        media_type=T21,
        headers={"WWW-Authenticate": CHALLENGE} if status == 401 else None,
    )
