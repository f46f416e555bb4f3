"""What a check reports: the `Finding`, and the one catalogue of rules the status report and docs print.

A finding is tracked across nights by its fingerprint (rule + unit + year + location). The values are left
out of the hash on purpose: a report whose numbers change but still fail the same rule in the same cell is
the same open problem, not a new one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

ERROR = "error"
WARNING = "warning"
INFO = "info"
SEVERITIES = (ERROR, WARNING, INFO)

CellValue = int | float | str | None


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    title_zh: str
    title_en: str
    checks: str  # what the rule checks, in one sentence (English; the docs print it)
    source: str  # where the rule comes from (report_format.md section)


RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule("not_published", ERROR, "未按时发布年报", "report not published",
             "no report for the year by the unit's deadline (as of the check date)", "§1.2"),
        Rule("late", WARNING, "年报发布逾期", "report published late",
             "the report's publication date is after the unit's deadline", "§1.2"),
        Rule("unreachable", WARNING, "门户网站无法访问", "portal unreachable",
             "the unit's portal failed on the last N nightly visits in a row", "§4"),
        Rule("sections_missing", WARNING, "报告部分缺失", "sections missing",
             "one or more of the six sections 一…六 is absent", "§3.3 P6"),
        Rule("tables_missing", WARNING, "表格缺失", "tables missing",
             "the tables of section 二, 三 or 四 are not in the text", "§3.3 P6"),
        Rule("image_only", INFO, "表格仅为图片", "tables only as images",
             "a section's content is a picture, so its numbers cannot be checked", "§3.3 P6"),
        Rule("unreadable_document", WARNING, "年报文件无法读取", "report found but unreadable",
             "the report's page announces it, but its document is damaged, encrypted or beyond a size limit, "
             "so nothing in it can be checked", "§4"),
        Rule("H6", ERROR, "模板版本不符", "wrong template version",
             "a report for 2021 or later uses the 2021 tables, a 2019/2020 report the 试行 tables", "§3.1"),
        Rule("H1", ERROR, "勾稽关系不符（一+二=（七）+四）", "balance fails (一+二 = （七）+四)",
             "in every column of section 三: new + carried over = closed (（七）总计) + carried forward", "§3.1"),
        Rule("H2", ERROR, "行合计不符", "row total mismatch",
             "in every row of section 三: 总计 = the sum of the six applicant columns", "§3.1"),
        Rule("H3", ERROR, "办理结果合计不符", "results total mismatch",
             "in every column of section 三: （七）总计 = the sum of the result rows （一）…（六）", "§3.1"),
        Rule("H4", ERROR, "复议诉讼合计不符", "review/litigation total mismatch",
             "in each group of section 四: 总计 = 结果维持 + 结果纠正 + 其他结果 + 尚未审结", "§3.1"),
        Rule("H5", ERROR, "数值为负", "negative value",
             "counts and amounts are ≥ 0 (only 本年增/减 may be negative)", "§3.1"),
        Rule("X1", ERROR, "跨年结转不符", "carry-over differs from last year",
             "二 上年结转 of year Y = 四 结转下年度继续办理 of year Y−1, per column", "§3.2"),
        Rule("X2", WARNING, "现行有效件数跨年不符", "documents in force do not add up across years",
             "2021 tables: 现行有效件数(Y) = 现行有效件数(Y−1) + 本年制发件数(Y) − 本年废止件数(Y)", "§3.2"),
        Rule("X3", WARNING, "上一年项目数量跨年不符", "previous-year items do not add up across years",
             "试行 tables: 上一年项目数量(Y) = 上一年项目数量(Y−1) + 本年增/减(Y−1)", "§3.2"),
        Rule("copy_of_last_year", WARNING, "内容与上年雷同", "copy of last year's report",
             "the prose is ≥ 90 % similar to last year's, or the tables repeat last year's non-trivial numbers",
             "§3.2 X4"),
        Rule("changed_after_publication", WARNING, "发布后内容被修改", "changed after publication",
             "a new version of the report appeared while its publication date stayed the same", "§4"),
        Rule("P1", WARNING, "县乡单位填报了规章", "规章 reported by a county/township unit",
             "county and township units cannot make 规章, so the 规章 row should be 0", "§3.3"),
        Rule("P2", WARNING, "正文数字与表格不符", "narrative contradicts the tables",
             "numbers quoted in 一、总体情况 agree with the tables", "§3.3"),
        Rule("P5", WARNING, "规范性文件数量可疑", "implausible document counts",
             "试行 第（一）项: 本年新公开 ≤ 对外公开总数量 and ≤ 本年新制作; documents made are published", "§3.3"),
    )
}


def fingerprint(rule: str, unit: str, year: int | None, location: str) -> str:
    text = "\x1f".join((rule, unit, "" if year is None else str(year), location))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Finding:
    """One problem found with one unit (and year). `location` names the row/column/keys the rule
    looked at; with rule, unit and year it makes the fingerprint."""

    rule: str
    severity: str
    unit: str  # unit_id when the registry knows the unit, else the name the report prints
    unit_name: str
    year: int | None
    message_zh: str
    message_en: str
    cells: tuple[tuple[str, CellValue], ...] = ()
    source_url: str | None = None
    location: str = ""
    fingerprint: str = ""

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"unknown rule {self.rule!r}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")
        if not self.fingerprint:
            object.__setattr__(self, "fingerprint", fingerprint(self.rule, self.unit, self.year, self.location))

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "unit": self.unit,
            "unit_name": self.unit_name,
            "year": self.year,
            "message_zh": self.message_zh,
            "message_en": self.message_en,
            "cells": [[key, value] for key, value in self.cells],
            "source_url": self.source_url,
            "location": self.location,
            "fingerprint": self.fingerprint,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Finding:
        return cls(
            rule=data["rule"],
            severity=data["severity"],
            unit=data["unit"],
            unit_name=data["unit_name"],
            year=data.get("year"),
            message_zh=data["message_zh"],
            message_en=data["message_en"],
            cells=tuple((key, value) for key, value in data.get("cells", [])),
            source_url=data.get("source_url"),
            location=data.get("location", ""),
            fingerprint=data.get("fingerprint", ""),
        )


@dataclass(frozen=True)
class Subject:
    """Who a finding is about: the unit as the registry or the report names it, the year and the URL."""

    unit: str
    unit_name: str
    year: int | None
    source_url: str | None = None

    def finding(
        self,
        rule: str,
        location: str,
        message_zh: str,
        message_en: str,
        cells: tuple[tuple[str, CellValue], ...] = (),
    ) -> Finding:
        """A finding of `rule` with the catalogue's severity; messages are prefixed with the rule's title."""
        spec = RULES[rule]
        return Finding(
            rule=rule,
            severity=spec.severity,
            unit=self.unit,
            unit_name=self.unit_name,
            year=self.year,
            message_zh=f"{spec.title_zh}：{message_zh}",
            message_en=f"{spec.title_en}: {message_en}",
            cells=cells,
            source_url=self.source_url,
            location=location,
        )
