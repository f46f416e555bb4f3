"""simulator.render: the official table layouts, the Word-pasted style, encodings, escaping, and the seed fixtures."""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

import lxml.html
import pytest

from extract.schema import (
    APPEAL_COLUMNS,
    APPEAL_GROUPS,
    REQUEST_COLUMNS,
    active_tables,
    request_rows,
    template_keys,
)
from simulator.render import ReportDocument, render_html, render_text, table_image_src

FIXTURES = Path(__file__).parent / "fixtures"
_spec = importlib.util.spec_from_file_location("make_seed_html", FIXTURES / "make_seed_html.py")
assert _spec and _spec.loader
make_seed_html = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_seed_html)

SEEDS = make_seed_html.SEED_NUMBERS


@cache
def seed_doc(number: str) -> ReportDocument:
    return make_seed_html.read_seed(number)


XSS = "<script>alert(1)</script>"


def numbered_document(template: str, **changes: object) -> ReportDocument:
    """A document whose every cell holds a distinct number, so a misplaced cell cannot go unnoticed."""
    cells = {key: str(i) for i, key in enumerate(template_keys(template))}
    doc = ReportDocument("大新镇人民政府", 2020 if template == "2019" else 2022, template, "测试年报", cells)
    for name, value in changes.items():
        setattr(doc, name, value)
    return doc


def parse(data: bytes, encoding: str = "utf-8") -> lxml.html.HtmlElement:
    return lxml.html.fromstring(data.decode(encoding))


def report_tables(root: lxml.html.HtmlElement) -> list[lxml.html.HtmlElement]:
    """The report's tables: innermost tables, without the portal's 索引号 table and the article's layout table."""
    return root.xpath("//table[not(.//table)][not(contains(@class, 'xxgk-info'))][not(contains(@class, 'article-layout'))]")


def grid(table: lxml.html.HtmlElement) -> list[list[str]]:
    """The table with rowspan/colspan expanded: every position holds the text of the cell covering it."""
    placed: dict[tuple[int, int], str] = {}
    rows = table.xpath("./tr | ./thead/tr | ./tbody/tr")
    for r, tr in enumerate(rows):
        c = 0
        for cell in tr.xpath("./td | ./th"):
            while (r, c) in placed:
                c += 1
            for dr in range(int(cell.get("rowspan", 1))):
                for dc in range(int(cell.get("colspan", 1))):
                    placed[(r + dr, c + dc)] = cell.text_content()
            c += int(cell.get("colspan", 1))
    width = 1 + max(c for _, c in placed)
    return [[placed.get((r, c), "") for c in range(width)] for r in range(len(rows))]


def squeeze(text: str) -> str:
    """Text without any whitespace (incl. no-break spaces): how Word markup is compared to the document."""
    return "".join(text.split())


def spans(table: lxml.html.HtmlElement, text: str) -> tuple[int, int]:
    (cell,) = [c for c in table.xpath(".//th | .//td") if squeeze(c.text_content()) == squeeze(text)]
    return int(cell.get("rowspan", 1)), int(cell.get("colspan", 1))


# ---------------------------------------------------------------- the official layout (clean style)


@pytest.mark.parametrize(("template", "results_rows"), [("2019", 20), ("2021", 22)])
def test_clean_requests_table_merges_cells_as_the_template(template: str, results_rows: int) -> None:
    _, requests, _ = report_tables(parse(render_html(numbered_document(template), page_chrome=False)))
    assert spans(requests, "（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）") == (3, 3)
    assert spans(requests, "申请人情况") == (1, 7)
    assert spans(requests, "自然人") == (2, 1)
    assert spans(requests, "法人或其他组织") == (1, 5)
    assert spans(requests, "总计") == (2, 1)
    assert spans(requests, "三、本年度办理结果") == (results_rows, 1)
    assert spans(requests, "（三）不予公开") == (8, 1)
    assert spans(requests, "（四）无法提供") == (3, 1)
    assert spans(requests, "（五）不予处理") == (5, 1)
    assert spans(requests, "（六）其他处理") == ((3, 1) if template == "2021" else (1, 2))
    assert spans(requests, "一、本年新收政府信息公开申请数量") == (1, 3)
    assert spans(requests, "（七）总计") == (1, 2)


def test_2021_other_as_single_row_prints_one_data_row() -> None:
    doc = numbered_document("2021", other_as_single_row=True)
    _, requests, _ = report_tables(parse(render_html(doc, page_chrome=False)))
    assert spans(requests, "三、本年度办理结果") == (20, 1)
    assert spans(requests, "（六）其他处理") == (1, 2)
    row = next(row for row in grid(requests) if row[1] == "（六）其他处理")
    assert row[3:] == [doc.cells[f"requests.other.{c.key}"] for c in REQUEST_COLUMNS]


def test_clean_appeals_table_merges_cells_as_the_template() -> None:
    doc = numbered_document("2019")
    _, _, appeals = report_tables(parse(render_html(doc, page_chrome=False)))
    assert spans(appeals, "行政复议") == (1, 5)
    assert spans(appeals, "行政诉讼") == (1, 10)
    assert spans(appeals, "未经复议直接起诉") == (1, 5)
    assert spans(appeals, "复议后起诉") == (1, 5)
    header_row = appeals.xpath(".//tr")[1]
    assert [int(td.get("rowspan", 1)) for td in header_row.xpath("./th")[:5]] == [2] * 5
    assert grid(appeals)[3] == [doc.cells[f"{g.key}.{c}"] for g in APPEAL_GROUPS for c, _ in APPEAL_COLUMNS]


def test_clean_active_table_prints_each_block_under_its_caption() -> None:
    doc = numbered_document("2021")
    active, _, _ = report_tables(parse(render_html(doc, page_chrome=False)))
    rows = grid(active)
    assert rows[0] == ["第二十条第（一）项"] * 4
    licensing = next(row for row in rows if row[0] == "行政许可")
    # 2021 （五）: the single column stretches over the table's three value columns.
    assert licensing == ["行政许可"] + [doc.cells["active.licensing.decisions"]] * 3


# ---------------------------------------------------------------- every cell where it belongs, both styles


def expected_grid_values(doc: ReportDocument) -> list[tuple[int, int, int, str]]:
    """(table, row, column, text) for every printed value cell, derived from the schema's table order."""
    expected: list[tuple[int, int, int, str]] = []
    row = 0
    for table in active_tables(doc.template):
        row += 2  # caption and column headers
        for active_row in table.rows:
            for col, column in enumerate(table.columns, start=1):
                expected.append((0, row, col, doc.cells.get(f"active.{active_row.key}.{column.key}", "")))
            row += 1
    printed = [r for r in request_rows(doc.template) if not (doc.template == "2021" and r.key == "other")]
    for row, request_row in enumerate(printed, start=3):
        keys = [f"requests.{request_row.key}.{column.key}" for column in REQUEST_COLUMNS]
        printed_keys = [key for key in keys if key not in doc.lost_cells]  # a lost cell shortens its row
        for col, key in enumerate(printed_keys, start=3):
            expected.append((1, row, col, doc.cells.get(key, "")))
    keys = [f"{g.key}.{c}" for g in APPEAL_GROUPS for c, _ in APPEAL_COLUMNS]
    expected += [(2, 3, col, doc.cells.get(key, "")) for col, key in enumerate(keys)]
    return expected


@pytest.mark.parametrize("number", SEEDS)
def test_clean_fixture_holds_every_cell_text_exactly_in_its_position(number: str) -> None:
    doc = seed_doc(number)
    tables = [grid(t) for t in report_tables(parse((FIXTURES / "seeds" / f"{number}.clean.html").read_bytes()))]
    for table, row, col, text in expected_grid_values(doc):
        assert tables[table][row][col] == text, (table, row, col)


@pytest.mark.parametrize("number", SEEDS)
def test_word_fixture_holds_every_cell_text_in_its_position(number: str) -> None:
    doc = seed_doc(number)
    root = parse((FIXTURES / "seeds" / f"{number}.word.gbk.html").read_bytes(), "gb18030")
    tables = [grid(t) for t in report_tables(root)]
    for table, row, col, text in expected_grid_values(doc):
        assert squeeze(tables[table][row][col]) == squeeze(text), (table, row, col)


@pytest.mark.parametrize("style", ["clean", "word"])
def test_numbered_documents_keep_every_cell_in_place(style: str) -> None:
    for template in ("2019", "2021"):
        doc = numbered_document(template)
        tables = [grid(t) for t in report_tables(parse(render_html(doc, style=style)))]
        for table, row, col, text in expected_grid_values(doc):
            assert squeeze(tables[table][row][col]) == text, (template, table, row, col)


# ---------------------------------------------------------------- the seed fixtures


def test_seed_documents_carry_the_seeds_own_variants() -> None:
    assert seed_doc("003").label_variants["row:rules"] == "规  章"
    assert seed_doc("003").label_variants["row:unable_not_held"] == "1.机关不掌握相关政府信息"
    assert seed_doc("003").section_titles == {"五": "五、存在的主要问题及改进措施"}
    assert seed_doc("000").label_variants["row:denied_prohibited_by_law"] == "2.其他法律法规禁止公开"
    assert seed_doc("002").label_variants["col:made"] == "本年新\n制作数量"
    assert seed_doc("002").section_titles == {"二": "二、政府信息主动公开情况", "四": "四、复议、诉讼和申诉情况"}
    assert seed_doc("002").extra_active_lines == ["2020年本行政区域（或本部门）政府信息公开发布总数量（非新闻类、消息类）："]
    assert seed_doc("001").label_variants["col:requests.total"] == ""
    assert seed_doc("004").label_variants == {"col:六.decisions": "\n\n本年处理决定数量"}
    assert seed_doc("003").cells["active.licensing.change"] == "0/0"
    assert seed_doc("002").cells["requests.granted.total"] == "\xa00"
    assert seed_doc("004").cells["requests.granted.commercial"] == "0\xa0"
    # Seed 003 fills only 总计 in section 三.
    assert seed_doc("003").cells["requests.new_received.natural_person"] == ""
    assert seed_doc("003").cells["requests.new_received.total"] == "0"
    # Seeds 000/001 print 6 numbers in the result rows: the rendered row is one cell short (other_org).
    doc = seed_doc("000")
    granted = {c.key: doc.cells.get(f"requests.granted.{c.key}") for c in REQUEST_COLUMNS}
    assert granted == {
        "natural_person": "4",
        "commercial": "0",
        "research": "0",
        "nonprofit": "0",
        "legal_service": "0",
        "other_org": None,
        "total": "4",
    }
    assert "requests.granted.other_org" in doc.lost_cells
    assert "requests.new_received.other_org" not in doc.lost_cells  # rows 一/二/（七）/四 print 7 numbers


def seed_table_rows(text: str, cell_per_line: bool) -> dict[str, list[list[str]]]:
    """Rows of the 二/三/四 tables as the seed reader splits them, trailing empty cells dropped."""
    lines = text.split("\n")
    starts = [i for i, line in enumerate(lines) if make_seed_html._heading_numeral(line)]
    tables: dict[str, list[list[str]]] = {}
    for start, end in zip(starts, [*starts[1:], len(lines)], strict=True):
        numeral = make_seed_html._heading_numeral(lines[start])
        if numeral not in ("二", "三", "四"):
            continue
        section = lines[start + 1 : end]
        if cell_per_line:
            rows = make_seed_html._cell_per_line_rows(section)
        else:
            rows = make_seed_html._tab_rows([line for line in section if "\t" in line])
        trimmed = [row[: max((i + 1 for i, cell in enumerate(row) if cell), default=0)] for row in rows]
        tables[numeral] = [row for row in trimmed if row]
    return tables


@pytest.mark.parametrize("number", SEEDS)
def test_text_rendering_of_a_seed_document_gives_back_the_seeds_tables(number: str) -> None:
    cell_per_line = number >= "002"  # seeds 000/001 are tab-separated, 002–004 one cell per line
    seed_text = (FIXTURES / "seeds" / f"{number}.txt").read_text(encoding="utf-8")
    rendered = render_text(seed_doc(number), style="cell_per_line" if cell_per_line else "tabs")
    assert seed_table_rows(rendered, cell_per_line) == seed_table_rows(seed_text, cell_per_line)


@pytest.mark.parametrize("number", SEEDS)
def test_committed_fixtures_are_what_the_script_renders(number: str) -> None:
    for name, data in make_seed_html.render_seed(number, seed_doc(number)).items():
        assert (FIXTURES / "seeds" / name).read_bytes() == data, f"{name} is stale: run tests/fixtures/make_seed_html.py"


@pytest.mark.parametrize("number", SEEDS)
def test_gbk_fixture_declares_gb2312_and_carries_the_seed(number: str) -> None:
    data = (FIXTURES / "seeds" / f"{number}.word.gbk.html").read_bytes()
    assert b"<meta charset=gb2312>" in data
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    doc = seed_doc(number)
    root = parse(data, "gb18030")
    assert root.findtext(".//title").startswith(doc.title_line)
    assert root.xpath("string(//h1)") == doc.title_line
    body = squeeze(root.text_content())
    for paragraph in [*doc.intro, *(p for paragraphs in doc.narrative.values() for p in paragraphs)]:
        assert squeeze(paragraph) in body


def test_clean_fixture_is_utf8_with_the_title() -> None:
    data = (FIXTURES / "seeds" / "003.clean.html").read_bytes()
    root = parse(data)
    assert b'<meta charset="utf-8">' in data
    assert root.xpath("string(//h1)") == "兴国县政府办2020年政府信息公开工作年度报告"
    assert [h.text_content() for h in root.xpath("//h2")][4] == "五、存在的主要问题及改进措施"


# ---------------------------------------------------------------- Word markup


def test_word_style_looks_like_a_word_paste() -> None:
    doc = seed_doc("002")
    data = render_html(doc, style="word")
    text = data.decode("utf-8")
    for marker in ("<p class=MsoNormal", "<o:p></o:p>", "<o:p>&nbsp;</o:p>", "mso-", "supportMisalignedColumns"):
        assert marker in text
    root = parse(data)
    # The report tables sit inside a layout table.
    assert all(t.xpath("ancestor::table") for t in report_tables(root) if "MsoNormalTable" in t.get("class", ""))
    # Every cell holds Word paragraphs.
    cells = [c for t in report_tables(root) if "MsoNormalTable" in t.get("class", "") for c in t.xpath(".//td")]
    assert all(c.xpath("./p[@class='MsoNormal']") for c in cells if c.get("style") != "border:none")


def test_word_style_splits_some_labels_and_numbers_across_spans() -> None:
    split_labels = split_numbers = 0
    for doc in [*map(seed_doc, SEEDS), numbered_document("2019"), numbered_document("2021")]:
        root = parse(render_html(doc, style="word"))
        for cell in root.xpath("//table[contains(@class, 'MsoNormalTable')]//td"):
            runs = [s for s in cell.xpath(".//p/span") if s.text_content().strip()]
            if len(runs) > 1 and squeeze(cell.text_content()).isdigit():
                split_numbers += 1
            elif len(runs) > 1:
                split_labels += 1
    assert split_labels > 20
    assert split_numbers > 10


def test_word_rendering_is_stable() -> None:
    doc = numbered_document("2021")
    assert render_html(doc, style="word") == render_html(doc, style="word")


# ---------------------------------------------------------------- encodings, chrome, defects, escaping


def test_meta_charset_can_lie_or_be_missing() -> None:
    doc = seed_doc("004")
    lying = render_html(doc, encoding="gbk", meta_charset="utf-8", page_chrome=False)
    assert b'<meta charset="utf-8">' in lying
    assert doc.title_line in lying.decode("gb18030")
    silent = render_html(doc, encoding="gbk", meta_charset=None)
    assert b"charset" not in silent
    auto = render_html(doc, style="word", encoding="gb18030")
    assert b"<meta charset=gb18030>" in auto


def test_page_chrome_carries_breadcrumb_and_publication_metadata() -> None:
    doc = seed_doc("001")
    root = parse(render_html(doc, published_on="2023-01-16", site_name="某县人民政府", index_no="X/2023-00001"))
    assert root.xpath("//meta[@name='PubDate']/@content") == ["2023-01-16"]
    crumbs = root.xpath("string(//div[@class='location'])")
    assert "首页 > 政务公开 > 政府信息公开 > 政府信息公开年报" in crumbs
    info = squeeze(root.xpath("string(//table[@class='xxgk-info'])"))
    assert "索引号：X/2023-00001" in info
    assert "发布机构：广阳镇" in info
    assert "公开日期：2023-01-16" in info
    assert root.findtext(".//title") == "广阳镇2022年政府信息公开工作年度报告_某县人民政府"


@pytest.mark.parametrize("style", ["clean", "word"])
def test_tables_as_images_keep_the_headings(style: str) -> None:
    doc = seed_doc("000")
    root = parse(render_html(doc, style=style, tables_as_images=True, image_base="/pic/"))
    assert report_tables(root) == []
    sources = root.xpath("//div[contains(@class, 'article-content') or @class='WordSection1']//img/@src")
    assert sources == [table_image_src(doc, numeral, "/pic/") for numeral in ("二", "三", "四")]
    text = root.text_content()
    for numeral in ("二", "三", "四"):
        assert doc.heading(numeral) in text


def test_omitted_section_is_left_out() -> None:
    doc = numbered_document("2019", omit_sections={"四"}, section_titles={"二": "二、政府信息主动公开情况"})
    root = parse(render_html(doc, page_chrome=False))
    headings = [h.text_content() for h in root.xpath("//h2")]
    assert headings == [
        "一、总体情况",
        "二、政府信息主动公开情况",
        "三、收到和处理政府信息公开申请情况",
        "五、存在的主要问题及改进情况",
        "六、其他需要报告的事项",
    ]
    assert len(report_tables(root)) == 2


@pytest.mark.parametrize("style", ["clean", "word"])
@pytest.mark.parametrize("page_chrome", [True, False])
def test_report_text_is_escaped(style: str, page_chrome: bool) -> None:
    doc = numbered_document(
        "2021",
        title=f"年报{XSS}",
        intro=[XSS],
        narrative={"一": [f"总体{XSS}"]},
        section_titles={"二": f"二、{XSS}"},
        label_variants={"row:rules": XSS, "col:requests.total": XSS},
        extra_active_lines=[XSS],
    )
    doc.cells["active.rules.issued"] = XSS
    data = render_html(doc, style=style, page_chrome=page_chrome, publisher=XSS, site_name=XSS, published_on=XSS)
    assert b"<script>alert" not in data
    root = parse(data)
    assert not [s for s in root.xpath("//script") if "alert" in s.text_content()]
    assert root.text_content().count(XSS) >= 7


def test_text_styles() -> None:
    doc = seed_doc("003")
    tabs = render_text(doc, style="tabs")
    assert "第二十条第（一）项\t\t\t" in tabs
    assert "\n规  章\t0\t0\t0\n" in tabs
    per_line = render_text(doc, style="cell_per_line")
    assert "\t商业\n企业\n\t科研\n机构" in per_line
    pipes = render_text(doc, style="pipes")
    tables = [block.split("\n") for block in pipes.split("\n\n") if block.startswith("|")]
    assert len(tables) == 3
    # Every row of a pipe table is padded to the same number of cells.
    assert all(len({line.count("|") for line in lines}) == 1 for lines in tables)
    assert "| 规  章 | 0 | 0 | 0 |" in pipes
    with pytest.raises(ValueError):
        render_text(doc, style="csv")
