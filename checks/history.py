"""Cross-year rules over several reports of one unit (report_format.md §3.2): X1–X3 and copy detection."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from difflib import SequenceMatcher

from checks.arithmetic import cell_term, equation, request_term
from checks.findings import Finding, Subject
from checks.report import report_subject
from extract.model import Report
from extract.schema import ACTIVE_TABLES, FIELDS_BY_KEY, REQUEST_COLUMNS, SECTIONS
from registry.units import Unit

COPY_SIMILARITY = 0.9  # CASS 2017 found reports 90 % identical to the previous year's
COPY_MIN_CHARS = 200  # shorter prose ("无。") is alike every year and says nothing about copying
COPY_MIN_NONZERO = 3  # tables repeating fewer non-zero numbers (a township's zeros) are not a copy


def _x1(prev: Report, cur: Report, subject: Subject) -> list[Finding]:
    """二 上年结转 (Y) = 四 结转下年度继续办理 (Y−1): section 三 is the same in both templates."""
    findings = []
    for col in REQUEST_COLUMNS:
        finding = equation(
            subject,
            "X1",
            f"column:{col.key}",
            [request_term(cur, "carried_over", col.key, year_tag=str(cur.year))],
            [request_term(prev, "carried_forward", col.key, year_tag=str(prev.year))],
            f"三、{col.label.canonical}列 {cur.year}年“二、上年结转”与{prev.year}年“四、结转下年度继续办理”",
            f"section 三, column {col.key}: carried_over {cur.year} vs carried_forward {prev.year}",
        )
        findings += [finding] if finding else []
    return findings


def _tables(template: str, *columns: str) -> list[tuple[str, str]]:
    """(row key, row label) of the 二 rows whose table has all `columns` in this template."""
    return [
        (row.key, row.label.canonical)
        for table in ACTIVE_TABLES
        if table.template == template and set(columns) <= {c.key for c in table.columns}
        for row in table.rows
    ]


def _column_label(template: str, column: str) -> str:
    return next(c.label.canonical for t in ACTIVE_TABLES if t.template == template for c in t.columns if c.key == column)


def _x2(prev: Report, cur: Report, subject: Subject) -> list[Finding]:
    """现行有效(Y) = 现行有效(Y−1) + 制发(Y) − 废止(Y), for 规章 and 行政规范性文件 in the 2021 tables."""
    findings = []
    y, p = str(cur.year), str(prev.year)
    in_force, issued, repealed = (_column_label("2021", c) for c in ("in_force", "issued", "repealed"))
    for row, label in _tables("2021", "issued", "repealed", "in_force"):
        key = f"active.{row}"
        finding = equation(
            subject,
            "X2",
            f"row:{row}",
            [cell_term(cur, f"{key}.in_force", f"{in_force}({y})", year_tag=y)],
            [
                cell_term(prev, f"{key}.in_force", f"{in_force}({p})", year_tag=p),
                cell_term(cur, f"{key}.issued", f"{issued}({y})", year_tag=y),
                cell_term(cur, f"{key}.repealed", f"{repealed}({y})", sign=-1, year_tag=y),
            ],
            f"二、{label}",
            f"section 二, {row}",
        )
        findings += [finding] if finding else []
    return findings


def _x3(prev: Report, cur: Report, subject: Subject) -> list[Finding]:
    """上一年项目数量(Y) = 上一年项目数量(Y−1) + 本年增/减(Y−1) in the 试行 tables."""
    findings = []
    y, p = str(cur.year), str(prev.year)
    prev_items, change = (_column_label("2019", c) for c in ("prev_items", "change"))
    for row, label in _tables("2019", "prev_items", "change"):
        key = f"active.{row}"
        finding = equation(
            subject,
            "X3",
            f"row:{row}",
            [cell_term(cur, f"{key}.prev_items", f"{prev_items}({y})", year_tag=y)],
            [
                cell_term(prev, f"{key}.prev_items", f"{prev_items}({p})", year_tag=p),
                cell_term(prev, f"{key}.change", f"{change}({p})", year_tag=p),
            ],
            f"二、{label}",
            f"section 二, {row}",
        )
        findings += [finding] if finding else []
    return findings


def _prose(report: Report) -> str:
    """The narrative with layout, punctuation and digits neutralised: a copy with this year's dates and
    counts typed over last year's is still a copy (30号 "内容雷同")."""
    text = "".join(report.narrative.get(s.numeral, "") for s in SECTIONS)
    text = unicodedata.normalize("NFKC", text)
    text = re.sub(r"\d+", "#", text)
    return "".join(ch for ch in text if ch == "#" or unicodedata.category(ch)[0] in "LN")


def narrative_similarity(a: Report, b: Report) -> float | None:
    """Similarity in [0, 1] of two reports' prose; None when either is too short to judge."""
    left, right = _prose(a), _prose(b)
    if min(len(left), len(right)) < COPY_MIN_CHARS:
        return None
    # autojunk would discard the commonest characters (的, 政, 府, 公, 开 …), which is all of a Chinese report.
    return SequenceMatcher(None, left, right, autojunk=False).ratio()


def _copy(prev: Report, cur: Report, subject: Subject) -> list[Finding]:
    findings = []
    similarity = narrative_similarity(prev, cur)
    if similarity is not None and similarity >= COPY_SIMILARITY:
        findings.append(
            subject.finding(
                "copy_of_last_year",
                "narrative",
                f"{cur.year}年报告正文与{prev.year}年相似度{similarity:.0%}（阈值{COPY_SIMILARITY:.0%}）",
                f"the {cur.year} prose is {similarity:.0%} similar to {prev.year}'s (threshold {COPY_SIMILARITY:.0%})",
                (("narrative_similarity", round(similarity, 3)),),
            )
        )
    # Only keys both templates share are comparable across the 2020→2021 switch.
    prev_keys = set(prev.keys)
    pairs = [(k, cur.value(k), prev.value(k)) for k in cur.keys if k in prev_keys]
    nonzero = [(k, v) for k, v, _ in pairs if v]
    if len(nonzero) >= COPY_MIN_NONZERO and all(v == w for _, v, w in pairs):
        shown = "，".join(f"{FIELDS_BY_KEY[k].label_zh} = {v:g}" for k, v in nonzero[:5])
        findings.append(
            subject.finding(
                "copy_of_last_year",
                "tables",
                f"{cur.year}年表格数据与{prev.year}年完全相同（{len(nonzero)}个非零数值，如{shown}）",
                f"the {cur.year} tables repeat {prev.year}'s exactly ({len(nonzero)} non-zero values)",
                tuple(nonzero),
            )
        )
    return findings


def check_pair(prev: Report, cur: Report, subject: Subject) -> list[Finding]:
    """Every cross-year rule on a report and the same unit's report of the year before."""
    findings = [*_x1(prev, cur, subject), *_copy(prev, cur, subject)]
    if prev.template == cur.template == "2021":
        findings += _x2(prev, cur, subject)
    if prev.template == cur.template == "2019":
        findings += _x3(prev, cur, subject)
    return findings



def check_history(reports: Mapping[int, Report], unit: Unit | None = None) -> list[Finding]:
    """The cross-year findings of one unit's reports (year → report); a year is compared with the year
    just before it only, so a gap in the series leaves the year after it unchecked."""
    findings = []
    for year in sorted(reports):
        if year - 1 in reports:
            cur = reports[year]
            findings += check_pair(reports[year - 1], cur, report_subject(cur, unit))
    return findings
