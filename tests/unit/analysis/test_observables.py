"""Normalisation per observable type, type guessing, and the observables of STIX objects and MISP
attributes."""

from __future__ import annotations

import base58
import pytest
from Crypto.Hash import keccak

from canal.analysis import observables as obs
from canal.analysis.observables import (
    EXTRACTORS,
    NormaliseError,
    Observable,
    ObservableType,
    guess_type,
    normalise,
    observable_of_misp_attribute,
    observables_of,
    observables_with_problems,
    refang,
)

T = ObservableType
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
EMPTY_SHA512 = (
    "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
    "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
)

# Notations of one value, and the stored form they must all give.
EQUIVALENT = [
    (T.DOMAIN, ["EVIL.com.", "evil[.]com", "evil(.)com", "evil[dot]com", " evil.com "], "evil.com"),
    (
        T.DOMAIN,
        ["Bücher.example", "BÜCHER.example.", "xn--bcher-kva.example"],
        "xn--bcher-kva.example",
    ),
    (T.DOMAIN, ["ÉXAMPLE。com", "éxample.com"], "xn--xample-9ua.com"),
    (T.DOMAIN, ["_dmarc.Example.COM"], "_dmarc.example.com"),
    (
        T.URL,
        [
            "hxxp://Evil.com:80/",
            "http://evil.com",
            "HTTP://EVIL.COM/#top",
            "evil[.]com",
            "hXXp[:]//evil.com",
        ],
        "http://evil.com/",
    ),
    (
        T.URL,
        [
            "https://Evil.com:443/a%7eb%2fc?Q=1#f",
            "hxxps://evil[.]com/a~b%2Fc?Q=1",
            "HTTPS://EVIL.COM/%61~b%2fc?Q=1",
        ],
        "https://evil.com/a~b%2Fc?Q=1",
    ),
    (T.URL, ["http://evil.com:8080/x", "http://EVIL.com:08080/x"], "http://evil.com:8080/x"),
    (T.URL, ["http://[2001:DB8::1]:80/", "http://[2001:db8:0:0::1]/"], "http://[2001:db8::1]/"),
    (T.URL, ["http://evil.com/päth", "http://evil.com/p%c3%a4th"], "http://evil.com/p%C3%A4th"),
    (T.URL, ["http://evil.com/a b", "http://evil.com/a%20b"], "http://evil.com/a%20b"),
    (T.URL, ["http://user:Pw@Evil.com:80/"], "http://user:Pw@evil.com/"),
    (T.URL, ["http://evil.com/?", "http://evil.com?"], "http://evil.com/?"),
    (T.URL, ["http://Bücher.example/"], "http://xn--bcher-kva.example/"),
    (T.IPV4, ["8.8.8.8", " 8.8.8.8 ", "8[.]8[.]8[.]8", "8.8.8.8/32"], "8.8.8.8"),
    (
        T.IPV6,
        [
            "2001:DB8::1",
            "2001:db8:0:0::1",
            "2001:0db8:0000:0000:0000:0000:0000:0001",
            "[2001:db8::1]",
        ],
        "2001:db8::1",
    ),
    (T.IPV6, ["::FFFF:1.2.3.4", "::ffff:102:304", "0:0:0:0:0:ffff:0102:0304"], "::ffff:1.2.3.4"),
    (T.CIDR, ["10.0.0.0/8", "10[.]0.0.0/8", "10.0.0.0/255.0.0.0"], "10.0.0.0/8"),
    (T.CIDR, ["2001:DB8::/32", "2001:0db8:0:0::/32"], "2001:db8::/32"),
    (T.CIDR, ["1.2.3.4", "1.2.3.4/32"], "1.2.3.4/32"),
    (
        T.EMAIL,
        ["John.Doe@EVIL.com", "John.Doe[at]evil[.]com", "<John.Doe@evil.com.>"],
        "John.Doe@evil.com",
    ),
    (
        T.EMAIL,
        ["mailto:a@Bücher.example", "Someone <a@xn--bcher-kva.example>"],
        "a@xn--bcher-kva.example",
    ),
    (
        T.MD5,
        ["D41D8CD98F00B204E9800998ECF8427E", " d41d8cd98f00b204e9800998ecf8427e\n"],
        "d41d8cd98f00b204e9800998ecf8427e",
    ),
    (
        T.SHA1,
        ["DA39A3EE5E6B4B0D3255BFEF95601890AFD80709"],
        "da39a3ee5e6b4b0d3255bfef95601890afd80709",
    ),
    (
        T.SSDEEP,
        [" 3:AXGBicFlgVNhBGcL6wCrFQEv:AXGHsNhxLsr2C \n"],
        "3:AXGBicFlgVNhBGcL6wCrFQEv:AXGHsNhxLsr2C",
    ),
    (
        T.ONION,
        [
            "duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion",
            "DuckDuckGoGG42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.ONION.",
            "www.duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad[.]onion",
            "duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad",
        ],
        "duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion",
    ),
    (T.ONION, ["FacebookCoreWWWi.onion"], "facebookcorewwwi.onion"),
    (
        T.PHONE,
        ["+44 20 7946 0958", "0044 20 7946 0958", "tel:+44-20-7946-0958", "+44 (0)20 7946 0958"],
        "+442079460958",
    ),
    (T.PHONE, ["+1 (202) 555-0143", "+1.202.555.0143"], "+12025550143"),
    (T.PHONE, ["+39 06 1234 5678"], "+390612345678"),
    (T.FILENAME, ["  Invoice.PDF.exe "], "Invoice.PDF.exe"),
    (T.MUTEX, [" Global\\MyMutex "], "Global\\MyMutex"),
    (
        T.REGKEY,
        [
            "HKLM\\Software\\Microsoft\\Windows\\CurrentVersion\\Run",
            "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run\\",
            "hklm:\\software\\microsoft\\windows\\currentversion\\run",
            "\\REGISTRY\\MACHINE\\Software\\Microsoft\\Windows\\CurrentVersion\\Run",
            "HKLM\\\\Software\\\\Microsoft\\\\Windows\\\\CurrentVersion\\\\Run",
        ],
        "hkey_local_machine\\software\\microsoft\\windows\\currentversion\\run",
    ),
    (T.REGKEY, ["HKCU\\Environment"], "hkey_current_user\\environment"),
    # Colons and blanks alternating before the end (found by the property test).
    (T.REGKEY, ["0\r:", "0::\r:", "0 : :"], "0"),
    (
        T.USER_AGENT,
        ["Mozilla/5.0  (Windows NT 10.0;\tWin64)", " Mozilla/5.0 (Windows NT 10.0; Win64)\n"],
        "Mozilla/5.0 (Windows NT 10.0; Win64)",
    ),
    (T.JA3, ["E7D705A3286E19EA42F587B344EE6865"], "e7d705a3286e19ea42f587b344ee6865"),
    (T.ASN, ["AS15169", "as15169", "ASN 15169", "15169", "015169"], "15169"),
    (T.ASN, ["AS1.10", "65546"], "65546"),
]


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [(kind, raw, expected) for kind, raws, expected in EQUIVALENT for raw in raws],
)
def test_notations_normalise_to_one_form(kind, raw, expected):
    assert normalise(kind, raw) == expected
    assert normalise(kind, expected) == expected  # idempotent


# (type, raw, what the message must say after "type: ")
INVALID = [
    (T.DOMAIN, "", "empty after refanging"),
    (T.DOMAIN, "[.]", "empty"),
    (T.DOMAIN, "*.evil.com", "wildcard"),
    (T.DOMAIN, "evil..com", "empty label"),
    (T.DOMAIN, "evil", "at least two labels"),
    (T.DOMAIN, "1.2.3.4", "numeric top-level label"),
    (T.DOMAIN, "-evil.com", "hyphen"),
    (T.DOMAIN, "ev il.com", "invalid character"),
    (T.DOMAIN, "a" * 64 + ".com", "longer than 63"),
    (T.DOMAIN, "xn--zz.com", "IDNA"),
    (T.DOMAIN, "i❤.ws", "internationalised"),
    (T.URL, "", "empty"),
    (T.URL, "http:///path", "no host"),
    (T.URL, "http://evil.com:99999/", "bad port"),
    (T.URL, "http://[::1/", "unclosed"),
    (T.URL, "http://01.2.3.4/", "leading zeros"),
    (T.IPV4, "1.2.3", "not an address"),
    (T.IPV4, "01.2.3.4", "leading zeros"),
    (T.IPV4, "256.1.1.1", "out of range"),
    (T.IPV4, "10.0.0.0/8", "use cidr"),
    (T.IPV4, "1.2.3.4:80", "not an address"),
    (T.IPV6, "2001:db8::g", "not an address"),
    (T.IPV6, "fe80::1%eth0", "zone index"),
    (T.IPV6, "2001:db8::/32", "use cidr"),
    (T.CIDR, "10.1.2.3/8", "host bits set (the network is 10.0.0.0/8)"),
    (T.CIDR, "10.0.0.0/33", "not a network"),
    (T.CIDR, "10.0.0.0/x", "not a number"),
    (T.CIDR, "10.0.0.0/255.0.255.0", "not contiguous"),
    (T.EMAIL, "no-at-sign.com", "no '@'"),
    (T.EMAIL, "@evil.com", "empty local part"),
    (T.EMAIL, "a b@evil.com", "invalid local part"),
    (T.EMAIL, "a@localhost", "domain needs at least two labels"),
    (T.MD5, "abc", "expected 32 hexadecimal digits, got 3"),
    (T.MD5, "z" * 32, "not hexadecimal"),
    (T.SHA1, "a" * 41, "expected 40"),
    (T.SHA256, "a" * 63, "expected 64"),
    (T.SHA512, "a" * 64, "expected 128"),
    (T.SSDEEP, "not ssdeep", "blocksize:hash:hash"),
    (T.WALLET, "", "empty"),
    (T.WALLET, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb", "bad checksum"),
    (T.WALLET, "hello", "unknown address format"),
    (T.WALLET, "d!ge:abc", "bad chain name"),
    (T.WALLET, "doge:", "empty address"),
    (T.ONION, "duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzcza.onion", "expected 56"),
    (T.ONION, "duckduck1.onion", "not base32"),
    (T.PHONE, "020 7946 0958", "no country prefix"),
    (T.PHONE, "+1 2", "not a phone number"),
    (T.PHONE, "+44 12", "not a possible number"),
    (T.FILENAME, "   ", "empty"),
    (T.MUTEX, "", "empty"),
    (T.REGKEY, "\\", "empty"),
    (T.USER_AGENT, " \t ", "empty"),
    (T.JA3, "e7d705a3286e19ea42f587b344ee686", "expected 32"),
    (T.ASN, "AS", "not an AS number"),
    (T.ASN, "AS4294967296", "out of range"),
    (T.ASN, "AS70000.1", "asdot part out of range"),
    (T.ASN, "AS\u0661\u0662", "not an AS number"),  # Arabic-Indic digits
]


@pytest.mark.parametrize(("kind", "raw", "reason"), INVALID)
def test_invalid_values_raise_an_error_naming_the_type(kind, raw, reason):
    with pytest.raises(NormaliseError) as caught:
        normalise(kind, raw)
    message = str(caught.value)
    assert message.startswith(f"{kind}: "), message
    assert reason in message, message
    assert caught.value.kind == str(kind)
    assert isinstance(caught.value, ValueError)


def test_every_type_has_a_normaliser_and_rejects_overlong_input():
    for kind in ObservableType:
        with pytest.raises(NormaliseError, match=f"^{kind}: longer than"):
            normalise(kind, "a" * (obs.MAX_LENGTH + 1))


def test_unknown_type_and_non_string():
    with pytest.raises(NormaliseError, match="unknown observable type"):
        normalise("colour", "red")
    with pytest.raises(NormaliseError, match=r"^asn: expected a string"):
        normalise(T.ASN, 15169)  # type: ignore[arg-type]


def test_types_take_strings_and_observable_keys():
    assert normalise("ipv4", "8.8.8.8") == "8.8.8.8"
    assert Observable(T.IPV4, "8.8.8.8").key == "ipv4:8.8.8.8"
    assert Observable(T.USER_AGENT, "x").key == "user-agent:x"
    assert {t.value for t in ObservableType} >= {"ipv4", "cidr", "wallet", "user-agent", "ja3"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("evil[.]com", "evil.com"),
        ("hxxps[:]//evil(.)com[/]x", "https://evil.com/x"),
        ("HXXP://a.b", "http://a.b"),
        ("fxp://files.example", "ftp://files.example"),
        ("john[at]evil{.}com", "john@evil.com"),
        ("a(at)b(dot)com", "a@b.com"),
        ("evil\\.com", "evil.com"),
        ("plain", "plain"),
    ],
)
def test_refang(raw, expected):
    assert refang(raw) == expected


# Wallets -------------------------------------------------------------------------------------

VALID_WALLETS = [
    # Bitcoin: genesis P2PKH, BIP-13 P2SH, BIP-173 P2WPKH and P2WSH, BIP-350 P2TR.
    ("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "btc:1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"),
    ("btc:3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", "btc:3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"),
    (
        "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",
        "btc:bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
    ),
    (
        "bitcoin:bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        "btc:bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
    ),
    (
        "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3",
        "btc:bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3",
    ),
    (
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
        "btc:bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
    ),
    # Ethereum: EIP-55 test vectors, and the unchecked all-lower and all-upper forms.
    (
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "eth:0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
    ),
    (
        "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "eth:0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359",
    ),
    (
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
        "eth:0xdbf03b407c01e7cd3cbea99509d93f8dddc8c6fb",
    ),
    (
        "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
        "eth:0xd1220a0cf47c7b9be7a2e6ba89f429762e7b9adb",
    ),
    (
        "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
        "eth:0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
    ),
    (
        "eth:0X5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED",
        "eth:0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
    ),
    (
        "bsc:5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
        "eth:0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
    ),
    # Monero: the project's general fund, standard address and subaddress.
    (
        "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A",
        "xmr:44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A",
    ),
    (
        "monero:888tNkZrPN6JsEgekjMnABU4TBzc2Dt29EPAvkRxbANsAnjyPbb3iQ1YBRk1UXcdRsiKc9dhwMVgN5S9cQUiyoogDavup3H",
        "xmr:888tNkZrPN6JsEgekjMnABU4TBzc2Dt29EPAvkRxbANsAnjyPbb3iQ1YBRk1UXcdRsiKc9dhwMVgN5S9cQUiyoogDavup3H",
    ),
    # Litecoin, Tron (the USDT contract), Bitcoin Cash (cashaddr specification vector, both forms).
    ("M8T1B2Z97gVdvmfkQcAtYbEepune1tzGua", "ltc:M8T1B2Z97gVdvmfkQcAtYbEepune1tzGua"),
    (
        "ltc1qg42tkwuuxefutzxezdkdel39gfstuap288mfea",
        "ltc:ltc1qg42tkwuuxefutzxezdkdel39gfstuap288mfea",
    ),
    ("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", "trx:TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"),
    ("usdt:TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", "trx:TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"),
    (
        "bitcoincash:qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a",
        "bch:qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a",
    ),
    ("bch:1BpEi6DfDAUFd7GtittLSdBeYJvcoaVggu", "bch:qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a"),
    (
        "BITCOINCASH:QPM2QSZNHKS23Z7629MMS6S4CWEF74VCWVY22GDX6A",
        "bch:qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a",
    ),
    # A chain canal does not check: accepted as given, because the caller named the chain.
    ("Doge:DH5yaieqoZN36fDVciNyRueRGvGLR3mr7L", "doge:DH5yaieqoZN36fDVciNyRueRGvGLR3mr7L"),
]


@pytest.mark.parametrize(("raw", "expected"), VALID_WALLETS)
def test_valid_wallets(raw, expected):
    assert normalise(T.WALLET, raw) == expected
    assert normalise(T.WALLET, expected) == expected


INVALID_WALLETS = [
    ("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb", "bad checksum"),  # last character changed
    ("1A1zP1eP5QGefi2DMPTfTL5SLmv7Divf0a", "not a Bitcoin address"),  # '0' is not base58
    ("mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn", "unknown address format"),  # testnet, no chain given
    ("btc:mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn", "not a Bitcoin mainnet address"),
    ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", "bad checksum"),
    ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3T4", "mixed-case"),
    # BIP-350: a v1 program with a bech32 (not bech32m) checksum.
    ("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd", "bech32 and bech32m"),
    ("tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx", "unknown address format"),
    ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", "bad checksum (EIP-55)"),
    ("eth:0x5aaeb6053f3e94c9b9a09f33669435e7ef1beae", "not an Ethereum address"),
    (
        "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3B",
        "bad checksum",
    ),
    ("xmr:44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3Xjrp", "95 or 106"),
    ("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6u", "bad checksum"),
    ("bitcoincash:qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6c", "bad checksum"),
    ("ltc:LbTjMGN7gELw4KbeyQFq5ktm5mKdqDmPxx", "bad checksum"),
]


@pytest.mark.parametrize(("raw", "reason"), INVALID_WALLETS)
def test_invalid_wallets(raw, reason):
    with pytest.raises(NormaliseError, match=r"^wallet: ") as caught:
        normalise(T.WALLET, raw)
    assert reason in str(caught.value)


def test_eip55_checksum_is_the_specified_one():
    # Recompute EIP-55 independently for one vector and flip each letter's case in turn.
    address = "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    digest = keccak.new(digest_bits=256, data=address.lower().encode()).hexdigest()
    assert all(
        c.isupper() == (int(h, 16) >= 8)
        for c, h in zip(address, digest, strict=False)
        if c.isalpha()
    )
    for i, c in enumerate(address):
        if c.isalpha():
            flipped = address[:i] + c.swapcase() + address[i + 1 :]
            with pytest.raises(NormaliseError, match="EIP-55"):
                normalise(T.WALLET, "0x" + flipped)


def test_base58check_versions():
    payload = bytes(range(20))
    assert normalise(T.WALLET, base58.b58encode_check(b"\x00" + payload).decode()).startswith(
        "btc:1"
    )
    assert normalise(T.WALLET, base58.b58encode_check(b"\x05" + payload).decode()).startswith(
        "btc:3"
    )
    litecoin = base58.b58encode_check(b"\x30" + payload).decode()
    assert normalise(T.WALLET, litecoin) == f"ltc:{litecoin}"
    tron = base58.b58encode_check(b"\x41" + payload).decode()
    assert normalise(T.WALLET, tron) == f"trx:{tron}"
    with pytest.raises(NormaliseError, match="not a Litecoin mainnet address"):
        normalise(T.WALLET, "ltc:" + base58.b58encode_check(b"\x6f" + payload).decode())


def test_bitcoin_cash_legacy_and_cashaddr_are_one_key():
    payload = bytes(range(20))
    for version in (0, 5):
        legacy = base58.b58encode_check(bytes([version]) + payload).decode()
        cash = normalise(T.WALLET, f"bch:{legacy}")
        assert cash.startswith("bch:q" if version == 0 else "bch:p")
        assert normalise(T.WALLET, "bitcoincash:" + cash.removeprefix("bch:")) == cash


# Onion services ------------------------------------------------------------------------------


def test_onion_v3_checksum():
    good = "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid"
    assert normalise(T.ONION, good + ".onion") == good + ".onion"
    # Any one-character change breaks the checksum or the version byte.
    for i in range(len(good)):
        replacement = "a" if good[i] != "a" else "b"
        broken = good[:i] + replacement + good[i + 1 :]
        with pytest.raises(NormaliseError, match=r"^onion: (bad checksum|unknown version)"):
            normalise(T.ONION, broken + ".onion")


# Phone numbers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("020 7946 0958", "GB", "+442079460958"),
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("(202) 555-0143", "US", "+12025550143"),
        ("+44 20 7946 0958", "FR", "+442079460958"),  # an explicit prefix wins over the region
        ("030 123456", "DE", "+4930123456"),
    ],
)
def test_phone_numbers_with_a_region(raw, region, expected):
    assert normalise(T.PHONE, raw, region=region) == expected
    assert normalise(T.PHONE, expected) == expected


# Guessing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("8.8.8.8", T.IPV4),
        ("8[.]8[.]8[.]8", T.IPV4),
        ("2001:db8::1", T.IPV6),
        ("10.0.0.0/8", T.CIDR),
        ("2001:db8::/32", T.CIDR),
        ("a@evil.com", T.EMAIL),
        ("a[at]evil[.]com", T.EMAIL),
        ("hxxp://evil[.]com/x", T.URL),
        ("https://user@evil.com/", T.URL),
        ("evil.com", T.DOMAIN),
        ("EVIL[.]COM", T.DOMAIN),
        ("d41d8cd98f00b204e9800998ecf8427e", T.MD5),
        ("DA39A3EE5E6B4B0D3255BFEF95601890AFD80709", T.SHA1),
        ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", T.SHA256),
        ("a" * 128, T.SHA512),
        ("3:AXGBicFlgVNhBGcL6wCrFQEv:AXGHsNhxLsr2C", T.SSDEEP),
        ("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", T.WALLET),
        ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", T.WALLET),
        ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", T.WALLET),
        ("bitcoincash:qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a", T.WALLET),
        ("duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion", T.ONION),
        ("+44 20 7946 0958", T.PHONE),
        ("AS15169", T.ASN),
        ("HKLM\\Software\\Run", T.REGKEY),
        ("Mozilla/5.0 (Windows NT 10.0)", T.USER_AGENT),
        ("invoice.pdf.exe", T.FILENAME),
        ("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb", None),  # bad checksum: not a wallet
        ("hello", None),
        ("12:30:45", None),
        ("", None),
        ("256.1.1.1", None),
    ],
)
def test_guess_type(raw, expected):
    assert guess_type(raw) == expected
    if expected is not None:
        normalise(expected, raw)  # what is guessed also normalises


# STIX objects --------------------------------------------------------------------------------


def keys(found):
    return [o.key for o in found]


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({"type": "ipv4-addr", "value": "198.51.100.7"}, ["ipv4:198.51.100.7"]),
        ({"type": "ipv4-addr", "value": "198.51.100.0/24"}, ["cidr:198.51.100.0/24"]),
        ({"type": "ipv4-addr", "value": "198.51.100.7/32"}, ["ipv4:198.51.100.7"]),
        ({"type": "ipv6-addr", "value": "2001:DB8::1"}, ["ipv6:2001:db8::1"]),
        ({"type": "ipv6-addr", "value": "2001:db8::/32"}, ["cidr:2001:db8::/32"]),
        ({"type": "domain-name", "value": "EVIL.com."}, ["domain:evil.com"]),
        (
            {
                "type": "domain-name",
                "value": "duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion",
            },
            ["onion:duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion"],
        ),
        ({"type": "url", "value": "HTTP://evil.com:80"}, ["url:http://evil.com/"]),
        ({"type": "email-addr", "value": "A@EVIL.com"}, ["email:A@evil.com"]),
        (
            {
                "type": "file",
                "name": "dropper.exe",
                "hashes": {
                    "MD5": "D41D8CD98F00B204E9800998ECF8427E",
                    "SHA-1": "da39a3ee5e6b4b0d3255bfef95601890afd80709",
                    "SHA-256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                    "SHA-512": EMPTY_SHA512,
                    "SSDEEP": "3::",
                    "TLSH": "T1...",
                },
            },
            [
                "md5:d41d8cd98f00b204e9800998ecf8427e",
                "sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709",
                "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                f"sha512:{EMPTY_SHA512}",
                "ssdeep:3::",
                "filename:dropper.exe",
            ],
        ),
        ({"type": "mutex", "name": "Global\\X"}, ["mutex:Global\\X"]),
        ({"type": "windows-registry-key", "key": "HKLM\\Run"}, ["regkey:hkey_local_machine\\run"]),
        ({"type": "autonomous-system", "number": 15169}, ["asn:15169"]),
        (
            {
                "type": "x-crypto-wallet",
                "value": "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
                "chain": "bitcoin",
            },
            ["wallet:btc:1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"],
        ),
        (
            {
                "type": "x-crypto-wallet",
                "value": "DH5yaieqoZN36fDVciNyRueRGvGLR3mr7L",
                "chain": "DOGE",
            },
            ["wallet:doge:DH5yaieqoZN36fDVciNyRueRGvGLR3mr7L"],
        ),
        ({"type": "network-traffic", "src_ref": "ipv4-addr--x"}, []),
        ({"type": "user-account", "user_id": "root"}, []),
        ({"type": "malware", "name": "LockBit"}, []),
        ({"no": "type"}, []),
    ],
)
def test_observables_of_scos(obj, expected):
    assert keys(observables_of(obj)) == expected


PATTERNS = [
    ("[ipv4-addr:value = '1.2.3.4']", ["ipv4:1.2.3.4"]),
    ("[ipv4-addr:value = '10.0.0.0/8']", ["cidr:10.0.0.0/8"]),
    (
        f"[file:hashes.'SHA-256' = '{EMPTY_SHA256.upper()}']",
        ["sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],
    ),
    (
        "[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']",
        ["md5:d41d8cd98f00b204e9800998ecf8427e"],
    ),
    ("[email-message:from_ref.value = 'Boss@Evil.com']", ["email:Boss@evil.com"]),
    ("[network-traffic:dst_ref.value = '2001:db8::1']", ["ipv6:2001:db8::1"]),
    ("[network-traffic:dst_ref.value = 'c2.evil.com']", ["domain:c2.evil.com"]),
    (
        "[x-crypto-wallet:value = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed']",
        ["wallet:eth:0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"],
    ),
    ("[domain-name:value IN ('a.com', 'B.COM', 'it\\'s.com')]", ["domain:a.com", "domain:b.com"]),
    ("[email-message:to_refs[*].value = 'x@y.com']", ["email:x@y.com"]),
    (
        "[url:value = 'http://a.com/'] OR [url:value = 'http://b.com/']",
        ["url:http://a.com/", "url:http://b.com/"],
    ),
    ("[autonomous-system:number = 15169]", ["asn:15169"]),
    # An escaped quote and backslash in an `=` literal.
    ("[file:name = 'it\\'s \\\\ a.exe']", ["filename:it's \\ a.exe"]),
    ("[file:name = 'a.exe' AND file:size > 10]", ["filename:a.exe"]),
    # Shapes the fast path leaves to stix2-patterns.
    (
        "([ipv4-addr:value = '1.2.3.4'] OR [domain-name:value = 'x.com'])",
        ["ipv4:1.2.3.4", "domain:x.com"],
    ),
    ("[ipv4-addr:value = '1.2.3.4'] WITHIN 600 SECONDS", ["ipv4:1.2.3.4"]),
    ("[ipv4-addr:value NOT = '1.2.3.4']", []),
    ("[domain-name:value LIKE '%.evil.com']", []),
    ("[ipv4-addr:value ISSUBSET '10.0.0.0/8']", []),
    (
        "[network-traffic:extensions.'http-request-ext'.request_header.'User-Agent' = 'Evil/1.0']",
        ["user-agent:Evil/1.0"],
    ),
    (
        "[artifact:hashes.'SHA-1' = 'da39a3ee5e6b4b0d3255bfef95601890afd80709']",
        ["sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709"],
    ),
    # Broken patterns yield nothing and never raise.
    ("[bad", []),
    ("", []),
    ("[ipv4-addr:value = ']", []),
]


@pytest.mark.parametrize(("pattern", "expected"), PATTERNS)
def test_observables_of_indicator_patterns(pattern, expected):
    indicator = {"type": "indicator", "pattern_type": "stix", "pattern": pattern}
    assert keys(observables_of(indicator)) == expected


@pytest.mark.parametrize("pattern", [p for p, _ in PATTERNS if p.startswith("[") and "]" in p])
def test_fast_path_agrees_with_stix2_patterns(pattern):
    if obs._SIMPLE_PATTERN.fullmatch(pattern):
        fast = obs._pattern_comparisons(pattern)
        slow = obs._inspected_comparisons(pattern)
        assert sorted(fast) == sorted(slow)


def test_indicators_of_other_pattern_languages_yield_nothing():
    assert observables_of({"type": "indicator", "pattern_type": "sigma", "pattern": "x"}) == []
    assert observables_of({"type": "indicator", "pattern_type": "stix", "pattern": 5}) == []


def test_problems_are_reported_not_raised():
    found, problems = observables_with_problems(
        {
            "type": "file",
            "id": "file--1",
            "name": "ok.exe",
            "hashes": {
                "MD5": "short",
                "SHA-256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            },
        }
    )
    assert keys(found) == [
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "filename:ok.exe",
    ]
    assert problems == ["file--1 'short': md5: expected 32 hexadecimal digits, got 5"]


def test_duplicates_are_listed_once():
    indicator = {
        "type": "indicator",
        "pattern_type": "stix",
        "pattern": "[ipv4-addr:value = '1.2.3.4'] OR [ipv4-addr:value = '1.2.3[.]4']",
    }
    assert keys(observables_of(indicator)) == ["ipv4:1.2.3.4"]


def test_extractors_can_be_registered(monkeypatch):
    def incident(obj):
        return [(T.WALLET, w) for w in obj.get("x_wallets", [])]

    monkeypatch.setitem(EXTRACTORS, "incident", incident)
    found = observables_of(
        {"type": "incident", "x_wallets": ["1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "bad"]}
    )
    assert keys(found) == ["wallet:btc:1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"]


# MISP attributes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("misp_type", "value", "expected"),
    [
        ("ip-src", "198.51.100.7", ["ipv4:198.51.100.7"]),
        ("ip-dst", "2001:DB8::1", ["ipv6:2001:db8::1"]),
        ("ip-dst", "198.51.100.0/24", ["cidr:198.51.100.0/24"]),
        ("ip-src|port", "198.51.100.7|443", ["ipv4:198.51.100.7"]),
        ("ip-dst|port", "2001:db8::1|8080", ["ipv6:2001:db8::1"]),
        ("domain", "Evil.com", ["domain:evil.com"]),
        ("hostname", "c2.evil.com.", ["domain:c2.evil.com"]),
        ("hostname|port", "c2.evil.com|443", ["domain:c2.evil.com"]),
        ("domain|ip", "evil.com|198.51.100.7", ["domain:evil.com", "ipv4:198.51.100.7"]),
        ("url", "hxxp://evil[.]com", ["url:http://evil.com/"]),
        ("uri", "/just/a/path", []),
        ("email", "A@Evil.com", ["email:A@evil.com"]),
        ("email-src", "a@evil.com", ["email:a@evil.com"]),
        ("email-dst", "b@evil.com", ["email:b@evil.com"]),
        ("md5", "D41D8CD98F00B204E9800998ECF8427E", ["md5:d41d8cd98f00b204e9800998ecf8427e"]),
        (
            "sha1",
            "da39a3ee5e6b4b0d3255bfef95601890afd80709",
            ["sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709"],
        ),
        (
            "sha256",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ["sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],
        ),
        ("ssdeep", "3::", ["ssdeep:3::"]),
        (
            "filename|md5",
            "a.exe|d41d8cd98f00b204e9800998ecf8427e",
            ["filename:a.exe", "md5:d41d8cd98f00b204e9800998ecf8427e"],
        ),
        (
            "filename|sha256",
            "a.exe|e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            [
                "filename:a.exe",
                "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ],
        ),
        (
            "malware-sample",
            "a.exe|d41d8cd98f00b204e9800998ecf8427e",
            ["filename:a.exe", "md5:d41d8cd98f00b204e9800998ecf8427e"],
        ),
        (
            "btc",
            "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
            ["wallet:btc:1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"],
        ),
        (
            "xmr",
            "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A",
            [
                "wallet:xmr:44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A"
            ],
        ),
        ("xmr", "not-a-wallet", []),
        ("phone-number", "+44 20 7946 0958", ["phone:+442079460958"]),
        ("phone-number", "020 7946 0958", []),
        ("mutex", "Global\\X", ["mutex:Global\\X"]),
        ("regkey", "HKCU\\Run", ["regkey:hkey_current_user\\run"]),
        ("regkey|value", "HKCU\\Run|evil.exe", ["regkey:hkey_current_user\\run"]),
        ("user-agent", "Evil/1.0  (x)", ["user-agent:Evil/1.0 (x)"]),
        (
            "ja3-fingerprint-md5",
            "E7D705A3286E19EA42F587B344EE6865",
            ["ja3:e7d705a3286e19ea42f587b344ee6865"],
        ),
        ("AS", "AS15169", ["asn:15169"]),
        ("filename", "a.exe", ["filename:a.exe"]),
        ("text", "anything", []),
        ("comment", "1.2.3.4", []),
    ],
)
def test_misp_attributes(misp_type, value, expected):
    assert keys(observable_of_misp_attribute(misp_type, value)) == expected
