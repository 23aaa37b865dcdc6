"""Blind hit/no-hit (R10): the asker learns whether a value is known without sending it, and
the hub's key never leaves the hub.

An oblivious PRF on edwards25519 (the 2HashDH construction): the asker maps its normalised
value to a point P, sends P*r for a random r; the hub answers with (P*r)*k; the asker removes r
and gets P*k, from which it derives the token SHA-256(value-key || P*k). The hub stores the same
token for each value it indexes and matches submitted tokens against them. The hub sees only
random-looking points and tokens; the asker cannot compute tokens without asking the hub, which
rate-limits and logs it.
"""

from __future__ import annotations

import hashlib
import os

from nacl import bindings


def hub_scalar(secret_key: str) -> bytes:
    """The hub's key, derived from canal's secret key (it never leaves the server)."""
    return bytes(
        bindings.crypto_core_ed25519_scalar_reduce(
            hashlib.sha512(b"canal-blind-lookup:" + secret_key.encode()).digest()
        )
    )


def to_point(item: str) -> bytes:
    return bytes(bindings.crypto_core_ed25519_from_uniform(hashlib.sha256(item.encode()).digest()))


def token_of(item: str, point_times_k: bytes) -> str:
    return hashlib.sha256(item.encode() + b"\x00" + point_times_k).hexdigest()


def hub_token(secret: bytes, item: str) -> str:
    """The token the hub stores for an observable key such as "ipv4:203.0.113.7"."""
    return token_of(item, bytes(bindings.crypto_scalarmult_ed25519_noclamp(secret, to_point(item))))


def evaluate(secret: bytes, blinded: bytes) -> bytes:
    """The hub's half: multiply a blinded point by the key. Refuses what is not a valid point."""
    if len(blinded) != 32 or not bindings.crypto_core_ed25519_is_valid_point(blinded):
        raise ValueError("not a valid blinded element")
    return bytes(bindings.crypto_scalarmult_ed25519_noclamp(secret, blinded))


# -- the asker's side -----------------------------------------------------------------------


def blind(item: str) -> tuple[bytes, bytes]:
    """(r, P*r) for an observable key; keep r to unblind the hub's answer."""
    r = bytes(bindings.crypto_core_ed25519_scalar_reduce(os.urandom(64)))
    return r, bytes(bindings.crypto_scalarmult_ed25519_noclamp(r, to_point(item)))


def finalize(item: str, r: bytes, evaluated: bytes) -> str:
    inverse = bytes(bindings.crypto_core_ed25519_scalar_invert(r))
    return token_of(item, bytes(bindings.crypto_scalarmult_ed25519_noclamp(inverse, evaluated)))
