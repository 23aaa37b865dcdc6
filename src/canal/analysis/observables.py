"""Observables: the normalised values that link records and answer lookups.

`normalise(kind, raw)` turns one notation of a value into the single string canal stores and
matches on; equal values written differently (case, defanging, trailing dots, default ports,
IPv6 zero compression, EIP-55 case, bech32 case, hive abbreviations ...) come out equal, and the
result normalises to itself. What cannot be a value of the type raises `NormaliseError`, whose
message starts with the type. docs/observables.md has the table of rules and the reasons.

`observables_of(obj)` lists the observables a STIX 2.1 object yields (SCOs, the comparisons of
`stix` indicator patterns, the ransomware extension of incidents); `EXTRACTORS` maps a STIX
type to the function that does it, so other modules can register theirs.
`observable_of_misp_attribute` does the same for MISP attributes.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import ipaddress
import re
import socket
import struct
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, TypeAlias

import base58
import idna
import phonenumbers
from Crypto.Hash import keccak

from canal.model.ransomware import ransomware_extension

__all__ = [
    "EXTRACTORS",
    "Candidate",
    "Extractor",
    "NormaliseError",
    "Observable",
    "ObservableType",
    "guess_type",
    "normalise",
    "observable_of_misp_attribute",
    "observables_of",
    "observables_with_problems",
    "refang",
]


class ObservableType(StrEnum):
    IPV4 = "ipv4"
    IPV6 = "ipv6"
    CIDR = "cidr"
    DOMAIN = "domain"
    URL = "url"
    EMAIL = "email"
    MD5 = "md5"
    SHA1 = "sha1"
    SHA256 = "sha256"
    SHA512 = "sha512"
    SSDEEP = "ssdeep"
    WALLET = "wallet"
    ONION = "onion"
    PHONE = "phone"
    FILENAME = "filename"
    MUTEX = "mutex"
    REGKEY = "regkey"
    USER_AGENT = "user-agent"
    JA3 = "ja3"
    ASN = "asn"


#: Types by name: a dictionary lookup where hot loops (lookup batches, objects back from the
#: checking process) would otherwise pay for the enum's call.
TYPES_BY_NAME: Final[dict[str, ObservableType]] = {t.value: t for t in ObservableType}


@dataclass(frozen=True, slots=True)
class Observable:
    type: ObservableType
    value: str

    @property
    def key(self) -> str:
        return f"{self.type}:{self.value}"


class NormaliseError(ValueError):
    """A raw value that is not a value of the type; the message starts with the type."""

    def __init__(self, kind: ObservableType | str, reason: str) -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind = str(kind)
        self.reason = reason


T = ObservableType

# Longer input is rejected before any parsing: no observable is that long, and regexes and
# base58 big-integer arithmetic stay bounded.
MAX_LENGTH: Final = 8192


# --- refanging -------------------------------------------------------------------------------

# Defanged schemes: hxxp, hXXp, h**p, h[tt]p, hxp, fxp (ftp), before ':' or '[:'.
_DEFANGED_SCHEME: Final = re.compile(r"(?i)^(?:h(?:xx|\*\*|\[tt\]|x)p(s?)|(fxp))(?=\[?:)")
_FANG_MAP: Final = {
    "[.]": ".",
    "(.)": ".",
    "{.}": ".",
    "[dot]": ".",
    "(dot)": ".",
    "{dot}": ".",
    "\\.": ".",
    "[:]": ":",
    "[://]": "://",
    "[/]": "/",
    "[@]": "@",
    "(@)": "@",
    "{@}": "@",
    "[at]": "@",
    "(at)": "@",
    "{at}": "@",
}
_FANGS: Final = re.compile(
    "(?i)" + "|".join(re.escape(k) for k in sorted(_FANG_MAP, key=len, reverse=True))
)


def _fang(match: re.Match[str]) -> str:
    return _FANG_MAP[match.group().lower()]


def _scheme_fang(match: re.Match[str]) -> str:
    return "ftp" if match.group(2) else "http" + match.group(1).lower()


def refang(raw: str) -> str:
    """Undo the usual defanging (`evil[.]com`, `hxxp://`, `a[at]b`, `[:]`); strips whitespace.

    Repeated until nothing changes ("[[.]]" gives "."), so that the result is fully refanged.
    """
    s = raw.strip()
    if s[:1] in ("h", "H", "f", "F") and s[1:2] in ("x", "X", "*", "["):
        s = _DEFANGED_SCHEME.sub(_scheme_fang, s, count=1)
    while "[" in s or "(" in s or "{" in s or "\\" in s:
        # Every replacement is shorter than what it replaces: this ends.
        fanged = _FANGS.sub(_fang, s).strip()
        if fanged == s:
            break
        s = fanged
    return s


# --- hosts: domains, IP addresses --------------------------------------------------------------

_HOST_CHARS: Final = re.compile(r"[a-z0-9_.-]+")
_BAD_HOST_CHAR: Final = re.compile(r"[^a-z0-9_.-]")
_OCTET: Final = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4_RE: Final = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}")
_DOTTED_NUMBERS: Final = re.compile(r"[0-9]+(?:\.[0-9]+){3}")


def _idna_to_ascii(kind: T, s: str, where: str) -> str:
    try:
        mapped = idna.uts46_remap(s, std3_rules=False, transitional=False)
    except idna.IDNAError as exc:
        raise NormaliseError(kind, f"{where}not a valid internationalised name ({exc})") from exc
    mapped = mapped.removesuffix(".")
    labels = []
    for label in mapped.split("."):
        if label.isascii():
            labels.append(label)
            continue
        try:
            labels.append(idna.alabel(label).decode("ascii"))
        except (idna.IDNAError, UnicodeError) as exc:
            raise NormaliseError(
                kind, f"{where}not a valid internationalised name ({exc})"
            ) from exc
    return ".".join(labels)


def _host_problem(s: str) -> str:
    bad = _BAD_HOST_CHAR.search(s)
    if bad:
        return f"invalid character {bad.group()!r}"
    for label in s.split("."):
        if not label:
            return "empty label"
        if len(label) > 63:
            return "label longer than 63 characters"
        if label.startswith("-") or label.endswith("-"):
            return "label starts or ends with a hyphen"
    return "not a host name"


def _host(kind: T, s: str, *, where: str = "", min_labels: int = 2) -> str:
    """A DNS name in its ASCII (punycode) form, lower case, without the trailing dot."""
    if not s:
        raise NormaliseError(kind, f"{where}empty after refanging")
    if s.startswith("*."):
        raise NormaliseError(kind, f"{where}wildcard names are not observables")
    if s.isascii():
        s = s.lower()
        s = s.removesuffix(".")
    else:
        s = _idna_to_ascii(kind, s, where)
    if not s:
        raise NormaliseError(kind, f"{where}empty after refanging")
    if len(s) > 253:
        raise NormaliseError(kind, f"{where}name longer than 253 characters")
    # Labels of 1 to 63 letters, digits, '_' and '-', not starting or ending with '-'.
    if (
        not _HOST_CHARS.fullmatch(s)
        or ".." in s
        or s[0] in ".-"
        or s[-1] in ".-"
        or ".-" in s
        or "-." in s
        or (len(s) > 63 and max(map(len, s.split("."))) > 63)
    ):
        raise NormaliseError(kind, f"{where}{_host_problem(s)}")
    last_dot = s.rfind(".")
    if min_labels > 1 and last_dot < 0:
        raise NormaliseError(kind, f"{where}needs at least two labels")
    if s[last_dot + 1 :].isdigit():
        raise NormaliseError(kind, f"{where}numeric top-level label (an IP address?)")
    if "xn--" in s:
        for label in s.split("."):
            if label.startswith("xn--"):
                _check_a_label(kind, label, where)
    return s


def _check_a_label(kind: T, label: str, where: str) -> None:
    # A punycode label must decode, and be the form its own Unicode name encodes to.
    try:
        again = idna.alabel(idna.ulabel(label)).decode("ascii")
    except (idna.IDNAError, UnicodeError) as exc:
        raise NormaliseError(kind, f"{where}invalid IDNA label {label!r} ({exc})") from exc
    if again != label:
        raise NormaliseError(kind, f"{where}non-canonical IDNA label {label!r}")


def _v6_packed_text(packed: bytes) -> str:
    """RFC 5952 text of an IPv6 address: lower case, no leading zeros, the longest run of two or
    more zero groups (the first of equals) as '::', IPv4-mapped addresses in mixed notation
    (§5). Written out so that it does not depend on the Python version or the C library."""
    groups = struct.unpack("!8H", packed)
    if groups[5] == 0xFFFF and not any(groups[:5]):
        return "::ffff:" + ".".join(map(str, packed[12:]))
    best_start = best_length = 0
    i = 0
    while i < 8:
        if groups[i]:
            i += 1
            continue
        j = i + 1
        while j < 8 and not groups[j]:
            j += 1
        if j - i > best_length:
            best_start, best_length = i, j - i
        i = j
    hextets = [f"{g:x}" for g in groups]
    if best_length < 2:
        return ":".join(hextets)
    head = ":".join(hextets[:best_start])
    tail = ":".join(hextets[best_start + best_length :])
    return f"{head}::{tail}"


def _v6_text(address: ipaddress.IPv6Address) -> str:
    return _v6_packed_text(address.packed)


def _ipv4_text(kind: T, s: str, where: str = "") -> str:
    if _IPV4_RE.fullmatch(s):
        return s
    if _DOTTED_NUMBERS.fullmatch(s):
        if any(len(p) > 1 and p[0] == "0" for p in s.split(".")):
            raise NormaliseError(kind, f"{where}leading zeros in an octet are ambiguous (octal?)")
        raise NormaliseError(kind, f"{where}octet out of range")
    if "/" in s:
        raise NormaliseError(kind, f"{where}a network, not an address (use cidr)")
    raise NormaliseError(kind, f"{where}not an address")


def _ipv6_text(kind: T, s: str, where: str = "") -> str:
    if "%" in s:
        raise NormaliseError(kind, f"{where}zone index not allowed")
    if "/" in s:
        raise NormaliseError(kind, f"{where}a network, not an address (use cidr)")
    try:
        packed = socket.inet_pton(socket.AF_INET6, s)
    except (OSError, ValueError):
        raise NormaliseError(kind, f"{where}not an address") from None
    return _v6_packed_text(packed)


def _ipv4(raw: str) -> str:
    s = refang(raw)
    s = s.removesuffix("/32")
    return _ipv4_text(T.IPV4, s)


def _ipv6(raw: str) -> str:
    s = refang(raw)
    if s.startswith("[") and s.endswith("]"):
        s = s[1:-1]
    s = s.removesuffix("/128")
    return _ipv6_text(T.IPV6, s)


def _cidr(raw: str) -> str:
    s = refang(raw)
    if "%" in s:
        raise NormaliseError(T.CIDR, "zone index not allowed")
    address, slash, prefix = s.partition("/")
    if not slash:
        prefix = "128" if ":" in address else "32"
    if ":" not in address:
        _ipv4_text(T.CIDR, address)  # the same rules as ipv4: no leading zeros
        if _IPV4_RE.fullmatch(prefix):
            # A netmask (255.0.0.0) instead of a prefix length.
            try:
                prefix = str(ipaddress.IPv4Network(f"0.0.0.0/{prefix}").prefixlen)
            except ValueError:
                raise NormaliseError(T.CIDR, "netmask is not contiguous") from None
    if not prefix.isascii() or not prefix.isdigit():
        raise NormaliseError(T.CIDR, "prefix length is not a number")
    text = f"{address}/{int(prefix)}"
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        if "host bits set" in str(exc):
            masked = ipaddress.ip_network(text, strict=False)
            raise NormaliseError(T.CIDR, f"host bits set (the network is {masked})") from None
        raise NormaliseError(T.CIDR, "not a network") from None
    if isinstance(net, ipaddress.IPv6Network):
        return f"{_v6_text(net.network_address)}/{net.prefixlen}"
    return str(net)


# A domain already in its stored form: lower-case ASCII labels of 1 to 63 characters, none
# starting or ending with '-', at least two, the last not all digits. Punycode labels ("xn--")
# and anything longer than 253 characters take the whole walk. The regex checks the characters
# and the hyphens; the label lengths and the last label are checked apart, which costs a third
# less than one regex that counts (lookups of screening batches run this per value).
_STORED_DOMAIN: Final = re.compile(r"(?!-)[a-z0-9_-]+(?<!-)(?:\.(?!-)[a-z0-9_-]+(?<!-))+")
_LONG_LABEL: Final = re.compile(r"[^.]{64}")


def _is_stored_domain(raw: str) -> bool:
    return (
        len(raw) <= 253
        and "xn--" not in raw
        and _STORED_DOMAIN.fullmatch(raw) is not None
        and not raw.rpartition(".")[2].isdigit()
        and (len(raw) <= 63 or _LONG_LABEL.search(raw) is None)
    )


def _domain(raw: str) -> str:
    # Most values arrive as stored (feeds, lookups): a check instead of refanging and the
    # checks of _host, which would return them unchanged.
    if _is_stored_domain(raw):
        return raw
    return _host(T.DOMAIN, refang(raw))


# --- URLs ------------------------------------------------------------------------------------

_URL_RE: Final = re.compile(
    r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)([^?#]*)(\?[^#]*)?(?:#.*)?", re.DOTALL
)
_HAS_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_DEFAULT_PORTS: Final = {"http": 80, "https": 443, "ftp": 21, "ws": 80, "wss": 443}
_UNRESERVED: Final = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
)
# What a path needs rewritten: escapes, and what browsers percent-encode in a path. A '%' that
# starts no escape is encoded too (as %25), so that decoding never forms a new escape.
_PATH_NEEDS_WORK: Final = re.compile(r'[%"<>`{} ]|[^\x21-\x7e]')
_PATH_TOKEN: Final = re.compile(r'%([0-9A-Fa-f]{2})|%|[^\x21-\x7e]|["<>`{}]')


def _path_token(match: re.Match[str]) -> str:
    hex_digits = match.group(1)
    if hex_digits is not None:
        byte = int(hex_digits, 16)
        return chr(byte) if byte in _UNRESERVED else f"%{hex_digits.upper()}"
    if match.group() == "%":
        return "%25"
    return "".join(f"%{b:02X}" for b in match.group().encode("utf-8", "surrogatepass"))


def _url_path(path: str) -> str:
    if not path:
        return "/"
    if _PATH_NEEDS_WORK.search(path):
        return _PATH_TOKEN.sub(_path_token, path)
    return path


def _url(raw: str) -> str:
    s = refang(raw)
    if not s:
        raise NormaliseError(T.URL, "empty after refanging")
    if not _HAS_SCHEME.match(s):
        # No scheme: taken as http, as a browser would.
        s = "http://" + s
    m = _URL_RE.fullmatch(s)
    if m is None:
        raise NormaliseError(T.URL, "not a URL")
    scheme, authority, path, query = m.group(1).lower(), m.group(2), m.group(3), m.group(4)
    userinfo, at, hostport = authority.rpartition("@")
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise NormaliseError(T.URL, "unclosed '[' in host")
        host = "[" + _ipv6_text(T.URL, hostport[1:end], "host ") + "]"
        rest = hostport[end + 1 :]
        if rest and not rest.startswith(":"):
            raise NormaliseError(T.URL, "junk after the IPv6 host")
        port = rest[1:]
        has_port = bool(rest)
    else:
        name, colon, port = hostport.rpartition(":")
        if not colon:
            name, port = hostport, ""
        has_port = bool(colon)
        if not name:
            raise NormaliseError(T.URL, "no host")
        if _DOTTED_NUMBERS.fullmatch(name) or _IPV4_RE.fullmatch(name):
            host = _ipv4_text(T.URL, name, "host ")
        else:
            host = _host(T.URL, name, where="host ", min_labels=1)
    if has_port and port:
        if not (port.isascii() and port.isdigit()) or int(port) > 65535:
            raise NormaliseError(T.URL, f"bad port {port[:16]!r}")
        number = int(port)
        port_text = "" if _DEFAULT_PORTS.get(scheme) == number else f":{number}"
    else:
        port_text = ""
    user_text = f"{userinfo}@" if at else ""
    url = f"{scheme}://{user_text}{host}{port_text}{_url_path(path)}{query or ''}"
    if "%" in path and _FANGS.search(url):
        # Decoding made a defanged form ("[%2E]" -> "[.]"): refang that too.
        return _url(url)
    return url


# --- email -----------------------------------------------------------------------------------

_LOCAL_PART: Final = re.compile(r'[^\s@"<>()\[\],;:\\]+|"(?:[^"\\\r\n]|\\.)+"')
_ANGLE: Final = re.compile(r".*<([^<>]*)>\s*", re.DOTALL)


def _email(raw: str) -> str:
    s = refang(raw)
    m = _ANGLE.fullmatch(s)
    if m:
        s = m.group(1).strip()
    if s[:7].lower() == "mailto:":
        s = s[7:]
    local, at, domain = s.rpartition("@")
    if not at:
        raise NormaliseError(T.EMAIL, "no '@'")
    if not local:
        raise NormaliseError(T.EMAIL, "empty local part")
    if len(local) > 64:
        raise NormaliseError(T.EMAIL, "local part longer than 64 characters")
    if not _LOCAL_PART.fullmatch(local):
        raise NormaliseError(T.EMAIL, "invalid local part")
    return f"{local}@{_host(T.EMAIL, domain, where='domain ')}"


# --- hashes and fingerprints -----------------------------------------------------------------

_HEX: Final = re.compile(r"[0-9a-f]*")
_SSDEEP: Final = re.compile(r"[0-9]+:[A-Za-z0-9/+]*:[A-Za-z0-9/+]*")


def _hex_normaliser(kind: T, length: int) -> Callable[[str], str]:
    def normalise_hex(raw: str) -> str:
        s = raw.strip().lower()
        if len(s) != length:
            raise NormaliseError(kind, f"expected {length} hexadecimal digits, got {len(s)}")
        if not _HEX.fullmatch(s):
            raise NormaliseError(kind, "not hexadecimal")
        return s

    return normalise_hex


def _ssdeep(raw: str) -> str:
    s = raw.strip()
    if not _SSDEEP.fullmatch(s):
        raise NormaliseError(T.SSDEEP, "expected blocksize:hash:hash")
    return s


# --- wallets ---------------------------------------------------------------------------------

_BECH32_CHARSET: Final = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_VALUES: Final = {c: i for i, c in enumerate(_BECH32_CHARSET)}
_BECH32_CONST: Final = 1
_BECH32M_CONST: Final = 0x2BC830A3
_BASE58_ALPHABET: Final = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BASE58_VALUES: Final = {c: i for i, c in enumerate(_BASE58_ALPHABET)}
_BASE58_RE: Final = re.compile(f"[{_BASE58_ALPHABET}]+")


def _bech32_polymod(values: Iterable[int]) -> int:
    # BIP-173 reference.
    generator = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for value in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            if (top >> i) & 1:
                chk ^= generator[i]
    return chk


def _bech32_hrp_expand(hrp: str) -> list[int]:
    return [ord(x) >> 5 for x in hrp] + [0] + [ord(x) & 31 for x in hrp]


def _convert_bits(data: Iterable[int], from_bits: int, to_bits: int, pad: bool) -> list[int] | None:
    # BIP-173 reference: regroups bits; None when the padding is not zero or too long.
    acc = bits = 0
    out = []
    max_value = (1 << to_bits) - 1
    for value in data:
        acc = (acc << from_bits) | value
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            out.append((acc >> bits) & max_value)
    if pad:
        if bits:
            out.append((acc << (to_bits - bits)) & max_value)
    elif bits >= from_bits or ((acc << (to_bits - bits)) & max_value):
        return None
    return out


def _bech32_data(kind: T, hrp: str, addr: str) -> tuple[str, list[int]]:
    if addr not in (addr.lower(), addr.upper()):
        raise NormaliseError(kind, "mixed-case bech32 address")
    a = addr.lower()
    sep = a.rfind("1")
    if a[:sep] != hrp:
        raise NormaliseError(kind, f"expected the {hrp}1 prefix")
    if len(a) > 90 or len(a) - sep - 1 < 6:
        raise NormaliseError(kind, "bech32 address of the wrong length")
    try:
        data = [_BECH32_VALUES[c] for c in a[sep + 1 :]]
    except KeyError:
        raise NormaliseError(kind, "invalid bech32 character") from None
    return a, data


def _segwit(kind: T, hrp: str, addr: str) -> str:
    # BIP-173 (bech32, witness v0) and BIP-350 (bech32m, v1+).
    a, data = _bech32_data(kind, hrp, addr)
    const = _bech32_polymod(_bech32_hrp_expand(hrp) + data)
    if const not in (_BECH32_CONST, _BECH32M_CONST):
        raise NormaliseError(kind, "bad checksum")
    version = data[0]
    program = _convert_bits(data[1:-6], 5, 8, pad=False)
    if version > 16 or program is None or not 2 <= len(program) <= 40:
        raise NormaliseError(kind, "invalid witness program")
    if version == 0 and len(program) not in (20, 32):
        raise NormaliseError(kind, "invalid witness program length for version 0")
    if (version == 0) != (const == _BECH32_CONST):
        raise NormaliseError(kind, "bad checksum (bech32 and bech32m mixed up)")
    return a


def _base58check(kind: T, addr: str, versions: frozenset[int], chain: str) -> bytes:
    if not 25 <= len(addr) <= 36 or not _BASE58_RE.fullmatch(addr):
        raise NormaliseError(kind, f"not a {chain} address")
    try:
        payload = base58.b58decode_check(addr)
    except ValueError:
        raise NormaliseError(kind, "bad checksum") from None
    if len(payload) != 21:
        raise NormaliseError(kind, f"not a {chain} address (payload of {len(payload)} bytes)")
    if payload[0] not in versions:
        raise NormaliseError(kind, f"not a {chain} mainnet address (version 0x{payload[0]:02x})")
    return payload


def _btc(addr: str) -> str:
    if addr[:3].lower() == "bc1":
        return _segwit(T.WALLET, "bc", addr)
    _base58check(T.WALLET, addr, frozenset({0x00, 0x05}), "Bitcoin")
    return addr


def _ltc(addr: str) -> str:
    if addr[:4].lower() == "ltc1":
        return _segwit(T.WALLET, "ltc", addr)
    _base58check(T.WALLET, addr, frozenset({0x30, 0x32, 0x05}), "Litecoin")
    return addr


def _trx(addr: str) -> str:
    _base58check(T.WALLET, addr, frozenset({0x41}), "Tron")
    return addr


def _keccak256(data: bytes) -> bytes:
    return keccak.new(digest_bits=256, data=data).digest()


_ETH_RE: Final = re.compile(r"(?:0[xX])?([0-9a-fA-F]{40})")


def _eth(addr: str) -> str:
    m = _ETH_RE.fullmatch(addr)
    if m is None:
        raise NormaliseError(T.WALLET, "not an Ethereum address (0x and 40 hex digits)")
    digits = m.group(1)
    lower = digits.lower()
    if digits not in (lower, digits.upper()):
        # EIP-55: mixed case carries a checksum; all-lower or all-upper carries none.
        digest = _keccak256(lower.encode("ascii")).hex()
        expected = "".join(
            c.upper() if c.isalpha() and int(h, 16) >= 8 else c
            for c, h in zip(lower, digest, strict=False)
        )
        if digits != expected:
            raise NormaliseError(T.WALLET, "bad checksum (EIP-55)")
    return "0x" + lower


# Monero's base58 works in 8-byte blocks of 11 characters; a shorter last block encodes fewer
# bytes, by this table (encoded length -> bytes).
_XMR_BLOCK_BYTES: Final = {0: 0, 2: 1, 3: 2, 5: 3, 6: 4, 7: 5, 9: 6, 10: 7, 11: 8}
# Network bytes of mainnet addresses: standard, integrated, subaddress.
_XMR_NETWORKS: Final = {95: frozenset({18, 42}), 106: frozenset({19})}


def _xmr_base58_decode(s: str) -> bytes | None:
    out = bytearray()
    for i in range(0, len(s), 11):
        block = s[i : i + 11]
        size = _XMR_BLOCK_BYTES.get(len(block))
        if size is None:
            return None
        value = 0
        for c in block:
            digit = _BASE58_VALUES.get(c)
            if digit is None:
                return None
            value = value * 58 + digit
        if value >> (8 * size):
            return None
        out += value.to_bytes(size, "big")
    return bytes(out)


def _xmr(addr: str) -> str:
    networks = _XMR_NETWORKS.get(len(addr))
    if networks is None:
        raise NormaliseError(T.WALLET, "not a Monero address (95 or 106 characters)")
    data = _xmr_base58_decode(addr)
    if data is None:
        raise NormaliseError(T.WALLET, "not a Monero address (bad base58)")
    if data[0] not in networks:
        raise NormaliseError(T.WALLET, f"not a Monero mainnet address (network byte {data[0]})")
    if _keccak256(data[:-4])[:4] != data[-4:]:
        raise NormaliseError(T.WALLET, "bad checksum")
    return addr


_CASHADDR_PREFIX: Final = "bitcoincash"


def _cashaddr_polymod(values: Iterable[int]) -> int:
    # The cashaddr specification's BCH code over GF(2^5).
    chk = 1
    for value in values:
        top = chk >> 35
        chk = ((chk & 0x07FFFFFFFF) << 5) ^ value
        if top & 0x01:
            chk ^= 0x98F2BC8E61
        if top & 0x02:
            chk ^= 0x79B76D99E2
        if top & 0x04:
            chk ^= 0xF33E5FB3C4
        if top & 0x08:
            chk ^= 0xAE2EABE2A8
        if top & 0x10:
            chk ^= 0x1E4F43E470
    return chk ^ 1


_CASHADDR_PREFIX_VALUES: Final = [ord(c) & 0x1F for c in _CASHADDR_PREFIX] + [0]


def _cashaddr_encode(kind_bits: int, hash160: bytes) -> str:
    payload = _convert_bits([kind_bits << 3, *hash160], 8, 5, pad=True)
    if payload is None:  # padding never fails; this keeps the type checker informed
        raise NormaliseError(T.WALLET, "cannot encode a cashaddr")
    checksum = _cashaddr_polymod([*_CASHADDR_PREFIX_VALUES, *payload, 0, 0, 0, 0, 0, 0, 0, 0])
    digits = [*payload, *((checksum >> 5 * (7 - i)) & 0x1F for i in range(8))]
    return "".join(_BECH32_CHARSET[d] for d in digits)


def _bch(addr: str) -> str:
    """A Bitcoin Cash address as the cashaddr payload (no prefix); legacy forms are converted."""
    prefix, colon, rest = addr.partition(":")
    if colon:
        if prefix.lower() != _CASHADDR_PREFIX:
            raise NormaliseError(T.WALLET, f"not a Bitcoin Cash address prefix {prefix!r}")
        addr = rest
    if addr[:1] in ("1", "3"):
        payload = _base58check(T.WALLET, addr, frozenset({0x00, 0x05}), "Bitcoin Cash")
        return _cashaddr_encode(0 if payload[0] == 0 else 1, payload[1:])
    if addr not in (addr.lower(), addr.upper()):
        raise NormaliseError(T.WALLET, "mixed-case cashaddr")
    a = addr.lower()
    try:
        data = [_BECH32_VALUES[c] for c in a]
    except KeyError:
        raise NormaliseError(T.WALLET, "invalid cashaddr character") from None
    if len(data) != 42:
        raise NormaliseError(T.WALLET, "not a Bitcoin Cash address (cashaddr of 42 characters)")
    if _cashaddr_polymod([*_CASHADDR_PREFIX_VALUES, *data]) != 0:
        raise NormaliseError(T.WALLET, "bad checksum")
    payload_bytes = _convert_bits(data[:-8], 5, 8, pad=False)
    if payload_bytes is None or len(payload_bytes) != 21 or payload_bytes[0] not in (0, 8):
        raise NormaliseError(T.WALLET, "not a Bitcoin Cash P2PKH or P2SH address")
    return a


# Chains whose addresses are checked; values are stored as "<chain>:<address>".
_CHAINS: Final[dict[str, Callable[[str], str]]] = {
    "btc": _btc,
    "eth": _eth,
    "xmr": _xmr,
    "ltc": _ltc,
    "trx": _trx,
    "bch": _bch,
}
# Other names for the same chains. EVM chains share one address space and one key ("eth:").
_CHAIN_ALIASES: Final = {
    "bitcoin": "btc",
    "xbt": "btc",
    "ethereum": "eth",
    "erc20": "eth",
    "evm": "eth",
    "bsc": "eth",
    "bep20": "eth",
    "bnb": "eth",
    "polygon": "eth",
    "matic": "eth",
    "arbitrum": "eth",
    "optimism": "eth",
    "avax": "eth",
    "avalanche": "eth",
    "monero": "xmr",
    "litecoin": "ltc",
    "tron": "trx",
    "trc20": "trx",
    "bitcoincash": "bch",
    "bitcoin-cash": "bch",
}
# Token names, not chains: the address format tells the chain.
_TOKENS: Final = frozenset({"usdt", "usdc", "tether"})
_CHAIN_TAG: Final = re.compile(r"[a-z][a-z0-9-]{1,31}")


def _wallet_chain(addr: str) -> str | None:
    """The chain an address of a known format belongs to, from its shape alone."""
    n = len(addr)
    first = addr[:1]
    if n == 42 and addr[:2] in ("0x", "0X") and _ETH_RE.fullmatch(addr):
        return "eth"
    low = addr[:4].lower()
    if low[:3] == "bc1":
        return "btc"
    if low == "ltc1":
        return "ltc"
    if n in (95, 106) and first in ("4", "8"):
        return "xmr"
    if n == 34 and first == "T":
        return "trx"
    if n == 42 and first in ("q", "p", "Q", "P"):
        return "bch"
    if first in ("1", "3"):
        return "btc"
    if first in ("L", "M"):
        return "ltc"
    return None


def _wallet(raw: str) -> str:
    s = raw.strip()
    if not s:
        raise NormaliseError(T.WALLET, "empty")
    tag, colon, addr = s.partition(":")
    if colon:
        addr = addr.strip()
        chain = tag.strip().lower()
        if chain == _CASHADDR_PREFIX:
            return "bch:" + _bch(s)
        chain = _CHAIN_ALIASES.get(chain, chain)
        if chain in _TOKENS:
            return _wallet(addr)
        if not addr:
            raise NormaliseError(T.WALLET, "empty address")
        check = _CHAINS.get(chain)
        if check is not None:
            return f"{chain}:{check(addr)}"
        if not _CHAIN_TAG.fullmatch(chain):
            raise NormaliseError(T.WALLET, f"bad chain name {tag[:32]!r}")
        if any(c.isspace() for c in addr):
            raise NormaliseError(T.WALLET, "whitespace in the address")
        # A chain canal does not check: kept as given, under the caller's chain.
        return f"{chain}:{addr}"
    chain_of = _wallet_chain(s)
    if chain_of is None:
        raise NormaliseError(T.WALLET, "unknown address format (give the chain as chain:address)")
    return f"{chain_of}:{_CHAINS[chain_of](s)}"


# --- onion services --------------------------------------------------------------------------

_BASE32: Final = re.compile(r"[a-z2-7]+")


def _onion(raw: str) -> str:
    s = refang(raw).lower()
    s = s.removesuffix(".")
    # Tor uses only the last label; subdomains name the same service.
    name = s[:-6].rpartition(".")[2] if s.endswith(".onion") else s
    if not name:
        raise NormaliseError(T.ONION, "empty after refanging")
    if not _BASE32.fullmatch(name):
        raise NormaliseError(T.ONION, "not base32")
    if len(name) == 56:
        decoded = base64.b32decode(name.upper())
        pubkey, checksum, version = decoded[:32], decoded[32:34], decoded[34]
        if version != 3:
            raise NormaliseError(T.ONION, f"unknown version {version}")
        expected = hashlib.sha3_256(b".onion checksum" + pubkey + b"\x03").digest()[:2]
        if checksum != expected:
            raise NormaliseError(T.ONION, "bad checksum")
    elif len(name) != 16:
        raise NormaliseError(T.ONION, "expected 56 (v3) or 16 (v2) base32 characters")
    return name + ".onion"


# --- phone numbers ---------------------------------------------------------------------------


def _phone(raw: str, region: str | None) -> str:
    s = raw.strip()
    if s[:4].lower() == "tel:":
        s = s[4:].strip()
    if not s:
        raise NormaliseError(T.PHONE, "empty")
    if region is None:
        if s.startswith("00"):
            # The ITU international prefix, used by most countries.
            s = "+" + s[2:]
        elif not s.startswith("+"):
            raise NormaliseError(T.PHONE, "no country prefix (+...) and no region given")
    try:
        number = phonenumbers.parse(s, region)
    except phonenumbers.NumberParseException as exc:
        # The library's message starts with its error number: "(1) The string ...".
        reason = str(exc).partition(") ")[2] or str(exc)
        raise NormaliseError(T.PHONE, f"not a phone number ({reason})") from None
    if not phonenumbers.is_possible_number(number):
        raise NormaliseError(T.PHONE, "not a possible number for its country")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# --- host artefacts --------------------------------------------------------------------------


def _not_empty(kind: T) -> Callable[[str], str]:
    def normalise_stripped(raw: str) -> str:
        s = raw.strip()
        if not s:
            raise NormaliseError(kind, "empty")
        return s

    return normalise_stripped


_HIVES: Final = {
    "hklm": "hkey_local_machine",
    "hkcu": "hkey_current_user",
    "hkcr": "hkey_classes_root",
    "hku": "hkey_users",
    "hkcc": "hkey_current_config",
    "hkpd": "hkey_performance_data",
}
_KERNEL_HIVES: Final = (
    ("\\registry\\machine", "hkey_local_machine"),
    ("\\registry\\user", "hkey_users"),
)
_BACKSLASHES: Final = re.compile(r"\\{2,}")


def _regkey(raw: str) -> str:
    # Windows compares key names case-insensitively.
    s = raw.strip().lower()
    if "\\\\" in s:
        s = _BACKSLASHES.sub(r"\\", s)
    for kernel, hive in _KERNEL_HIVES:
        if s == kernel or s.startswith(kernel + "\\"):
            s = hive + s[len(kernel) :]
            break
    trimmed = s.rstrip("\\").rstrip()
    while trimmed != s:
        s, trimmed = trimmed, trimmed.rstrip("\\").rstrip()
    if not s:
        raise NormaliseError(T.REGKEY, "empty")
    head, sep, rest = s.partition("\\")
    # PowerShell drives: "HKLM:\Software". Colons and blanks may alternate at the end ("0\r:",
    # "0::\r:"): trim both until neither is left, so that the result normalises to itself.
    trimmed = head.rstrip(":").rstrip()
    while trimmed != head:
        head, trimmed = trimmed, trimmed.rstrip(":").rstrip()
    key = _HIVES.get(head, head) + sep + rest
    if not key:
        raise NormaliseError(T.REGKEY, "empty")
    return key


def _user_agent(raw: str) -> str:
    s = " ".join(raw.split())
    if not s:
        raise NormaliseError(T.USER_AGENT, "empty")
    return s


_ASDOT: Final = re.compile(r"([0-9]+)\.([0-9]+)")
_DIGITS: Final = re.compile(r"[0-9]+")


def _asn(raw: str) -> str:
    s = raw.strip()
    upper = s[:3].upper()
    if upper == "ASN":
        s = s[3:]
    elif upper[:2] == "AS":
        s = s[2:]
    s = s.strip()
    m = _ASDOT.fullmatch(s)
    if m:
        # RFC 5396 asdot: high.low
        high, low = int(m.group(1)), int(m.group(2))
        if high > 65535 or low > 65535:
            raise NormaliseError(T.ASN, "asdot part out of range")
        number = high * 65536 + low
    elif _DIGITS.fullmatch(s):
        number = int(s)
    else:
        raise NormaliseError(T.ASN, "not an AS number")
    if number > 0xFFFFFFFF:
        raise NormaliseError(T.ASN, "out of range (32 bits)")
    return str(number)


# --- the entry points ------------------------------------------------------------------------

_NORMALISERS: Final[dict[str, Callable[[str], str]]] = {
    T.IPV4: _ipv4,
    T.IPV6: _ipv6,
    T.CIDR: _cidr,
    T.DOMAIN: _domain,
    T.URL: _url,
    T.EMAIL: _email,
    T.MD5: _hex_normaliser(T.MD5, 32),
    T.SHA1: _hex_normaliser(T.SHA1, 40),
    T.SHA256: _hex_normaliser(T.SHA256, 64),
    T.SHA512: _hex_normaliser(T.SHA512, 128),
    T.SSDEEP: _ssdeep,
    T.WALLET: _wallet,
    T.ONION: _onion,
    T.FILENAME: _not_empty(T.FILENAME),
    T.MUTEX: _not_empty(T.MUTEX),
    T.REGKEY: _regkey,
    T.USER_AGENT: _user_agent,
    T.JA3: _hex_normaliser(T.JA3, 32),
    T.ASN: _asn,
}


def normalise(kind: ObservableType | str, raw: str, *, region: str | None = None) -> str:
    """The stored form of `raw` as a value of type `kind`; raises NormaliseError.

    `region` (ISO 3166 alpha-2) is only used for phone numbers written without a country prefix.
    """
    # A StrEnum hashes as its value: plain strings ("ipv4") find their normaliser too.
    normaliser = _NORMALISERS.get(kind)
    if normaliser is None and kind != "phone":
        raise NormaliseError(kind, "unknown observable type")
    if not isinstance(raw, str):
        raise NormaliseError(kind, f"expected a string, got {type(raw).__name__}")
    if len(raw) > MAX_LENGTH:
        raise NormaliseError(kind, f"longer than {MAX_LENGTH} characters")
    if normaliser is None:
        return _phone(raw, region)
    return normaliser(raw)


def _normalises(kind: ObservableType, raw: str) -> bool:
    try:
        normalise(kind, raw)
    except NormaliseError:
        return False
    return True


_HEX_ANY: Final = re.compile(r"[0-9a-fA-F]+")
_IPV6_CHARS: Final = re.compile(r"\[?[0-9a-fA-F:.]+\]?")
_CIDR_CHARS: Final = re.compile(r"[0-9a-fA-F:.]+/[0-9]+")
_AS_RE: Final = re.compile(r"(?i)AS ?N?[0-9]+(?:\.[0-9]+)?")
_PHONE_RE: Final = re.compile(r"\+[0-9][0-9 ()./-]{5,}")
_HIVE_PREFIX: Final = re.compile(r"(?i)(?:hkey_[a-z_]+|hklm|hkcu|hkcr|hku|hkcc)\\")
# Last labels that name file types and are not top-level domains.
_FILE_EXTENSIONS: Final = frozenset(
    {
        *("exe", "dll", "sys", "scr", "pif", "bat", "cmd", "ps1", "psm1", "vbs", "vbe", "js"),
        *("jse", "wsf", "wsh", "hta", "lnk", "msi", "msp", "jar", "class", "apk", "ipa", "dmg"),
        *("pkg", "elf", "so", "dat", "tmp", "pdf", "doc", "docx", "docm", "xls", "xlsx", "xlsm"),
        *("ppt", "pptx", "pptm", "rtf", "odt", "txt", "csv", "log", "ini", "cfg", "iso", "img"),
        *("vhd", "vhdx", "7z", "rar", "gz", "tgz", "bz2", "xz", "tar", "cab", "html", "htm"),
        *("php", "asp", "aspx", "jsp"),
    }
    # Extensions that are also top-level domains (zip, mov, sh, py ...) are left to the domain rule.
)


def guess_type(raw: str) -> ObservableType | None:
    """The type of a value given without one (a free lookup); None when nothing fits.

    Tests run from the most specific shapes to the least: hashes by length, IP addresses,
    networks, email, URL with a scheme, onion, wallets, phone, AS numbers, registry keys, domain.
    """
    s = raw.strip()
    if not s or len(s) > MAX_LENGTH:
        return None
    if _HEX_ANY.fullmatch(s):
        by_length = {32: T.MD5, 40: T.SHA1, 64: T.SHA256, 128: T.SHA512}
        kind = by_length.get(len(s))
        if kind is not None:
            return kind
    if _SSDEEP.fullmatch(s) and s.count(":") == 2 and not s.split(":")[1].isdigit():
        return T.SSDEEP
    fanged = refang(s)
    if _IPV4_RE.fullmatch(fanged):
        return T.IPV4
    if ":" in fanged and _IPV6_CHARS.fullmatch(fanged) and _normalises(T.IPV6, fanged):
        return T.IPV6
    if _CIDR_CHARS.fullmatch(fanged) and _normalises(T.CIDR, fanged):
        return T.CIDR
    if "@" in fanged and "://" not in fanged and _normalises(T.EMAIL, fanged):
        return T.EMAIL
    if _HAS_SCHEME.match(fanged) and _normalises(T.URL, fanged):
        return T.URL
    if fanged.lower().rstrip(".").endswith(".onion") and _normalises(T.ONION, fanged):
        return T.ONION
    if (_wallet_chain(s) is not None or s.lower().startswith("bitcoincash:")) and _normalises(
        T.WALLET, s
    ):
        return T.WALLET
    if _PHONE_RE.fullmatch(s) and _normalises(T.PHONE, s):
        return T.PHONE
    if _AS_RE.fullmatch(s):
        return T.ASN
    if _HIVE_PREFIX.match(s):
        return T.REGKEY
    if s.startswith("Mozilla/"):
        return T.USER_AGENT
    if "." in fanged and "/" not in fanged and _normalises(T.DOMAIN, fanged):
        last = fanged.rstrip(".").rpartition(".")[2].lower()
        return T.FILENAME if last in _FILE_EXTENSIONS else T.DOMAIN
    return None


# --- what STIX objects yield -----------------------------------------------------------------

# A value to normalise, with the type it is taken for.
Candidate: TypeAlias = tuple[ObservableType, str]
Extractor: TypeAlias = Callable[[Mapping[str, Any]], Iterable[Candidate]]

_HASH_KEYS: Final = {
    "MD5": T.MD5,
    "SHA-1": T.SHA1,
    "SHA1": T.SHA1,
    "SHA-256": T.SHA256,
    "SHA256": T.SHA256,
    "SHA-512": T.SHA512,
    "SHA512": T.SHA512,
    "SSDEEP": T.SSDEEP,
}
_MAC: Final = re.compile(r"[0-9a-fA-F]{2}(?:[:-][0-9a-fA-F]{2}){5}")


def _ip_kind(value: str, v6: bool) -> ObservableType:
    # ipv4-addr and ipv6-addr values may be CIDR blocks; a /32 or /128 is one address.
    _, slash, prefix = value.strip().partition("/")
    if slash and prefix.strip() != ("128" if v6 else "32"):
        return T.CIDR
    return T.IPV6 if v6 else T.IPV4


def _host_kind(value: str) -> ObservableType:
    # Refanging only turns marks into punctuation: without the letters, no onion service.
    if "onion" not in value.lower():
        return T.DOMAIN
    return T.ONION if refang(value).lower().rstrip(".").endswith(".onion") else T.DOMAIN


def _address_kind(value: str) -> ObservableType | None:
    """The type of a network-traffic reference's value: an address, a network or a name."""
    s = refang(value)
    if _MAC.fullmatch(s):
        return None
    if ":" in s:
        return _ip_kind(s, v6=True)
    if s[:1].isdigit() and s.replace(".", "").replace("/", "").isdigit():
        return _ip_kind(s, v6=False)
    return _host_kind(s)


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _value_of(kind_of: Callable[[str], ObservableType | None], field: str = "value") -> Extractor:
    def extract(obj: Mapping[str, Any]) -> Iterable[Candidate]:
        value = _text(obj.get(field))
        if value is None:
            return []
        kind = kind_of(value)
        return [] if kind is None else [(kind, value)]

    return extract


def _file(obj: Mapping[str, Any]) -> Iterable[Candidate]:
    out: list[Candidate] = []
    hashes = obj.get("hashes")
    if isinstance(hashes, Mapping):
        for algorithm, digest in hashes.items():
            kind = _HASH_KEYS.get(str(algorithm).upper())
            if kind is not None and isinstance(digest, str):
                out.append((kind, digest))
    name = obj.get("name")
    if isinstance(name, str):
        out.append((T.FILENAME, name))
    return out


def _crypto_wallet(obj: Mapping[str, Any]) -> Iterable[Candidate]:
    value = obj.get("value")
    if not isinstance(value, str):
        return []
    chain = obj.get("chain")
    if isinstance(chain, str) and chain.strip() and ":" not in value:
        return [(T.WALLET, f"{chain.strip()}:{value}")]
    return [(T.WALLET, value)]


# Kinds per (object type, property path) in patterns; None where the value decides.
_ByValue = Callable[[str], ObservableType | None]
_PATH_KINDS: Final[dict[tuple[str, tuple[str, ...]], ObservableType | _ByValue]] = {
    ("ipv4-addr", ("value",)): lambda v: _ip_kind(v, v6=False),
    ("ipv6-addr", ("value",)): lambda v: _ip_kind(v, v6=True),
    ("domain-name", ("value",)): _host_kind,
    ("domain-name", ("resolves_to_refs", "*", "value")): _address_kind,
    ("url", ("value",)): T.URL,
    ("email-addr", ("value",)): T.EMAIL,
    ("email-message", ("from_ref", "value")): T.EMAIL,
    ("email-message", ("sender_ref", "value")): T.EMAIL,
    ("email-message", ("to_refs", "*", "value")): T.EMAIL,
    ("email-message", ("cc_refs", "*", "value")): T.EMAIL,
    ("email-message", ("bcc_refs", "*", "value")): T.EMAIL,
    ("network-traffic", ("src_ref", "value")): _address_kind,
    ("network-traffic", ("dst_ref", "value")): _address_kind,
    (
        "network-traffic",
        ("extensions", "http-request-ext", "request_header", "User-Agent"),
    ): T.USER_AGENT,
    ("file", ("name",)): T.FILENAME,
    ("mutex", ("name",)): T.MUTEX,
    ("windows-registry-key", ("key",)): T.REGKEY,
    ("autonomous-system", ("number",)): T.ASN,
    ("x-crypto-wallet", ("value",)): T.WALLET,
}
_HASHED_TYPES: Final = frozenset({"file", "artifact"})


def _pattern_kind(object_type: str, path: tuple[str, ...], value: str) -> ObservableType | None:
    if object_type in _HASHED_TYPES and len(path) == 2 and path[0] == "hashes":
        return _HASH_KEYS.get(path[1].upper())
    kind = _PATH_KINDS.get((object_type, path))
    if kind is None or isinstance(kind, ObservableType):
        return kind
    return kind(value)


# The common shapes of indicator patterns: observation expressions joined by AND/OR/FOLLOWEDBY,
# each a list of `path = literal` or `path IN (literals)` joined by AND/OR. Anything else goes to
# stix2-patterns.
# A quoted literal as runs of plain characters between escapes: one step per run rather than one
# alternation per character (a SHA-256 literal is 64 of them), and the same strings.
_LITERAL: Final = r"'[^'\\]*(?:\\['\\][^'\\]*)*'|-?[0-9]+"
_STEP: Final = r"(?:[A-Za-z0-9_-]+|'[^']*')"
# An object type starts with a letter, as the grammar's identifiers do ("4-addr" is no type).
_PATH: Final = rf"[a-z][a-z0-9-]*:{_STEP}(?:\.{_STEP}|\[(?:\*|[0-9]+)\])*"
_COMPARISON: Final = (
    rf"({_PATH})(?:\s*=\s*({_LITERAL})"
    rf"|\s+IN\s*\(\s*((?:{_LITERAL})(?:\s*,\s*(?:{_LITERAL}))*)\s*\))"
)
_OBSERVATION: Final = rf"\[\s*{_COMPARISON}(?:\s+(?:AND|OR)\s+{_COMPARISON})*\s*\]"
_SIMPLE_PATTERN: Final = re.compile(
    rf"\s*{_OBSERVATION}(?:\s+(?:AND|OR|FOLLOWEDBY)\s+{_OBSERVATION})*\s*"
)
_COMPARISON_RE: Final = re.compile(_COMPARISON)
# Binary, hex and timestamp literals are matched whole so that their quotes are not misread.
_LITERAL_RE: Final = re.compile(
    r"[hbt]'[^'\\]*(?:\\.[^'\\]*)*'|'([^'\\]*(?:\\.[^'\\]*)*)'|(-?[0-9]+(?:\.[0-9]+)?)"
)
_STEP_RE: Final = re.compile(r"'([^']*)'|([A-Za-z0-9_-]+)|\[(?:\*|[0-9]+)\]")
_ESCAPE: Final = re.compile(r"\\(.)")


def _literals(text: str) -> list[str]:
    out = []
    for m in _LITERAL_RE.finditer(text):
        if m.group(1) is not None:
            out.append(_ESCAPE.sub(r"\1", m.group(1)))
        elif m.group(2) is not None and "." not in m.group(2):
            out.append(m.group(2))
    return out


# Patterns repeat a handful of paths (value, hashes.'SHA-256', name): each is parsed once.
@functools.lru_cache(maxsize=4096)
def _steps(path: str) -> tuple[str, ...]:
    return tuple(
        m.group(1) if m.group(1) is not None else m.group(2) or "*" for m in _STEP_RE.finditer(path)
    )


def _pattern_comparisons(pattern: str) -> list[tuple[str, tuple[str, ...], list[str]]]:
    """(object type, property path, literals) of each `=` or `IN` comparison of a pattern."""
    if _SIMPLE_PATTERN.fullmatch(pattern):
        out = []
        for m in _COMPARISON_RE.finditer(pattern):
            object_type, _, path = m.group(1).partition(":")
            single = m.group(2)
            if single is None:  # IN (literals)
                literals = _literals(m.group(3))
            elif single[0] == "'":  # `= 'text'`, the common case: no scan for more literals
                literals = [_ESCAPE.sub(r"\1", single[1:-1]) if "\\" in single else single[1:-1]]
            else:  # `= integer`
                literals = [single]
            out.append((object_type, _steps(path), literals))
        return out
    return _inspected_comparisons(pattern)


def _inspected_comparisons(pattern: str) -> list[tuple[str, tuple[str, ...], list[str]]]:
    from stix2patterns.v21.pattern import Pattern  # noqa: PLC0415 - slow import, rare path

    try:
        comparisons = Pattern(pattern).inspect().comparisons
    except Exception:  # noqa: BLE001 - a pattern never breaks extraction
        return []
    out = []
    for object_type, items in comparisons.items():
        for path, operator, value in items:
            if operator not in ("=", "IN") or not isinstance(value, str):
                continue
            steps = tuple(step if isinstance(step, str) else "*" for step in path)
            out.append((str(object_type), steps, _literals(value)))
    return out


def _indicator(obj: Mapping[str, Any]) -> Iterable[Candidate]:
    if obj.get("pattern_type", "stix") != "stix":
        return []
    pattern = obj.get("pattern")
    if not isinstance(pattern, str) or len(pattern) > 100_000:
        return []
    out: list[Candidate] = []
    for object_type, path, literals in _pattern_comparisons(pattern):
        for literal in literals:
            kind = _pattern_kind(object_type, path, literal)
            if kind is not None:
                out.append((kind, literal))
    return out


_DIGEST_KINDS: Final = {32: T.MD5, 40: T.SHA1, 64: T.SHA256, 128: T.SHA512}


def _onion_host(url: str) -> str | None:
    """The host of a URL when it is an onion service (leak sites and chats are)."""
    m = _URL_RE.fullmatch(refang(url).strip())
    if m is None:
        return None
    host = m.group(2).rpartition("@")[2].partition(":")[0].lower().removesuffix(".")
    return host if host.endswith(".onion") else None


def _incident(obj: Mapping[str, Any]) -> Iterable[Candidate]:
    """What links ransomware incidents (R30): wallets, leak-site and negotiation URLs and
    their onion services, contact e-mails, the ransom note hash."""
    ext = ransomware_extension(obj)
    extortion = ext.get("extortion") if ext is not None else None
    if not isinstance(extortion, Mapping):
        return []
    out: list[Candidate] = []
    wallets = extortion.get("wallet_addresses")
    for wallet in wallets if isinstance(wallets, list) else ():
        if isinstance(wallet, Mapping):
            chain, address = wallet.get("chain"), wallet.get("address")
            if isinstance(chain, str) and isinstance(address, str):
                out.append((T.WALLET, f"{chain}:{address}"))
    for key in ("leak_site_url", "negotiation_url"):
        url = extortion.get(key)
        if isinstance(url, str):
            out.append((T.URL, url))
            host = _onion_host(url)
            if host is not None:
                out.append((T.ONION, host))
    emails = extortion.get("contact_emails")
    out.extend(
        (T.EMAIL, e) for e in (emails if isinstance(emails, list) else ()) if isinstance(e, str)
    )
    digest = extortion.get("ransom_note_hash")
    if isinstance(digest, str) and len(digest.strip()) in _DIGEST_KINDS:
        out.append((_DIGEST_KINDS[len(digest.strip())], digest))
    return out


# STIX type -> extractor. Other modules may add theirs: EXTRACTORS["x-type"] = extract.
EXTRACTORS: dict[str, Extractor] = {
    "ipv4-addr": _value_of(lambda v: _ip_kind(v, v6=False)),
    "ipv6-addr": _value_of(lambda v: _ip_kind(v, v6=True)),
    "domain-name": _value_of(_host_kind),
    "url": _value_of(lambda _: T.URL),
    "email-addr": _value_of(lambda _: T.EMAIL),
    "file": _file,
    "mutex": _value_of(lambda _: T.MUTEX, "name"),
    "windows-registry-key": _value_of(lambda _: T.REGKEY, "key"),
    "autonomous-system": _value_of(lambda _: T.ASN, "number"),
    "x-crypto-wallet": _crypto_wallet,
    "indicator": _indicator,
    "incident": _incident,
}


def _collect(candidates: Iterable[Candidate], where: str) -> tuple[list[Observable], list[str]]:
    seen: set[Observable] = set()
    found: list[Observable] = []
    problems: list[str] = []
    for kind, raw in candidates:
        try:
            observable = Observable(kind, normalise(kind, raw))
        except NormaliseError as exc:
            shown = raw if len(raw) <= 80 else raw[:77] + "..."
            problems.append(f"{where} {shown!r}: {exc}")
            continue
        if observable not in seen:
            seen.add(observable)
            found.append(observable)
    return found, problems


def observables_with_problems(obj: Mapping[str, Any]) -> tuple[list[Observable], list[str]]:
    """The observables of a STIX object, and a message for each value that did not normalise."""
    stix_type = obj.get("type")
    extractor = EXTRACTORS.get(stix_type) if isinstance(stix_type, str) else None
    if extractor is None:
        return [], []
    return _collect(extractor(obj), str(obj.get("id", stix_type)))


def observables_of(obj: Mapping[str, Any]) -> list[Observable]:
    """The observables of a STIX object; values that do not normalise are left out."""
    return observables_with_problems(obj)[0]


# --- MISP attributes -------------------------------------------------------------------------


def _misp_ip(value: str) -> ObservableType:
    return _ip_kind(value, v6=":" in value)


_MISP_SINGLE: Final[dict[str, ObservableType | Callable[[str], ObservableType | None]]] = {
    "ip-src": _misp_ip,
    "ip-dst": _misp_ip,
    "domain": _host_kind,
    "hostname": _host_kind,
    "url": T.URL,
    "uri": T.URL,
    "link": T.URL,
    "email": T.EMAIL,
    "email-src": T.EMAIL,
    "email-dst": T.EMAIL,
    "email-reply-to": T.EMAIL,
    "target-email": T.EMAIL,
    "whois-registrant-email": T.EMAIL,
    "md5": T.MD5,
    "sha1": T.SHA1,
    "sha256": T.SHA256,
    "sha512": T.SHA512,
    "ssdeep": T.SSDEEP,
    "phone-number": T.PHONE,
    "whois-registrant-phone": T.PHONE,
    "mutex": T.MUTEX,
    "regkey": T.REGKEY,
    "user-agent": T.USER_AGENT,
    "ja3-fingerprint-md5": T.JA3,
    "AS": T.ASN,
    "filename": T.FILENAME,
    "btc": T.WALLET,
    "xmr": T.WALLET,
    "dash": T.WALLET,
}
# MISP wallet types carry no chain in the value.
_MISP_CHAINS: Final = {"btc": "btc", "xmr": "xmr", "dash": "dash"}
# Composite types ("a|b"): the type of each part; None drops the part.
_MISP_COMPOSITE: Final[dict[str, tuple[str | None, str | None]]] = {
    "ip-src|port": ("ip-src", None),
    "ip-dst|port": ("ip-dst", None),
    "hostname|port": ("hostname", None),
    "domain|ip": ("domain", "ip-dst"),
    "regkey|value": ("regkey", None),
    "malware-sample": ("filename", "md5"),
    "filename|md5": ("filename", "md5"),
    "filename|sha1": ("filename", "sha1"),
    "filename|sha256": ("filename", "sha256"),
    "filename|sha512": ("filename", "sha512"),
    "filename|ssdeep": ("filename", "ssdeep"),
}


def _misp_candidates(misp_type: str, value: str) -> list[Candidate]:
    composite = _MISP_COMPOSITE.get(misp_type)
    if composite is not None:
        # Registry data may hold '|'; hashes, ports and addresses never do.
        left, bar, right = (
            value.partition("|") if misp_type == "regkey|value" else value.rpartition("|")
        )
        if not bar:
            left, right = value, ""
        out = []
        for part_type, part in zip(composite, (left, right), strict=True):
            if part_type is not None and part:
                out.extend(_misp_candidates(part_type, part))
        return out
    kind = _MISP_SINGLE.get(misp_type)
    if kind is None:
        return []
    if not isinstance(kind, ObservableType):
        resolved = kind(value)
        return [] if resolved is None else [(resolved, value)]
    chain = _MISP_CHAINS.get(misp_type)
    if chain is not None and ":" not in value:
        return [(kind, f"{chain}:{value.strip()}")]
    return [(kind, value)]


def observable_of_misp_attribute(misp_type: str, value: str) -> list[Observable]:
    """The observables of one MISP attribute (composite types give one per part that maps)."""
    if not isinstance(value, str):
        return []
    return _collect(_misp_candidates(misp_type, value), misp_type)[0]
