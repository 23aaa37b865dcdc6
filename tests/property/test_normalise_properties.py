"""Normalisation properties: idempotence for every type, on valid values and on junk, and equal
values written differently (case, defanging, trailing dots, default ports, IPv6 zero compression,
checksum case, hive abbreviations ...) normalising to one string."""

from __future__ import annotations

import base64
import hashlib
import ipaddress

import base58
import phonenumbers
import pytest
from Crypto.Hash import keccak
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from canal.analysis import observables as obs
from canal.analysis.observables import NormaliseError, ObservableType, normalise

T = ObservableType
SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- small encoders, to generate valid wallet addresses and onion names -----------------------

BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def bech32_address(hrp: str, version: int, program: bytes) -> str:
    data = [version, *obs._convert_bits(program, 8, 5, pad=True)]
    const = obs._BECH32M_CONST if version else obs._BECH32_CONST
    polymod = obs._bech32_polymod([*obs._bech32_hrp_expand(hrp), *data, 0, 0, 0, 0, 0, 0]) ^ const
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(BECH32[d] for d in data + checksum)


def keccak256(data: bytes) -> bytes:
    return keccak.new(digest_bits=256, data=data).digest()


def monero_address(network: int, keys: bytes) -> str:
    data = bytes([network]) + keys
    data += keccak256(data)[:4]
    sizes = {0: 0, 1: 2, 2: 3, 3: 5, 4: 6, 5: 7, 6: 9, 7: 10, 8: 11}
    out = []
    for i in range(0, len(data), 8):
        block = data[i : i + 8]
        value = int.from_bytes(block, "big")
        chars = []
        for _ in range(sizes[len(block)]):
            value, digit = divmod(value, 58)
            chars.append(BASE58[digit])
        out.append("".join(reversed(chars)))
    return "".join(out)


def eip55(hex40: str) -> str:
    digest = keccak256(hex40.encode()).hex()
    return "".join(c.upper() if int(h, 16) >= 8 else c for c, h in zip(hex40, digest, strict=False))


def onion_v3(pubkey: bytes) -> str:
    checksum = hashlib.sha3_256(b".onion checksum" + pubkey + b"\x03").digest()[:2]
    return base64.b32encode(pubkey + checksum + b"\x03").decode().lower()


# --- notation variants ------------------------------------------------------------------------


@st.composite
def case_variant(draw, text: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(c.swapcase() if f else c for c, f in zip(text, flips, strict=True))


@st.composite
def defanged_dots(draw, text: str) -> str:
    parts = text.split(".")
    out = parts[0]
    for part in parts[1:]:
        out += (
            draw(st.sampled_from([".", ".", "[.]", "(.)", "{.}", "[dot]", "(DOT)", "\\."])) + part
        )
    return out


def padded(text: str) -> st.SearchStrategy[str]:
    return st.tuples(
        st.sampled_from(["", " ", "\t", "\n "]), st.sampled_from(["", " ", "\r\n"])
    ).map(lambda ends: ends[0] + text + ends[1])


LABEL = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
UNICODE_LABEL = st.text(alphabet="abcxyzäöüéèàçñå", min_size=1, max_size=12)
TLD = st.from_regex(r"[a-z]{2,6}", fullmatch=True)
DOMAINS = st.builds(
    lambda labels, tld: ".".join([*labels, tld]),
    st.lists(st.one_of(LABEL, UNICODE_LABEL), min_size=1, max_size=3),
    TLD,
)


@st.composite
def domain_notations(draw):
    domain = draw(DOMAINS)
    variant = draw(case_variant(domain))
    variant = draw(defanged_dots(variant))
    if draw(st.booleans()):
        variant += "."
    return domain, draw(padded(variant))


PATH_CHARS = "abcXYZ019-._~!$&'*+,;=:@"


@st.composite
def url_notations(draw):
    scheme = draw(st.sampled_from(["http", "https"]))
    host = draw(DOMAINS)
    port = draw(st.sampled_from([None, None, 8080, 8443, 21]))
    segments = draw(st.lists(st.text(alphabet=PATH_CHARS, max_size=8), max_size=3))
    path = "".join("/" + s for s in segments)
    query = draw(
        st.one_of(st.just(""), st.text(alphabet="abc=&%2F", max_size=10).map(lambda q: "?" + q))
    )
    canonical = f"{scheme}://{host}{'' if port is None else f':{port}'}{path}{query}"

    variant_scheme = draw(case_variant(scheme))
    if draw(st.booleans()):
        variant_scheme = draw(st.sampled_from(["hxxp", "hXXp", "h**p"])) + scheme[4:]
    variant_host = draw(defanged_dots(draw(case_variant(host))))
    if draw(st.booleans()):
        variant_host += "."
    if port is None and draw(st.booleans()):
        variant_port = ":80" if scheme == "http" else ":443"
    elif port is not None:
        variant_port = f":{draw(st.sampled_from(['', '0', '00']))}{port}"
    else:
        variant_port = ""
    # Percent-encode some unreserved characters (either hex case).
    encoded = []
    for c in path:
        if c.isalnum() and draw(st.integers(0, 4)) == 0:
            code = f"{ord(c):02x}"
            encoded.append("%" + draw(st.sampled_from([code, code.upper()])))
        else:
            encoded.append(c)
    variant_path = "".join(encoded)
    if not variant_path and not query and draw(st.booleans()):
        variant_path = "/"
    fragment = draw(st.sampled_from(["", "#", "#top", "#a/b?c"]))
    separator = draw(st.sampled_from(["://", "[://]", "[:]//"]))
    variant = (
        f"{variant_scheme}{separator}{variant_host}{variant_port}{variant_path}{query}{fragment}"
    )
    return canonical, draw(padded(variant))


LOCAL = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,15}", fullmatch=True)


@st.composite
def email_notations(draw):
    local, domain = draw(LOCAL), draw(DOMAINS)
    variant_domain = draw(defanged_dots(draw(case_variant(domain))))
    at = draw(st.sampled_from(["@", "@", "[at]", "(at)", "[@]", "{at}"]))
    variant = f"{local}{at}{variant_domain}"
    form = draw(st.integers(0, 2))
    if form == 1:
        variant = "mailto:" + variant
    elif form == 2:
        variant = f"Someone <{variant}>"
    return f"{local}@{domain}", draw(padded(variant))


@st.composite
def ipv4_notations(draw):
    address = str(draw(st.ip_addresses(v=4)))
    variant = draw(defanged_dots(address))
    if draw(st.booleans()):
        variant += "/32"
    return address, draw(padded(variant))


def ipv6_forms(address: ipaddress.IPv6Address) -> list[str]:
    groups = address.exploded.split(":")
    forms = [
        address.compressed,
        address.exploded,
        address.exploded.upper(),
        ":".join(g.lstrip("0") or "0" for g in groups),
        address.compressed.upper(),
        f"[{address.compressed}]",
    ]
    mapped = address.ipv4_mapped
    if mapped is not None:
        forms.append(f"::ffff:{mapped}")
        forms.append(f"0:0:0:0:0:FFFF:{mapped}")
    return forms


@st.composite
def ipv6_notations(draw):
    address = draw(
        st.one_of(
            st.ip_addresses(v=6),
            st.ip_addresses(v=4).map(lambda a: ipaddress.IPv6Address(f"::ffff:{a}")),
            # Addresses with runs of zero groups of different lengths.
            st.lists(st.sampled_from([0, 0, 0, 1, 0xDB8, 0xFFFF]), min_size=8, max_size=8).map(
                lambda g: ipaddress.IPv6Address(":".join(f"{x:x}" for x in g))
            ),
        )
    )
    variant = draw(st.sampled_from(ipv6_forms(address)))
    if draw(st.booleans()) and not variant.startswith("["):
        variant += "/128"
    return address.compressed, draw(padded(variant))


@st.composite
def cidr_notations(draw):
    v6 = draw(st.booleans())
    address = draw(st.ip_addresses(v=6 if v6 else 4))
    length = draw(st.integers(0, 128 if v6 else 32))
    net = ipaddress.ip_network(f"{address}/{length}", strict=False)
    if v6:
        variant = draw(st.sampled_from(ipv6_forms(net.network_address))).strip("[]") + f"/{length}"
    elif draw(st.booleans()):
        variant = f"{net.network_address}/{net.netmask}"
    else:
        variant = draw(defanged_dots(str(net.network_address))) + f"/{length}"
    return str(net), draw(padded(variant))


def hex_notations(size: int):
    @st.composite
    def notations(draw):
        value = draw(st.binary(min_size=size, max_size=size)).hex()
        return value, draw(padded(draw(case_variant(value))))

    return notations()


@st.composite
def wallet_notations(draw):
    kind = draw(st.sampled_from(["btc58", "segwit", "eth", "xmr", "bch", "ltc", "trx"]))
    payload = draw(st.binary(min_size=20, max_size=20))
    if kind == "btc58":
        address = base58.b58encode_check(bytes([draw(st.sampled_from([0, 5]))]) + payload).decode()
        canonical = f"btc:{address}"
        variants = [
            address,
            f"btc:{address}",
            f"BTC:{address}",
            f"bitcoin:{address}",
            f" btc : {address}",
        ]
    elif kind == "segwit":
        version = draw(st.sampled_from([0, 0, 1]))
        program = (
            payload
            if version == 0 and draw(st.booleans())
            else draw(st.binary(min_size=32, max_size=32))
        )
        address = bech32_address("bc", version, program)
        canonical = f"btc:{address}"
        variants = [address, address.upper(), f"btc:{address.upper()}", f"bitcoin:{address}"]
    elif kind == "eth":
        digits = payload.hex()
        canonical = f"eth:0x{digits}"
        variants = [
            f"0x{digits}",
            f"0x{eip55(digits)}",
            f"0X{digits.upper()}",
            f"eth:{digits}",
            f"ethereum:0x{eip55(digits)}",
            f"bsc:0x{digits}",
        ]
    elif kind == "xmr":
        keys = draw(st.binary(min_size=64, max_size=64))
        address = monero_address(draw(st.sampled_from([18, 42])), keys)
        canonical = f"xmr:{address}"
        variants = [address, f"xmr:{address}", f"Monero:{address}"]
    elif kind == "bch":
        kind_bits = draw(st.sampled_from([0, 1]))
        legacy = base58.b58encode_check(bytes([0 if kind_bits == 0 else 5]) + payload).decode()
        cash = obs._cashaddr_encode(kind_bits, payload)
        canonical = f"bch:{cash}"
        variants = [
            f"bch:{legacy}",
            f"bitcoincash:{cash}",
            f"BITCOINCASH:{cash.upper()}",
            cash,
            f"bch:bitcoincash:{cash}",
        ]
    elif kind == "ltc":
        address = base58.b58encode_check(
            bytes([draw(st.sampled_from([0x30, 0x32]))]) + payload
        ).decode()
        canonical = f"ltc:{address}"
        variants = [address, f"litecoin:{address}"]
    else:
        address = base58.b58encode_check(b"\x41" + payload).decode()
        canonical = f"trx:{address}"
        variants = [address, f"tron:{address}", f"usdt:{address}", f"TRC20:{address}"]
    return canonical, draw(padded(draw(st.sampled_from(variants))))


@st.composite
def onion_notations(draw):
    name = onion_v3(draw(st.binary(min_size=32, max_size=32)))
    variant = draw(case_variant(name))
    suffix = draw(st.sampled_from([".onion", ".onion", ".ONION.", "[.]onion", ""]))
    prefix = draw(st.sampled_from(["", "www.", "a.b."])) if suffix else ""
    return f"{name}.onion", draw(padded(prefix + variant + suffix))


PHONE_REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
PHONE_TYPES = [
    phonenumbers.PhoneNumberType.FIXED_LINE,
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.TOLL_FREE,
]


@st.composite
def phone_notations(draw):
    region = draw(st.sampled_from(PHONE_REGIONS))
    number = phonenumbers.example_number_for_type(region, draw(st.sampled_from(PHONE_TYPES)))
    assume(number is not None and phonenumbers.is_possible_number(number))
    formats = phonenumbers.PhoneNumberFormat
    e164 = phonenumbers.format_number(number, formats.E164)
    international = phonenumbers.format_number(number, formats.INTERNATIONAL)
    variants = [
        (e164, None),
        (international, None),
        (phonenumbers.format_number(number, formats.RFC3966), None),
        ("00" + international[1:], None),
        (international, region),
        (phonenumbers.format_number(number, formats.NATIONAL), region),
    ]
    raw, given_region = draw(st.sampled_from(variants))
    return e164, draw(padded(raw)), given_region


HIVES = [
    ("HKEY_LOCAL_MACHINE", "HKLM"),
    ("HKEY_CURRENT_USER", "HKCU"),
    ("HKEY_CLASSES_ROOT", "HKCR"),
    ("HKEY_USERS", "HKU"),
    ("HKEY_CURRENT_CONFIG", "HKCC"),
]


@st.composite
def regkey_notations(draw):
    full, short = draw(st.sampled_from(HIVES))
    segments = draw(
        st.lists(
            st.from_regex(r"[A-Za-z0-9_. -]{0,9}[A-Za-z0-9_.-]", fullmatch=True),
            min_size=1,
            max_size=4,
        )
    )
    canonical = "\\".join([full, *segments]).lower()
    hive = draw(st.sampled_from([full, short, short + ":", full.lower(), short.lower()]))
    separator = draw(st.sampled_from(["\\", "\\\\"]))
    variant = separator.join(
        [hive, *draw(st.sampled_from([segments, [s.upper() for s in segments]]))]
    )
    if draw(st.booleans()):
        variant += "\\"
    return canonical, draw(padded(variant))


@st.composite
def user_agent_notations(draw):
    words = draw(
        st.lists(
            st.from_regex(r"[A-Za-z0-9/.();,_-]{1,10}", fullmatch=True), min_size=1, max_size=8
        )
    )
    gaps = draw(
        st.lists(
            st.sampled_from([" ", "  ", "\t", " \n "]),
            min_size=len(words) - 1,
            max_size=len(words) - 1,
        )
    )
    variant = words[0] + "".join(g + w for g, w in zip(gaps, words[1:], strict=True))
    return " ".join(words), draw(padded(variant))


@st.composite
def asn_notations(draw):
    number = draw(st.integers(0, 2**32 - 1))
    forms = [str(number), f"AS{number}", f"as{number}", f"ASN {number}", f"AS 00{number}"]
    if number >= 65536:
        forms.append(f"AS{number >> 16}.{number & 0xFFFF}")
    return str(number), draw(padded(draw(st.sampled_from(forms))))


@st.composite
def stripped_notations(draw):
    text = draw(st.text(min_size=1, max_size=30).map(str.strip).filter(bool))
    return text, draw(padded(text))


@st.composite
def ssdeep_notations(draw):
    chars = "ABCabc019+/"
    block_size = draw(st.integers(3, 100000))
    value = f"{block_size}:{draw(st.text(chars, max_size=20))}:{draw(st.text(chars, max_size=10))}"
    return value, draw(padded(value))


NOTATIONS = {
    T.DOMAIN: domain_notations(),
    T.URL: url_notations(),
    T.EMAIL: email_notations(),
    T.IPV4: ipv4_notations(),
    T.IPV6: ipv6_notations(),
    T.CIDR: cidr_notations(),
    T.MD5: hex_notations(16),
    T.SHA1: hex_notations(20),
    T.SHA256: hex_notations(32),
    T.SHA512: hex_notations(64),
    T.JA3: hex_notations(16),
    T.SSDEEP: ssdeep_notations(),
    T.WALLET: wallet_notations(),
    T.ONION: onion_notations(),
    T.REGKEY: regkey_notations(),
    T.USER_AGENT: user_agent_notations(),
    T.ASN: asn_notations(),
    T.FILENAME: stripped_notations(),
    T.MUTEX: stripped_notations(),
}


def test_every_type_is_covered():
    assert set(NOTATIONS) | {T.PHONE} == set(ObservableType)


@pytest.mark.parametrize("kind", list(NOTATIONS), ids=str)
@SETTINGS
@given(data=st.data())
def test_equivalent_notations_normalise_to_one_value(kind, data):
    canonical, variant = data.draw(NOTATIONS[kind])
    expected = normalise(kind, canonical)
    assert normalise(kind, variant) == expected
    assert normalise(kind, expected) == expected


@SETTINGS
@given(notation=phone_notations())
def test_phone_notations_normalise_to_e164(notation):
    e164, raw, region = notation
    assert normalise(T.PHONE, raw, region=region) == e164
    assert normalise(T.PHONE, e164) == e164


# Junk near each type's alphabet, to reach the error paths and the odd corners.
NEAR_ALPHABET = "abcXYZ0189.:/-_@[]()%#?=&\\ \t+,;'\"<>{}*~!äé。"


def junk() -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(max_size=40),
        st.text(alphabet=NEAR_ALPHABET, max_size=40),
        st.sampled_from(
            ["[", "]", "[[.]]", "hxxp", "%", "%%616", "::", "0x", "bc1", "AS", "HKLM:"]
        ),
    )


def _normalised_or_none(kind: ObservableType, raw: str) -> str | None:
    try:
        return normalise(kind, raw)
    except NormaliseError:
        return None


@pytest.mark.parametrize("kind", list(ObservableType), ids=str)
@SETTINGS
@given(data=st.data())
def test_normalise_is_idempotent(kind, data):
    sources = [junk()]
    if kind in NOTATIONS:
        sources.append(NOTATIONS[kind].map(lambda pair: pair[1]))
        # Valid values with junk spliced in.
        sources.append(
            st.tuples(NOTATIONS[kind], junk(), st.integers(0, 60)).map(
                lambda t: t[0][1][: t[2]] + t[1] + t[0][1][t[2] :]
            )
        )
    else:
        sources.append(phone_notations().map(lambda n: n[1]))
    raw = data.draw(st.one_of(sources))
    once = _normalised_or_none(kind, raw)
    if once is not None:
        assert normalise(kind, once) == once, (raw, once)


# --- the stored-domain shortcut ------------------------------------------------------------------

# Near-domains: the characters a stored domain may hold, and those that make one differ (case,
# dots at either end, hyphens at label ends, digits-only top labels, punycode prefixes, defanging).
_DOMAIN_SOUP = st.lists(
    st.sampled_from(
        [
            "a",
            "z",
            "0",
            "9",
            "_",
            "-",
            ".",
            "..",
            "A",
            "xn--",
            "xn--mnchen-3ya",
            "[.]",
            " ",
            "é",
            "*",
            "com",
            "1",
            "q" * 63,
            "r" * 64,
        ]
    ),
    min_size=1,
    max_size=12,
).map("".join)


def _full_walk(raw: str) -> str | None:
    try:
        return obs._host(T.DOMAIN, obs.refang(raw))
    except NormaliseError as exc:
        return f"error: {exc}"


@SETTINGS
@given(_DOMAIN_SOUP)
def test_the_stored_domain_shortcut_answers_as_the_full_walk(raw: str) -> None:
    try:
        fast: str | None = normalise(T.DOMAIN, raw)
    except NormaliseError as exc:
        fast = f"error: {exc}"
    assert fast == _full_walk(raw)


@pytest.mark.parametrize(
    "raw",
    ["a.b", "x0123.net", "a_b.example-1.org", "1.2.3.a4", f"{'q' * 63}.com", "a-1.b"],
)
def test_the_stored_domain_shortcut_takes_stored_domains_as_they_are(raw: str) -> None:
    assert obs._is_stored_domain(raw)
    assert normalise(T.DOMAIN, raw) == raw == _full_walk(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "a",
        "a.1",
        "-a.com",
        "a-.com",
        "a.-com",
        "a..com",
        "A.com",
        "a.com.",
        f"{'r' * 64}.com",
        f"a.{'r' * 64}",
        f"{'q' * 63}.{'r' * 64}.com",
        "xn--mnchen-3ya.de",
        ".".join(["a" * 63] * 4) + ".de",
    ],
)
def test_the_stored_domain_shortcut_leaves_the_rest_to_the_full_walk(raw: str) -> None:
    assert not obs._is_stored_domain(raw)
