"""Attachments: sniffing, each reader on its fixtures, limits, and seeds end to end in every format.

Fixtures come from tests/fixtures/make_attachments.py. `sample.*` is built to exercise the readers
(merged cells, a one-character-per-line header, a table over a page break, a table without rules).
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import pdfplumber
import pytest
from PIL import Image

from extract import attachments, ocr
from extract.attachments import read_attachment, run_tool
from extract.filetype import sniff
from extract.model import ExtractionError, Grid, Paragraph, Table
from extract.word import _docbook

FIXTURES = Path(__file__).parent / "fixtures"
ATTACHMENTS = FIXTURES / "attachments"
SEEDS = ["000", "001", "002", "003", "004"]
FORMATS = ["pdf", "docx", "doc", "xlsx", "xls"]


def data(name: str) -> bytes:
    return (ATTACHMENTS / name).read_bytes()


def texts(table: Table) -> list[list[str]]:
    return [[c.text for c in row] for row in table.rows]


def spans(table: Table) -> list[list[tuple[int, int] | None]]:
    return [[c.span_of for c in row] for row in table.rows]


_GRIDS: dict[str, Grid] = {}


def grid(name: str) -> Grid:
    """Each fixture read once per test session (DOC conversions cost ~1.5 s)."""
    if name not in _GRIDS:
        raw = data(name)
        _GRIDS[name] = read_attachment(raw, sniff(raw))
    return _GRIDS[name]


# ------------------------------------------------------------------------------------------ sniffing


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("L", (4, 4), 255).save(out, "PNG")
    return out.getvalue()


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("L", (4, 4), 255).save(out, "JPEG")
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("sample.pdf", "pdf"),
        ("sample.docx", "docx"),
        ("sample.doc", "doc"),
        ("sample.xlsx", "xlsx"),
        ("sample.xls", "xls"),
        ("sample.scan.png", "png"),
    ],
)
def test_sniff_each_fixture_by_magic(name: str, kind: str) -> None:
    assert sniff(data(name)) == kind


def test_sniff_images_html_text_rtf_and_junk() -> None:
    assert sniff(_png()) == "png"
    assert sniff(_jpeg()) == "jpeg"
    assert sniff(b"<!DOCTYPE html><html><body>x</body></html>") == "html"
    assert sniff("\ufeff  <html><p>年度报告</p></html>".encode()) == "html"
    assert sniff("一、总体情况\n本年度…".encode("gbk")) == "text"
    assert sniff("一、总体情况\n本年度…".encode()) == "text"
    assert sniff(b"{\\rtf1\\ansi{\\fonttbl}report}") == "doc"  # LibreOffice reads RTF with its tables
    assert sniff(bytes(range(256)) * 4) == "unknown"
    assert sniff(b"") == "unknown"
    assert sniff(b"PK\x03\x04not really a zip") == "unknown"


def test_sniff_trusts_bytes_over_lying_names_and_types() -> None:
    pdf, doc, docx, xls = data("sample.pdf"), data("sample.doc"), data("sample.docx"), data("sample.xls")
    assert sniff(pdf, filename="report.doc", content_type="application/octet-stream") == "pdf"
    assert sniff(b"\r\n" + pdf, filename="x.html", content_type="text/html") == "pdf"  # junk before %PDF-
    assert sniff(doc, filename="报告.docx", content_type="application/vnd.openxmlformats") == "doc"
    assert sniff(doc, filename="报告.wps") == "doc"
    assert sniff(docx, filename="报告.wps", content_type="application/kswps") == "docx"
    assert sniff(docx, filename="报告.doc", content_type="application/msword") == "docx"
    assert sniff(xls, filename="统计表.xlsx") == "xls"
    fake_doc = "<html><body><table><tr><td>信息内容</td></tr></table></body></html>".encode()
    assert sniff(fake_doc, filename="report.doc", content_type="application/msword") == "html"
    fragment = "<p>一、总体情况</p><table><tr><td>0</td></tr></table>".encode()
    assert sniff(fragment, content_type="text/html; charset=utf-8") == "html"
    assert sniff(fragment.replace(b"<p>", b"x <p>"), content_type="text/plain") == "text"


def test_sniff_encrypted_ooxml_by_hint() -> None:
    encrypted = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500) + "EncryptedPackage".encode("utf-16-le")
    assert sniff(encrypted, filename="a.xlsx") == "xlsx"
    assert sniff(encrypted, filename="a.docx") == "docx"
    for kind in ("docx", "xlsx"):
        with pytest.raises(ExtractionError, match="encrypted"):
            read_attachment(encrypted, kind)


# ------------------------------------------------------------------------------------- the sample

TABLE_ACTIVE = [
    ["第二十条第（一）项"] * 4,
    ["信息内容", "本年制发件数", "本年废止件数", "现行有效件数"],
    ["规章", "0", "0", "0"],
    ["行政规范性文件", "12", "3", "45"],
]
_RESULTS = ["结果维持", "结果纠正", "其他结果", "尚未审结", "总计"]
TABLE_APPEALS = [
    ["行政复议"] * 5 + ["行政诉讼"] * 10,
    _RESULTS + ["未经复议直接起诉"] * 5 + ["复议后起诉"] * 5,
    _RESULTS + _RESULTS + _RESULTS,
    ["1", "0", "0", "0", "1", "0", "2", "0", "0", "2", "0", "0", "0", "0", "0"],
]
APPEAL_SPANS = [
    [None] + [(0, 0)] * 4 + [None] + [(0, 5)] * 9,
    [None] * 6 + [(1, 5)] * 4 + [None] + [(1, 10)] * 4,
    [(1, 0), (1, 1), (1, 2), (1, 3), (1, 4)] + [None] * 10,
    [None] * 15,
]
TABLE_BORDERLESS = [["信息内容", "结果维持", "结果纠正", "其他结果"], ["行政复议", "4", "5", "6"], ["行政诉讼", "7", "8", "9"]]


@pytest.mark.parametrize("ext", FORMATS)
def test_sample_tables_exact_in_every_format(ext: str) -> None:
    g = grid(f"sample.{ext}")
    tables = g.tables
    assert len(tables) == 4
    assert texts(tables[0]) == TABLE_ACTIVE
    assert spans(tables[0])[0] == [None, (0, 0), (0, 0), (0, 0)]
    assert texts(tables[1]) == TABLE_APPEALS
    assert spans(tables[1]) == APPEAL_SPANS
    assert texts(tables[2]) == [["事项", "数量", "合计"]] + [[f"事项{i}", str(i), str(3 * i)] for i in range(1, 61)]
    assert texts(tables[3]) == TABLE_BORDERLESS
    paragraphs = [b.text for b in g.blocks if isinstance(b, Paragraph)]
    for heading in ("一、总体情况", "二、主动公开政府信息情况", "四、政府信息公开行政复议、行政诉讼情况", "六、其他需要报告的事项"):
        assert heading in paragraphs
    assert "样例镇人民政府2021年政府信息公开工作年度报告" in g.title_candidates


def test_pdf_sample_really_exercises_the_hard_cases() -> None:
    """The sample PDF must print what the PDF tests claim to handle, or they prove nothing."""
    with pdfplumber.open(io.BytesIO(data("sample.pdf"))) as pdf:
        assert len(pdf.pages) >= 3  # the 60-row table runs over page breaks
        first = pdf.pages[0]
        narrow = [c for c in first.chars if c["text"] in "维持" and c["top"] > 300]
        jie = [c for c in first.chars if c["text"] == "结" and c["top"] > 300]
        assert min(c["top"] for c in narrow) > min(c["top"] for c in jie) + 5  # "结果" above "维持"
        assert any("—" in (pg.extract_text() or "").splitlines()[-1] for pg in pdf.pages)  # «— N —» footers
        assert not pdf.pages[-2].find_tables() or len(pdf.pages[-1].find_tables()) == 0
        last_words = " ".join(w["text"] for w in pdf.pages[-2].extract_words())
        assert "行政复议" in last_words and "4" in last_words  # the borderless table: no ruling lines
    g = grid("sample.pdf")
    paragraphs = [b.text for b in g.blocks if isinstance(b, Paragraph)]
    assert not [p for p in paragraphs if re.fullmatch(r"[—\s\d]+", p)]  # page footers dropped
    assert "样例镇人民政府2021年政府信息公开工作年度报告" in paragraphs  # title wrapped over two lines, rejoined


def test_antiword_docbook_columns_rebuilt_from_widths() -> None:
    xml = b"""<?xml version="1.0"?><book><chapter><title>t</title><para>
      <informaltable><tgroup cols='1'><colspec colwidth='300pt'/><tbody><row><entry>caption</entry></row></tbody></tgroup>
      <tgroup cols='3'><colspec colwidth='100pt'/><colspec colwidth='100pt'/><colspec colwidth='100pt'/><tbody>
      <row><entry>a</entry><entry>1</entry><entry>2</entry></row></tbody></tgroup></informaltable></para>
      <para>after</para></chapter></book>"""
    g = _docbook(xml)
    assert g is not None
    assert texts(g.tables[0]) == [["caption"] * 3, ["a", "1", "2"]]
    assert spans(g.tables[0])[0] == [None, (0, 0), (0, 0)]
    mangled = b"<book><chapter><para>a |b |c |d |</para></chapter></book>"
    assert _docbook(mangled) is None  # antiword's text fallback for merged tables: use LibreOffice instead


# ---------------------------------------------------------------------------------------------- OCR


def test_ocr_reads_cells_of_a_scanned_table() -> None:
    """The top of the sample scan's first page: two ruled tables, merged cells, stacked headers."""
    page = Image.open(io.BytesIO(data("sample.scan.png"))).crop((0, 700, 1654, 1350))
    out = io.BytesIO()
    page.save(out, "PNG")
    g = read_attachment(out.getvalue(), "png")
    tables = g.tables
    assert [(len(t.rows), len(t.rows[0])) for t in tables] == [(4, 4), (4, 15)]
    assert spans(tables[1]) == APPEAL_SPANS
    cells = [
        (cell, want)
        for t, expected in zip(tables, (TABLE_ACTIVE, TABLE_APPEALS), strict=True)
        for row, wants in zip(t.rows, expected, strict=True)
        for cell, want in zip(row, wants, strict=True)
    ]
    numbers = [(c, w) for c, w in cells if w.isdigit()]
    for cell, want in numbers:  # never a confident wrong number
        assert cell.text == want or (cell.text == "" and cell.confidence < ocr.MIN_CONFIDENCE), (cell, want)
    assert sum(c.text == w for c, w in numbers) >= 0.9 * len(numbers)
    labels = [(c, w) for c, w in cells if not w.isdigit()]
    assert sum(c.text == w for c, w in labels) >= 0.8 * len(labels)


def test_ocr_unsure_digits_come_out_empty_and_unsure() -> None:
    crop = ocr._Crop(Image.new("L", (1, 1)), None, (0, 0, 1, 1), text="2工", confidence=0.36, digits="21", digits_confidence=0.87)
    assert ocr._cell_value(crop) == ("", pytest.approx(0.36))
    crop = ocr._Crop(Image.new("L", (1, 1)), None, (0, 0, 1, 1), text="17", confidence=0.95, digits="11", digits_confidence=0.96)
    text, confidence = ocr._cell_value(crop)
    assert text == "" and confidence < ocr.MIN_CONFIDENCE
    crop = ocr._Crop(Image.new("L", (1, 1)), None, (0, 0, 1, 1), text="O", confidence=0.7, digits="0", digits_confidence=0.93)
    assert ocr._cell_value(crop) == ("0", pytest.approx(0.93))  # two readings agree
    crop = ocr._Crop(Image.new("L", (1, 1)), None, (0, 0, 1, 1), text="行政许可", confidence=0.8, digits="", digits_confidence=0)
    assert ocr._cell_value(crop) == ("行政许可", 0.8)


def test_ocr_blank_image_gives_no_tables() -> None:
    out = io.BytesIO()
    Image.new("L", (800, 600), 255).save(out, "PNG")
    assert read_attachment(out.getvalue(), "png").tables == []


# ---------------------------------------------------------------------------------- limits, damage


def one_line(exc: pytest.ExceptionInfo[ExtractionError]) -> str:
    message = str(exc.value)
    assert message and "\n" not in message and "Traceback" not in message
    return message


@pytest.mark.parametrize("kind", ["pdf", "docx", "doc", "xlsx", "xls", "png", "jpeg"])
def test_damaged_inputs_raise_one_clear_line(kind: str) -> None:
    with pytest.raises(ExtractionError) as exc:
        read_attachment(b"this is not a document at all " * 10, kind)
    one_line(exc)
    with pytest.raises(ExtractionError, match="empty"):
        read_attachment(b"", kind)


def test_truncated_pdf_and_xlsx() -> None:
    with pytest.raises(ExtractionError) as exc:
        read_attachment(data("sample.pdf")[:3000], "pdf")
    one_line(exc)
    with pytest.raises(ExtractionError) as exc:
        read_attachment(data("sample.xlsx")[:4000], "xlsx")
    one_line(exc)


def test_encrypted_pdf() -> None:
    with pytest.raises(ExtractionError, match="encrypted") as exc:
        read_attachment(data("encrypted.pdf"), "pdf")
    one_line(exc)


def test_oversized_input(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(attachments, "MAX_BYTES", 1000)
    with pytest.raises(ExtractionError, match="too large"):
        read_attachment(data("sample.pdf"), "pdf")


def test_too_many_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("extract.pdf.MAX_PAGES", 2)
    with pytest.raises(ExtractionError, match="pages"):
        read_attachment(data("sample.pdf"), "pdf")


def test_image_with_too_many_pixels() -> None:
    out = io.BytesIO()
    Image.new("1", (12000, 8000), 1).save(out, "PNG")
    with pytest.raises(ExtractionError, match="too large"):
        read_attachment(out.getvalue(), "png")


def _bomb(inner: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr(inner, b"<a>" + b" " * (40 * 2**20) + b"</a>")
    return out.getvalue()


@pytest.mark.parametrize(("kind", "inner"), [("docx", "word/document.xml"), ("xlsx", "xl/worksheets/sheet1.xml")])
def test_zip_bomb_refused_before_inflating(kind: str, inner: str) -> None:
    bomb = _bomb(inner)
    assert len(bomb) < 200_000 and sniff(bomb) == kind
    with pytest.raises(ExtractionError, match="zip bomb") as exc:
        read_attachment(bomb, kind)
    one_line(exc)


def test_subprocess_timeout_kills_and_reports() -> None:
    with pytest.raises(ExtractionError, match="timed out"):
        run_tool(["sleep", "30"], what="test", timeout=0.5)
    with pytest.raises(ExtractionError, match="not installed"):
        run_tool(["no-such-tool-nianbao"], what="test")


def test_unknown_kind() -> None:
    with pytest.raises(ExtractionError, match="not an attachment format"):
        read_attachment(b"<html></html>", "html")


# ------------------------------------------------------------------------------ seeds end to end


def expected(seed: str) -> dict:
    return json.loads((FIXTURES / "seeds" / f"{seed}.expected.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("ext", FORMATS)
@pytest.mark.parametrize("seed", SEEDS)
def test_seed_extracts_to_exactly_its_fields(seed: str, ext: str) -> None:
    from extract import extract_document

    want = expected(seed)
    reports = extract_document(data(f"{seed}.{ext}"), filename=f"{seed}.{ext}", content_type="application/octet-stream")
    assert len(reports) == 1
    report = reports[0]
    assert (report.unit, report.year, report.template) == (want["unit"], want["year"], want["template"])
    assert report.values == want["fields"]


@pytest.fixture(scope="module")
def scanned() -> tuple[dict, object]:
    """~25 s: OCR of seed 001's scan, the hardest of the five: its template is known only from OCR'd labels (bold
    headers touching the rules), its tables run over page breaks, its rules are dashed by the scanner."""
    from extract import extract_document

    return expected("001"), extract_document(data("001.scan.png"), filename="001.scan.png")[0]


def test_seed_scan_never_gives_a_confident_wrong_number(scanned: tuple) -> None:
    """Every cell the OCR is unsure of is null and flagged, never wrong."""
    want, report = scanned
    got = report.values
    assert report.template == want["template"]
    exact = [k for k in want["fields"] if got.get(k) == want["fields"][k]]
    for key in set(want["fields"]) - set(exact):
        assert got.get(key) is None, f"{key}: OCR gave {got.get(key)}, expected {want['fields'][key]}"
        assert report.fields.get(key) is None or report.fields[key].note, f"{key} null without a flag"


def test_seed_scan_reaches_98_percent_of_cells(scanned: tuple) -> None:
    """The issue's bar: ≥ 98 % of cells exact (measured on all five seed scans by bench/attachments.py)."""
    want, report = scanned
    exact = [k for k in want["fields"] if report.values.get(k) == want["fields"][k]]
    assert len(exact) >= 0.98 * len(want["fields"])


def test_ocr_snaps_a_misread_label_to_the_template_label_it_nearly_is() -> None:
    assert ocr.snap_label("2.其他法律行政法规荣止公开") == "2.其他法律行政法规禁止公开"  # one character misread
    assert ocr.snap_label("本年度止件数") == "本年废止件数"
    assert ocr.snap_label("规范性广件") == "规范性文件"  # its rival "行政规范性文件" names the same row
    # Equally near 一、本年新收… and 二、上年结转…: left as read, for the builder to match or not.
    assert ocr.snap_label("拓收政府信息公开申请数量") == "拓收政府信息公开申请数量"
    assert ocr.snap_label("人LA ETY一人什鸡") == "人LA ETY一人什鸡"


def test_ocr_disputed_digit_is_decided_by_the_pages_own_digits() -> None:
    """chi_sim reads a clean "0" as "9" and eng's one-word reading fails: the rereadings and the match with the
    page's confidently read zeros decide; without that match the cell stays unsure."""
    crop = ocr._Crop(Image.new("L", (1, 1)), None, (0, 0, 1, 1), text="9", confidence=0.67, digits="0", digits_confidence=0.5,
                     rereadings=["0", "0"])
    assert ocr._cell_value(crop) == ("", pytest.approx(0.5))  # readings disagree: 9 against 0
    crop.glyph_match = "0"
    assert ocr._cell_value(crop) == ("0", pytest.approx(0.9))
    crop.rereadings = ["", ""]
    crop.digits = ""
    assert ocr._cell_value(crop)[0] == ""  # one reading besides the glyph match is not enough


def test_pdf_without_text_layer_goes_to_ocr() -> None:
    page = Image.open(io.BytesIO(data("sample.scan.png"))).crop((0, 700, 1654, 1350)).convert("L")
    out = io.BytesIO()
    page.save(out, "PDF", resolution=200)
    tables = read_attachment(out.getvalue(), "pdf").tables
    assert [(len(t.rows), len(t.rows[0])) for t in tables] == [(4, 4), (4, 15)]
    assert texts(tables[0])[3] == ["行政规范性文件", "12", "3", "45"]
