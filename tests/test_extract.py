"""The extraction core against real reports: the five seeds in three renderings, and a real page."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from extract import ExtractionError, extract_document
from extract.html import read_html
from extract.model import Table
from extract.schema import template_keys

FIXTURES = Path(__file__).parent / "fixtures"
SEEDS = ["000", "001", "002", "003", "004"]
RENDERINGS = [".txt", ".clean.html", ".word.gbk.html"]


def expected(seed: str) -> dict:
    return json.loads((FIXTURES / "seeds" / f"{seed}.expected.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("rendering", RENDERINGS)
@pytest.mark.parametrize("seed", SEEDS)
def test_seed_fields_exactly(seed: str, rendering: str) -> None:
    path = FIXTURES / "seeds" / f"{seed}{rendering}"
    [report] = extract_document(path.read_bytes(), filename=path.name)
    truth = expected(seed)
    assert report.values == truth["fields"]
    assert list(report.values) == list(truth["fields"])
    assert (report.unit, report.year, report.template) == (truth["unit"], truth["year"], truth["template"])
    assert report.title == truth["title"]
    assert report.sections == truth["sections"]
    assert sorted(report.inferred) == sorted(truth["inferred"])
    assert report.is_complete


def test_real_word_pasted_page() -> None:
    data = (FIXTURES / "real" / "shuyang_fgj_2023.html").read_bytes()
    truth = json.loads((FIXTURES / "real" / "shuyang_fgj_2023.expected.json").read_text(encoding="utf-8"))
    [report] = extract_document(data)
    assert report.values == truth["fields"]
    assert (report.unit, report.year, report.template, report.published_on) == (
        truth["unit"], truth["year"], truth["template"], truth["published_on"])
    # provenance: raw text and cell position for a value the page prints
    fv = report.fields["active.normative_docs.in_force"]
    assert (fv.value, fv.raw.strip(), fv.where.startswith("table ")) == (18, "18", True)
    assert report.fields["requests.new_received.commercial"].raw.strip() == ""  # blank cell, kept as blank


def test_json_contract_has_every_key_of_the_template_only() -> None:
    for seed, count in [("000", 198), ("004", 207)]:
        [report] = extract_document((FIXTURES / "seeds" / f"{seed}.txt").read_bytes())
        data = report.to_json()
        assert len(data["fields"]) == count
        assert set(data["fields"]) == set(template_keys(report.template))
        assert {"unit", "year", "template", "title", "sections", "fields", "raw", "inferred", "warnings"} <= set(data)


# ---------------------------------------------------------------- HTML structure


def test_rowspan_and_colspan_are_expanded() -> None:
    html = """<table><tr><td rowspan="2">三、本年度办理结果</td><td colspan="2">（一）予以公开</td><td>5</td></tr>
              <tr><td>（二）部分公开</td><td>x</td><td>6</td></tr></table>"""
    [table] = [b for b in read_html(html.encode()).blocks if isinstance(b, Table)]
    first, second = table.rows
    assert [c.text for c in first] == ["三、本年度办理结果", "（一）予以公开", "（一）予以公开", "5"]
    assert [c.span_of for c in first] == [None, None, (0, 1), None]
    assert [c.text for c in second] == ["三、本年度办理结果", "（二）部分公开", "x", "6"]
    assert second[0].span_of == (0, 0)


def test_word_markup_cells_and_nested_layout_tables() -> None:
    html = """<html><body><table width=600><tr><td>
      <p class=MsoNormal><span style='font-family:仿宋_GB2312'>一、总</span><span>体情况</span><o:p></o:p></p>
      <table border=1><tr><td><p class=MsoNormal><span>申请人情</span><span>况</span></p></td>
        <td><p>本年新<br>制作数量</p></td><td><p class=MsoNormal>&nbsp;<o:p></o:p></p></td></tr>
        <tr><td>a</td><td>b</td><td>c</td></tr></table>
    </td></tr></table></body></html>"""
    grid = read_html(html.encode())
    assert grid.blocks[0].text == "一、总体情况"
    [table] = grid.tables
    assert [c.text for c in table.rows[0]] == ["申请人情况", "本年新\n制作数量", ""]


@pytest.mark.parametrize("declared", ["utf-8", None, "iso-8859-1"])
def test_gbk_pages_decode_whatever_the_page_claims(declared: str | None) -> None:
    meta = f'<meta charset="{declared}">' if declared else ""
    html = f"<html><head>{meta}</head><body><p>鹿乡镇2020年政府信息公开工作年度报告</p></body></html>"
    grid = read_html(html.encode("gbk"))
    assert grid.blocks[0].text == "鹿乡镇2020年政府信息公开工作年度报告"


def test_six_numbers_that_do_not_force_the_breakdown_stay_null() -> None:
    text = (FIXTURES / "seeds" / "000.txt").read_text(encoding="utf-8")
    text = text.replace("(一) 予以公开\t\t4\t0\t0\t0\t0\t4", "(一) 予以公开\t\t3\t1\t0\t0\t0\t4")
    [report] = extract_document(text.encode())
    assert report.value("requests.granted.natural_person") == 3
    assert report.value("requests.granted.total") == 4
    assert [report.value(f"requests.granted.{c}") for c in
            ("commercial", "research", "nonprofit", "legal_service", "other_org")] == [None] * 5
    assert "requests.granted.commercial" not in report.inferred
    assert any("legal-person columns left null" in w for w in report.warnings)


# ---------------------------------------------------------------- bad input


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nianbao.cli", "extract", *args], capture_output=True, text=True,
                          timeout=120)


def test_bad_files_get_one_line_errors_and_the_rest_is_processed(tmp_path: Path) -> None:
    empty = tmp_path / "empty.html"
    empty.write_bytes(b"")
    binary = tmp_path / "scan.bin"
    binary.write_bytes(b"\x00\x01\x02\x03" * 100)
    notice = tmp_path / "notice.html"
    notice.write_text("<html><body><h1>关于做好2021年政府信息公开工作年度报告编制发布工作的通知</h1>"
                      "<p>各乡镇：请于1月31日前发布。</p></body></html>", encoding="utf-8")
    truncated = tmp_path / "truncated.txt"
    seed = (FIXTURES / "seeds" / "000.txt").read_text(encoding="utf-8")
    truncated.write_text(seed[: seed.index("(四) 无法提供")], encoding="utf-8")
    good = FIXTURES / "seeds" / "001.txt"

    result = _run_cli(str(empty), str(binary), str(notice), str(truncated), str(good), "--json")

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"error {empty}: empty document",
        f"error {binary}: binary data, not a report document",
        f"error {notice}: not an annual report: no report tables and no report title or sections",
        f"error {truncated}: incomplete report: table 四 missing; row requests.unable_not_held missing; "
        "row requests.unable_needs_creation missing; row requests.unable_unclear missing; "
        "row requests.rejected_petition missing; row requests.rejected_duplicate missing; "
        "row requests.rejected_publication missing; row requests.rejected_excessive missing; "
        "row requests.rejected_confirmation missing; row requests.other missing; "
        "row requests.total_closed missing; row requests.carried_forward missing",
    ]
    reports = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["unit"] for r in reports] == ["大新镇人民政府", "广阳镇"]
    truncated_report = reports[0]
    assert truncated_report["fields"]["requests.total_closed.total"] is None  # never an invented number
    assert truncated_report["fields"]["requests.new_received.total"] == 4
    assert "Traceback" not in result.stderr


def test_a_good_file_exits_zero() -> None:
    result = _run_cli(str(FIXTURES / "seeds" / "002.txt"))
    assert result.returncode == 0, result.stderr
    assert "鹿乡镇" in result.stdout and "requests" in result.stdout


def test_not_a_report_raises_a_clear_error() -> None:
    with pytest.raises(ExtractionError, match="not an annual report"):
        extract_document("<html><body><p>政府信息公开工作年度报告格式</p></body></html>".encode())


@pytest.mark.parametrize("seed", ["000", "001"])
def test_text_with_spaces_between_cells(seed: str) -> None:
    """PDF-to-text conversions separate cells by spaces: the same fields as the tab-separated seed."""
    text = (FIXTURES / "seeds" / f"{seed}.txt").read_text(encoding="utf-8").replace("\t", " ")
    [report] = extract_document(text.encode())
    assert report.values == expected(seed)["fields"]
    assert report.sections == list("一二三四五六")


@pytest.mark.parametrize("seed", SEEDS)
def test_markdown_pipe_tables(seed: str) -> None:
    sys.path.insert(0, str(FIXTURES))
    try:
        from make_seed_html import read_seed
    finally:
        sys.path.pop(0)
    from simulator.render import render_text

    [report] = extract_document(render_text(read_seed(seed), style="pipes").encode())
    assert report.values == expected(seed)["fields"]


def _without_title_year(seed: str) -> str:
    text = (FIXTURES / "seeds" / f"{seed}.txt").read_text(encoding="utf-8")
    return text.replace("大新镇人民政府2020年政府信息公开工作年度报告", "大新镇人民政府政府信息公开工作年度报告")


def test_year_from_the_statistics_period_when_the_title_has_none() -> None:
    text = _without_title_year("000").replace(
        "## 一、总体情况", "本报告中所列数据的统计期限自2020年1月1日起至2020年12月31日止。\n\n## 一、总体情况")
    [report] = extract_document(text.encode())
    assert (report.unit, report.year) == ("大新镇人民政府", 2020)


def test_year_from_the_url_then_from_the_publication_date() -> None:
    text = _without_title_year("000").encode()
    assert extract_document(text, url="http://x.gov.cn/zfxxgk/zfxxgknb/2020n/index.html")[0].year == 2020
    page = (FIXTURES / "real" / "shuyang_fgj_2023.html").read_text(encoding="utf-8").replace("2023年", "")
    [report] = extract_document(page.encode())
    assert (report.year, report.published_on) == (2023, "2024-01-17")  # published 2024 → reports on 2023
