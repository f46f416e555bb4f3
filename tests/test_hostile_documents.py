"""Hostile HTML and text documents (issue 10): pages nested past the parser's depth, 100,000-row tables, huge cells,
too many tags, NUL bytes and control characters, `<script>` and entities in report cells, spreadsheet formulas,
quotes and SQL in names, unknown encodings, empty documents and binary garbage.

Each is refused with one clear line or read safely, and a real seed report inside a hostile document still yields
its exact values (tests/fixtures/seeds). A refusal at a limit is an `UnreadableDocument`, which the crawl records as
an "unreadable" error — never "not a report", which it would drop silently — and an article announcing such a
document becomes a report with an `unreadable_document` finding. Attachments: tests/test_hostile_attachments.py.
"""

from __future__ import annotations

import functools
import html
import json
import random
import re
from pathlib import Path

import pytest
from test_hostile_attachments import _strings as strings

import extract
from checks.report import check_report
from crawler.extraction import extract as extract_in_worker
from extract import ExtractionError, UnreadableDocument, extract_document, read_grid
from extract.builder import build_report
from extract.limits import MAX_CELLS, MAX_HTML_DEPTH, MAX_HTML_TAGS, Deadline
from extract.model import Cell, Report, Table
from extract.unreadable import unreadable_report

SEEDS = Path(__file__).parent / "fixtures" / "seeds"
TITLE_000 = "大新镇人民政府2020年政府信息公开工作年度报告"
# Control characters that carry no layout (tab and line breaks do): what may never reach a report's text.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def seed(name: str) -> str:
    return (SEEDS / name).read_text(encoding="utf-8")


def expected(number: str) -> dict:
    return json.loads((SEEDS / f"{number}.expected.json").read_text(encoding="utf-8"))


def read(data: bytes | str, **hints: str) -> Report:
    (report,) = extract_document(data.encode() if isinstance(data, str) else data, **hints)
    return report


def refused(data: bytes | str, says: str, error: type[ExtractionError] = UnreadableDocument) -> str:
    with pytest.raises(error, match=says) as raised:
        extract_document(data.encode() if isinstance(data, str) else data)
    message = str(raised.value)
    assert message and "\n" not in message and "Traceback" not in message and len(message) < 200
    return message


def with_body(page: str, before: str, after: str) -> str:
    """`page` with `before` right after <body> and `after` right before </body>."""
    assert page.count("<body>") == page.count("</body>") == 1
    return page.replace("<body>", "<body>" + before).replace("</body>", after + "</body>")


# ---------------------------------------------------------------------------------------------------- nesting


@pytest.mark.parametrize("depth", [MAX_HTML_DEPTH + 5, 100_000])
def test_html_nested_deeper_than_the_limit_is_refused_naming_it(depth: int) -> None:
    page = with_body(seed("000.clean.html"), "<div>" * depth, "</div>" * depth)
    assert refused(page, "HTML nested deeper") == f"HTML nested deeper than {MAX_HTML_DEPTH} elements"


# (opening, closing, elements each wrapper adds): the report inside divs, or inside layout tables framing the page
WRAPPERS = {"div": ("<div>", "</div>", 1), "layout table": ("<table><tr><td>", "</td></tr></table>", 3)}


@pytest.mark.parametrize("wrapper", WRAPPERS)
def test_a_report_nested_just_below_the_depth_limit_is_read_exactly(wrapper: str) -> None:
    opening, closing, levels = WRAPPERS[wrapper]
    page = seed("000.clean.html")
    own_depth = 6  # html > body > table > tr > th|td, and one inline element inside some cells
    wraps = (MAX_HTML_DEPTH - own_depth - 2) // levels
    report = read(with_body(page, opening * wraps, closing * wraps))
    truth = expected("000")
    assert report.values == truth["fields"]
    assert (report.unit, report.year, report.title, report.sections) == (truth["unit"], truth["year"], truth["title"],
                                                                          truth["sections"])
    deeper = (MAX_HTML_DEPTH + 2) // levels + 1  # the limit itself, whatever the page nests inside
    refused(with_body(page, opening * deeper, closing * deeper), f"HTML nested deeper than {MAX_HTML_DEPTH} elements")


# ---------------------------------------------------------------------------------------------------- 100,000 rows


def test_a_100000_row_table_is_refused_at_the_tag_limit() -> None:
    rows = "".join(f"<tr><td>行{i}</td><td>{i}</td></tr>" for i in range(100_000))
    page = with_body(seed("000.clean.html"), "", f"<table>{rows}</table>")
    assert refused(page, "tags") == f"HTML page with more than {MAX_HTML_TAGS:,} tags"


def test_a_100000_row_table_in_few_tags_is_refused_at_the_cell_limit() -> None:
    """End tags left out and each cell spanning three columns: 200,001 tags would pass, 300,000 cells do not."""
    rows = "".join(f"<tr><td colspan=3>{i}" for i in range(100_000))
    page = with_body(seed("000.clean.html"), "", f"<table>{rows}</table>")
    assert page.count("<") < MAX_HTML_TAGS
    assert refused(page, "table cells") == f"HTML page with more than {MAX_CELLS:,} table cells"


def test_a_100000_row_table_of_single_cells_is_read_safely_beside_the_report() -> None:
    """100,000 cells are within the limits: the report beside them is read exactly, and no number of theirs is a value."""
    rows = "<tr><td>7" * 100_000
    report = read(with_body(seed("000.clean.html"), f"<table>{rows}</table>", ""))
    assert report.values == expected("000")["fields"]
    assert [k for k, f in report.fields.items() if f.raw == "7"] == []
    assert report.warnings == read(seed("000.clean.html")).warnings


def test_a_100000_row_text_table_is_refused_at_the_cell_limit_or_stopped_by_the_deadline(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Two cells a row and the report's own: over the cell limit. With fewer rows, each a distinct label, matching
    them takes a minute or more, so the one-document deadline (30 s; 1 s here) stops it, wherever it is."""
    rows = "".join(f"行{i}\t{i}\n" for i in range(100_000))
    assert refused(seed("000.txt") + "\n" + rows, "table cells") == f"text with more than {MAX_CELLS:,} table cells"
    monkeypatch.setattr(extract, "Deadline", functools.partial(Deadline, 1.0))
    message = refused(seed("000.txt") + "\n" + rows[: rows.index("行90000")], "took longer")
    assert re.fullmatch(r"extraction took longer than 1 s \(while (reading line \d+|telling the template, text \d+|"
                        r"matching table \d+ row \d+)\)", message), message


class Recording(Deadline):
    """A deadline that never passes and keeps what it was checked during."""

    def __init__(self) -> None:
        super().__init__()
        self.checked: list[str] = []

    def check(self, doing: str) -> None:
        self.checked.append(doing)


def test_the_deadline_is_checked_within_one_long_table() -> None:
    """The deadline bounds one huge table too: the report builder checks it every few hundred rows and texts, not
    once per table."""
    grid = read_grid(seed("000.txt").encode())
    tables = len(grid.tables)
    grid.blocks.append(Table(tables, [[Cell("备注", tables, r, 0), Cell(str(r), tables, r, 1)] for r in range(20_000)]))
    deadline = Recording()
    report = build_report(grid, deadline=deadline)
    assert report.values == expected("000")["fields"]
    assert f"telling the template, text {20_000 // 256 * 256}" in deadline.checked  # each distinct text, every 256
    assert f"matching table {tables} row {19_999 // 256 * 256}" in deadline.checked  # each row, every 256


def test_a_text_table_of_too_many_cells_is_refused_before_it_is_built() -> None:
    tabs = seed("000.txt") + "\n规章" + "\t" * 300_000 + "1\n"
    assert refused(tabs, "table cells") == f"text with more than {MAX_CELLS:,} table cells"
    spaced = seed("000.txt") + "\n规章 " + " ".join(["1"] * 250_000) + "\n"
    assert refused(spaced, "table cells") == f"text with more than {MAX_CELLS:,} table cells"


# ---------------------------------------------------------------------------------------------------- huge cells


def test_a_cell_beyond_the_parsers_buffer_is_refused() -> None:
    page = with_body(seed("000.clean.html"), "", "<table><tr><td>" + "数" * (4 * 2**20) + "</td><td>1</td></tr></table>")
    refused(page, r"^HTML beyond the parser's limits: .*Buffer size limit exceeded")


@pytest.mark.parametrize("digits", [16, 1_000_000])
def test_a_huge_number_in_a_cell_is_left_null_and_the_rest_is_read(digits: int) -> None:
    """Past 15 digits a number is no report's, and past 4,300 Python cannot even print it: null, with a short note."""
    page = seed("000.clean.html").replace("<td>规范性文件</td><td>26</td>", f"<td>规范性文件</td><td>{'2' * digits}</td>")
    report = read(page)
    made = report.fields["active.normative_docs.made"]
    assert (made.value, made.note) == (None, "unreadable '2222222222222222…': more than 15 digits")
    truth = {**expected("000")["fields"], "active.normative_docs.made": None}
    assert report.values == truth
    assert len(json.dumps(report.to_json(), ensure_ascii=False)) < 2 * len(page) + 100_000  # holds the cell once, as raw


def test_a_huge_label_cell_is_read_as_the_label_it_starts_with_or_costs_its_row_only() -> None:
    text = seed("001.txt")
    assert text.count("规章\t") == 1
    truth = expected("001")["fields"]
    assert read(text.replace("规章\t", "规章" + "章" * 300_000 + "\t")).values == truth
    rules = [k for k in truth if k.startswith("active.rules.")]
    assert read(text.replace("规章\t", "例" * 300_000 + "\t")).values == {**truth, **dict.fromkeys(rules)}


# ---------------------------------------------------------------------------------------------------- control characters


def sprinkled(text: str, every: int) -> str:
    """`text` with a NUL, ESC, BEL, DEL or another control character after every `every` characters."""
    controls = "\x00\x1b\x07\x7f\x01\x08\x1f"
    return "".join(c + (controls[i % len(controls)] if i % every == every - 1 else "") for i, c in enumerate(text))


@pytest.mark.parametrize("rendering", ["001.txt", "002.clean.html"])
def test_a_seed_sprinkled_with_nul_and_control_characters_reads_exactly(rendering: str) -> None:
    """Stray control bytes mean nothing in a report and are dropped (text.printable): the digits around them are the
    number printed, as a browser shows it. A document that is one part in five control bytes is binary data."""
    assert refused(sprinkled(seed(rendering), 5), ".", ExtractionError) == "binary data, not a report document"
    number = rendering[:3]
    report = read(sprinkled(seed(rendering), 199))
    truth = expected(number)
    assert report.values == truth["fields"]
    assert (report.unit, report.year, report.title) == (truth["unit"], truth["year"], truth["title"])
    assert [t for t in strings(report.to_json()) if CONTROL.search(t)] == []


def test_control_characters_written_as_character_references_are_dropped_too() -> None:
    """`&#27;` is an ESC once parsed: dropped like the byte."""
    page = seed("000.clean.html").replace(TITLE_000, "大新镇&#27;人民政府2020年&#x7;政府信息公开工作年度报告")
    page = page.replace("<td>规范性文件</td><td>26</td><td>0</td><td>26</td>",
                        "<td>规范&#x1b;性&#1;文件</td><td>2&#27;6</td><td>0&#31;</td><td>2&#x7F;6</td>")
    report = read(page)
    assert (report.title, report.unit) == (TITLE_000, "大新镇人民政府")
    normative = {k: report.fields[f"active.normative_docs.{k}"] for k in ("made", "published", "total_published")}
    assert {k: (f.value, f.raw) for k, f in normative.items()} == {
        "made": (26, "26"), "published": (0, "0"), "total_published": (26, "26")}
    assert [t for t in strings(report.to_json()) if CONTROL.search(t)] == []


# ---------------------------------------------------------------------------------------------------- script, entities


def test_script_and_style_in_report_cells_never_become_values_or_labels() -> None:
    fake = "<table><tr><td>规章</td><td>99</td><td>98</td><td>97</td></tr></table>"
    page = seed("000.clean.html").replace(
        "<td>规范性文件</td><td>26</td>",
        f"<td>规范性文件<script>document.write('{fake}')</script></td><td><style>td{{content:'99'}}</style>26"
        "<script>var n = 99;</script></td>",
    ).replace("<td>规章</td><td>0</td>", "<td><script>规范性文件</script>规章</td><td><noscript>99</noscript>0</td>")
    page = with_body(page, f"<script>document.write('{fake}')</script><style>/* 99 */</style>", "<template>" + fake + "</template>")
    report = read(page)
    assert report.values == expected("000")["fields"]
    assert not [k for k, f in report.fields.items() if f.raw and ("99" in f.raw or "script" in f.raw)]
    assert report.warnings == read(seed("000.clean.html")).warnings  # no row printed twice by a script


@pytest.mark.parametrize("printed", ["&#50;&#54;", "&#x32;&#x36;", "&#65298;&#65302;", "&nbsp;26&nbsp;", "2<b></b>6"])
def test_entities_in_cells_are_read_as_the_number_they_render(printed: str) -> None:
    page = seed("000.clean.html").replace("<td>规范性文件</td><td>26</td>", f"<td>规范性文件</td><td>{printed}</td>")
    report = read(page)
    assert report.values == expected("000")["fields"]
    rendered = html.unescape(printed.replace("<b></b>", "")).strip("\xa0")
    assert report.fields["active.normative_docs.made"].raw.strip("\xa0") == rendered  # "26" or the full-width "２６"


def test_escaped_markup_in_report_text_is_kept_as_text() -> None:
    page = seed("000.clean.html").replace(TITLE_000, "&lt;script&gt;alert(1)&lt;/script&gt;" + TITLE_000)
    report = read(page)
    assert report.title == "<script>alert(1)</script>" + TITLE_000
    assert report.values == expected("000")["fields"]


# ---------------------------------------------------------------------------------------------------- formulas


@pytest.mark.parametrize("formula", ['=HYPERLINK("http://x","26")', "+cmd|' /C calc'!A0", "@SUM(A1)", "=1+25", "-2+28"])
@pytest.mark.parametrize("cell", ["made", "total_published"])
def test_spreadsheet_formulas_in_cells_are_never_read_as_numbers(formula: str, cell: str) -> None:
    """A formula is a label to the reader, not a value: the row it sits in names no row, so its three cells stay null
    (never 26, 1 or 28); every other row reads exactly."""
    row = {"made": ("<td>规范性文件</td><td>26</td>", "<td>规范性文件</td><td>{}</td>"),
           "total_published": ("<td>0</td><td>26</td></tr>", "<td>0</td><td>{}</td></tr>")}[cell]
    page = seed("000.clean.html")
    assert page.count(row[0]) == 1
    report = read(page.replace(row[0], row[1].format(html.escape(formula))))
    normative = [f"active.normative_docs.{k}" for k in ("made", "published", "total_published")]
    assert report.values == {**expected("000")["fields"], **dict.fromkeys(normative)}
    assert [k for k, f in report.fields.items() if f.raw is not None and formula in f.raw] == []


# ---------------------------------------------------------------------------------------------------- names


NAMES = {
    "SQL": ("大新镇\"人民政府'); DROP TABLE reports; --", "大新镇\"人民政府');DROPTABLEreports;"),
    "quotes": ("O'Brien \"镇\" 1=1 OR ''='", "O'Brien\"镇\"1=1OR''='"),
}


@pytest.mark.parametrize("kind", NAMES)
@pytest.mark.parametrize("rendering", ["000.txt", "000.clean.html"])
def test_quotes_and_sql_in_titles_are_kept_verbatim(kind: str, rendering: str) -> None:
    """The title is kept as printed; the unit is its prefix normalised as every unit name is (no whitespace, no
    trailing dashes), quotes and SQL text kept as characters."""
    name, unit = NAMES[kind]
    page = seed(rendering)
    printed = html.escape(name, quote=False) if rendering.endswith(".html") else name
    report = read(page.replace(TITLE_000, printed + "2020年政府信息公开工作年度报告"))
    assert report.title == name + "2020年政府信息公开工作年度报告"
    assert (report.unit, report.year) == (unit, 2020)
    assert report.values == expected("000")["fields"]


# ---------------------------------------------------------------------------------------------------- encodings, empty, binary


def test_a_gbk_text_document_reads_exactly() -> None:
    assert read(seed("003.txt").encode("gb18030")).values == expected("003")["fields"]


@pytest.mark.parametrize(("encoding", "says"), [
    ("utf-16", "binary data, not a report document"),  # NUL bytes: not text
    ("big5", "not an annual report"),  # decodes, as gb18030, to text naming no report
    ("shift_jis", "not an annual report"),
])
def test_a_text_document_in_another_encoding_is_refused(encoding: str, says: str) -> None:
    data = seed("000.txt").encode(encoding, errors="replace")
    refused(data, says, ExtractionError)


def test_text_that_stops_decoding_past_its_first_64_kib_is_refused() -> None:
    data = seed("000.txt").encode() + ("一" * 30_000).encode() + b"\xff\xfe\x81\n"
    assert refused(data, "encoding", ExtractionError) == "text in an unknown encoding"


@pytest.mark.parametrize(("data", "says"), [
    (b"", "empty document"),
    (b" \r\n\t ", "empty document"),
    (b"\xef\xbb\xbf\n", "not an annual report: no report tables and no report title or sections"),  # a BOM, then nothing
])
def test_an_empty_document_is_refused(data: bytes, says: str) -> None:
    with pytest.raises(ExtractionError) as raised:
        extract_document(data)
    assert str(raised.value) == says
    assert not isinstance(raised.value, UnreadableDocument)  # nothing to record: not a report


@pytest.mark.parametrize("page", [b"<html></html>", b"<html><body><table></table></body></html>", b"<p>&#0;</p>"])
def test_an_empty_page_is_not_a_report(page: bytes) -> None:
    refused(page, "^not an annual report: no report tables and no report title or sections$", ExtractionError)


@pytest.mark.parametrize("prefix", [b"", seed("000.txt").encode(), b"<html><body>"])
def test_binary_garbage_is_refused(prefix: bytes) -> None:
    garbage = random.Random(7).randbytes(8192)
    assert refused(prefix + garbage, ".", ExtractionError) == "binary data, not a report document"


# ---------------------------------------------------------------------------------------------------- in a crawl


def test_a_refused_document_is_recorded_and_its_article_shows_as_found_but_unreadable(tmp_path: Path) -> None:
    """What the crawl does (crawler/extraction.py, crawler/pipelines.py): a "report.doc" that is a page nested past the
    limit is an "unreadable" outcome, which the crawl records, never "not a report"; the article announcing it becomes
    a report with no values and the reason (extract/unreadable.py), on which the checks raise `unreadable_document` and
    nothing else."""
    depth = 10_000
    document = tmp_path / "report.doc"
    document.write_bytes(with_body(seed("000.clean.html"), "<div>" * depth, "</div>" * depth).encode())
    reason = f"HTML nested deeper than {MAX_HTML_DEPTH} elements"
    assert extract_in_worker(str(document), "http://x.gov.cn/a/report.doc", "report.doc", "application/msword") == (
        "unreadable", reason)
    article = tmp_path / "article.html"
    article.write_text(f"<html><head><title>{TITLE_000}</title></head><body><h1>{TITLE_000}</h1>"
                       '<p>发布日期：2021-01-20</p><p>附件：<a href="report.doc">年度报告.doc</a></p></body></html>',
                       encoding="utf-8")
    report = unreadable_report(article.read_bytes(), page_url="http://x.gov.cn/a/1.html",
                               document_url="http://x.gov.cn/a/report.doc", reason=reason, source="report.doc")
    assert report is not None
    assert (report.unit, report.year, report.published_on, report.template, report.values) == (
        "大新镇人民政府", 2020, "2021-01-20", None, {})
    findings = check_report(report)
    assert [(f.rule, f.year) for f in findings] == [("unreadable_document", 2020)]
    assert reason in findings[0].message_en and reason in findings[0].message_zh
