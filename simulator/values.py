"""Ground-truth numbers of the reports: a unit's series of years, consistent by construction, and the defects.

A clean report satisfies H1–H4 (report_format.md §3.1) and, against the unit's previous printed report,
X1 and X2 (§3.2) exactly, X3 for the 试行 years, and P5 (§3.3: documents made this year are published). Each
year is drawn from a `Ledger` — what the unit carries from one report to the next — and the ledger is then
updated from what the report *printed*, so a defect in one year never makes a later clean year inconsistent.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import cache

from extract.schema import (
    AMOUNT,
    AMOUNT_WAN,
    APPEAL_COLUMNS,
    APPEAL_GROUPS,
    FIELDS_BY_KEY,
    REQUEST_COLUMNS,
    REQUEST_LEGAL_PERSON_COLUMNS,
    REQUEST_OTHER_SUBROWS,
    request_rows,
    template_keys,
)
from registry.units import COUNTY_DEPARTMENT, COUNTY_GOVERNMENT, TOWNSHIP

Value = int | float | None
Values = dict[str, Value]

REQUEST_COLUMN_KEYS = tuple(c.key for c in REQUEST_COLUMNS)
APPLICANT_COLUMNS = REQUEST_COLUMN_KEYS[:-1]  # 自然人 … 其他; 总计 is their sum
# How often an application ends in each outcome row (rows not named here are rare).
_OUTCOME_WEIGHTS = {
    "granted": 50,
    "partially_granted": 8,
    "unable_not_held": 15,
    "unable_needs_creation": 3,
    "unable_unclear": 3,
    "rejected_petition": 4,
    "rejected_duplicate": 3,
    "denied_third_party_rights": 2,
    "denied_process_info": 2,
}
# Yearly scale of a unit's activity: (applications, licensing decisions, penalty decisions, 万元 of fees).
_SCALE = {
    TOWNSHIP: (4, 60, 10, 2.0),
    COUNTY_DEPARTMENT: (12, 800, 120, 60.0),
    COUNTY_GOVERNMENT: (60, 4000, 300, 300.0),
}
_ITEM_ROWS = ("licensing", "other_services", "penalty", "coercion", "fees")  # 试行 rows with 上一年项目数量


def outcome_rows(template: str, other_as_single_row: bool = False) -> tuple[str, ...]:
    """The printed rows of 三、本年度办理结果 that count closed applications, in table order."""
    split_other = template == "2021" and not other_as_single_row
    return tuple(
        r.key
        for r in request_rows(template)
        if r.group is not None
        and r.key != "total_closed"
        and not (split_other and r.key == "other")
        and not (not split_other and r.key in REQUEST_OTHER_SUBROWS)
    )


@dataclass
class Ledger:
    """What a unit's next report continues from."""

    pending: dict[str, int]  # applications open at year end, per applicant column (→ X1)
    normative_in_force: int  # 现行有效 行政规范性文件 (→ X2)
    rules_in_force: int = 0
    normative_published_total: int = 0  # 试行 对外公开总数量
    items: dict[str, int] = field(default_factory=dict)  # 试行 上一年项目数量 per row (→ X3)


def new_ledger(rng: random.Random, level: str) -> Ledger:
    applications = _SCALE[level][0]
    return Ledger(
        pending={c: (rng.randint(0, 2) if c == "natural_person" and rng.random() < applications / 20 else 0)
                 for c in APPLICANT_COLUMNS},
        normative_in_force=rng.randint(0, 4) * (1 if level == TOWNSHIP else 6),
        normative_published_total=rng.randint(0, 30),
        items={row: rng.randint(0, 12) * (1 if level == TOWNSHIP else 5) for row in _ITEM_ROWS},
    )


def _spread(rng: random.Random, n: int, weights: dict[str, float]) -> dict[str, int]:
    counts = dict.fromkeys(weights, 0)
    keys, w = list(weights), list(weights.values())
    for key in rng.choices(keys, w, k=n):
        counts[key] += 1
    return counts


def _requests(rng: random.Random, level: str, template: str, ledger: Ledger) -> Values:
    scale = _SCALE[level][0]
    busy = rng.random() < (0.45 if level == TOWNSHIP else 0.85)
    new = {c: 0 for c in APPLICANT_COLUMNS}
    if busy:
        new["natural_person"] = rng.randint(1, scale * 2)
        for c in REQUEST_LEGAL_PERSON_COLUMNS:
            if rng.random() < 0.2:
                new[c] = rng.randint(1, max(1, scale // 4))
    rows = outcome_rows(template)
    weights = {r: float(_OUTCOME_WEIGHTS.get(r, 0.5)) for r in rows}
    v: Values = {}
    for c in APPLICANT_COLUMNS:
        open_ = new[c] + ledger.pending[c]
        forward = min(open_, rng.choice((0, 0, 0, 1, 2)))
        closed = _spread(rng, open_ - forward, weights)
        v[f"requests.new_received.{c}"] = new[c]
        v[f"requests.carried_over.{c}"] = ledger.pending[c]
        v[f"requests.carried_forward.{c}"] = forward
        for r in rows:
            v[f"requests.{r}.{c}"] = closed[r]
        v[f"requests.total_closed.{c}"] = open_ - forward
    for r in (*rows, "new_received", "carried_over", "total_closed", "carried_forward"):
        v[f"requests.{r}.total"] = sum(v[f"requests.{r}.{c}"] for c in APPLICANT_COLUMNS)
    return v


def _appeals(rng: random.Random, level: str) -> Values:
    v: Values = {}
    often = 0.1 if level == TOWNSHIP else 0.4
    for group in APPEAL_GROUPS:
        counts = [rng.choice((0, 0, 1, 1, 2)) if rng.random() < often else 0 for _ in APPEAL_COLUMNS[:-1]]
        for (col, _), n in zip(APPEAL_COLUMNS[:-1], counts, strict=True):
            v[f"{group.key}.{col}"] = n
        v[f"{group.key}.total"] = sum(counts)
    return v


def _active(rng: random.Random, level: str, template: str, ledger: Ledger) -> Values:
    _, licensing, penalty, fees = _SCALE[level]
    issued = rng.randint(0, 3 if level == TOWNSHIP else 10)
    v: Values = {}
    if template == "2021":
        repealed = rng.randint(0, min(ledger.normative_in_force, 2))
        v |= {
            "active.rules.issued": 0,
            "active.rules.repealed": 0,
            "active.rules.in_force": ledger.rules_in_force,
            "active.normative_docs.issued": issued,
            "active.normative_docs.repealed": repealed,
            "active.normative_docs.in_force": ledger.normative_in_force + issued - repealed,
            "active.licensing.decisions": rng.randint(0, licensing),
            "active.penalty.decisions": rng.randint(0, penalty),
            "active.coercion.decisions": rng.randint(0, max(1, penalty // 10)),
            "active.fees.amount_wan": round(rng.uniform(0, fees), 4) if rng.random() < 0.5 else 0,
        }
        return v
    # 试行 第（一）项: what was made this year is mostly published this year, at least one of it (P5).
    published = issued if rng.random() < 0.8 else rng.randint(min(issued, 1), issued)
    v |= {
        "active.rules.made": 0,
        "active.rules.published": 0,
        "active.rules.total_published": 0,
        "active.normative_docs.made": issued,
        "active.normative_docs.published": published,
        "active.normative_docs.total_published": ledger.normative_published_total + published,
    }
    for row in _ITEM_ROWS:
        prev = ledger.items[row]
        v[f"active.{row}.prev_items"] = prev
        v[f"active.{row}.change"] = rng.randint(-min(prev, 3), 3)
        if row != "fees":
            top = {"licensing": licensing, "penalty": penalty}.get(row, max(1, penalty // 10))
            v[f"active.{row}.decisions"] = rng.randint(0, top)
    projects = rng.randint(0, 8) if rng.random() < 0.6 else 0
    v["active.procurement.projects"] = projects
    v["active.procurement.amount"] = round(rng.uniform(1, 50 * projects), 2) if projects else 0
    return v


def year_values(rng: random.Random, level: str, template: str, ledger: Ledger) -> Values:
    """A clean report's numbers for one year, in template key order."""
    v = _active(rng, level, template, ledger) | _requests(rng, level, template, ledger) | _appeals(rng, level)
    if template == "2021":
        for c in (*APPLICANT_COLUMNS, "total"):
            v[f"requests.other.{c}"] = sum(v[f"requests.{r}.{c}"] for r in REQUEST_OTHER_SUBROWS)  # type: ignore[misc]
    return {k: v[k] for k in template_keys(template)}


def carry(ledger: Ledger, printed: Values) -> None:
    """Move the ledger to what this year's report printed (blank = 0)."""

    def get(key: str) -> int:
        return int(printed.get(key) or 0)

    ledger.pending = {c: get(f"requests.carried_forward.{c}") for c in APPLICANT_COLUMNS}
    if "active.normative_docs.in_force" in printed:
        ledger.normative_in_force = get("active.normative_docs.in_force")
        ledger.rules_in_force = get("active.rules.in_force")
    if "active.normative_docs.total_published" in printed:
        ledger.normative_published_total = get("active.normative_docs.total_published")
        ledger.items = {row: get(f"active.{row}.prev_items") + get(f"active.{row}.change") for row in _ITEM_ROWS}


# ---------------------------------------------------------------- defects on the numbers


def break_rule(rng: random.Random, values: Values, rule: str) -> dict[str, Value]:
    """Make exactly `rule` (H1…H4) fail and every other H rule still hold; returns the changed cells."""
    d = rng.randint(1, 3)
    c = "natural_person"
    changes: dict[str, int]
    if rule == "H1":  # one side of 一+二 = 三+四 grows, its row stays summed
        changes = {f"requests.new_received.{c}": d, "requests.new_received.total": d}
    elif rule == "H2":  # 总计 column alone grows, balanced down the column
        changes = {"requests.granted.total": d, "requests.total_closed.total": d, "requests.new_received.total": d}
    elif rule == "H3":  # （七）总计 ≠ sum of outcomes, H1 kept by growing 一 as well
        changes = {f"requests.total_closed.{c}": d, "requests.total_closed.total": d,
                   f"requests.new_received.{c}": d, "requests.new_received.total": d}
    elif rule == "H4":
        changes = {f"{rng.choice(APPEAL_GROUPS).key}.total": d}
    else:
        raise ValueError(f"not an arithmetic rule: {rule}")
    for key, delta in changes.items():
        values[key] = int(values[key] or 0) + delta
    return {key: values[key] for key in changes}


def put_rules_at_township(rng: random.Random, values: Values, template: str) -> dict[str, Value]:
    """规章 > 0 at a unit that cannot make 规章 (P1), the rows kept self-consistent."""
    n = rng.randint(1, 3)
    keys = ("issued", "in_force") if template == "2021" else ("made", "published", "total_published")
    for key in keys:
        values[f"active.rules.{key}"] = n
    return {f"active.rules.{key}": n for key in keys}


def edit_numbers(rng: random.Random, final: Values) -> Values:
    """The first-published version of a report that was later corrected: a few numbers differ, all rules hold."""
    original = dict(final)
    d = rng.randint(1, 4)
    for row in ("new_received", "granted", "total_closed"):
        for col in ("natural_person", "total"):
            key = f"requests.{row}.{col}"
            original[key] = int(original[key] or 0) + d
    counted = next(k for k in ("active.licensing.decisions", "active.penalty.decisions") if k in original)
    original[counted] = int(original[counted] or 0) + rng.randint(5, 40)
    return original


# ---------------------------------------------------------------- printing and reading back


def printed_text(key: str, value: Value, *, blank_zero: bool, signed_plus: bool) -> str:
    """The text a cell prints for a value."""
    if value is None or (blank_zero and value == 0):
        return ""
    kind = FIELDS_BY_KEY[key].value_type
    if kind == AMOUNT_WAN:
        return "0" if value == 0 else f"{value:.4f}"
    if kind == AMOUNT:
        return "0" if value == 0 else f"{value:.2f}"
    if signed_plus and key.endswith(".change") and isinstance(value, int) and value > 0:
        return f"+{value}"
    return str(value)


def blank_zero_keys(values: Values) -> set[str]:
    """The legal-person cells of section 三 that a report leaves empty instead of printing 0 (real practice)."""
    return {
        k for k, v in values.items()
        if k.startswith("requests.") and k.rsplit(".", 1)[1] in REQUEST_LEGAL_PERSON_COLUMNS and v == 0
    }


# ---------------------------------------------------------------- the rules, to state what a report violates


def _n(values: Values, key: str) -> float:
    return values.get(key) or 0


@cache
def _grid(template: str, other_as_single_row: bool) -> tuple[dict[str, tuple[str, ...]], tuple[str, ...]]:
    """Section 三's keys by row (each row's 7 keys in column order), and the outcome rows H3 adds up."""
    rows = {r.key: tuple(f"requests.{r.key}.{c.key}" for c in REQUEST_COLUMNS) for r in request_rows(template)}
    return rows, outcome_rows(template, other_as_single_row)


def violations(values: Values, template: str, year: int, previous: Values | None) -> list[str]:
    """The rules of report_format.md §3 that printed values break (H1–H4, H6, X1–X3, P1); blank counts as 0.
    `previous` is the unit's report of the year before as printed, None when there is none or it printed no tables."""
    n = {k: (v or 0) for k, v in values.items()}
    rows, outcomes = _grid(template, values.get("requests.other_misc.total") is None)
    found = []
    columns = range(len(REQUEST_COLUMNS))
    new, over, closed, forward = (rows[r] for r in ("new_received", "carried_over", "total_closed", "carried_forward"))
    if any(n[new[c]] + n[over[c]] != n[closed[c]] + n[forward[c]] for c in columns):
        found.append("H1")
    if any(n[keys[-1]] != sum(n[k] for k in keys[:-1]) for keys in rows.values()):
        found.append("H2")
    if any(n[closed[c]] != sum(n[rows[r][c]] for r in outcomes) for c in columns):
        found.append("H3")
    if any(_n(values, f"{g.key}.total") != sum(_n(values, f"{g.key}.{c}") for c, _ in APPEAL_COLUMNS[:-1])
           for g in APPEAL_GROUPS):
        found.append("H4")
    if template != ("2019" if year <= 2020 else "2021"):
        found.append("H6")
    if previous is not None:
        if any(n[over[c]] != _n(previous, f"requests.carried_forward.{REQUEST_COLUMNS[c].key}") for c in columns):
            found.append("X1")
        rows_x2 = ("rules", "normative_docs")
        if template == "2021" and all(f"active.{row}.in_force" in previous for row in rows_x2) and any(
            n[f"active.{row}.in_force"]
            != _n(previous, f"active.{row}.in_force") + n[f"active.{row}.issued"] - n[f"active.{row}.repealed"]
            for row in rows_x2
        ):
            found.append("X2")
        if template == "2019" and all(f"active.{row}.prev_items" in previous for row in _ITEM_ROWS) and any(
            n[f"active.{row}.prev_items"] != _n(previous, f"active.{row}.prev_items") + _n(previous, f"active.{row}.change")
            for row in _ITEM_ROWS
        ):
            found.append("X3")  # e.g. a copy of last year's tables: 上一年项目数量 not moved on by last year's 增/减
    if any(v for k, v in n.items() if k.startswith("active.rules.")):  # no county-level unit makes 规章
        found.append("P1")
    return found
