"""Bloom filters of observables, keyed per partner (issue: partner check without disclosure).

A partner receives a filter of the values it may know about and the key the filter was built
with, and checks its own logs offline: `might_contain` is true for every value in the filter and
for a known fraction of others (the false-positive rate, chosen when the filter is built). The
positions come from a keyed hash (BLAKE2b with the partner's key), so a filter given to one
partner is useless with another's key, and the secretariat rotates a partner's key to make its
old filters useless. Like every filter scheme, whoever holds the filter and its key can test
any candidate value: it is for high-entropy values, and it is not a substitute for the
rate-limited lookup.

Format (little-endian): magic "CBF1", k (u16), m in bits (u64), n (u64), key length (u16), the
key, then the m bits. Positions: h = BLAKE2b-128(key, "type:value"); h1, h2 its two 64-bit
halves; position i = (h1 + i*h2) mod m for i in 0..k-1 (double hashing).
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Iterable
from dataclasses import dataclass

MAGIC = b"CBF1"
_HEADER = struct.Struct("<4sHQQH")


def sizing(n: int, fp_rate: float) -> tuple[int, int]:
    """(m bits, k hashes) for n values at the given false-positive rate."""
    n = max(n, 1)
    m = max(64, math.ceil(-n * math.log(fp_rate) / (math.log(2) ** 2)))
    k = max(1, round(m / n * math.log(2)))
    return m, k


def expected_fp_rate(m: int, k: int, n: int) -> float:
    return float((1 - math.exp(-k * n / m)) ** k)


def _positions(key: bytes, item: str, k: int, m: int) -> list[int]:
    digest = hashlib.blake2b(item.encode(), key=key, digest_size=16).digest()
    h1, h2 = struct.unpack("<QQ", digest)
    h2 |= 1  # odd, so the k positions differ
    return [(h1 + i * h2) % m for i in range(k)]


@dataclass
class BloomFilter:
    key: bytes
    m: int
    k: int
    n: int
    bits: bytearray

    @classmethod
    def build(cls, items: Iterable[str], *, key: bytes, count: int, fp_rate: float) -> BloomFilter:
        m, k = sizing(count, fp_rate)
        bits = bytearray((m + 7) // 8)
        n = 0
        for item in items:
            for p in _positions(key, item, k, m):
                bits[p >> 3] |= 1 << (p & 7)
            n += 1
        return cls(key=key, m=m, k=k, n=n, bits=bits)

    def might_contain(self, item: str) -> bool:
        bits = self.bits
        return all(
            bits[p >> 3] & (1 << (p & 7)) for p in _positions(self.key, item, self.k, self.m)
        )

    @property
    def fp_rate(self) -> float:
        return expected_fp_rate(self.m, self.k, self.n)

    def to_bytes(self) -> bytes:
        header = _HEADER.pack(MAGIC, self.k, self.m, self.n, len(self.key))
        return header + self.key + bytes(self.bits)

    @classmethod
    def from_bytes(cls, data: bytes) -> BloomFilter:
        if len(data) < _HEADER.size or data[:4] != MAGIC:
            raise ValueError("not a canal Bloom filter")
        magic, k, m, n, key_len = _HEADER.unpack_from(data)
        del magic
        start = _HEADER.size
        key = data[start : start + key_len]
        bits = bytearray(data[start + key_len :])
        if len(bits) != (m + 7) // 8:
            raise ValueError("the filter is truncated")
        return cls(key=key, m=m, k=k, n=n, bits=bits)
