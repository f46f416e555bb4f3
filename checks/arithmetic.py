"""The 勾稽 rules H1–H5 (report_format.md §3.1) and the one equation helper every sum rule uses.

Blank cells (report_format.md §5.1): a blank is NULL. It counts as 0 in a sum only when its table row has some
value besides its 总计 (a row of printed numbers with an `&nbsp;` cell). A sum is not checked at all when one of
its sides has no printed cell (e.g. only the 总计 column filled) or when a cell was inferred by the extractor (a
6-number row's lost column): an unreliable number must not produce an error.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from checks.findings import Finding, Subject
from extract.model import Report
from extract.schema import (
    APPEAL_COLUMNS,
    APPEAL_GROUPS,
    FIELDS_BY_KEY,
    REQUEST_COLUMNS,
    REQUEST_GROUPS,
    REQUEST_OTHER_SUBROWS,
    SIGNED_COUNT,
    RequestRow,
    request_rows,
    template_keys,
)

MONEY_TOLERANCE = 0.00005  # 万元, report_format.md §3
_LONG_SIDE = 6  # a side with more terms is written as a range, its non-zero values listed
_TOTAL = REQUEST_COLUMNS[-1].key  # 总计, the last column of section 三
_APPEAL_TOTAL = APPEAL_COLUMNS[-1][0]  # 总计, the last column of each 四 group


@dataclass(frozen=True)
class Term:
    """One cell in an equation. `printed` is False when a blank was read as 0; `sign` is −1 for a subtrahend."""

    key: str
    value: int | float | None
    label: str
    printed: bool = True
    inferred: bool = False
    sign: int = 1

    @property
    def cell(self) -> tuple[str, int | float | None]:
        return (self.key, self.value if self.printed else None)


def _row_of(key: str) -> str:
    """The table row a key is printed in: section 四 is a single row of 15 cells, every other row is the
    key without its column."""
    return "四" if FIELDS_BY_KEY[key].section == "四" else key.rsplit(".", 1)[0]


@cache
def _template_rows(template: str | None) -> dict[str, tuple[str, ...]]:
    """Each row of a template's tables → its keys without the row's totals: a row with only 总计 printed
    was never broken down, its other blanks are not zeros. Rows depend on the template alone, so they are
    computed once, not for every cell of every report."""
    rows: dict[str, list[str]] = {}
    for key in template_keys(template) if template else ():
        if not key.endswith((f".{_TOTAL}", f".{_APPEAL_TOTAL}")):
            rows.setdefault(_row_of(key), []).append(key)
    return {row: tuple(keys) for row, keys in rows.items()}


def _row_parts(report: Report, key: str) -> tuple[str, ...]:
    """The keys printed in the same table row as `key`, without the row's totals."""
    return _template_rows(report.template).get(_row_of(key), ())


def cell_term(report: Report, key: str, label: str, *, sign: int = 1, year_tag: str = "") -> Term:
    """The report's cell as a term, with the blank-cell policy applied (value None = not checkable).
    `year_tag` distinguishes the same key of two years in cross-year equations."""
    fv = report.fields.get(key)
    key_out = f"{key}@{year_tag}" if year_tag else key
    if fv is not None and fv.value is not None:
        return Term(key_out, fv.value, label, inferred=fv.inferred, sign=sign)
    row_has_value = any(report.value(k) is not None for k in _row_parts(report, key))
    return Term(key_out, 0 if row_has_value else None, label, printed=False, sign=sign)


def _fmt(value: int | float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _side(terms: Sequence[Term], total: int | float, lang: str) -> str:
    if len(terms) > _LONG_SIDE:
        nonzero = [_fmt(t.value) for t in terms if t.value]
        names = f"{terms[0].label}…{terms[-1].label}" + ("之和" if lang == "zh" else " summed")
        return f"{names}={'+'.join(nonzero) or '0'}" + (f"={_fmt(total)}" if len(nonzero) > 1 else "")
    names = values = ""
    for i, t in enumerate(terms):
        op = "−" if t.sign < 0 else ("+" if i else "")
        names += f"{op}{t.label}"
        values += f"{op}({_fmt(t.value)})" if i and t.value < 0 else f"{op}{_fmt(t.value)}"
    return f"{names}={values}={_fmt(total)}" if len(terms) > 1 else f"{names}={values}"


def equation(
    subject: Subject,
    rule: str,
    location: str,
    lhs: Sequence[Term],
    rhs: Sequence[Term],
    where_zh: str,
    where_en: str,
) -> Finding | None:
    """A finding when Σlhs ≠ Σrhs; None when they agree or the cells cannot be relied on."""
    terms = (*lhs, *rhs)
    if any(t.value is None or t.inferred for t in terms):
        return None
    if not any(t.printed for t in lhs) or not any(t.printed for t in rhs):
        return None
    left = sum(t.sign * t.value for t in lhs)
    right = sum(t.sign * t.value for t in rhs)
    if abs(left - right) <= MONEY_TOLERANCE:
        return None
    return subject.finding(
        rule,
        location,
        f"{where_zh}：{_side(lhs, left, 'zh')} ≠ {_side(rhs, right, 'zh')}",
        f"{where_en}: {_side(lhs, left, 'en')} ≠ {_side(rhs, right, 'en')}",
        tuple(t.cell for t in terms),
    )


# ---------------------------------------------------------------- section 三 row names, read off the schema labels

_NUMERAL = re.compile(r"^([一二三四五六七八九十]+)、")
_PAREN = re.compile(r"^(（[一二三四五六七八九十]+）)")
_DIGIT = re.compile(r"^(\d+)\.")
_GROUP_MARK = {g.key: m.group(1) for g in REQUEST_GROUPS if (m := _PAREN.match(g.label.canonical))}


def row_mark(row: RequestRow) -> str:
    """The short name the table prints before a row: 一, （七）, or （三）1 for a numbered sub-row."""
    label = row.label.canonical
    if m := _NUMERAL.match(label) or _PAREN.match(label):
        return m.group(1)
    if m := _DIGIT.match(label):
        return f"{_GROUP_MARK.get(row.group or '', '')}{m.group(1)}"
    return label


def row_name(row: RequestRow) -> str:
    """The row's printed label, with its group's label in front for a numbered sub-row."""
    group = next((g.label.canonical for g in REQUEST_GROUPS if g.key == row.group and g.key in _GROUP_MARK), "")
    return f"{group} {row.label.canonical}" if group and _DIGIT.match(row.label.canonical) else row.label.canonical


_ROWS = {r.key: r for r in request_rows("2019") + request_rows("2021")}
_ROW_MARKS = {key: row_mark(row) for key, row in _ROWS.items()}
_COLUMN_LABEL = {c.key: c.label.canonical for c in REQUEST_COLUMNS}


def request_term(report: Report, row: str, column: str, *, year_tag: str = "") -> Term:
    """A section-三 cell named by its row's short mark (一, （七）…)."""
    return cell_term(report, f"requests.{row}.{column}", _ROW_MARKS[row], year_tag=year_tag)


def result_rows(report: Report) -> list[str]:
    """The rows that add up to （七）总计: （一）…（五） and （六） — the single 2019 row, or in a 2021 report the
    three printed sub-rows (the `other` row is then their inferred sum), unless it printed （六） as one row."""
    rows = [r.key for r in request_rows(report.template or "2019") if r.group is not None and r.key != "total_closed"]
    sub_rows = [r for r in rows if r in REQUEST_OTHER_SUBROWS]
    printed_sub_rows = any(report.value(f"requests.{r}.{c}") is not None for r in sub_rows for c in _COLUMN_LABEL)
    drop = {"other"} if printed_sub_rows else set(sub_rows)
    return [r for r in rows if r not in drop]


def check_h1(report: Report, subject: Subject) -> list[Finding]:
    findings = []
    for column, label in _COLUMN_LABEL.items():
        finding = equation(
            subject,
            "H1",
            f"column:{column}",
            [request_term(report, "new_received", column), request_term(report, "carried_over", column)],
            [request_term(report, "total_closed", column), request_term(report, "carried_forward", column)],
            f"三、{label}列",
            f"section 三, column {column}",
        )
        findings += [finding] if finding else []
    return findings


def check_h2(report: Report, subject: Subject) -> list[Finding]:
    findings = []
    for row in request_rows(report.template or "2019"):
        parts = [cell_term(report, f"requests.{row.key}.{c}", _COLUMN_LABEL[c]) for c in _COLUMN_LABEL if c != _TOTAL]
        finding = equation(
            subject,
            "H2",
            f"row:{row.key}",
            [cell_term(report, f"requests.{row.key}.{_TOTAL}", _COLUMN_LABEL[_TOTAL])],
            parts,
            f"三、{row_name(row)}行",
            f"section 三, row {row.key}",
        )
        findings += [finding] if finding else []
    return findings


def check_h3(report: Report, subject: Subject) -> list[Finding]:
    findings = []
    rows = result_rows(report)
    for column, label in _COLUMN_LABEL.items():
        finding = equation(
            subject,
            "H3",
            f"column:{column}",
            [request_term(report, "total_closed", column)],
            [request_term(report, row, column) for row in rows],
            f"三、{label}列",
            f"section 三, column {column}",
        )
        findings += [finding] if finding else []
    return findings


def check_h4(report: Report, subject: Subject) -> list[Finding]:
    findings = []
    for group in APPEAL_GROUPS:
        parts = [cell_term(report, f"{group.key}.{col}", label.canonical) for col, label in APPEAL_COLUMNS[:-1]]
        total_label = APPEAL_COLUMNS[-1][1].canonical
        finding = equation(
            subject,
            "H4",
            f"group:{group.key}",
            [cell_term(report, f"{group.key}.{_APPEAL_TOTAL}", total_label)],
            parts,
            f"四、{group.label.canonical}",
            f"section 四, {group.key}",
        )
        findings += [finding] if finding else []
    return findings


def check_h5(report: Report, subject: Subject) -> list[Finding]:
    findings = []
    for key in report.keys:
        value = report.value(key)
        field = FIELDS_BY_KEY[key]
        if value is None or value >= 0 or field.value_type == SIGNED_COUNT:
            continue
        findings.append(
            subject.finding(
                "H5",
                key,
                f"{field.label_zh} = {_fmt(value)}，不应为负数",
                f"{key} = {_fmt(value)} must not be negative",
                ((key, value),),
            )
        )
    return findings


def check_arithmetic(report: Report, subject: Subject) -> list[Finding]:
    """H1–H5 on one report (nothing when the template is unknown: there are no tables to add up)."""
    if report.template is None:
        return []
    return [
        *check_h1(report, subject),
        *check_h2(report, subject),
        *check_h3(report, subject),
        *check_h4(report, subject),
        *check_h5(report, subject),
    ]
