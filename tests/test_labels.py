"""Every label variant declared in extract/schema.py (report_format.md §5.2) lands on its key.

Each case builds a small report in tab-separated text whose one varied label is the variant, and
gives that row distinctive numbers, so a variant matched to the wrong row fails.
"""

import pytest

from extract import extract_document
from extract.labels import leaf, normalize
from extract.schema import ACTIVE_TABLES, REQUEST_ROWS, SECTIONS, active_tables, request_rows


def _report_text(template: str, row_labels: dict[str, str] | None = None, col_labels: dict[str, str] | None = None,
                 headings: dict[str, str] | None = None, values: dict[str, list[str]] | None = None) -> str:
    """A complete report in the tab-separated layout of seeds 000/001, with chosen labels and values."""
    row_labels, col_labels, headings, values = row_labels or {}, col_labels or {}, headings or {}, values or {}
    lines = [f"测试镇人民政府{2020 if template == '2019' else 2022}年政府信息公开工作年度报告"]
    for section in SECTIONS:
        lines.append(headings.get(section.numeral, f"{section.numeral}、{section.label.canonical}"))
        if section.numeral == "二":
            for table in active_tables(template):
                lines.append(f"第二十条第（{table.item}）项")
                lines.append("\t".join(["信息内容", *(col_labels.get(c.key, c.label.canonical) for c in table.columns)]))
                for row in table.rows:
                    cells = values.get(row.key, ["0"] * len(table.columns))
                    lines.append("\t".join([row_labels.get(row.key, row.label.canonical), *cells]))
        elif section.numeral == "三":
            lines.append("（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）\t申请人情况")
            for row in request_rows(template):
                if template == "2021" and row.key == "other":
                    lines.append("（六）其他处理")
                    continue
                cells = values.get(row.key, ["0"] * 7)
                lines.append("\t".join([row_labels.get(row.key, row.label.canonical), *cells]))
        elif section.numeral == "四":
            lines.append("行政复议\t行政诉讼")
            lines.append("\t".join(["0"] * 15))
        else:
            lines.append("本年度工作情况说明。")
    return "\n".join(lines) + "\n"


def _extract(text: str):
    [report] = extract_document(text.encode("utf-8"))
    return report


ROW_VARIANTS = [
    (template, row.key, variant)
    for template in ("2019", "2021")
    for row in request_rows(template)
    for variant in row.label.variants
] + [
    (table.template, row.key, variant)
    for table in ACTIVE_TABLES
    for row in table.rows
    for variant in row.label.variants
    # "规范性文件" as the 2021 label, or "行政规范性文件" in a 2019 table: both name the same row.
]


@pytest.mark.parametrize(("template", "row_key", "variant"), ROW_VARIANTS)
def test_row_label_variants(template: str, row_key: str, variant: str) -> None:
    is_active = any(row_key == r.key for t in ACTIVE_TABLES for r in t.rows)
    width = next((len(t.columns) for t in active_tables(template) for r in t.rows if r.key == row_key), 7)
    marker = [str(7 + i) for i in range(width)]
    report = _extract(_report_text(template, row_labels={row_key: variant}, values={row_key: marker}))
    prefix = f"active.{row_key}" if is_active else f"requests.{row_key}"
    got = [v for k, v in report.values.items() if k.startswith(prefix + ".")]
    assert got == [int(m) for m in marker]


@pytest.mark.parametrize("spaced", ["规  章", "规 章", "规\n章"])
def test_spaced_rule_label(spaced: str) -> None:  # seed 003 prints "规  章"
    text = _report_text("2019", values={"rules": ["1", "2", "3"]}).replace("规章\t", spaced.replace("\n", " ") + "\t")
    assert [_extract(text).value(f"active.rules.{c}") for c in ("made", "published", "total_published")] == [1, 2, 3]


COLUMN_VARIANTS = [(t.template, c.key, v) for t in ACTIVE_TABLES for c in t.columns for v in c.label.variants]


@pytest.mark.parametrize(("template", "column_key", "variant"), COLUMN_VARIANTS)
def test_column_label_variants_keep_the_template(template: str, column_key: str, variant: str) -> None:
    report = _extract(_report_text(template, col_labels={column_key: variant}))
    assert report.template == template
    assert not report.missing_tables


@pytest.mark.parametrize("annotated", ["上一年项目数量 (指2018年事项数)", "本年增/减 (指2019年增加或减少的事项数,减用负值表示,如-8)",
                                       "处理决定数量 (指2019年办件量)", "本年新\n制作数量", "本年新 制作数量"])
def test_annotated_and_split_2019_headers(annotated: str) -> None:
    text = _report_text("2019").replace("上一年项目数量", annotated.replace("\n", " "), 1)
    assert _extract(text).template == "2019"


SECTION_VARIANTS = [(s.numeral, v) for s in SECTIONS for v in s.label.variants]


@pytest.mark.parametrize(("numeral", "variant"), SECTION_VARIANTS)
def test_section_heading_variants(numeral: str, variant: str) -> None:
    report = _extract(_report_text("2021", headings={numeral: f"{numeral}、{variant}"}))
    assert report.sections == list("一二三四五六")


def test_sub_headings_do_not_split_sections() -> None:
    text = _report_text("2021").replace("本年度工作情况说明。", "（一）主动公开政府信息情况\n二是加强平台建设。\n三、是年度", 1)
    report = _extract(text)
    assert report.sections == list("一二三四五六")
    assert "二是加强平台建设。" in report.narrative["一"]


def test_missing_section_is_not_invented() -> None:
    text = _report_text("2021").replace("四、政府信息公开行政复议、行政诉讼情况\n", "")
    assert _extract(text).sections == ["一", "二", "三", "五", "六"]


def test_normalisation_forms() -> None:
    assert normalize("（二）部分公开（区分处理的，只计这一情形，不计其他情形）") == "(二)部分公开(区分处理的,只计这一情形,不计其他情形)"
    assert normalize("3.危及“三安全一稳定”") == normalize('3.危及"三安全一稳定"')
    assert leaf("（七）总计") == "总计"
    assert leaf("规范性文件(指各行政机关印发的有正式文号的文件)") == "规范性文件"
    assert leaf("[bookmark: _GoBack]一、总体情况") == "总体情况"


def test_other_under_group_six_is_resolved_by_position() -> None:
    """"3.其他" is also a column header: only its place under （六） makes it other_misc."""
    report = _extract(_report_text("2021", values={"other_misc": ["1", "0", "0", "0", "0", "0", "1"]}))
    assert report.value("requests.other_misc.natural_person") == 1
    assert report.value("requests.other.total") == 1  # the sum of the three rows
    assert "requests.other.total" in report.inferred
    assert [r.key for r in REQUEST_ROWS if r.label.canonical == "3.其他"] == ["other_misc"]
