"""P2: numbers the prose of 一、总体情况 quotes must agree with the tables (report_format.md §3.3).

Prose is free text, so the patterns are few and narrow, and every doubt resolves to "no claim": a clause
that mentions carry-over, appeals, applicant types, lists ("…和规范性文件", "…等共120条") or other verbs
(废止, 清理, 解读…) is not read at all. A wrong P2 finding costs an oversight office more than a missed one.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from checks.findings import Finding, Subject
from extract.model import Report
from extract.schema import FIELDS_BY_KEY, active_tables

_CLAUSE_SPLIT = re.compile(r"[。；;，,！!？?\n]")
_COUNT = r"(\d+)(?:件|条|个|份|篇|次|起)"

# "收到…申请…4件": applications received this year.
_RECEIVED = re.compile(r"收到[^\d]{0,25}?申请[^\d]{0,12}?" + _COUNT)
_RECEIVED_NONE = re.compile(r"(?:未|没有)收到[^\d]{0,30}?申请")
_RECEIVED_SKIP = ("结转", "复议", "诉讼", "法人", "企业", "组织", "机构", "自然人")
# "其中规范性文件26条": not after a conjunction (a joint count with 规章), not "规范性文件等共…".
_NORMATIVE = re.compile(r"(?<![和及、与])规范性文件[^\d等、和及与]{0,4}?" + _COUNT)
_NORMATIVE_SKIP = ("废止", "清理", "失效", "修订", "修改", "备案", "审核", "审查", "解读", "宣传", "征求", "合法性")
# "未发生…行政复议、行政诉讼(案件)": the clause must end there, so "未发生行政复议被纠错" is not read.
_APPEALS_NONE = re.compile(r"(?:未|没有)(?:发生|收到|出现|产生|被提起|被申请)?[^\d]{0,30}?(?:复议|诉讼)(?:案件|情况|申请|事项|案)?$")
_APPEALS_SKIP = ("纠错", "纠正", "败诉", "撤销", "违法", "维持")


@dataclass(frozen=True)
class Claim:
    """A number the prose states: `pattern` names what it is about, `text` is the clause it came from."""

    pattern: str
    value: int
    text: str


def _clauses(text: str) -> list[str]:
    normal = re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))
    return [c for c in _CLAUSE_SPLIT.split(normal.replace("行政规范性文件", "规范性文件")) if c]


def narrative_claims(report: Report) -> list[Claim]:
    """The numbers 一、总体情况 states about applications received, 规范性文件 and appeals."""
    claims = []
    for clause in _clauses(report.narrative.get("一", "")):
        if not any(word in clause for word in _RECEIVED_SKIP):
            if _RECEIVED_NONE.search(clause):
                claims.append(Claim("requests_received", 0, clause))
            elif m := _RECEIVED.search(clause):
                claims.append(Claim("requests_received", int(m.group(1)), clause))
        if not any(word in clause for word in _NORMATIVE_SKIP):
            claims += [Claim("normative_docs", int(m.group(1)), clause) for m in _NORMATIVE.finditer(clause)]
        if _APPEALS_NONE.search(clause) and not any(word in clause for word in _APPEALS_SKIP):
            claims += [Claim("review", 0, clause)] if "复议" in clause else []
            claims += [Claim("litigation", 0, clause)] if "诉讼" in clause else []
    return claims


def _reliable(report: Report, key: str) -> int | float | None:
    fv = report.fields.get(key)
    return None if fv is None or fv.inferred else fv.value


def _table_values(report: Report, pattern: str) -> tuple[list[tuple[str, int | float]], set[int | float]]:
    """The table cells a claim of `pattern` is compared with, and the values that agree with it."""
    if pattern == "requests_received":
        new = _reliable(report, "requests.new_received.total")
        carried = _reliable(report, "requests.carried_over.total")
        if new is None:
            return [], set()
        # Prose often counts this year's and carried-over applications together; both readings agree.
        cells = [("requests.new_received.total", new)] + ([("requests.carried_over.total", carried)] if carried else [])
        return cells, {new, new + (carried or 0)}
    if pattern == "normative_docs":
        keys = [
            f"active.normative_docs.{col.key}"
            for table in active_tables(report.template or "")
            for row in table.rows
            if row.key == "normative_docs"
            for col in table.columns
        ]
        cells = [(k, v) for k in keys if (v := _reliable(report, k)) is not None]
        return cells, {v for _, v in cells}
    groups = ["review"] if pattern == "review" else ["litigation_direct", "litigation_after_review"]
    cells = [(f"{g}.total", v) for g in groups if (v := _reliable(report, f"{g}.total")) is not None]
    return cells, ({sum(v for _, v in cells)} if cells else set())


_WHAT = {
    "requests_received": ("收到的政府信息公开申请数", "applications received"),
    "normative_docs": ("规范性文件数", "规范性文件 count"),
    "review": ("行政复议数", "administrative reviews"),
    "litigation": ("行政诉讼数", "lawsuits"),
}


def check_narrative(report: Report, subject: Subject) -> list[Finding]:
    """P2, at most one finding per pattern, and none when any claim of that pattern agrees with the table."""
    by_pattern: dict[str, list[Claim]] = {}
    for claim in narrative_claims(report):
        by_pattern.setdefault(claim.pattern, []).append(claim)
    findings = []
    for pattern, claims in by_pattern.items():
        cells, agreeing = _table_values(report, pattern)
        if not cells or any(c.value in agreeing for c in claims):
            continue
        claim = claims[0]
        what_zh, what_en = _WHAT[pattern]
        table_zh = "，".join(f"{FIELDS_BY_KEY[k].label_zh} = {v:g}" for k, v in cells)
        table_en = ", ".join(f"{k} = {v:g}" for k, v in cells)
        findings.append(
            subject.finding(
                "P2",
                f"narrative:{pattern}",
                f"总体情况称“{claim.text}”（{what_zh} {claim.value}），但表格中{table_zh}",
                f"section 一 says “{claim.text}” ({what_en}: {claim.value}) but the tables have {table_en}",
                (*cells, ("narrative.一", claim.text)),
            )
        )
    return findings
