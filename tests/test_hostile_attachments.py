"""Hostile attachments (issue 10): files made to exhaust or fool a reader — zip bombs and lying zip sizes, XML entity
bombs and nesting, a million spreadsheet cells, PDFs declaring millions of objects or pages or inflating a stream a
thousandfold, encryption, a broken Word container, cells stuffed with NUL and control characters, file names that
climb out of a directory, and a file that takes too long.

Each is refused with one clear line — an UnreadableDocument, which a crawl records as an "unreadable" error and the
status report shows as `unreadable_document` (tests/test_crawl_attachments.py) — or read safely. Every file is
generated here, in memory, from a few kilobytes to a few megabytes.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from dataclasses import replace
from pathlib import Path

import psutil
import pytest
from scrapy.http import Response

from extract import UnreadableDocument, extract_document
from extract import attachments as limits
from extract.attachments import read_attachment
from extract.filetype import sniff
from simulator import build_world
from simulator.attachments import render_docx, render_xls
from simulator.documents import report_document
from simulator.msdoc import render_doc
from simulator.printing import render_pdf
from simulator.render import ReportDocument
from spiders.base import _filename
from storage.files import FileStore

FIXTURES = Path(__file__).parent / "fixtures" / "attachments"


@pytest.fixture(scope="module")
def doc() -> ReportDocument:
    world = build_world(2, seed=3)
    report = next(r for u in world.units for r in u.reports.values()
                  if r.visible(world.today) and not r.defects and r.template == "2021")
    return report_document(world, report)


def refused(data: bytes, kind: str, says: str) -> str:
    with pytest.raises(UnreadableDocument, match=says) as error:
        read_attachment(data, kind)
    message = str(error.value)
    assert message and "\n" not in message and "Traceback" not in message
    return message


def rezip(docx: bytes, replace_member: dict[str, bytes] | None = None, extra: dict[str, bytes] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(docx)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            target.writestr(item.filename, (replace_member or {}).get(item.filename, source.read(item)))
        for name, data in (extra or {}).items():
            target.writestr(name, data)
    return out.getvalue()


# ---------------------------------------------------------------------------------------------------- zip


@pytest.mark.parametrize("kind", ["docx", "xlsx"])
def test_zip_bomb_member_is_refused_before_inflating(kind: str, doc: ReportDocument) -> None:
    spaces = b"<a>" + b" " * (60 * 2**20) + b"</a>"
    if kind == "docx":
        bomb = rezip(render_docx(doc), {"word/document.xml": spaces})
    else:
        bomb = rezip((FIXTURES / "sample.xlsx").read_bytes(), extra={"xl/worksheets/sheet9.xml": spaces})
    assert len(bomb) < 200_000 and sniff(bomb) == kind
    refused(bomb, kind, r"compresses \d+:1 \(> 200:1\): zip bomb")


def test_too_many_zip_members_are_refused(doc: ReportDocument) -> None:
    crowd = rezip(render_docx(doc), extra={f"word/media/{i}.xml": b"" for i in range(limits.MAX_ZIP_MEMBERS + 1)})
    refused(crowd, "docx", r"zip members \(> 20000\): refused as a zip bomb")


def test_a_zip_that_lies_about_its_sizes_is_read_no_further_than_it_says(doc: ReportDocument) -> None:
    """document.xml declared 2 KB but inflating to 30 MB: zipfile stops at the declared size and the CRC fails."""
    bomb = rezip(render_docx(doc), {"word/document.xml": b"<a>" + b" " * (30 * 2**20) + b"</a>"})
    with zipfile.ZipFile(io.BytesIO(bomb)) as zf:
        info = zf.getinfo("word/document.xml")
    real = struct.pack("<I", info.file_size)
    lying = bomb.replace(real, struct.pack("<I", 2048))  # in the local header and the central directory
    assert lying.count(struct.pack("<I", 2048)) >= 2
    refused(lying, "docx", r"DOCX is damaged or unreadable: BadZipFile")


# ---------------------------------------------------------------------------------------------------- XML


def _laughs(root: bytes) -> bytes:
    """The billion-laughs DTD: ten levels of ten references, 10**9 characters from a few hundred bytes."""
    entities = b'<!ENTITY e0 "ha">' + b"".join(b'<!ENTITY e%d "%s">' % (i, b"&e%d;" % (i - 1) * 10) for i in range(1, 10))
    return b"<!DOCTYPE %s [%s]>" % (root, entities)


def test_xml_entity_bombs_are_refused(doc: ReportDocument) -> None:
    docx = render_docx(doc)
    with zipfile.ZipFile(io.BytesIO(docx)) as zf:
        document = zf.read("word/document.xml")
    laughing = b"<w:body><w:p><w:r><w:t>&e9;</w:t></w:r></w:p>"
    bomb = document.replace(b"?>", b"?>" + _laughs(b"w:document"), 1).replace(b"<w:body>", laughing, 1)
    refused(rezip(docx, {"word/document.xml": bomb}), "docx", "amplification")
    sheet = (b'<?xml version="1.0"?>' + _laughs(b"worksheet")
             + b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1">'
             b'<c r="A1" t="inlineStr"><is><t>&e9;</t></is></c></row></sheetData></worksheet>')
    xlsx = (FIXTURES / "sample.xlsx").read_bytes()
    refused(rezip(xlsx, {"xl/worksheets/sheet1.xml": sheet}), "xlsx", "damaged or unreadable")


def test_deeply_nested_xml_is_refused(doc: ReportDocument) -> None:
    docx = render_docx(doc)
    with zipfile.ZipFile(io.BytesIO(docx)) as zf:
        document = zf.read("word/document.xml")
    depth = 20_000  # ~0.9 MB of markup: under the zip checks' notice, over the XML parser's depth limit
    nested = b"<w:sdt><w:sdtContent>" * depth + b"</w:sdtContent></w:sdt>" * depth
    refused(rezip(docx, {"word/document.xml": document.replace(b"<w:body>", b"<w:body>" + nested, 1)}), "docx",
            "DOCX is damaged or unreadable: XMLSyntaxError Excessive depth")


def test_a_million_spreadsheet_cells_are_refused_before_they_are_built() -> None:
    rows = b"".join(b'<row r="%d">' % r + b"".join(b'<c r="%s%d"><v>1</v></c>' % (c, r) for c in (b"A", b"B", b"C", b"D"))
                    + b"</row>" for r in range(1, 150_001))
    sheet = (b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
             b"<sheetData>" + rows + b"</sheetData></worksheet>")
    huge = rezip((FIXTURES / "sample.xlsx").read_bytes(), {"xl/worksheets/sheet1.xml": sheet})
    assert len(huge) < 5 * 2**20
    refused(huge, "xlsx", r"more than 500,000 cells")


# ---------------------------------------------------------------------------------------------------- PDF


def _pdf(objects: list[bytes], root: int = 1, size: int | None = None) -> bytes:
    """A PDF of `objects` (numbered from 1) with a classic cross-reference table."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1) + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size or len(objects) + 1, root, xref)
    return bytes(out)


def test_a_pdf_declaring_millions_of_objects_is_refused() -> None:
    pdf = _pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"], size=5_000_000)
    refused(pdf, "pdf", r"PDF declares 5,000,000 objects \(> 200,000\): refused")


def test_a_pdf_with_thousands_of_pages_is_refused_while_walking_them() -> None:
    """5,000 real page objects under one page tree that claims 3 pages: refused after page 301, unparsed beyond."""
    pages = 5_000
    kids = b" ".join(b"%d 0 R" % (n + 3) for n in range(pages))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [%s] /Count 3 >>" % kids]
    objects += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 10 10] >>"] * pages
    pdf = _pdf(objects)
    assert len(pdf) < 2**20
    refused(pdf, "pdf", r"PDF has more than 300 pages")


def test_a_pdf_stream_that_inflates_a_thousandfold_is_refused() -> None:
    content = zlib.compress(b"0 0 m\n" * (20 * 2**20), 9)  # 120 MB of drawing commands from ~120 KB
    pdf = _pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
                b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(content), content)])
    assert len(pdf) < 300_000
    refused(pdf, "pdf", r"PDF stream inflates past 100 MB: a decompression bomb")


@pytest.mark.parametrize("maker", ["LibreOffice (AES)", "WPS-style (RC4)"])
def test_encrypted_pdfs_are_refused(maker: str, doc: ReportDocument) -> None:
    data = (FIXTURES / "encrypted.pdf").read_bytes() if maker.startswith("Libre") else render_pdf(doc, password="1234")
    refused(data, "pdf", r"PDF is encrypted: it needs a password to open")


# ---------------------------------------------------------------------------------------------------- Word 97


def test_a_word_file_whose_sector_chain_loops_is_refused(doc: ReportDocument) -> None:
    data = bytearray(render_doc(doc))
    fat_sector = struct.unpack_from("<I", data, 76)[0]
    fat_at = (fat_sector + 1) * 512
    first = struct.unpack_from("<I", data, 48)[0]  # the directory's first sector: point it at itself
    struct.pack_into("<I", data, fat_at + 4 * first, first)
    refused(bytes(data), "doc", r"broken sector chain")


def test_a_word_file_declaring_a_huge_stream_is_refused(doc: ReportDocument) -> None:
    data = render_doc(doc)
    directory = (struct.unpack_from("<I", data, 48)[0] + 1) * 512
    entry = next(directory + 128 * i for i in range(4)
                 if data[directory + 128 * i : directory + 128 * i + 24] == "WordDocument".encode("utf-16-le"))
    hostile = data[: entry + 120] + struct.pack("<Q", 3 * 2**30) + data[entry + 128 :]
    refused(hostile, "doc", r"declares 3,221,225,472 bytes: refused")


# ---------------------------------------------------------------------------------------------------- text


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # tab and line breaks are text


@pytest.mark.parametrize("kind", ["xls", "doc"])
def test_nul_and_control_characters_in_cells_never_make_a_number(kind: str, doc: ReportDocument) -> None:
    hostile = replace(
        doc,
        cells={**doc.cells, "requests.new_received.natural_person": "1\x002", "requests.carried_over.natural_person": "\x1b[31m3"},
        label_variants={"row:rules": "规\x00章", "row:normative_docs": "行政\x1b规范性\x00文件"},
        title=doc.title.replace("年", "\x00年", 1),
    )
    data = render_xls(hostile) if kind == "xls" else render_doc(hostile)
    (report,) = extract_document(data, filename=f"report.{kind}")
    assert report.value("requests.new_received.natural_person") is None  # not 12
    assert report.value("requests.carried_over.natural_person") is None  # not 31 or 313
    rows = [k for k in doc.cells if k.startswith(("active.rules.", "active.normative_docs."))]
    assert rows and {k: report.value(k) for k in rows} == {k: float(doc.cells[k]) for k in rows}  # labels still match
    assert report.year == doc.year
    assert [t for t in _strings(report.to_json()) if _CONTROL.search(t)] == []


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in (*_strings(k), *_strings(v))]
    if isinstance(value, list | tuple):
        return [t for v in value for t in _strings(v)]
    return []


# ---------------------------------------------------------------------------------------------------- names


@pytest.mark.parametrize("name", ["../../../../tmp/nianbao-escape.pdf", "/etc/cron.d/nianbao.pdf", "..\\..\\win.pdf",
                                  "a\x00b/../c.pdf"])
def test_hostile_file_names_are_only_hints_and_never_paths(name: str, tmp_path: Path, doc: ReportDocument) -> None:
    """A name from Content-Disposition reaches the extractor as a type hint and the report's `source` text; the file
    store names files by their hash alone."""
    response = Response("http://127.0.0.1/a/report", headers={"Content-Disposition": f'attachment; filename="{name}"'})
    assert _filename(response) == name  # passed on as text
    pdf = render_pdf(doc)
    (report,) = extract_document(pdf, filename=name, content_type="application/octet-stream")
    assert report.source == name and report.year == doc.year
    store = FileStore(tmp_path / "store")
    sha256 = store.put(pdf)
    assert [p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()] == [
        Path("store") / sha256[:2] / sha256[2:4] / sha256]
    with pytest.raises(ValueError):
        store.path(name)
    assert not Path("/tmp/nianbao-escape.pdf").exists()


# ---------------------------------------------------------------------------------------------------- time


def test_an_attachment_that_takes_too_long_is_stopped_with_its_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sample scan needs a few seconds of OCR; with a 1 s limit it is refused and no Tesseract is left running."""
    monkeypatch.setattr(limits, "MAX_SECONDS", 1.0)
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    refused((FIXTURES / "sample.scan.png").read_bytes(), "png", r"reading the PNG took longer than 1 s: refused")
    left = [p for p in psutil.Process().children(recursive=True) if p.pid not in before and p.is_running()
            and p.status() != psutil.STATUS_ZOMBIE]
    assert left == []
