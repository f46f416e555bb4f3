"""Rules on one report: structure (sections, tables, template version), arithmetic and plausibility."""

from __future__ import annotations

from checks.arithmetic import check_arithmetic
from checks.findings import Finding, Subject
from checks.narrative import check_narrative
from extract.model import Report
from extract.schema import FIELDS_BY_KEY, SECTIONS, TEMPLATE_NAMES, active_tables
from extract.unreadable import unreadable_reason
from registry.units import Unit

_SECTION_TITLE = {s.numeral: f"{s.numeral}、{s.label.canonical}" for s in SECTIONS}


def report_subject(report: Report, unit: Unit | None = None) -> Subject:
    """Findings name the registry's unit when known, else the unit the report prints (or its file)."""
    if unit is not None:
        return Subject(unit.unit_id, unit.name, report.year, report.source_url)
    name = report.unit or report.source or "unknown"
    return Subject(name, report.unit or name, report.year, report.source_url)


def expected_template(year: int) -> str | None:
    """The format a report on `year` must use (60号 for 2019–2020, 30号 from 2021); None before 2019, when
    reports followed the old 条例 and no template."""
    if year < 2019:
        return None
    return "2021" if year >= 2021 else "2019"


def check_structure(report: Report, subject: Subject) -> list[Finding]:
    findings = []
    missing = [s.numeral for s in SECTIONS if s.numeral not in report.sections]
    if missing:
        titles = "、".join(_SECTION_TITLE[n] for n in missing)
        findings.append(
            subject.finding(
                "sections_missing",
                "",
                f"缺少{len(missing)}个部分：{titles}",
                f"{len(missing)} of the six sections absent: {', '.join(missing)}",
                (("missing_sections", "".join(missing)),),
            )
        )
    # A table printed as a picture is reported once, as image_only, not also as missing; so is the table of a
    # section that is missing altogether, as sections_missing.
    tables = [t for t in report.missing_tables if t not in report.image_only_sections and t not in missing]
    if tables:
        findings.append(
            subject.finding(
                "tables_missing",
                "",
                f"正文中没有第{'、'.join(tables)}部分的表格",
                f"no table text in section(s) {', '.join(tables)}",
                (("missing_tables", "".join(tables)),),
            )
        )
    if report.image_only_sections:
        sections = report.image_only_sections
        findings.append(
            subject.finding(
                "image_only",
                "",
                f"第{'、'.join(sections)}部分仅以图片形式发布，数据无法核对",
                f"section(s) {', '.join(sections)} published only as images; their numbers cannot be checked",
                (("image_only_sections", "".join(sections)),),
            )
        )
    expected = expected_template(report.year) if report.year else None
    if expected and report.template and report.template != expected:
        findings.append(
            subject.finding(
                "H6",
                "",
                f"{report.year}年度报告应使用{TEMPLATE_NAMES[expected]}，实际使用{TEMPLATE_NAMES[report.template]}",
                f"a {report.year} report must use the {expected} template, this one uses the {report.template} tables",
                (("template", report.template), ("expected_template", expected)),
            )
        )
    return findings


def _row_cells(report: Report, row: str, template: str) -> list[tuple[str, int | float | None]]:
    """(key, value) of one section-二 row, in the order its table prints the columns."""
    return [
        (f"active.{row}.{col.key}", report.value(f"active.{row}.{col.key}"))
        for table in active_tables(template)
        for r in table.rows
        if r.key == row
        for col in table.columns
    ]


def _shown(cells: list[tuple[str, int | float | None]]) -> str:
    return "，".join(f"{FIELDS_BY_KEY[k].label_zh.split(' · ')[-1]} {v:g}" for k, v in cells if v is not None)


def check_p1(report: Report, subject: Subject) -> list[Finding]:
    """Only 国务院部门 and provincial/city governments make 规章 (立法法); our units are county and township level."""
    if report.template is None:
        return []
    cells = _row_cells(report, "rules", report.template)
    if not any(v for _, v in cells):
        return []
    return [
        subject.finding(
            "P1",
            "row:rules",
            f"县、乡级单位无权制定规章，但规章行填报为：{_shown(cells)}",
            "county and township units cannot make 规章, but the 规章 row reads "
            + ", ".join(f"{k} = {v:g}" for k, v in cells if v is not None),
            tuple(cells),
        )
    ]


def check_p5(report: Report, subject: Subject) -> list[Finding]:
    """试行 第（一）项: new publications are part of the total and come from documents made; a document made
    this year with nothing newly published is the pattern of seed 000 (26/0/26, likely a mis-filled cell)."""
    if report.template != "2019":
        return []
    findings = []
    for table in active_tables("2019"):
        if {"made", "published", "total_published"} != {c.key for c in table.columns}:
            continue
        for row in table.rows:
            fields = [report.fields.get(f"active.{row.key}.{c}") for c in ("made", "published", "total_published")]
            if any(fv is None or fv.value is None or fv.inferred for fv in fields):
                continue
            made, published, total = (fv.value for fv in fields if fv is not None)
            problems = [
                (zh, en)
                for failed, zh, en in (
                    (published > total, "本年新公开数量大于对外公开总数量", "published > total_published"),
                    (published > made, "本年新公开数量大于本年新制作数量", "published > made"),
                    (made > 0 and published == 0, "本年新制作的文件一件也未公开", "documents made, none published"),
                )
                if failed
            ]
            if not problems:
                continue
            cells = _row_cells(report, row.key, "2019")
            findings.append(
                subject.finding(
                    "P5",
                    f"row:{row.key}",
                    f"{row.label.canonical}：{_shown(cells)}——{'；'.join(zh for zh, _ in problems)}",
                    f"{row.key}: made {made:g}, published {published:g}, total_published {total:g} — "
                    + "; ".join(en for _, en in problems),
                    tuple(cells),
                )
            )
    return findings


def check_unreadable(report: Report, subject: Subject) -> list[Finding]:
    """A report whose document could not be read (extract.unreadable): found, but nothing in it can be checked."""
    reason = unreadable_reason(report)
    if reason is None:
        return []
    return [
        subject.finding(
            "unreadable_document",
            "",
            f"已发现{report.year}年度报告，但文件无法读取，无法核对其内容（{reason}）",
            f"the {report.year} report was found but its document cannot be read, so nothing in it can be checked ({reason})",
            (("reason", reason),),
        )
    ]


def check_report(report: Report, unit: Unit | None = None) -> list[Finding]:
    """Every single-report rule: structure, H1–H6, P1, P2, P5; for a report that could not be read, only that."""
    subject = report_subject(report, unit)
    if unreadable_reason(report) is not None:
        return check_unreadable(report, subject)
    return [
        *check_structure(report, subject),
        *check_arithmetic(report, subject),
        *check_p1(report, subject),
        *check_narrative(report, subject),
        *check_p5(report, subject),
    ]
