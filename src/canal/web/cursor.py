"""Opaque, signed paging cursors. A cursor is bound to the principal and to the query it came
from: replayed by someone else or with other filters, it is refused, never trusted."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import orjson

from canal.errors import InvalidInput


class CursorCodec:
    def __init__(self, secret_key: str) -> None:
        self._key = hashlib.sha256(b"canal-cursor:" + secret_key.encode()).digest()

    def _sign(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()[:16]

    def encode(self, *, position: Any, binding: str) -> str:
        body = orjson.dumps({"p": position, "b": binding})
        raw = self._sign(body) + body
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def decode(self, token: str, *, binding: str) -> Any:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (ValueError, TypeError):
            raise InvalidInput("next", "not a cursor this server issued") from None
        signature, body = raw[:16], raw[16:]
        if len(signature) < 16 or not hmac.compare_digest(signature, self._sign(body)):
            raise InvalidInput("next", "not a cursor this server issued")
        data = orjson.loads(body)
        if data.get("b") != binding:
            raise InvalidInput("next", "the cursor belongs to another query or another caller")
        return data.get("p")


def binding_of(*parts: object) -> str:
    """A short digest of what a cursor must stay bound to (principal, filters)."""
    return hashlib.sha256(orjson.dumps([str(p) for p in parts])).hexdigest()[:32]
