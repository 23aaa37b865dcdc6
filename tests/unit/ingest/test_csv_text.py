"""CSV lists and threat-report texts (plain, HTML, PDF) to STIX; format detection."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from canal.ingest.csv_in import csv_to_stix, guess_kind, refang
from canal.ingest.errors import SubmissionError
from canal.ingest.formats import Format, detect_format, to_stix
from canal.ingest.text import MAX_DESCRIPTION, extract, text_to_stix, truncated
from canal.model.handling import Tlp
from canal.model.stix import TLP2_MARKING_IDS
from stix_validation import validation_errors

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def bundle(objects):
    return {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}


def patterns(objects):
    return [o["pattern"] for o in objects if o["type"] == "indicator"]


# -- CSV ---------------------------------------------------------------------------------------


def test_header_names_are_recognised():
    data = (
        b"Indicator,Type,Description,Tags,First Seen,TLP\n"
        b'198.51.100.7,ip-dst,C2,"ransomware, lockbit",2026-02-01T10:00:00Z,amber\n'
        b"evil.example.com,domain,,phishing,,\n"
        b"hxxp://bad[.]example[.]org/x,url,defanged,,,clear\n"
    )
    result = csv_to_stix(data, source="NCB Paris", now=NOW)
    assert result.problems == []
    assert patterns(result.objects) == [
        "[ipv4-addr:value = '198.51.100.7']",
        "[domain-name:value = 'evil.example.com']",
        "[url:value = 'http://bad.example.org/x']",
    ]
    first = result.objects[0]
    assert first["description"] == "C2"
    assert first["labels"] == ["ransomware", "lockbit"]
    assert first["valid_from"] == "2026-02-01T10:00:00.000Z"
    assert first["object_marking_refs"] == [TLP2_MARKING_IDS[Tlp.AMBER]]
    assert result.objects[2]["object_marking_refs"] == [TLP2_MARKING_IDS[Tlp.CLEAR]]
    assert validation_errors(bundle(result.objects)) == []


def test_headerless_single_column_guesses_each_type():
    data = (
        b"198.51.100.7\n2001:db8::2\nd41d8cd98f00b204e9800998ecf8427e\nbad@evil.example\n"
        b"evil.example.com\n1BoatSLRHtKNngkdXEeobR76b53LETtpyT\n"
    )
    result = csv_to_stix(data, now=NOW)
    assert result.problems == []
    assert patterns(result.objects) == [
        "[ipv4-addr:value = '198.51.100.7']",
        "[ipv6-addr:value = '2001:db8::2']",
        "[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']",
        "[email-addr:value = 'bad@evil.example']",
        "[domain-name:value = 'evil.example.com']",
        "[cryptocurrency-wallet:value = '1BoatSLRHtKNngkdXEeobR76b53LETtpyT']",
    ]


def test_headerless_columns_find_the_value_and_the_type():
    data = b"first;203.0.113.1;ipv4\nsecond;evil.example.com;domain\n"
    result = csv_to_stix(data, now=NOW)
    assert patterns(result.objects) == [
        "[ipv4-addr:value = '203.0.113.1']",
        "[domain-name:value = 'evil.example.com']",
    ]


def test_a_column_mapping_by_index_or_name():
    data = b"when,what,note\n2026-01-01,198.51.100.9,seen\n"
    by_name = csv_to_stix(data, columns={"value": "what", "comment": "note"}, now=NOW)
    assert patterns(by_name.objects) == ["[ipv4-addr:value = '198.51.100.9']"]
    assert by_name.objects[0]["description"] == "seen"
    with pytest.raises(SubmissionError, match="no column named"):
        csv_to_stix(data, columns={"value": "nope"}, now=NOW)


def test_broken_lines_give_problems_with_their_numbers_and_the_rest_is_kept():
    data = (
        b"value,type,first_seen,tlp\n"
        b"198.51.100.7,ip-dst,,\n"
        b"not an indicator at all,,,\n"
        b"198.51.100.300,ipv4,,\n"
        b'"unterminated,ipv4,,\n'
        b"evil.example.com,frobnicator,,\n"
        b"evil.example.net,domain,yesterday,\n"
        b"evil.example.org,domain,,purple\n"
        b"\n"
        b"# a comment line\n"
        b"203.0.113.8,ip-src,1767225600,green\n"
    )
    result = csv_to_stix(data, where="list.csv", now=NOW)
    assert patterns(result.objects) == [
        "[ipv4-addr:value = '198.51.100.7']",
        "[ipv4-addr:value = '203.0.113.8']",
    ]
    lines = sorted(int(p.where.rsplit(" ", 1)[1]) for p in result.problems)
    assert lines == [3, 4, 5, 6, 7, 8]
    assert all(p.dropped and p.where.startswith("list.csv line") for p in result.problems)


def test_the_same_list_keeps_its_ids_and_sources_do_not_collide():
    data = b"198.51.100.7\n"
    a = csv_to_stix(data, source="NCB Paris", now=NOW).objects[0]["id"]
    b = csv_to_stix(data, source="NCB Paris", now=NOW).objects[0]["id"]
    c = csv_to_stix(data, source="NCB Rome", now=NOW).objects[0]["id"]
    assert a == b != c


def test_kinds_and_refanging():
    assert refang("hxxps://evil[.]com/a[.]b") == "https://evil.com/a.b"
    assert refang("bad[@]evil(.)com") == "bad@evil.com"
    assert guess_kind("AS13335") == "asn"
    assert guess_kind("payload.exe") == "filename"
    assert guess_kind("00:11:22:33:44:55") == "mac"
    assert guess_kind("just words") is None


# -- text ----------------------------------------------------------------------------------------

REPORT = """Ransomware campaign report

The actors used evil[.]example[.]com and hxxps://drop[.]example[.]net/payload.bin for delivery,
with C2 at 198.51.100[.]23 and 2001:db8::23. Payments went to 1BoatSLRHtKNngkdXEeobR76b53LETtpyT.
Contact: extort[@]example.org. The dropper (d41d8cd98f00b204e9800998ecf8427e) wrote report.pdf,
e.g. into %TEMP%. See version 1.2 of the tool.
"""


def test_indicators_are_extracted_refanged_and_referenced_by_one_report():
    result = text_to_stix(REPORT.encode(), name="report.txt", source="NCB Paris", now=NOW)
    assert result.problems == []
    report, *indicators = result.objects
    assert report["type"] == "report"
    assert report["name"] == "Ransomware campaign report"
    assert report["description"] == REPORT
    assert report["object_refs"] == [i["id"] for i in indicators]
    found = set(patterns(indicators))
    assert found == {
        "[url:value = 'https://drop.example.net/payload.bin']",
        "[ipv4-addr:value = '198.51.100.23']",
        "[ipv6-addr:value = '2001:db8::23']",
        "[email-addr:value = 'extort@example.org']",
        "[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']",
        "[domain-name:value = 'evil.example.com']",
        "[cryptocurrency-wallet:value = '1BoatSLRHtKNngkdXEeobR76b53LETtpyT']",
    }
    assert all(i["indicator_types"] == ["unknown"] for i in indicators)
    assert validation_errors(bundle(result.objects)) == []


def test_html_is_read_as_its_visible_text():
    html = b"""<!DOCTYPE html><html><head><title>Weekly threat brief</title>
    <script>var ip = '10.9.9.9';</script><style>.x{}</style></head>
    <body><h1>Brief</h1><p>C2: 198.51.100.44 &amp; evil[.]example[.]io</p></body></html>"""
    result = text_to_stix(html, name="brief.html", now=NOW)
    report = result.objects[0]
    assert report["name"] == "Weekly threat brief"
    assert "10.9.9.9" not in report["description"]
    assert "198.51.100.44 & evil[.]example[.]io" in report["description"]
    assert set(patterns(result.objects)) == {
        "[ipv4-addr:value = '198.51.100.44']",
        "[domain-name:value = 'evil.example.io']",
    }


def pdf_with(lines: list[str], title: str = "Incident report") -> bytes:
    """A one-page PDF with the given lines of text, built by hand."""
    text = (
        "BT /F1 11 Tf 50 750 Td 14 TL "
        + " ".join(
            "(" + line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ") '"
            for line in lines
        )
        + " ET"
    )
    stream = text.encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>"
        ),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Title (" + title.encode() + b") >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 6 0 R >>\n"
        f"startxref\n{xref}\n%%EOF\n"
    ).encode()
    return bytes(out)


def test_a_pdf_is_read_page_by_page():
    pdf = pdf_with(
        ["Phishing wave", "Sender: phish[@]example.com", "Landing: hxxp://login-example[.]com/x"]
    )
    result = text_to_stix(pdf, name="incident.pdf", now=NOW)
    assert result.objects[0]["name"] == "Incident report"
    assert set(patterns(result.objects)) == {
        "[email-addr:value = 'phish@example.com']",
        "[url:value = 'http://login-example.com/x']",
    }


def test_a_pdf_that_is_not_a_pdf_is_a_clear_error():
    with pytest.raises(SubmissionError, match="not a PDF"):
        text_to_stix(b"just some text", name="fake.pdf", now=NOW)
    with pytest.raises(SubmissionError, match="not a readable PDF"):
        text_to_stix(b"%PDF-1.7\nthis is not really a pdf", name="broken.pdf", now=NOW)


def test_very_long_texts_are_cut_and_say_so():
    long_text = ("filler words " * 20_000) + " C2 198.51.100.99"
    result = text_to_stix(long_text.encode(), name="long.txt", now=NOW)
    description = result.objects[0]["description"]
    assert len(description) < MAX_DESCRIPTION + 200
    assert "[truncated by canal: the first" in description
    assert any("keeps the first" in p.message and not p.dropped for p in result.problems)
    assert "[ipv4-addr:value = '198.51.100.99']" in patterns(result.objects)
    kept, cut = truncated("short")
    assert (kept, cut) == ("short", False)


def test_a_text_without_indicators_gives_nothing_and_says_so():
    result = text_to_stix(b"Nothing to see here, e.g. a memo.", name="memo.txt", now=NOW)
    assert result.objects == []
    assert result.problems[0].message.startswith("no indicators")


def test_bare_domains_are_not_indicators_unless_defanged():
    found = dict(extract("see report.pdf and example.com, but evil[.]example[.]com"))
    assert found == {"domain": "evil.example.com"}


# -- detection -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "name", "expected"),
    [
        (b'{"type": "bundle", "id": "bundle--1", "objects": []}', None, Format.STIX),
        (b'[{"type": "indicator", "id": "indicator--x"}]', None, Format.STIX),
        (b'{"Event": {"info": "x"}}', None, Format.MISP),
        (b'{"response": [{"Event": {}}]}', "export.json", Format.MISP),
        (b'{"uuid": "x", "info": "bare", "Attribute": []}', None, Format.MISP),
        (b"%PDF-1.7\n...", None, Format.TEXT),
        (b"value,type\n1.2.3.4,ip\n", "iocs.csv", Format.CSV),
        (b"1.2.3.4\nevil.example.com\nd41d8cd98f00b204e9800998ecf8427e\n", None, Format.CSV),
        (b"ip;comment\n1.2.3.4;c2\n5.6.7.8;c2\n", None, Format.CSV),
        (b"<html><body>report</body></html>", None, Format.TEXT),
        (
            b"A threat report talking about 1.2.3.4 in prose.\nSecond line of prose.",
            None,
            Format.TEXT,
        ),
        (b"anything", "notes.txt", Format.TEXT),
        (b'{"something": "else"}', None, Format.STIX),
        (bytes(range(256)) * 8, None, Format.STIX),  # binary: the JSON reader says what is wrong
    ],
)
def test_detect_format(data, name, expected):
    assert detect_format(data, name) is expected


def test_to_stix_dispatches():
    conversion = to_stix(b"198.51.100.7\n", Format.CSV, name="x.csv", source="NCB Paris", now=NOW)
    assert patterns(conversion.objects) == ["[ipv4-addr:value = '198.51.100.7']"]
    stix = to_stix(b'{"type": "bundle", "id": "bundle--1", "objects": [{"a": 1}]}', Format.STIX)
    assert stix.objects == [{"a": 1}]
