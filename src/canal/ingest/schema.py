"""What stix2-validator 3.3.2 reports as an error on an exported object, checked on ingest.

Export hands objects out as received, plus canal's TLP marking and handling extension (see
`canal.records.service.present`), and that output must pass the validator. The validator runs
JSON schemas (schemas-2.1) and Python "must" checks; its "should" checks only warn, but a few of
them raise on odd input and then validation fails outright, so those inputs are refused too.

Every rule here is a table entry: a check per property (`_Spec.props`, built from `_COMMON` and
a per-type table) and a few checks per object (`_Spec.rules`, and `_Spec.when` for those that
only matter when a property is present). A property check takes the value and returns None or
the problem. A problem below the property starts with "." or "[" and
carries its path ("[0].phase_name: must be a string"), so messages read "property: what is
wrong". `schema_problem` runs after `check_object`'s own checks and relies on them: the type and
id are well formed, required properties are present, the timestamps canal knows are real
timestamps in order, references look like identifiers and the pattern parses.

Where the validator's rule is looser than the specification (property names, hash names in
external references) or depends on data files it ships (IANA media types and character sets),
canal takes the stricter or smaller set: refusing is always safe, accepting must be.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Final, TypeAlias

import idna

from canal.model.extension import CANAL_EXTENSION_ID
from canal.model.stix import to_micros

__all__ = ["schema_problem"]

#: None when the value is fine, else what is wrong (with its path below the property, if any).
Check = Callable[[Any], "str | None"]
Rule = Callable[[dict[str, Any]], "str | None"]

# --- building blocks ---------------------------------------------------------------------------


def _below(path: str, problem: str) -> str:
    """`problem` found at `path` below the current value ("sid", "[2]")."""
    if problem[0] in ".[":
        return path + problem
    return path + ": " + problem


def _at(key: str, problem: str) -> str:
    return _below(key, problem) if key.startswith("[") else _below("." + key, problem)


def _string(value: Any) -> str | None:
    return None if type(value) is str else "must be a string"


def _boolean(value: Any) -> str | None:
    return None if type(value) is bool else "must be true or false"


def _integer(low: int | None = None, high: int | None = None) -> Check:
    if low is None and high is None:
        wanted = "must be an integer"
    elif high is None:
        wanted = f"must be an integer of at least {low}"
    else:
        wanted = f"must be an integer from {low} to {high}"

    def check(value: Any) -> str | None:
        if type(value) is not int:
            return wanted
        if (low is not None and value < low) or (high is not None and value > high):
            return wanted
        return None

    return check


def _number(low: float, high: float) -> Check:
    wanted = f"must be a number from {low:g} to {high:g}"

    def check(value: Any) -> str | None:
        if type(value) not in (int, float) or not low <= value <= high:
            return wanted
        return None

    return check


def _any_number(value: Any) -> str | None:
    return None if type(value) in (int, float) else "must be a number"


def _enum(*allowed: str) -> Check:
    choices = frozenset(allowed)
    wanted = "must be one of " + ", ".join(sorted(allowed))

    def check(value: Any) -> str | None:
        return None if type(value) is str and value in choices else wanted

    return check


def _matching(pattern: str, wanted: str) -> Check:
    regex = re.compile(pattern)

    def check(value: Any) -> str | None:
        return None if type(value) is str and regex.match(value) else wanted

    return check


def _list(item: Check, wanted: str = "must be a non-empty list") -> Check:
    """A non-empty list: every top-level list must have an item (the validator's rule for
    properties), and canal applies it to nested ones too."""

    def check(value: Any) -> str | None:
        if type(value) is not list or not value:
            return wanted
        for index, element in enumerate(value):
            problem = item(element)
            if problem is not None:
                return _below(f"[{index}]", problem)
        return None

    return check


def _strings(value: Any) -> str | None:
    if type(value) is not list or not value:
        return "must be a non-empty list of strings"
    for element in value:
        if type(element) is not str:
            return "must be a non-empty list of strings"
    return None


def _one_of(name: str, *alternatives: Check) -> Check:
    def check(value: Any) -> str | None:
        if any(alternative(value) is None for alternative in alternatives):
            return None
        return "must be " + name

    return check


@dataclass(frozen=True, slots=True)
class _Object:
    """A JSON object with typed properties; `others` checks the properties not listed."""

    props: dict[str, Check]
    required: tuple[str, ...] = ()
    any_of: tuple[str, ...] = ()
    others: Callable[[str, Any], str | None] | None = None
    non_empty: bool = False

    def __call__(self, value: Any) -> str | None:
        if type(value) is not dict:
            return "must be an object"
        if self.non_empty and not value:
            return "must not be empty"
        for name in self.required:
            if name not in value:
                return _at(name, "required and missing")
        if self.any_of and not any(name in value for name in self.any_of):
            return "needs at least one of " + ", ".join(self.any_of)
        for key, element in value.items():
            check = self.props.get(key)
            if check is not None:
                problem = check(element)
            elif self.others is not None:
                problem = self.others(key, element)
            else:
                continue
            if problem is not None:
                return _at(key, problem)
        return None


# --- timestamps --------------------------------------------------------------------------------

_TIMESTAMP_RE: Final = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?Z\Z"
)
_NOT_A_TIMESTAMP: Final = "must be a STIX timestamp (YYYY-MM-DDTHH:MM:SS[.s]Z) of a real date"


@lru_cache(maxsize=4096)
def _micros(raw: str) -> int | None:
    """Microseconds since the epoch, or None if `raw` is not a timestamp of a real date."""
    match = _TIMESTAMP_RE.match(raw)
    if match is None:
        return None
    fraction = match.group(7) or ""
    try:
        at = datetime.fromisoformat(raw[:19] + fraction[:7] + "+00:00")
    except ValueError:
        return None
    return to_micros(at)


def _timestamp(value: Any) -> str | None:
    if type(value) is not str or _micros(value) is None:
        return _NOT_A_TIMESTAMP
    return None


def _timestamp_millis(value: Any) -> str | None:
    """created and modified: check_object has read them; the schema also wants milliseconds."""
    if type(value) is not str:
        return _NOT_A_TIMESTAMP
    if len(value) < 24 or value[19] != ".":
        return "must be precise to the millisecond (YYYY-MM-DDTHH:MM:SS.sssZ)"
    return None


def _timestamp_seconds(value: Any) -> str | None:
    problem = _timestamp(value)
    if problem is None and len(value) != 20:
        return "must be a timestamp in whole seconds (YYYY-MM-DDTHH:MM:SSZ)"
    return problem


def _in_order(
    obj: dict[str, Any], first: str, second: str, *, strict: bool, compared: bool
) -> str | None:
    """`second` later than (or, unless strict, equal to) `first`, compared as the validator
    does: as datetimes when both have at most six fractional digits, else as strings.
    `compared`: check_object has compared them as datetimes already."""
    early, late = obj.get(first), obj.get(second)
    if type(early) is not str or type(late) is not str:
        return None
    if len(early) <= 27 and len(late) <= 27:
        if compared:
            return None
        a, b = _micros(early), _micros(late)
        if a is None or b is None:
            return None
        ordered = b > a if strict else b >= a
    else:
        ordered = late > early if strict else late >= early
    if ordered:
        return None
    return f"{second}: must be {'later than' if strict else 'no earlier than'} {first}"


@dataclass(frozen=True, slots=True)
class _When:
    """A rule that only matters when the object has `key`: run only then, to keep the hot path
    short."""

    key: str
    rule: Rule


def _order(first: str, second: str, *, strict: bool = False, compared: bool = False) -> _When:
    def rule(obj: dict[str, Any]) -> str | None:
        if first in obj:
            return _in_order(obj, first, second, strict=strict, compared=compared)
        return None

    return _When(second, rule)


# --- identifiers -------------------------------------------------------------------------------

# check_object has matched the id and every *_ref and *_refs value against ID_RE (type--uuid,
# the UUID in the last 36 characters). identifier.json adds that the type starts with a letter
# and that the UUID is RFC 4122: version 1 to 5, variant 8, 9, a or b.
_LETTERS: Final = frozenset("abcdefghijklmnopqrstuvwxyz")
_UUID_VERSIONS: Final = frozenset("12345")
_UUID_VARIANTS: Final = frozenset("89abAB")
_UUID: Final = (
    "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-5][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}"
)
_NOT_AN_IDENTIFIER: Final = "must be a STIX identifier with an RFC 4122 UUID (version 1 to 5)"


def _strict_identifier(ref: Any) -> bool:
    return (
        type(ref) is str
        and len(ref) > 40
        and ref[0] in _LETTERS
        and ref[-22] in _UUID_VERSIONS
        and ref[-17] in _UUID_VARIANTS
    )


def _type_of(ref: str) -> str:
    return ref[:-38]


def _identifier(value: Any) -> str | None:
    return None if _strict_identifier(value) else _NOT_AN_IDENTIFIER


def _identifier_of(*types: str) -> Check:
    allowed = frozenset(types)
    wanted = "must be the identifier of " + " or ".join(f"a {t}" for t in types)

    def check(value: Any) -> str | None:
        if not _strict_identifier(value):
            return _NOT_AN_IDENTIFIER
        return None if _type_of(value) in allowed else wanted

    return check


def _identifier_not_of(*types: str) -> Check:
    refused = frozenset(types)
    wanted = "must not be the identifier of " + ", ".join(f"a {t}" for t in types)

    def check(value: Any) -> str | None:
        if not _strict_identifier(value):
            return _NOT_AN_IDENTIFIER
        return wanted if _type_of(value) in refused else None

    return check


def _identifier_not_prefixed(*prefixes: str) -> Check:
    """Refuse identifiers whose type starts with one of `prefixes` (a schema pattern with no
    "--" after the names refuses "tool-x--..." as well as "tool--...")."""
    starts = tuple(prefixes)

    def check(value: Any) -> str | None:
        if not _strict_identifier(value):
            return _NOT_AN_IDENTIFIER
        if value.startswith(starts):
            return "must not be the identifier of a domain object"
        return None

    return check


def _identifiers(item: Check = _identifier) -> Check:
    return _list(item, "must be a non-empty list of identifiers")


# Objects that cannot be the end of a relationship or what a sighting saw.
_NOT_RELATABLE: Final = ("relationship", "sighting", "bundle", "marking-definition")


def _uuid_version(stix_id: str) -> str:
    return stix_id[-22]


# --- encodings, names and formats --------------------------------------------------------------

_BINARY_RE: Final = re.compile(
    r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2}==)\Z"
)
_HEX_RE: Final = re.compile(r"(?:[a-fA-F0-9]{2})+\Z")


def _binary(value: Any) -> str | None:
    if type(value) is not str or _BINARY_RE.match(value) is None:
        return "must be base64 (RFC 4648)"
    return None


def _hex(value: Any) -> str | None:
    if type(value) is not str or _HEX_RE.match(value) is None:
        return "must be an even number of hex digits"
    return None


# Property names: the specification's rule (3 to 250 of a-z, 0-9, _, starting with a letter).
# The schema only looks at the first three characters; the stricter rule is the safe one.
_PROPERTY_NAME_RE: Final = re.compile(r"[a-z][a-z0-9_]{2,249}\Z")
_BAD_NAME: Final = "not a STIX property name (3 to 250 of a-z, 0-9 and _, starting with a letter)"
# Keys of the dictionary type (common/dictionary.json).
_DICTIONARY_KEY_RE: Final = re.compile(r"[a-zA-Z0-9_-]{0,250}\Z")

# RFC 3986 URI, the rule of the `uri` format the validator applies (rfc3986-validator).
_DEC_OCTET: Final = r"(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)"
_IPV4: Final = rf"(?:{_DEC_OCTET}\.){{3}}{_DEC_OCTET}"
_H16: Final = "[0-9A-Fa-f]{1,4}"
_LS32: Final = rf"(?:{_H16}:{_H16}|{_IPV4})"
_IPV6: Final = (
    rf"(?:(?:{_H16}:){{6}}{_LS32}"
    rf"|::(?:{_H16}:){{5}}{_LS32}"
    rf"|(?:{_H16})?::(?:{_H16}:){{4}}{_LS32}"
    rf"|(?:(?:{_H16}:)?{_H16})?::(?:{_H16}:){{3}}{_LS32}"
    rf"|(?:(?:{_H16}:){{,2}}{_H16})?::(?:{_H16}:){{2}}{_LS32}"
    rf"|(?:(?:{_H16}:){{,3}}{_H16})?::(?:{_H16}:){_LS32}"
    rf"|(?:(?:{_H16}:){{,4}}{_H16})?::{_LS32}"
    rf"|(?:(?:{_H16}:){{,5}}{_H16})?::{_H16}"
    rf"|(?:(?:{_H16}:){{,6}}{_H16})?::)"
)
_PCT: Final = "%[0-9A-Fa-f]{2}"
_PCHAR: Final = rf"(?:[a-zA-Z0-9_.~\-!$&'()*+,;=:@]|{_PCT})"
_QUERY: Final = rf"(?:[a-zA-Z0-9_.~\-!$&'()*+,;=:@/?]|{_PCT})*"
_AUTHORITY: Final = (
    rf"(?:(?:[a-zA-Z0-9_.~\-!$&'()*+,;=:]|{_PCT})*@)?"
    rf"(?:\[(?:{_IPV6}|v[0-9A-Fa-f]+\.[a-zA-Z0-9_.~\-!$&'()*+,;=:]+)\]"
    rf"|{_IPV4}"
    rf"|(?:[a-zA-Z0-9_.~\-!$&'()*+,;=]|{_PCT})*)"
    r"(?::[0-9]*)?"
)
_URI_RE: Final = re.compile(
    r"[a-zA-Z][a-zA-Z0-9+.-]*:"
    rf"(?://{_AUTHORITY}(?:/{_PCHAR}*)*|/(?:{_PCHAR}+(?:/{_PCHAR}*)*)?|{_PCHAR}+(?:/{_PCHAR}*)*|)"
    rf"(?:\?{_QUERY})?(?:\#{_QUERY})?\Z"
)


def _uri(value: Any) -> str | None:
    if type(value) is not str or _URI_RE.match(value) is None:
        return "must be an absolute URI (RFC 3986)"
    return None


# The validator's `email` format.
_EMAIL_RE: Final = re.compile(r"[a-zA-Z0-9_.+-]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+\Z")

# Host names the `idn-hostname` format (the idna package) surely accepts, without calling it.
_PLAIN_HOST_RE: Final = re.compile(
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)*[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\Z"
)


def _hostname(value: Any) -> str | None:
    if type(value) is not str:
        return "must be a string"
    if len(value) <= 253 and "--" not in value and _PLAIN_HOST_RE.match(value):
        return None
    try:
        idna.encode(value)
    except Exception:  # noqa: BLE001 - whatever idna raises, the validator fails on it too
        return "must be a host name (IDNA 2008)"
    return None


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# RFC 5646 codes the validator knows (its LANG_CODES list), for `lang` and language-content.
_LANG_CODES: Final = _words(
    """
    af af-ZA ar ar-AE ar-BH ar-DZ ar-EG ar-IQ ar-JO ar-KW ar-LB ar-LY ar-MA ar-OM ar-QA ar-SA
    ar-SY ar-TN ar-YE az az-AZ az-Cyrl-AZ be be-BY bg bg-BG bs-BA ca ca-ES cs cs-CZ cy cy-GB da
    da-DK de de-AT de-CH de-DE de-LI de-LU dv dv-MV el el-GR en en-AU en-BZ en-CA en-CB en-GB
    en-IE en-JM en-NZ en-PH en-TT en-US en-ZA en-ZW eo es es-AR es-BO es-CL es-CO es-CR es-DO
    es-EC es-ES es-GT es-HN es-MX es-NI es-PA es-PE es-PR es-PY es-SV es-UY es-VE et et-EE eu
    eu-ES fa fa-IR fi fi-FI fo fo-FO fr fr-BE fr-CA fr-CH fr-FR fr-LU fr-MC gl gl-ES gu gu-IN
    he he-IL hi hi-IN hr hr-BA hr-HR hu hu-HU hy hy-AM id id-ID is is-IS it it-CH it-IT ja
    ja-JP ka ka-GE kk kk-KZ kn kn-IN ko ko-KR kok kok-IN ky ky-KG lt lt-LT lv lv-LV mi mi-NZ
    mk mk-MK mn mn-MN mr mr-IN ms ms-BN ms-MY mt mt-MT nb nb-NO nl nl-BE nl-NL nn-NO ns ns-ZA
    pa pa-IN pl pl-PL ps ps-AR pt pt-BR pt-PT qu qu-BO qu-EC qu-PE ro ro-RO ru ru-RU sa sa-IN
    se se-FI se-NO se-SE sk sk-SK sl sl-SI sq sq-AL sr-BA sr-Cyrl-BA sr-SP sr-Cyrl-SP sv sv-FI
    sv-SE sw sw-KE syr syr-SY ta ta-IN te te-IN th th-TH tl tl-PH tn tn-ZA tr tr-TR tt tt-RU
    ts uk uk-UA ur ur-PK uz uz-UZ uz-Cyrl-UZ vi vi-VN xh xh-ZA zh zh-CN zh-HK zh-MO zh-SG
    zh-TW zu zu-ZA
    """
)
# software.languages: the schema's pattern, and then one of the codes above.
_SOFTWARE_LANGUAGE_RE: Final = re.compile(
    r"(?:[a-z]{2}(?:-[A-Z]{2})?(?:-[a-z]{4})?(?:-[A-Z]{2}|[0-9]{3})?"
    r"(?:-[a-z0-9]{5,8}|[0-9][a-z0-9]{3})*(?:-[a-z0-9]{1,8})*|[a-z]{3})\Z"
)
_SOFTWARE_LANGUAGES: Final = frozenset(c for c in _LANG_CODES if _SOFTWARE_LANGUAGE_RE.match(c))


def _lang(value: Any) -> str | None:
    if type(value) is not str or value not in _LANG_CODES:
        return "must be an RFC 5646 language code such as en or fr-BE"
    return None


def _software_language(value: Any) -> str | None:
    if type(value) is not str or value not in _SOFTWARE_LANGUAGES:
        return "must be an RFC 5646 language code such as en or fr-BE"
    return None


# IANA media types (registered ones only, as the validator's must for artifacts checks). The
# validator ships the whole registry; canal knows the ones found on shared artifacts.
_MEDIA_TYPES: Final = _words(
    """
    application/octet-stream application/zip application/gzip application/zlib application/zstd
    application/pdf application/json application/ld+json application/xml application/xhtml+xml
    application/javascript application/ecmascript application/sql application/yaml
    application/wasm application/rtf application/msword application/vnd.ms-excel
    application/vnd.ms-powerpoint application/vnd.ms-word.document.macroEnabled.12
    application/vnd.ms-excel.sheet.macroEnabled.12
    application/vnd.openxmlformats-officedocument.wordprocessingml.document
    application/vnd.openxmlformats-officedocument.spreadsheetml.sheet
    application/vnd.openxmlformats-officedocument.presentationml.presentation
    application/vnd.microsoft.portable-executable application/vnd.rar application/java-archive
    application/vnd.ms-cab-compressed application/vnd.efi.iso application/vnd.efi.img
    application/vnd.ms-htmlhelp application/vnd.ms-fontobject application/vnd.sqlite3
    application/vnd.tcpdump.pcap application/vnd.apple.installer+xml application/mbox
    application/dns application/pkix-cert application/pkcs7-mime application/pkcs7-signature
    application/pkcs8 application/pkcs10 application/pgp-encrypted application/pgp-signature
    application/x-www-form-urlencoded
    text/plain text/html text/csv text/xml text/javascript text/css text/markdown text/rtf
    text/calendar text/vcard
    image/png image/jpeg image/gif image/bmp image/svg+xml image/tiff image/webp
    image/vnd.microsoft.icon image/heic
    audio/mpeg audio/ogg video/mp4 video/mpeg video/ogg
    message/rfc822 message/partial
    multipart/mixed multipart/alternative multipart/signed multipart/encrypted
    multipart/form-data
    font/ttf font/woff font/woff2
    """
)
# IANA character sets (preferred MIME names), as the validator's must for name_enc and
# path_enc checks; again the common ones.
_CHARSETS: Final = _words(
    """
    US-ASCII UTF-8 UTF-16 UTF-16BE UTF-16LE UTF-32 UTF-32BE UTF-32LE UTF-7 CESU-8 SCSU BOCU-1
    ISO-8859-1 ISO-8859-2 ISO-8859-3 ISO-8859-4 ISO-8859-5 ISO-8859-6 ISO-8859-7 ISO-8859-8
    ISO-8859-9 ISO-8859-10 ISO-8859-13 ISO-8859-14 ISO-8859-15 ISO-8859-16
    windows-1250 windows-1251 windows-1252 windows-1253 windows-1254 windows-1255
    windows-1256 windows-1257 windows-1258 KOI8-R KOI8-U Shift_JIS EUC-JP ISO-2022-JP GB2312
    GBK GB18030 Big5 Big5-HKSCS EUC-KR ISO-2022-KR IBM437 IBM850 IBM852 IBM866 macintosh
    TIS-620
    """
)


def _media_type(value: Any) -> str | None:
    if type(value) is not str or value not in _MEDIA_TYPES:
        return "must be an IANA-registered media type canal knows, such as application/zip"
    return None


def _charset(value: Any) -> str | None:
    if type(value) is not str or value not in _CHARSETS:
        return "must be an IANA character set name such as UTF-8"
    return None


# CPE 2.3 formatted strings both software.json's pattern and the cpe package (which the
# validator calls) accept: no wildcards inside values and no escaped backslash, which the
# package misreads before a colon.
_CPE_VALUE: Final = r"(?:[*\-]|(?:[A-Za-z0-9._\-]|\\[*?!\"#$%&'()+,/:;<=>@\[\]^`{|}~])+)"
_CPE_LANGUAGE: Final = r"(?:[*\-]|[a-z]{2,3}(?:-(?:[a-z]{2}|[0-9]{3}))?)"
_CPE_RE: Final = re.compile(
    rf"cpe:2\.3:[aho*\-](?::{_CPE_VALUE}){{5}}:{_CPE_LANGUAGE}(?::{_CPE_VALUE}){{4}}\Z"
)


def _cpe(value: Any) -> str | None:
    if type(value) is not str or _CPE_RE.match(value) is None:
        return "must be a CPE 2.3 formatted string (cpe:2.3:part:vendor:product:...)"
    return None


# --- common structures -------------------------------------------------------------------------

_HASH_VALUE: Final = {
    "MD5": re.compile(r"[a-fA-F0-9]{32}\Z"),
    "SHA-1": re.compile(r"[a-fA-F0-9]{40}\Z"),
    "SHA-256": re.compile(r"[a-fA-F0-9]{64}\Z"),
    "SHA-512": re.compile(r"[a-fA-F0-9]{128}\Z"),
    "SHA3-256": re.compile(r"[a-fA-F0-9]{64}\Z"),
    "SHA3-512": re.compile(r"[a-fA-F0-9]{128}\Z"),
    "SSDEEP": re.compile(r"[a-zA-Z0-9/+:.]{1,128}\Z"),
    "TLSH": re.compile(r"[a-zA-Z0-9]{70}\Z"),
}
_HASH_NAME_RE: Final = re.compile(r"[a-zA-Z0-9_-]{3,250}\Z")


def _hashes_of(names: frozenset[str] | None) -> Check:
    def check(value: Any) -> str | None:
        if type(value) is not dict or not value:
            return "must be a non-empty object of hash values"
        for name, digest in value.items():
            if names is not None and name not in names:
                return _at(name, "not a hash name here (MD5, SHA-1, SHA-256, ... in capitals)")
            if _HASH_NAME_RE.match(name) is None:
                return _at(name, "not a hash name (3 to 250 of a-z, A-Z, 0-9, _ and -)")
            if type(digest) is not str:
                return _at(name, "must be a string")
            regex = _HASH_VALUE.get(name)
            if regex is not None and regex.match(digest) is None:
                return _at(name, f"not a valid {name} value")
        return None

    return check


_hashes: Final = _hashes_of(None)

# external-reference.json: the source names cve and capec go with their own identifiers, and
# no other source may carry a CVE or CAPEC identifier. The patterns are the schema's.
_CVE_SOURCE_RE: Final = re.compile(r"^cve$")
_CAPEC_SOURCE_RE: Final = re.compile(r"^capec$")
_CVE_ID_RE: Final = re.compile(r"^CVE-\d{4}-(0\d{3}|[1-9]\d{3,})$")
_CAPEC_ID_RE: Final = re.compile(r"^CAPEC-\d+$")
_CVE_OR_CAPEC_ID_RE: Final = re.compile(r"^((CVE-\d{4}-(0\d{3}|[1-9]\d{3,}))|(CAPEC-\d+))$")
_extref_hashes: Final = _hashes_of(frozenset(_HASH_VALUE))


def _looks_like_an_object(item: Any) -> bool:
    """The validator runs its object checks on any dict with id and type found in a list
    property, and some of them raise on what is not a STIX object."""
    return type(item) is dict and "id" in item and "type" in item


_STIX_LIKE: Final = "must not carry both id and type (the validator reads it as an object)"


def _external_reference(value: Any) -> str | None:
    if type(value) is not dict:
        return "must be an object"
    if _looks_like_an_object(value):
        return _STIX_LIKE
    for key, check in (("description", _string), ("url", _uri), ("hashes", _extref_hashes)):
        if key in value:
            problem = check(value[key])
            if problem is not None:
                return _at(key, problem)
    source = value.get("source_name")
    if type(source) is not str:
        return _at("source_name", "required, a string")
    external_id = value.get("external_id")
    if "external_id" in value and type(external_id) is not str:
        return _at("external_id", "must be a string")
    if _CVE_SOURCE_RE.search(source):
        if external_id is None or not _CVE_ID_RE.search(external_id):
            return _at("external_id", "must be a CVE identifier (CVE-YYYY-NNNN) for source cve")
    elif _CAPEC_SOURCE_RE.search(source):
        if external_id is None or not _CAPEC_ID_RE.search(external_id):
            return _at("external_id", "must be a CAPEC identifier (CAPEC-N) for source capec")
    else:
        if external_id is not None and _CVE_OR_CAPEC_ID_RE.search(external_id):
            return _at("source_name", "must be cve or capec for a CVE or CAPEC identifier")
        if external_id is None and "description" not in value and "url" not in value:
            return "needs external_id, description or url besides source_name"
    return None


def _kill_chain_phase(value: Any) -> str | None:
    if type(value) is not dict:
        return "must be an object"
    if _looks_like_an_object(value):
        return _STIX_LIKE
    for key in ("kill_chain_name", "phase_name"):
        if type(value.get(key)) is not str:
            return _at(key, "required, a string")
    return None


_SELECTOR_RE: Final = re.compile(
    r"(?:[a-z0-9_-]{3,249}(?:\.(?:\[[0-9]+\]|[a-z0-9_-]{1,250}))*|id)\Z"
)


def _granular_marking(value: Any) -> str | None:
    if type(value) is not dict:
        return "must be an object"
    if _looks_like_an_object(value):
        return _STIX_LIKE
    selectors = value.get("selectors")
    if type(selectors) is not list or not selectors:
        return _at("selectors", "must be a non-empty list of selectors")
    for index, selector in enumerate(selectors):
        if type(selector) is not str or _SELECTOR_RE.match(selector) is None:
            return _at("selectors", _below(f"[{index}]", "not a selector (name.name.[0])"))
    if "lang" in value and type(value["lang"]) is not str:
        return _at("lang", "must be a string")
    if "marking_ref" not in value:
        return _at("marking_ref", "required (the validator does not take lang alone)")
    problem = _marking_ref(value["marking_ref"])
    return None if problem is None else _at("marking_ref", problem)


_marking_ref: Final = _identifier_of("marking-definition")


def _property_value(key: str, value: Any) -> str | None:
    """What common/properties.json asks of any property: a JSON value other than null or an
    empty list, base64 for names ending in _bin and hex for names ending in _hex."""
    if value is None:
        return "must not be null"
    if type(value) is list and not value:
        return "must not be an empty list"
    if key.endswith("_bin"):
        return _binary(value)
    if key.endswith("_hex"):
        return _hex(value)
    return None


_NAMES_SEEN: Final[set[str]] = set()


def _property_name(key: str) -> str | None:
    if key in _NAMES_SEEN:
        return None
    if _PROPERTY_NAME_RE.match(key) is None:
        return _BAD_NAME
    if len(_NAMES_SEEN) < 4096:
        _NAMES_SEEN.add(key)
    return None


def _property(key: str, value: Any) -> str | None:
    """A property inside an extension: named and valued as common/properties.json asks."""
    return _property_name(key) or _property_value(key, value)


def _custom_property(key: str, value: Any) -> str | None:
    """A top-level property canal has no rule for (custom, or standard and untyped)."""
    problem = _property(key, value)
    if problem is None and type(value) is list:
        for item in value:
            if _looks_like_an_object(item):
                return _STIX_LIKE
    return problem


def _dictionary_entry(key: str, value: Any) -> str | None:
    if _DICTIONARY_KEY_RE.match(key) is None:
        return "not a dictionary key (up to 250 of a-z, A-Z, 0-9, _ and -)"
    if value is None:
        return "must not be null"
    if type(value) is list and not value:
        return "must not be an empty list"
    return None


def _dictionary(values: Check | None = None, keys: re.Pattern[str] | None = None) -> Check:
    """common/dictionary.json, with a check of the values and a stricter key rule if given."""

    def check(value: Any) -> str | None:
        if type(value) is not dict or not value:
            return "must be a non-empty object"
        for key, element in value.items():
            problem = _dictionary_entry(key, element)
            if problem is None and keys is not None and keys.match(key) is None:
                problem = "not an allowed key here"
            if problem is None and values is not None:
                problem = values(element)
            if problem is not None:
                return _at(key, problem)
        return None

    return check


# --- extensions --------------------------------------------------------------------------------

_EXTENSION_DEFINITION_KEY_RE: Final = re.compile(rf"extension-definition--{_UUID}\Z")
_PREDEFINED_EXTENSION_KEY_RE: Final = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*-ext\Z")
_EXTENSION_TYPES: Final = (
    "new-sdo",
    "new-sco",
    "new-sro",
    "property-extension",
    "toplevel-property-extension",
)
_extension_type: Final = _enum(*_EXTENSION_TYPES)


def _extension_body(value: Any, *, defined: bool) -> str | None:
    """The body under one extension key: an object following common/properties.json, which
    for an extension-definition key also names its extension_type (common/extension.json)."""
    if type(value) is not dict or not value:
        return "must be a non-empty object"
    if defined:
        if "extension_type" not in value:
            return _at("extension_type", "required and missing")
        problem = _extension_type(value["extension_type"])
        if problem is not None:
            return _at("extension_type", problem)
    for key, element in value.items():
        problem = _property(key, element)
        if problem is not None:
            return _at(key, problem)
    return None


def _extensions_of(
    predefined: dict[str, Check] | None = None,
    *,
    marked: bool = True,
    predefined_keys: bool = True,
) -> Check:
    """The extensions property. `marked`: export adds canal's extension (so the property is
    never empty once exported) and replaces whatever body was received under its key.
    `predefined`: extensions with their own schema for this object type."""
    known = predefined or {}

    def check(value: Any) -> str | None:
        if type(value) is not dict:
            return "must be an object keyed by extension name"
        if not value and not marked:
            return "must not be empty"
        for key, body in value.items():
            if marked and key == CANAL_EXTENSION_ID:
                continue
            if len(key) > 250:
                problem: str | None = "not an extension name (too long)"
            elif _EXTENSION_DEFINITION_KEY_RE.match(key):
                problem = _extension_body(body, defined=True)
            elif predefined_keys and _PREDEFINED_EXTENSION_KEY_RE.match(key):
                problem = _extension_body(body, defined=False)
                if problem is None and key in known:
                    problem = known[key](body)
            else:
                problem = "not an extension name (extension-definition--<uuid> or name-ext)"
            if problem is not None:
                return _at(key, problem)
        return None

    return check


# --- the properties every object may carry -----------------------------------------------------


def _reserved(_value: Any) -> str | None:
    return "reserved by STIX 2.1, not allowed"


# None: nothing to check but that the value is not null. check_object has read type,
# spec_version, revoked, confidence and the timestamps below (the type rules compare them); the
# core rule checks id, created and modified.
_COMMON: Final[dict[str, Check | None]] = {
    **dict.fromkeys(
        (
            "type",
            "id",
            "spec_version",
            "revoked",
            "confidence",
            "valid_from",
            "valid_until",
            "first_seen",
            "last_seen",
            "first_observed",
            "last_observed",
            "published",
            "start_time",
            "stop_time",
        )
    ),
    "created": None,
    "modified": None,
    "created_by_ref": _identifier,
    "labels": _strings,
    "description": _string,
    "lang": _lang,
    "external_references": _list(_external_reference),
    "object_marking_refs": _identifiers(),
    "granular_markings": _list(_granular_marking),
    "extensions": _extensions_of(),
    "defanged": _boolean,
    # The validator checks cpe wherever it appears, and refuses these names on any object.
    "cpe": _cpe,
    **dict.fromkeys(("severity", "action", "username", "phone_numbers"), _reserved),
}


# --- object rules --------------------------------------------------------------------------------

_INDEX_RE: Final = re.compile(r"\[(\d+)\]")


def _selector_problem(obj: dict[str, Any], selector: str) -> str | None:
    """Resolve a granular-marking selector as the validator does (musts.marking_selector_syntax)
    on the object as exported."""
    if selector.startswith(("object_marking_refs.", f"extensions.{CANAL_EXTENSION_ID}.")):
        return "points inside what export rewrites (object_marking_refs, canal's extension)"
    current: Any = obj
    for segment in selector.split("."):
        index = _INDEX_RE.match(segment)
        if index is not None:
            position = int(index.group(1))
            if type(current) not in (list, str):
                return f"{segment} does not index a list"
            if position >= len(current):
                return f"{segment} is past the end of the list"
            current = current[position]
        else:
            if type(current) is not dict or segment not in current:
                return f"{segment} is not a property there"
            current = current[segment]
    return None


def _granular_rule(obj: dict[str, Any]) -> str | None:
    markings = obj.get("granular_markings")
    if type(markings) is not list:
        return None
    for position, marking in enumerate(markings):
        if type(marking) is not dict:
            continue
        if obj["type"] == "marking-definition" and marking.get("marking_ref") == obj["id"]:
            return f"granular_markings[{position}].marking_ref: must not be this marking itself"
        for number, selector in enumerate(marking.get("selectors") or ()):
            if type(selector) is str:
                problem = _selector_problem(obj, selector)
                if problem is not None:
                    where = f"granular_markings[{position}].selectors[{number}]"
                    return f"{where}: {selector!r} {problem}"
    return None


def _core_rule(millis: bool) -> Rule:
    """The id (identifier.json), and created and modified: milliseconds where the schema asks
    for them, and in order as the validator compares them (check_object compared them in
    microseconds, which differs only past six fractional digits). Inlined: it runs on every
    object."""
    wanted = "must be precise to the millisecond (YYYY-MM-DDTHH:MM:SS.sssZ)"

    def rule(obj: dict[str, Any]) -> str | None:
        stix_id = obj["id"]  # matched ID_RE in check_object
        if (
            stix_id[0] not in _LETTERS
            or stix_id[-22] not in _UUID_VERSIONS
            or stix_id[-17] not in _UUID_VARIANTS
        ):
            return f"id: {_NOT_AN_IDENTIFIER}"
        created = obj.get("created")
        modified = obj.get("modified")
        if created is None and modified is None:
            return None
        if type(created) is not str or type(modified) is not str:
            for key, stamp in (("created", created), ("modified", modified)):
                problem = _timestamp_millis(stamp) if millis and stamp is not None else None
                if problem is not None:
                    return f"{key}: {problem}"
            return None
        if millis:
            if len(created) < 24 or created[19] != ".":
                return f"created: {wanted}"
            if len(modified) < 24 or modified[19] != ".":
                return f"modified: {wanted}"
        if len(created) > 27 or len(modified) > 27:
            return _in_order(obj, "created", "modified", strict=False, compared=True)
        return None

    return rule


def _version_2_0_rule(obj: dict[str, Any]) -> str | None:
    # The validator reads an object with created and no spec_version as STIX 2.0.
    if "spec_version" not in obj and "created" in obj:
        return "spec_version: required when created is present (else it reads as STIX 2.0)"
    return None


_COMMON_RULES: Final[tuple[Rule | _When, ...]] = (_When("granular_markings", _granular_rule),)


def _requires_uuid4(*contributing: str) -> Rule:
    """SCOs whose id cannot be derived from their properties must use a random UUID (for a
    process, always)."""
    if contributing:
        wanted = f"id: must use a version 4 UUID when none of {', '.join(contributing)} is present"
    else:
        wanted = "id: must use a version 4 UUID for a process"

    def rule(obj: dict[str, Any]) -> str | None:
        if any(name in obj for name in contributing):
            return None
        return None if _uuid_version(obj["id"]) == "4" else wanted

    return rule


def _at_least_one(*names: str) -> Rule:
    wanted = f"{names[0]}: required unless one of {', '.join(names[1:])} is present"

    def rule(obj: dict[str, Any]) -> str | None:
        return None if any(name in obj for name in names) else wanted

    return rule


# --- indicator patterns --------------------------------------------------------------------------

# Object paths of a pattern ("type:property" or "type:'property'", with whitespace or comments
# around the colon as the lexer allows), string literals and comments skipped.
_PATTERN_GAP: Final = r"(?:\s|/\*.*?\*/|//[^\r\n]*+)*+"
_PATTERN_PATH_RE: Final = re.compile(
    r"'(?:[^'\\]++|\\.)*+'"
    r"|/\*.*?\*/|//[^\r\n]*+"
    rf"|([A-Za-z_][A-Za-z0-9_-]*+){_PATTERN_GAP}:{_PATTERN_GAP}"
    r"(?:([A-Za-z_][A-Za-z0-9_]*+)|'((?:[^'\\]++|\\.)*+)')",
    re.DOTALL,
)
# The shape of nearly every feed pattern: one comparison with a plain string literal.
_SIMPLE_PATTERN_RE: Final = re.compile(
    r"\[([a-z0-9-]++):([a-z_]++)(?:\.(?:'[A-Za-z0-9_-]++'|[A-Za-z0-9_]++))*+ ?(?:=|!=) ?"
    r"'[^'\\]*+'\]\Z"
)
_PATTERN_TYPE_RE: Final = re.compile(r"-?[a-z0-9]+(?:-[a-z0-9]+)*-?\Z")
_PATTERN_PROPERTY_RE: Final = re.compile(r"[a-z0-9_]{3,250}\Z")
_SCO_PROPERTIES: Final[dict[str, frozenset[str]]] = {}  # filled from the SCO tables below


def _pattern_rule(obj: dict[str, Any]) -> str | None:
    if obj.get("pattern_type") != "stix":
        return None
    version = obj.get("pattern_version", "2.1")
    if version != "2.1":
        return "pattern_version: canal checks STIX patterns as version 2.1"
    pattern = obj.get("pattern")
    if type(pattern) is not str:
        return None
    simple = _SIMPLE_PATTERN_RE.match(pattern)
    if simple is not None and simple.group(2) in _SCO_PROPERTIES.get(simple.group(1), ()):
        return None
    for object_type, plain, quoted in _PATTERN_PATH_RE.findall(pattern):
        if not object_type:
            continue  # a string literal
        name = plain or quoted.replace("\\'", "'").replace("\\\\", "\\")
        known = _SCO_PROPERTIES.get(object_type)
        if known is None and (
            not 3 <= len(object_type) <= 250 or _PATTERN_TYPE_RE.match(object_type) is None
        ):
            return f"pattern: {object_type!r} is not an observable type name"
        if (known is None or name not in known) and _PATTERN_PROPERTY_RE.match(name) is None:
            return f"pattern: {name!r} is not an observable property name"
    return None


# --- marking definitions -------------------------------------------------------------------------

_TLP1: Final[dict[str, str]] = {
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": "white",
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": "green",
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": "amber",
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": "red",
}
_RESERVED_DEFINITION_TYPE_RE: Final = re.compile(r"^(statement)|(tlp)$")


def _marking_definition_rule(obj: dict[str, Any]) -> str | None:
    refs = obj.get("object_marking_refs")
    if type(refs) is list and obj["id"] in refs:
        return "object_marking_refs: must not list this marking itself"
    definition_type = obj.get("definition_type")
    definition = obj.get("definition")
    if definition_type == "tlp":
        # Only the four TLP 1.0 definitions of STIX 2.1, exactly as published.
        colour = _TLP1.get(obj["id"])
        canonical = {
            "type": "marking-definition",
            "spec_version": "2.1",
            "id": obj["id"],
            "created": "2017-01-20T00:00:00.000Z",
            "definition_type": "tlp",
            "name": f"TLP:{(colour or '').upper()}",
            "definition": {"tlp": colour},
        }
        if colour is None or obj != canonical:
            return "definition_type: tlp is only for the four TLP 1.0 definitions, unchanged"
        return None
    if "extensions" not in obj and ("definition" not in obj or "definition_type" not in obj):
        return "definition: definition and definition_type are required without extensions"
    if "definition_type" in obj:
        if type(definition_type) is not str:
            return "definition_type: must be a string"
        if definition_type == "statement":
            if type(definition) is not dict or type(definition.get("statement")) is not str:
                return "definition: must be an object with a statement string"
            return None
        if _RESERVED_DEFINITION_TYPE_RE.search(definition_type):
            return "definition_type: must be statement, tlp, or a name not built on them"
    if "definition" in obj and type(definition) is not dict:
        return "definition: must be an object"
    return None


# --- types ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Spec:
    props: dict[str, Check | None]
    rules: tuple[Rule, ...]
    #: Rules to run when the object has the key.
    when: tuple[tuple[str, Rule], ...]


def _spec(
    props: dict[str, Check | None] | None = None,
    rules: Iterable[Rule | _When] = (),
    *,
    millis: bool = True,
) -> _Spec:
    every = (_core_rule(millis), *_COMMON_RULES, *rules)
    return _Spec(
        {**_COMMON, **(props or {})},
        tuple(r for r in every if not isinstance(r, _When)),
        tuple((r.key, r.rule) for r in every if isinstance(r, _When)),
    )


_kill_chain_phases: Final = _list(_kill_chain_phase)
_seen_order: Final = _order("first_seen", "last_seen")

_SDOS: Final[dict[str, _Spec]] = {
    "attack-pattern": _spec(
        {"name": _string, "aliases": _strings, "kill_chain_phases": _kill_chain_phases}
    ),
    "campaign": _spec({"name": _string, "aliases": _strings, "objective": _string}, [_seen_order]),
    "course-of-action": _spec({"name": _string}),
    "grouping": _spec({"name": _string, "context": _string, "object_refs": _identifiers()}),
    "identity": _spec(
        {
            "name": _string,
            "roles": _strings,
            "identity_class": _string,
            "sectors": _strings,
            "contact_information": _string,
        }
    ),
    "incident": _spec({"name": _string}),
    "indicator": _spec(
        {
            "name": _string,
            "indicator_types": _strings,
            "pattern": _string,
            "pattern_type": _string,
            "pattern_version": _string,
            "kill_chain_phases": _kill_chain_phases,
        },
        [
            _When("pattern", _pattern_rule),
            _order("valid_from", "valid_until", strict=True, compared=True),
        ],
    ),
    "infrastructure": _spec(
        {
            "name": _string,
            "infrastructure_types": _strings,
            "aliases": _strings,
            "kill_chain_phases": _kill_chain_phases,
        },
        [_seen_order],
    ),
    "intrusion-set": _spec(
        {
            "name": _string,
            "aliases": _strings,
            "goals": _strings,
            "resource_level": _string,
            "primary_motivation": _string,
            "secondary_motivations": _strings,
        },
        [_seen_order],
    ),
    "location": _spec(
        {
            "name": _string,
            "latitude": _number(-90, 90),
            "longitude": _number(-180, 180),
            "precision": _any_number,
            "region": _string,
            "country": _string,
            "administrative_area": _string,
            "city": _string,
            "street_address": _string,
            "postal_code": _string,
        },
        [
            lambda o: (
                None
                if ("latitude" in o) == ("longitude" in o)
                else "latitude: latitude and longitude go together"
            ),
            lambda o: (
                None
                if "precision" not in o or "latitude" in o
                else "precision: only with latitude and longitude"
            ),
            _at_least_one("region", "country", "latitude"),
        ],
    ),
    "malware": _spec(
        {
            "name": _string,
            "is_family": _boolean,
            "aliases": _strings,
            "operating_system_refs": _identifiers(_identifier_of("software")),
            "architecture_execution_envs": _strings,
            "implementation_languages": _strings,
            "capabilities": _strings,
            "sample_refs": _strings,
            "malware_types": _strings,
            "kill_chain_phases": _kill_chain_phases,
        },
        [
            lambda o: (
                "name: required when is_family is true"
                if o.get("is_family") is True and "name" not in o
                else None
            ),
            _seen_order,
        ],
    ),
    "malware-analysis": _spec(
        {
            "product": _string,
            "version": _string,
            "configuration_version": _string,
            "modules": _strings,
            "analysis_engine_version": _string,
            "analysis_definition_version": _string,
            "submitted": _timestamp,
            "analysis_started": _timestamp,
            "analysis_ended": _timestamp,
            "result_name": _string,
            "result": _string,
            "host_vm_ref": _identifier_of("software"),
            "operating_system_ref": _identifier_of("software"),
            "installed_software_refs": _identifiers(_identifier_of("software")),
            "analysis_sco_refs": _identifiers(),
            "sample_ref": _identifier_of("artifact", "file", "network-traffic"),
        }
    ),
    "note": _spec(
        {
            "abstract": _string,
            "content": _string,
            "authors": _strings,
            "object_refs": _identifiers(),
        }
    ),
    "observed-data": _spec(
        {
            "number_observed": _integer(1, 999_999_999),
            # Deprecated in 2.1, and the validator wants each embedded object to be a full
            # SCO with an id: canal takes object_refs only.
            "objects": lambda _v: "deprecated in STIX 2.1; use object_refs",
            "object_refs": _identifiers(
                _identifier_not_prefixed(
                    "attack-pattern",
                    "campaign",
                    "course-of-action",
                    "grouping",
                    "identity",
                    "incident",
                    "indicator",
                    "infrastructure",
                    "intrusion-set",
                    "location",
                    "malware-analysis",
                    "malware",
                    "note",
                    "observed-data",
                    "opinion",
                    "report",
                    "threat-actor",
                    "tool",
                    "vulnerability",
                )
            ),
        },
        [
            _order("first_observed", "last_observed"),
            lambda o: None if "object_refs" in o else "object_refs: required for observed-data",
        ],
    ),
    "opinion": _spec(
        {
            "explanation": _string,
            "authors": _strings,
            "object_refs": _identifiers(),
            "opinion": _enum("strongly-disagree", "disagree", "neutral", "agree", "strongly-agree"),
        }
    ),
    "report": _spec({"name": _string, "report_types": _strings, "object_refs": _identifiers()}),
    "threat-actor": _spec(
        {
            "name": _string,
            "threat_actor_types": _strings,
            "aliases": _strings,
            "roles": _strings,
            "goals": _strings,
            "sophistication": _string,
            "resource_level": _string,
            "primary_motivation": _string,
            "secondary_motivations": _strings,
            "personal_motivations": _strings,
        },
        [_seen_order],
    ),
    "tool": _spec(
        {
            "name": _string,
            "aliases": _strings,
            "tool_types": _strings,
            "tool_version": _string,
            "kill_chain_phases": _kill_chain_phases,
        }
    ),
    "vulnerability": _spec({"name": _string}),
}

_SROS: Final[dict[str, _Spec]] = {
    "relationship": _spec(
        {
            "relationship_type": _matching(
                r"[a-z0-9-]+\Z", "must be lower-case letters, digits and hyphens"
            ),
            "source_ref": _identifier_not_of(*_NOT_RELATABLE, "language-content"),
            "target_ref": _identifier_not_of(*_NOT_RELATABLE, "language-content"),
        },
        [_order("start_time", "stop_time", strict=True)],
    ),
    "sighting": _spec(
        {
            "count": _integer(0, 999_999_999),
            "sighting_of_ref": _identifier_not_of(*_NOT_RELATABLE, "language-content"),
            "observed_data_refs": _identifiers(_identifier_of("observed-data")),
            "where_sighted_refs": _identifiers(_identifier_of("identity", "location")),
            "summary": _boolean,
        },
        [_seen_order],
    ),
}


_contents_shape: Final = _dictionary()


def _language_contents(value: Any) -> str | None:
    problem = _contents_shape(value)
    if problem is not None:
        return problem
    for code, translations in value.items():
        if code not in _LANG_CODES:
            return _at(code, "not an RFC 5646 language code the validator knows")
        if type(translations) is not dict:
            return _at(code, "must be an object of translated properties")
        for name in translations:
            if _PATTERN_PROPERTY_RE.match(name) is None:
                return _at(code, _at(name, _BAD_NAME))
    return None


def _extension_definition_rule(obj: dict[str, Any]) -> str | None:
    types = obj.get("extension_types")
    if (
        "extension_properties" in obj
        and type(types) is list
        and "toplevel-property-extension" not in types
    ):
        return "extension_properties: only for a toplevel-property-extension"
    return None


_MARKING_PROPS: Final[dict[str, Check | None]] = {
    "name": _string,
    # Checked by the marking-definition rule.
    "definition_type": None,
    "definition": None,
    "object_marking_refs": _identifiers(_identifier_of("marking-definition")),
    "extensions": _extensions_of(marked=False, predefined_keys=False),
}

_META: Final[dict[str, _Spec]] = {
    "language-content": _spec(
        {
            "object_ref": _identifier_not_of("bundle", "language-content"),
            "object_modified": _timestamp,
            "contents": _language_contents,
        }
    ),
    # Plain timestamps in created and modified here.
    "marking-definition": _spec(_MARKING_PROPS, [_marking_definition_rule], millis=False),
    "extension-definition": _spec(
        {
            "name": _string,
            "schema": _string,
            "version": _string,
            "extension_types": _list(_extension_type),
            "extension_properties": _strings,
            "extensions": _extensions_of(marked=False),
        },
        [_extension_definition_rule],
    ),
}


# --- cyber observables ---------------------------------------------------------------------------

_alternate_data_stream: Final = _Object(
    {"name": _string, "hashes": _hashes, "size": _integer(0)}, required=("name",)
)
_pe_optional_header: Final = _Object(
    {
        "magic_hex": _hex,
        "major_linker_version": _integer(),
        "minor_linker_version": _integer(),
        "size_of_code": _integer(0),
        "size_of_initialized_data": _integer(0),
        "size_of_uninitialized_data": _integer(0),
        "address_of_entry_point": _integer(),
        "base_of_code": _integer(),
        "base_of_data": _integer(),
        "image_base": _integer(),
        "section_alignment": _integer(),
        "file_alignment": _integer(),
        "major_os_version": _integer(),
        "minor_os_version": _integer(),
        "major_image_version": _integer(),
        "minor_image_version": _integer(),
        "major_subsystem_version": _integer(),
        "minor_subsystem_version": _integer(),
        "win32_version_value_hex": _hex,
        "size_of_image": _integer(0),
        "size_of_headers": _integer(0),
        "checksum_hex": _hex,
        "subsystem_hex": _hex,
        "dll_characteristics_hex": _hex,
        "size_of_stack_reserve": _integer(0),
        "size_of_stack_commit": _integer(0),
        "size_of_heap_reserve": _integer(0),
        "size_of_heap_commit": _integer(0),
        "loader_flags_hex": _hex,
        "number_of_rva_and_sizes": _integer(),
        "hashes": _hashes,
    },
    others=lambda _k, _v: "not a property of the PE optional header",
    non_empty=True,
)
_pe_section: Final = _Object(
    {"name": _string, "size": _integer(0), "entropy": _any_number, "hashes": _hashes},
    required=("name",),
)
_FILE_EXTENSIONS: Final[dict[str, Check]] = {
    "ntfs-ext": _Object(
        {"sid": _string, "alternate_data_streams": _list(_alternate_data_stream)},
        any_of=("sid", "alternate_data_streams"),
    ),
    "raster-image-ext": _Object(
        {
            "image_height": _integer(),
            "image_width": _integer(),
            "bits_per_pixel": _integer(),
            "exif_tags": _dictionary(
                _one_of("a string or an integer", _string, _integer()),
                keys=re.compile(r"[A-Z][a-zA-Z0-9_-]+\Z"),
            ),
        },
        any_of=(
            "image_height",
            "image_width",
            "bits_per_pixel",
            "image_compression_algorithm",
            "exif_tags",
        ),
    ),
    "pdf-ext": _Object(
        {
            "version": _string,
            "is_optimized": _boolean,
            "document_info_dict": _dictionary(_string),
            "pdfid0": _string,
            "pdfid1": _string,
        },
        any_of=("version", "is_optimized", "document_info_dict", "pdfid0", "pdfid1"),
    ),
    "archive-ext": _Object(
        {"contains_refs": _strings, "comment": _string}, required=("contains_refs",)
    ),
    "windows-pebinary-ext": _Object(
        {
            "pe_type": _string,
            "imphash": _string,
            "machine_hex": _hex,
            "number_of_sections": _integer(0),
            "time_date_stamp": _timestamp_seconds,
            "pointer_to_symbol_table_hex": _hex,
            "number_of_symbols": _integer(0),
            "size_of_optional_header": _integer(0),
            "characteristics_hex": _hex,
            "file_header_hashes": _hashes,
            "optional_header": _pe_optional_header,
            "sections": _list(_pe_section),
        },
        required=("pe_type",),
        any_of=(
            "imphash",
            "machine_hex",
            "number_of_sections",
            "time_date_stamp",
            "pointer_to_symbol_table_hex",
            "number_of_symbols",
            "size_of_optional_header",
            "characteristics_hex",
            "file_header_hashes",
            "optional_header",
            "sections",
        ),
    ),
}
_NETWORK_TRAFFIC_EXTENSIONS: Final[dict[str, Check]] = {
    "http-request-ext": _Object(
        {
            "request_method": _string,
            "request_value": _string,
            "request_version": _string,
            "request_header": _dictionary(
                _list(_string, "must be a non-empty list of strings"), keys=re.compile(r".")
            ),
            "message_body_length": _integer(),
            "message_body_data_ref": _string,
        },
        required=("request_method", "request_value"),
    ),
    "icmp-ext": _Object(
        {"icmp_type_hex": _hex, "icmp_code_hex": _hex},
        required=("icmp_type_hex", "icmp_code_hex"),
    ),
    "socket-ext": _Object(
        {
            "address_family": _enum(
                "AF_UNSPEC",
                "AF_INET",
                "AF_IPX",
                "AF_APPLETALK",
                "AF_NETBIOS",
                "AF_INET6",
                "AF_IRDA",
                "AF_BTH",
            ),
            "is_blocking": _boolean,
            "is_listening": _boolean,
            "options": _dictionary(
                _integer(),
                keys=re.compile(r"(?:SO|ICMP|ICMP6|IP|IPV6|MCAST|TCP|IRLMP)(?:_[A-Z]+)+\Z"),
            ),
            "socket_type": _enum(
                "SOCK_STREAM", "SOCK_DGRAM", "SOCK_RAW", "SOCK_RDM", "SOCK_SEQPACKET"
            ),
            "socket_descriptor": _integer(0),
            "socket_handle": _integer(),
        },
        required=("address_family",),
    ),
    "tcp-ext": _Object(
        {"src_flags_hex": _hex, "dst_flags_hex": _hex}, any_of=("src_flags_hex", "dst_flags_hex")
    ),
}
# startup-info-dictionary, by exact key (the schema's key patterns are unanchored).
_STARTUP_INFO: Final[dict[str, Check]] = {
    **dict.fromkeys(
        (
            "lpDesktop",
            "lpTitle",
            "dwFillAttribute",
            "dwFlags",
            "wShowWindow",
            "hStdInput",
            "hStdOutput",
            "hStdError",
        ),
        _string,
    ),
    **dict.fromkeys(
        ("cb", "dwX", "dwY", "dwXSize", "dwYSize", "dwXCountChars", "dwYCountChars"), _integer()
    ),
    "cbReserved2": _integer(0, 0),
}
_PROCESS_EXTENSIONS: Final[dict[str, Check]] = {
    "windows-process-ext": _Object(
        {
            "aslr_enabled": _boolean,
            "dep_enabled": _boolean,
            "priority": _string,
            "owner_sid": _string,
            "window_title": _string,
            "startup_info": _Object(
                _STARTUP_INFO, others=lambda _k, _v: "not a startup_info key", non_empty=True
            ),
            "integrity_level": _enum("low", "medium", "high", "system"),
        },
        any_of=(
            "aslr_enabled",
            "dep_enabled",
            "priority",
            "owner_sid",
            "window_title",
            "startup_info",
        ),
    ),
    "windows-service-ext": _Object(
        {
            "service_name": _string,
            "descriptions": _strings,
            "display_name": _string,
            "group_name": _string,
            "start_type": _enum(
                "SERVICE_AUTO_START",
                "SERVICE_BOOT_START",
                "SERVICE_DEMAND_START",
                "SERVICE_DISABLED",
                "SERVICE_SYSTEM_ALERT",
            ),
            "service_dll_refs": _strings,
            "service_type": _enum(
                "SERVICE_KERNEL_DRIVER",
                "SERVICE_FILE_SYSTEM_DRIVER",
                "SERVICE_WIN32_OWN_PROCESS",
                "SERVICE_WIN32_SHARE_PROCESS",
            ),
            "service_status": _enum(
                "SERVICE_CONTINUE_PENDING",
                "SERVICE_PAUSE_PENDING",
                "SERVICE_PAUSED",
                "SERVICE_RUNNING",
                "SERVICE_START_PENDING",
                "SERVICE_STOP_PENDING",
                "SERVICE_STOPPED",
            ),
        },
        any_of=(
            "service_name",
            "descriptions",
            "display_name",
            "group_name",
            "start_type",
            "service_dll_refs",
            "service_type",
            "service_status",
        ),
    ),
}
_USER_ACCOUNT_EXTENSIONS: Final[dict[str, Check]] = {
    "unix-account-ext": _Object(
        {"gid": _any_number, "groups": _strings, "home_dir": _string, "shell": _string},
        any_of=("gid", "groups", "home_dir", "shell"),
    ),
}


_file_extensions_shape: Final = _extensions_of(_FILE_EXTENSIONS)


def _file_extensions(value: Any) -> str | None:
    problem = _file_extensions_shape(value)
    if problem is not None:
        return problem
    # The validator parses time_date_stamp in every extension of a file, predefined or not.
    for key, body in value.items():
        if key != CANAL_EXTENSION_ID and "time_date_stamp" in body:
            stamp_problem = _timestamp(body["time_date_stamp"])
            if stamp_problem is not None:
                return _at(key, _at("time_date_stamp", stamp_problem))
    return None


_IPV4_RE: Final = (
    r"(([0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5])\.){3}"
    r"([0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5])(\/(3[0-2]|[1-2][0-9]|[0-9]))?\Z"
)
# ipv6-addr.json's pattern as published (its IPv4 tails are broken, so "::ffff:1.2.3.4" fails).
_IPV6_ADDR_RE: Final = (
    r"^s*((([0-9A-Fa-f]{1,4}:){7}([0-9A-Fa-f]{1,4}|:))|(([0-9A-Fa-f]{1,4}:){6}(:[0-9A-Fa-f]{1,4}"
    r"|((25[0-5]|2[0-4]d|1dd|[1-9]?d)(.(25[0-5]|2[0-4]d|1dd|[1-9]?d)){3})|:))|(([0-9A-Fa-f]{1,4}:"
    r"){5}(((:[0-9A-Fa-f]{1,4}){1,2})|:((25[0-5]|2[0-4]d|1dd|[1-9]?d)(.(25[0-5]|2[0-4]d|1dd|[1-9]?"
    r"d)){3})|:))|(([0-9A-Fa-f]{1,4}:){4}(((:[0-9A-Fa-f]{1,4}){1,3})|((:[0-9A-Fa-f]{1,4})?:((25[0"
    r"-5]|2[0-4]d|1dd|[1-9]?d)(.(25[0-5]|2[0-4]d|1dd|[1-9]?d)){3}))|:))|(([0-9A-Fa-f]{1,4}:){3}((("
    r":[0-9A-Fa-f]{1,4}){1,4})|((:[0-9A-Fa-f]{1,4}){0,2}:((25[0-5]|2[0-4]d|1dd|[1-9]?d)(.(25[0-5]|"
    r"2[0-4]d|1dd|[1-9]?d)){3}))|:))|(([0-9A-Fa-f]{1,4}:){2}(((:[0-9A-Fa-f]{1,4}){1,5})|((:[0-9A-F"
    r"a-f]{1,4}){0,3}:((25[0-5]|2[0-4]d|1dd|[1-9]?d)(.(25[0-5]|2[0-4]d|1dd|[1-9]?d)){3}))|:))|(([0"
    r"-9A-Fa-f]{1,4}:){1}(((:[0-9A-Fa-f]{1,4}){1,6})|((:[0-9A-Fa-f]{1,4}){0,4}:((25[0-5]|2[0-4]d|1"
    r"dd|[1-9]?d)(.(25[0-5]|2[0-4]d|1dd|[1-9]?d)){3}))|:))|(:(((:[0-9A-Fa-f]{1,4}){1,7})|((:[0-9A-F"
    r"a-f]{1,4}){0,5}:((25[0-5]|2[0-4]d|1dd|[1-9]?d)(.(25[0-5]|2[0-4]d|1dd|[1-9]?d)){3}))|:)))(%.+"
    r")?s*(\/(12[0-8]|1[0-1][0-9]|[1-9][0-9]|[0-9]))?\Z"
)
_EMAIL_HEADER_RESERVED_RE: Final = re.compile(
    r"^date|received_lines|content_type|from_ref|sender_ref|to_refs|cc_refs|bcc_refs|subject$"
)


def _two_or_more_strings(value: Any) -> str | None:
    if type(value) is list and len(value) >= 2 and all(type(s) is str for s in value):
        return None
    return "must be a list of two or more strings"


_header_values: Final = _dictionary(
    _one_of("a string or a list of two or more strings", _string, _two_or_more_strings)
)


def _header_fields(value: Any) -> str | None:
    problem = _header_values(value)
    if problem is not None:
        return problem
    for key in value:
        if _EMAIL_HEADER_RESERVED_RE.search(key):
            return _at(key, "has its own property on email-message")
    return None


_mime_part_shape: Final = _Object(
    {
        "body": _string,
        "body_raw_ref": _string,
        "content_type": _string,
        "content_disposition": _string,
    }
)


def _mime_part(value: Any) -> str | None:
    if _looks_like_an_object(value):
        return _STIX_LIKE
    problem = _mime_part_shape(value)
    if problem is None and ("body" in value) == ("body_raw_ref" in value):
        return "needs exactly one of body, body_raw_ref"
    return problem


def _email_message_rule(obj: dict[str, Any]) -> str | None:
    multipart = obj.get("is_multipart")
    if multipart is True and "body" in obj:
        return "body: not allowed when is_multipart is true (use body_multipart)"
    if multipart is False and "body_multipart" in obj:
        return "body_multipart: only when is_multipart is true"
    return None


_registry_value_shape: Final = _Object(
    {
        "name": _string,
        "data": _string,
        "data_type": _enum(
            "REG_NONE",
            "REG_SZ",
            "REG_EXPAND_SZ",
            "REG_BINARY",
            "REG_DWORD",
            "REG_DWORD_BIG_ENDIAN",
            "REG_DWORD_LITTLE_ENDIAN",
            "REG_LINK",
            "REG_MULTI_SZ",
            "REG_RESOURCE_LIST",
            "REG_FULL_RESOURCE_DESCRIPTION",
            "REG_RESOURCE_REQUIREMENTS_LIST",
            "REG_QWORD",
            "REG_INVALID_TYPE",
        ),
    },
    any_of=("name", "data", "data_type"),
)


def _registry_value(value: Any) -> str | None:
    if _looks_like_an_object(value):
        return _STIX_LIKE
    return _registry_value_shape(value)


_REGISTRY_HIVE_RE: Final = re.compile(r"^HKLM|HKCC|HKCR|HKCU|HKU|hklm|hkcc|hkcr|hkcu|hku")


def _registry_key(value: Any) -> str | None:
    if type(value) is not str:
        return "must be a string"
    if _REGISTRY_HIVE_RE.search(value):
        return "must spell the hive out (HKEY_LOCAL_MACHINE, not HKLM)"
    return None


_x509_v3_extensions: Final = _Object(
    {
        **dict.fromkeys(
            (
                "basic_constraints",
                "name_constraints",
                "policy_constraints",
                "key_usage",
                "extended_key_usage",
                "subject_key_identifier",
                "authority_key_identifier",
                "subject_alternative_name",
                "issuer_alternative_name",
                "subject_directory_attributes",
                "crl_distribution_points",
                "inhibit_any_policy",
                "certificate_policies",
                "policy_mappings",
            ),
            _string,
        ),
        "private_key_usage_period_not_before": _timestamp,
        "private_key_usage_period_not_after": _timestamp,
    },
    any_of=(
        "basic_constraints",
        "name_constraints",
        "policy_constraints",
        "key_usage",
        "extended_key_usage",
        "subject_key_identifier",
        "authority_key_identifier",
        "subject_alternative_name",
        "issuer_alternative_name",
        "subject_directory_attributes",
        "crl_distribution_points",
        "inhibit_any_policy",
        "private_key_usage_period_not_before",
        "private_key_usage_period_not_after",
        "certificate_policies",
        "policy_mappings",
    ),
)


def _network_traffic_rule(obj: dict[str, Any]) -> str | None:
    if obj.get("is_active") is True and "end" in obj:
        return "end: not allowed while is_active is true"
    return None


# Properties every observable has (the validator's OBSERVABLE_PROPERTIES lists them per type).
_SCO_COMMON_NAMES: Final = frozenset(
    (
        "type",
        "id",
        "spec_version",
        "object_marking_refs",
        "granular_markings",
        "defanged",
        "extensions",
    )
)
_ScoTable: TypeAlias = tuple[dict[str, Check | None], tuple[Rule | _When, ...]]


def _no_objects(_value: Any) -> str | None:
    # The validator's observable checks walk an "objects" property of an observable as the
    # embedded objects of STIX 2.0 and fail on anything else.
    return "not allowed on an observable"


def _sco(props: dict[str, Check | None], rules: Iterable[Rule | _When] = ()) -> _ScoTable:
    return props, tuple(rules)


_SCO_TABLES: Final[dict[str, _ScoTable]] = {
    "artifact": _sco(
        {
            "mime_type": _media_type,
            "payload_bin": _binary,
            "url": _uri,
            "hashes": _hashes,
            "encryption_algorithm": _enum(
                "AES-256-GCM", "ChaCha20-Poly1305", "mime-type-indicated"
            ),
            "decryption_key": _string,
        },
        [
            lambda o: (
                "url: not with payload_bin"
                if "payload_bin" in o and "url" in o
                else "hashes: required with url"
                if "url" in o and "hashes" not in o
                else None
            ),
            lambda o: (
                "decryption_key: only with encryption_algorithm"
                if "decryption_key" in o and "encryption_algorithm" not in o
                else None
            ),
            _requires_uuid4("hashes", "payload_bin"),
        ],
    ),
    "autonomous-system": _sco({"number": _integer(), "name": _string, "rir": _string}),
    "directory": _sco(
        {
            "path": _string,
            "path_enc": _charset,
            "ctime": _timestamp,
            "mtime": _timestamp,
            "atime": _timestamp,
            "contains_refs": _strings,
        }
    ),
    "domain-name": _sco({"value": _hostname, "resolves_to_refs": _strings}),
    "email-addr": _sco(
        {
            "value": _matching(_EMAIL_RE.pattern, "must be an email address (name@domain.tld)"),
            "display_name": _string,
            "belongs_to_ref": _string,
        }
    ),
    "email-message": _sco(
        {
            "is_multipart": _boolean,
            "date": _timestamp,
            "content_type": _string,
            "from_ref": _string,
            "sender_ref": _string,
            "to_refs": _strings,
            "cc_refs": _strings,
            "bcc_refs": _strings,
            "message_id": _string,
            "subject": _string,
            "received_lines": _strings,
            "additional_header_fields": _header_fields,
            "body": _string,
            "body_multipart": _list(_mime_part),
            "raw_email_ref": _string,
        },
        [_email_message_rule, _requires_uuid4("from_ref", "subject", "body")],
    ),
    "file": _sco(
        {
            "extensions": _file_extensions,
            "hashes": _hashes,
            "size": _integer(0),
            "name": _string,
            "name_enc": _charset,
            "magic_number_hex": _hex,
            "mime_type": _string,
            "ctime": _timestamp,
            "mtime": _timestamp,
            "atime": _timestamp,
            "parent_directory_ref": _string,
            "contains_refs": _strings,
            "content_ref": _string,
        }
    ),
    "ipv4-addr": _sco(
        {
            "value": _matching(_IPV4_RE, "must be an IPv4 address or CIDR block"),
            "resolves_to_refs": _strings,
            "belongs_to_refs": _strings,
        }
    ),
    "ipv6-addr": _sco(
        {
            "value": _matching(_IPV6_ADDR_RE, "must be an IPv6 address or CIDR block"),
            "resolves_to_refs": _strings,
            "belongs_to_refs": _strings,
        }
    ),
    "mac-addr": _sco(
        {
            "value": _matching(
                r"([0-9a-f]{2}:){5}[0-9a-f]{2}\Z", "must be a MAC address like 00:1a:2b:3c:4d:5e"
            )
        }
    ),
    "mutex": _sco({"name": _string}),
    "network-traffic": _sco(
        {
            "extensions": _extensions_of(_NETWORK_TRAFFIC_EXTENSIONS),
            "start": _timestamp,
            "end": _timestamp,
            "is_active": _boolean,
            "src_ref": _string,
            "dst_ref": _string,
            "src_port": _integer(0, 65535),
            "dst_port": _integer(0, 65535),
            "protocols": _strings,
            "src_byte_count": _integer(),
            "dst_byte_count": _integer(),
            "src_packets": _integer(),
            "dst_packets": _integer(),
            "ipfix": _dictionary(_one_of("a string or an integer", _string, _integer())),
            "src_payload_ref": _string,
            "dst_payload_ref": _string,
            "encapsulates_refs": _strings,
            "encapsulated_by_ref": _string,
        },
        [
            _at_least_one("src_ref", "dst_ref"),
            _network_traffic_rule,
            _order("start", "end"),
        ],
    ),
    "process": _sco(
        {
            "extensions": _extensions_of(_PROCESS_EXTENSIONS),
            "is_hidden": _boolean,
            "pid": _integer(),
            "created_time": _timestamp,
            "cwd": _string,
            "command_line": _string,
            "environment_variables": _dictionary(),
            "opened_connection_refs": _strings,
            "creator_user_ref": _string,
            "image_ref": _string,
            "parent_ref": _string,
            "child_refs": _strings,
        },
        [
            _at_least_one(
                "extensions",
                "is_hidden",
                "pid",
                "name",
                "created",
                "cwd",
                "arguments",
                "command_line",
                "environment_variables",
                "opened_connection_refs",
                "creator_user_ref",
                "image_ref",
                "parent_ref",
                "child_refs",
            ),
            _requires_uuid4(),
        ],
    ),
    "software": _sco(
        {
            "name": _string,
            "cpe": _cpe,
            "swid": _string,
            "languages": _list(_software_language),
            "vendor": _string,
            "version": _string,
        }
    ),
    "url": _sco({"value": _uri}),
    "user-account": _sco(
        {
            "extensions": _extensions_of(_USER_ACCOUNT_EXTENSIONS),
            "user_id": _string,
            "credential": _string,
            "account_login": _string,
            "account_type": _string,
            "display_name": _string,
            "is_service_account": _boolean,
            "is_privileged": _boolean,
            "can_escalate_privs": _boolean,
            "is_disabled": _boolean,
            "account_created": _timestamp,
            "account_expires": _timestamp,
            "credential_last_changed": _timestamp,
            "account_first_login": _timestamp,
            "account_last_login": _timestamp,
        },
        [
            _at_least_one(
                "extensions",
                "user_id",
                "credential",
                "account_login",
                "account_type",
                "display_name",
                "is_service_account",
                "is_privileged",
                "can_escalate_privs",
                "is_disabled",
                "account_created",
                "account_expires",
                "credential_last_changed",
                "account_first_login",
                "account_last_login",
            ),
            _requires_uuid4("account_type", "user_id", "account_login"),
        ],
    ),
    "windows-registry-key": _sco(
        {
            "key": _registry_key,
            "values": _list(_registry_value),
            "modified_time": _timestamp,
            "creator_user_ref": _string,
            "number_of_subkeys": _integer(),
        },
        [
            _at_least_one("key", "values", "modified", "creator_user_ref", "number_of_subkeys"),
            _requires_uuid4("key", "values"),
        ],
    ),
    "x509-certificate": _sco(
        {
            "is_self_signed": _boolean,
            "hashes": _hashes,
            "version": _string,
            "serial_number": _string,
            "signature_algorithm": _string,
            "issuer": _string,
            "validity_not_before": _timestamp,
            "validity_not_after": _timestamp,
            "subject": _string,
            "subject_public_key_algorithm": _string,
            "subject_public_key_modulus": _string,
            "subject_public_key_exponent": _integer(),
            "x509_v3_extensions": _x509_v3_extensions,
        },
        [
            _at_least_one(
                "is_self_signed",
                "hashes",
                "version",
                "serial_number",
                "signature_algorithm",
                "issuer",
                "validity_not_before",
                "validity_not_after",
                "subject",
                "subject_public_key_algorithm",
                "subject_public_key_modulus",
                "subject_public_key_exponent",
                "x509_v3_extensions",
            ),
            _requires_uuid4("hashes", "serial_number"),
        ],
    ),
}

_SCOS: Final = {
    name: _spec({"objects": _no_objects, **props}, (_When("created", _version_2_0_rule), *rules))
    for name, (props, rules) in _SCO_TABLES.items()
}
_SCO_PROPERTIES.update(
    {name: frozenset(props) | _SCO_COMMON_NAMES for name, (props, _) in _SCO_TABLES.items()}
)

_SPECS: Final[dict[str, _Spec]] = {**_SDOS, **_SROS, **_META, **_SCOS}

# Custom types: objects with created or modified are checked by the validator against the core
# schema, the others against the cyber-observable core.
_CUSTOM_CORE: Final = _spec()
_CUSTOM_OBSERVABLE: Final = _spec()
# Custom types named like one of the validator's shared schema files get that file as their
# schema, and "action" is refused by name.
_RESERVED_TYPES: Final = frozenset(
    {
        "action",
        "binary",
        "core",
        "cyber-observable-core",
        "dictionary",
        "extension",
        "external-reference",
        "granular-marking",
        "hashes-type",
        "hex",
        "identifier",
        "kill-chain-phase",
        "properties",
        "timestamp",
        "url-regex",
    }
)


def _custom_spec(obj: dict[str, Any]) -> _Spec | str:
    stix_type: str = obj["type"]
    if not stix_type[0].isalpha():
        return "type: must start with a letter"
    if stix_type in _RESERVED_TYPES:
        return f"type: {stix_type!r} is reserved by the STIX schemas"
    if "created" in obj or "modified" in obj:
        for name in ("spec_version", "created", "modified"):
            if name not in obj:
                return f"{name}: required for a custom object with created or modified"
        return _CUSTOM_CORE
    return _CUSTOM_OBSERVABLE


def _unknown(_value: Any) -> str | None:
    """Stands in the tables' place for a property they do not list."""
    raise AssertionError


def schema_problem(obj: dict[str, Any]) -> str | None:
    """What the validator would report as an error on `obj` as canal exports it, or None.

    Only for objects that passed check_object's own checks (see the module docstring)."""
    spec = _SPECS.get(obj["type"])
    if spec is None:
        custom = _custom_spec(obj)
        if isinstance(custom, str):
            return custom
        spec = custom
    props = spec.props
    for key, value in obj.items():
        check = props.get(key, _unknown)
        if check is None:
            # Read by check_object, which takes null for absent; the schema does not.
            if value is not None:
                continue
            problem: str | None = "must not be null"
        elif check is _string:  # the commonest check, inlined
            if type(value) is str:
                continue
            problem = "must be a string"
        elif check is _unknown:
            problem = _custom_property(key, value)
        else:
            problem = check(value)
        if problem is not None:
            return _below(key, problem)
    for rule in spec.rules:
        problem = rule(obj)
        if problem is not None:
            return problem
    for key, rule in spec.when:
        if key in obj:
            problem = rule(obj)
            if problem is not None:
                return problem
    return None
