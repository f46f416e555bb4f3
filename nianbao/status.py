"""The morning status report: the findings engine run over the database, and its views.

`evaluate` checks every registry unit and report year as of a date; `record` hands the night's complete list
to the store, which tracks findings as new, open or resolved. `build_status` turns an evaluation into the
report oversight offices read — counts, then the units that have not published, published late, published
inconsistent numbers or cannot be reached — and `render` writes it as a terminal table, HTML, CSV or JSON.
`nianbao status` is `status_command`.
"""

from __future__ import annotations

import csv
import html
import io
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console
from rich.table import Table
from rich.text import Text

from checks import (
    DEFAULT_POLICY,
    ERROR,
    RULES,
    WARNING,
    DeadlinePolicy,
    Finding,
    Version,
    check_history,
    check_publication,
    check_reachability,
    check_report,
    check_versions,
)
from exports.spreadsheet import spreadsheet_safe
from extract.schema import FIELDS_BY_KEY
from registry.units import Unit
from storage import FindingsSummary, ReportVersionInfo, Store

FIRST_YEAR = 2019  # reports under the 条例 as revised in 2019, in the 60号/30号 templates
UNREACHABLE_NIGHTS = 3  # failed nights in a row before a portal is reported unreachable
FORMATS = ("table", "html", "csv", "json")

# Sections of the report, in the order it prints them: (key, Chinese title, English title).
SECTIONS = (
    ("not_published", "未发布年报", "not published"),
    ("late", "逾期发布", "published late"),
    ("inconsistent", "数据不一致", "inconsistent numbers"),
    ("unreachable", "门户网站无法访问", "portal unreachable"),
    ("other", "其他问题", "other findings"),
)
SUMMARY_LABELS = {
    "units": ("监测单位", "units"),
    "unit_years": ("应发布年报（单位×年度）", "unit-years"),
    "reports": ("已发现年报", "reports found"),
    "on_time": ("按时发布", "published on time"),
    "late": ("逾期发布", "published late"),
    "not_published": ("逾期未发布", "not published"),
    "not_due": ("尚未到期", "not yet due"),
    "inconsistent": ("数据不一致的年报", "inconsistent reports"),
    "unreachable": ("网站无法访问的单位", "unreachable portals"),
    "errors": ("错误", "errors"),
    "warnings": ("警告", "warnings"),
    "new": ("新发现", "new findings"),
    "open": ("仍未解决", "open findings"),
    "resolved": ("已解决", "resolved findings"),
}
STATUS_LABELS = {"new": "新 new", "open": "未解决 open"}
_RULE_ORDER = {rule: i for i, rule in enumerate(RULES)}


# ---------------------------------------------------------------------------------------------- evaluation


def default_years(store: Store, units: Sequence[Unit], as_of: date, policy: DeadlinePolicy) -> list[int]:
    """2019 up to the last year some unit's report was due by `as_of`, or a later year a report is stored
    for: a report out before its deadline can already be checked for everything but being missing."""
    due = [y for y in range(FIRST_YEAR, as_of.year) if any(policy.deadline(u, y) < as_of for u in units)]
    stored = [r.year for r in store.latest_reports() if FIRST_YEAR <= r.year < as_of.year]
    return list(range(FIRST_YEAR, max([*due, *stored], default=FIRST_YEAR - 1) + 1))


def where_to_look(unit: Unit) -> str:
    """The page a reader opens to look for a unit's report: its 年报 column, else its portal."""
    return unit.column_urls[0] if unit.column_urls else unit.portal_url


def evaluate(
    store: Store,
    *,
    as_of: date,
    years: Sequence[int] | None = None,
    policy: DeadlinePolicy = DEFAULT_POLICY,
    unreachable_threshold: int = UNREACHABLE_NIGHTS,
) -> list[Finding]:
    """Every finding about the registry's units for `years` (default: `default_years`) as of `as_of`:
    publication, the single-report rules on each report's current version, the cross-year rules (year Y is
    compared with Y−1 even when Y−1 is not among `years`), silent changes between versions, reachability.

    A report whose versions show no publication date is taken as published: it is there, and nothing says when.
    """
    units = store.units()
    if years is None:
        years = default_years(store, units, as_of, policy)
    wanted = set(years)
    findings: list[Finding] = []
    for unit in units:
        versions: dict[int, list[ReportVersionInfo]] = {}
        for info in store.report_history(unit.unit_id):
            versions.setdefault(info.year, []).append(info)
        current = {year: next(v for v in infos if v.is_current) for year, infos in versions.items()}
        reports = {
            year: store.load_report(info.report_id)
            for year, info in current.items()
            if year in wanted or year + 1 in wanted
        }
        for year in sorted(wanted):
            info = current.get(year)
            if info is None:
                findings += check_publication(unit, year, None, as_of, policy, source_url=where_to_look(unit))
                continue
            # Judged by the first date any version shows: a report re-posted or edited after the deadline was still
            # published on time, whichever copy the crawl happened to read first.
            dated = [v for v in versions[year] if v.published_on]
            if dated:
                first = min(dated, key=lambda v: (v.published_on, v.version))
                findings += check_publication(unit, year, first.published_on, as_of, policy, source_url=first.source_url)
            findings += check_report(reports[year], unit)
            # Each stored version has content of its own (storage keeps no duplicate), so the document's hash
            # tells versions apart as well as the content hash would.
            findings += check_versions(unit, year, [Version(v.published_on, v.document_sha256, v.extracted_at) for v in versions[year]])
        findings += [f for f in check_history(reports, unit) if f.year in wanted]
        outcomes = [False] * store.consecutive_failed_nights(unit.unit_id)
        findings += [replace(f, source_url=unit.portal_url) for f in check_reachability(unit, outcomes, unreachable_threshold)]
    return findings


def _stored(finding: Finding) -> dict[str, Any]:
    return {
        "fingerprint": finding.fingerprint,
        "rule": finding.rule,
        "severity": finding.severity,
        "unit_id": finding.unit,
        "year": finding.year,
        "message_zh": finding.message_zh,
        "message_en": finding.message_en,
        "cells": [[key, value] for key, value in finding.cells],
        "source_url": finding.source_url,
    }


def record(store: Store, run_id: int, findings: Iterable[Finding]) -> FindingsSummary:
    """Store the night's *complete* findings: the store marks each new or open and resolves the rest."""
    return store.record_findings(run_id, [_stored(f) for f in findings])


def new_findings(store: Store, run_id: int, findings: Iterable[Finding]) -> list[Finding]:
    """The findings that `record(store, run_id, …)` saw for the first time (what the alerts announce)."""
    first_seen = {row["fingerprint"] for row in store.findings("new") if row["first_seen_run"] == run_id}
    return [f for f in findings if f.fingerprint in first_seen]


# ---------------------------------------------------------------------------------------------- the report


def section_of(rule: str) -> str:
    if rule in ("not_published", "late", "unreachable"):
        return rule
    if rule[0] in "HX" and rule[1:].isdigit():  # the 勾稽 rules H1–H6 and the cross-year rules X1…
        return "inconsistent"
    return "other"


@dataclass(frozen=True)
class Entry:
    """A finding as the report lists it: in which section, and whether it is new since the last night."""

    finding: Finding
    status: str  # "new" or "open"

    @property
    def section(self) -> str:
        return section_of(self.finding.rule)

    def to_json(self) -> dict[str, Any]:
        rule = RULES[self.finding.rule]
        return {
            **self.finding.to_json(),
            "section": self.section,
            "status": self.status,
            "rule_title_zh": rule.title_zh,
            "rule_title_en": rule.title_en,
        }


_SECTION_RANK = {key: i for i, (key, _, _) in enumerate(SECTIONS)}


def ordered(entries: Iterable[Entry]) -> list[Entry]:
    """Entries in the order the report lists them: by section, then unit, year and rule. Units go by id, which
    is the division code: a county's government, then its departments, then its townships."""
    return sorted(entries, key=lambda e: (_SECTION_RANK[e.section], e.finding.unit, e.finding.year or 0,
                                          _RULE_ORDER[e.finding.rule], e.finding.location))


@dataclass(frozen=True)
class StatusReport:
    as_of: date
    years: tuple[int, ...]
    summary: dict[str, int]  # the keys of SUMMARY_LABELS, in that order
    entries: tuple[Entry, ...]  # in section order, then by unit and year

    def section(self, key: str) -> list[Entry]:
        return [e for e in self.entries if e.section == key]

    @property
    def has_errors(self) -> bool:
        return any(e.finding.severity == ERROR for e in self.entries)

    @property
    def title(self) -> str:
        return f"年报监测状态报告 nianbao status {self.as_of.isoformat()}"


def _tracked(store: Store, findings: Sequence[Finding], years: Sequence[int]) -> tuple[dict[str, str], int]:
    """Each finding's status measured against the findings the last night recorded, without recording
    anything (only the nightly job records: a report viewed in the morning must not take the newness
    of a finding away from the night's alerts), and how many findings of `years` have been resolved since:
    by the last recorded night, or because this evaluation no longer finds them."""
    stored = store.findings()
    last_run = max((max(r["last_seen_run"], r["resolved_run"] or 0) for r in stored), default=None)
    rows = [r for r in stored if r["year"] is None or r["year"] in years]
    active = {r["fingerprint"]: r["status"] for r in rows if r["status"] != "resolved"}
    statuses = {f.fingerprint: "open" if active.get(f.fingerprint) == "open" else "new" for f in findings}
    resolved = sum(r["resolved_run"] == last_run for r in rows if r["status"] == "resolved")
    resolved += sum(fp not in statuses for fp in active)
    return statuses, resolved


def build_status(store: Store, findings: Sequence[Finding], *, as_of: date, years: Sequence[int]) -> StatusReport:
    """The report on `findings` (an evaluation of `years` as of `as_of`)."""
    units = {u.unit_id for u in store.units()}
    reports = [r for r in store.latest_reports() if r.unit_id in units and r.year in years]
    statuses, resolved = _tracked(store, findings, years)
    entries = ordered(Entry(f, statuses[f.fingerprint]) for f in findings)

    def count(rule: str) -> int:
        return sum(f.rule == rule for f in findings)

    unit_years = len(units) * len(years)
    summary = {
        "units": len(units),
        "unit_years": unit_years,
        "reports": len(reports),
        "on_time": len(reports) - count("late"),
        "late": count("late"),
        "not_published": count("not_published"),
        "not_due": unit_years - len(reports) - count("not_published"),
        "inconsistent": len({(f.unit, f.year) for f in findings if section_of(f.rule) == "inconsistent"}),
        "unreachable": count("unreachable"),
        "errors": sum(f.severity == ERROR for f in findings),
        "warnings": sum(f.severity == WARNING for f in findings),
        "new": sum(s == "new" for s in statuses.values()),
        "open": sum(s == "open" for s in statuses.values()),
        "resolved": resolved,
    }
    return StatusReport(as_of, tuple(years), summary, tuple(entries))


# ---------------------------------------------------------------------------------------------- shared text


def _years_text(years: Sequence[int]) -> str:
    if not years:
        return "—"
    return str(years[0]) if len(years) == 1 else f"{years[0]}–{years[-1]}"


def cell_label(key: str) -> str:
    """A cell key with the label the report prints (cross-year cells carry an "@year" tag)."""
    base, _, year = key.partition("@")
    field = FIELDS_BY_KEY.get(base)
    if field is None:
        return key
    return f"{field.label_zh}（{year}年）" if year else field.label_zh


def _value_text(value: object) -> str:
    if value is None:
        return "空 blank"
    return f"{value:g}" if isinstance(value, float) else str(value)


def http_url(url: str | None) -> str | None:
    """`url` when it is an http(s) URL with a host, the only kind the report links to."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    return url.strip() if parts.scheme.lower() in ("http", "https") and parts.netloc else None


# ---------------------------------------------------------------------------------------------- terminal


_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def print_table(console: Console, report: StatusReport, *, rows_per_section: int | None = None) -> None:
    """The report as rich tables; every report text goes in as `Text`, so no markup in it is interpreted.
    With `rows_per_section`, each section shows its first rows and says how many more the full report has."""
    console.print(Text(f"{report.title}  年度 years {_years_text(report.years)}", style="bold"))
    counts = Table(show_header=True, title="概况 summary", title_justify="left")
    counts.add_column("指标 metric")
    counts.add_column("key", style="dim")
    counts.add_column("数量 count", justify="right")
    for key, (zh, en) in SUMMARY_LABELS.items():
        counts.add_row(Text(f"{zh} {en}"), Text(key), Text(str(report.summary[key])))
    console.print(counts)
    for key, zh, en in SECTIONS:
        entries = report.section(key)
        table = Table(title=f"{zh} {en} · {len(entries)}", title_justify="left", show_lines=True)
        for column in ("状态 status", "规则 rule", "单位 unit", "年度 year", "说明 message", "链接 link"):
            table.add_column(column, overflow="fold")
        shown = entries if rows_per_section is None else entries[:rows_per_section]
        for e in shown:
            f = e.finding
            rule = Text(f.rule, style=_SEVERITY_STYLE[f.severity])
            rule.append(f"\n{RULES[f.rule].title_zh}", style="")
            unit = Text(f.unit_name)
            unit.append(f"\n{f.unit}", style="dim")
            message = Text(f.message_zh)
            message.append(f"\n{f.message_en}", style="dim")
            table.add_row(Text(STATUS_LABELS[e.status]), rule, unit, Text(str(f.year or "")), message, Text(f.source_url or ""))
        if not entries:
            table.add_row("", "", Text("无 none", style="green"), "", "", "")
        if len(shown) < len(entries):
            table.caption = f"…另有 {len(entries) - len(shown)} 条 and {len(entries) - len(shown)} more in the full report"
        console.print(table)


# ---------------------------------------------------------------------------------------------- CSV and JSON

CSV_COLUMNS = (
    "section", "status", "severity", "rule", "rule_title_zh", "unit_id", "unit_name", "year",
    "message_zh", "message_en", "cells", "source_url", "fingerprint",
)


def render_csv(report: StatusReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for e in report.entries:
        f = e.finding
        cells = "; ".join(f"{key}={_value_text(value)}" for key, value in f.cells)
        row = (
            e.section, e.status, f.severity, f.rule, RULES[f.rule].title_zh, f.unit, f.unit_name, f.year or "",
            f.message_zh, f.message_en, cells, f.source_url or "", f.fingerprint,
        )
        writer.writerow([spreadsheet_safe(v) if isinstance(v, str) else v for v in row])
    return out.getvalue()


def render_json(report: StatusReport) -> str:
    summary = {"as_of": report.as_of.isoformat(), "years": list(report.years), **report.summary}
    data = {"summary": summary, "findings": [e.to_json() for e in report.entries]}
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


# ---------------------------------------------------------------------------------------------- HTML


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def link_html(url: str | None) -> str:
    """A link for an http(s) URL; any other URL (javascript:, data:, …) is shown as text, not linked."""
    if not url:
        return ""
    target = http_url(url)
    if target is None:
        return f'<span class="src">{esc(url)}</span>'
    return f'<a class="src" href="{esc(target)}" rel="noopener noreferrer nofollow">{esc(target)}</a>'


_CSS = """
:root { color-scheme: light; --error: #b3261e; --warning: #a15c00; --info: #1d5fa8; --line: #d9dce1; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.55 system-ui, -apple-system, "PingFang SC", "Noto Sans CJK SC", "WenQuanYi Zen Hei",
  "Microsoft YaHei", sans-serif; color: #1b1d21; background: #f5f6f8; }
main { max-width: 60rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.35rem; margin: .2rem 0; }
h2 { font-size: 1.15rem; margin: 1.6rem 0 .6rem; display: flex; gap: .5rem; align-items: baseline; flex-wrap: wrap; }
.en { color: #5f6570; font-weight: normal; font-size: .9em; }
.meta { color: #5f6570; margin: 0 0 1rem; }
.counts { display: grid; grid-template-columns: repeat(auto-fill, minmax(7rem, 1fr)); gap: .4rem; margin: 0; }
.count { background: #fff; border: 1px solid var(--line); border-radius: .5rem; padding: .35rem .55rem;
  display: flex; flex-direction: column; justify-content: space-between; }
.count dt { font-size: .78rem; line-height: 1.3; color: #3d424b; }
.count dd { margin: 0; font-size: 1.3rem; font-weight: 600; }
.count.bad dd { color: var(--error); }
nav ul { list-style: none; padding: 0; margin: 1rem 0 0; display: flex; flex-wrap: wrap; gap: .4rem; }
nav a { display: inline-block; padding: .25rem .6rem; border-radius: 1rem; background: #fff; border: 1px solid var(--line);
  color: inherit; text-decoration: none; font-size: .9rem; }
.badge { font-size: .85rem; background: #e6e8ec; border-radius: 1rem; padding: 0 .55rem; }
ol.findings { list-style: none; padding: 0; margin: 0; display: grid; gap: .6rem; }
.finding { background: #fff; border: 1px solid var(--line); border-left: .3rem solid var(--info); border-radius: .5rem;
  padding: .6rem .8rem; overflow-wrap: anywhere; }
.finding.error { border-left-color: var(--error); }
.finding.warning { border-left-color: var(--warning); }
.finding .head { display: flex; flex-wrap: wrap; gap: .4rem; align-items: baseline; }
.rule { font-weight: 600; }
.finding.error .rule { color: var(--error); }
.finding.warning .rule { color: var(--warning); }
.tag { font-size: .8rem; border-radius: .3rem; padding: 0 .35rem; background: #eef0f3; }
.tag.new { background: #fde7c6; }
.who { font-weight: 600; margin-top: .2rem; }
.who .id { font-weight: normal; color: #5f6570; font-size: .85rem; }
.msg { margin: .3rem 0 0; }
.msg-en { margin: .1rem 0 0; color: #5f6570; font-size: .9rem; }
details { margin-top: .35rem; font-size: .9rem; }
table.cells { border-collapse: collapse; width: 100%; }
table.cells td { border-top: 1px solid var(--line); padding: .15rem .3rem; vertical-align: top; }
table.cells td.v { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
.key { color: #5f6570; font-size: .8rem; display: block; }
.src { display: inline-block; margin-top: .35rem; font-size: .85rem; color: #1d5fa8; }
.empty { color: #2e7d32; margin: 0; }
footer { margin: 2rem 0 1rem; color: #5f6570; font-size: .85rem; }
footer dt { font-weight: 600; color: #3d424b; }
footer dd { margin: 0 0 .4rem; }
"""

# Report text is the portals' text: whatever escaping misses, the page runs no script and loads nothing.
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def html_page(title: str, body: str) -> str:
    """A self-contained page: inline CSS, no external resource, no script, readable on a phone."""
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f"<title>{esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def _cells_html(finding: Finding) -> str:
    if not finding.cells:
        return ""
    rows = "".join(
        f'<tr><td>{esc(cell_label(key))}<span class="key">{esc(key)}</span></td><td class="v">{esc(_value_text(value))}</td></tr>'
        for key, value in finding.cells
    )
    return f'<details><summary>数据 cells ({len(finding.cells)})</summary><table class="cells">{rows}</table></details>'


def entry_html(entry: Entry) -> str:
    f = entry.finding
    rule = RULES[f.rule]
    year = f'<span class="year">{esc(f.year)}年度</span>' if f.year else ""
    return (
        f'<li class="finding {esc(f.severity)} {esc(entry.status)}" data-rule="{esc(f.rule)}" data-unit="{esc(f.unit)}">'
        f'<div class="head"><span class="rule">{esc(f.rule)} {esc(rule.title_zh)}</span>'
        f'<span class="tag">{esc(rule.title_en)}</span>'
        f'<span class="tag {esc(entry.status)}">{esc(STATUS_LABELS[entry.status])}</span></div>'
        f'<div class="who"><span class="unit">{esc(f.unit_name)}</span> {year} <span class="id">{esc(f.unit)}</span></div>'
        f'<p class="msg" lang="zh">{esc(f.message_zh)}</p><p class="msg-en" lang="en">{esc(f.message_en)}</p>'
        f"{_cells_html(f)}{link_html(f.source_url)}</li>"
    )


def entries_html(entries: Sequence[Entry]) -> str:
    if not entries:
        return '<p class="empty">无 none</p>'
    return '<ol class="findings">' + "".join(entry_html(e) for e in entries) + "</ol>"


_BAD_COUNTS = ("late", "not_published", "inconsistent", "unreachable", "errors", "new")


def render_html(report: StatusReport) -> str:
    counts = "".join(
        f'<div class="count{" bad" if key in _BAD_COUNTS and report.summary[key] else ""}" id="count-{key}">'
        f'<dt>{esc(zh)} <span class="en">{esc(en)}</span></dt><dd>{report.summary[key]}</dd></div>'
        for key, (zh, en) in SUMMARY_LABELS.items()
    )
    nav = "".join(
        f'<li><a href="#{key}">{esc(zh)} <span class="badge">{len(report.section(key))}</span></a></li>' for key, zh, _ in SECTIONS
    )
    sections = "".join(
        f'<section id="{key}"><h2>{esc(zh)} <span class="en">{esc(en)}</span> <span class="badge">{len(report.section(key))}</span></h2>'
        f"{entries_html(report.section(key))}</section>"
        for key, zh, en in SECTIONS
    )
    used = sorted({e.finding.rule for e in report.entries}, key=_RULE_ORDER.__getitem__)
    legend = "".join(
        f"<dt>{esc(r)} {esc(RULES[r].title_zh)} <span class=\"en\">{esc(RULES[r].title_en)}</span></dt><dd>{esc(RULES[r].checks)}</dd>"
        for r in used
    )
    body = (
        f"<header><h1>政府信息公开工作年度报告监测 · 状态报告<br><span class=\"en\">nianbao status report</span></h1>"
        f'<p class="meta">截至 as of <time datetime="{report.as_of.isoformat()}">{report.as_of.isoformat()}</time>'
        f" · 年度 years {esc(_years_text(report.years))}</p></header>"
        f'<section aria-label="summary"><dl class="counts">{counts}</dl><nav><ul>{nav}</ul></nav></section>'
        f"{sections}"
        f"<footer>{f'<details><summary>规则说明 rules</summary><dl>{legend}</dl></details>' if legend else ''}"
        f"<p>由 nianbao 生成 · generated by nianbao</p></footer>"
    )
    return html_page(report.title, body)


# ---------------------------------------------------------------------------------------------- the command


def render(report: StatusReport, fmt: str) -> str:
    """The report as text in `fmt` (the "table" format as the terminal would show it, without colour)."""
    if fmt == "html":
        return render_html(report)
    if fmt == "csv":
        return render_csv(report)
    if fmt == "json":
        return render_json(report)
    if fmt == "table":
        out = io.StringIO()
        print_table(Console(file=out, width=160, color_system=None), report)
        return out.getvalue()
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def status_command(db: Path, store_dir: Path, year: int | None, fmt: str, output: Path | None, as_of: date | None) -> int:
    """`nianbao status`: evaluate the database as of `as_of` (default today) for `year` (default every due
    year), print or write the report. Exit code 1 when it lists an error finding (for cron), 2 when it cannot
    run, else 0. Read-only: the nightly job records findings and sends the alerts."""
    errors = Console(stderr=True, soft_wrap=True)
    if fmt not in FORMATS:
        errors.print(f"error: unknown format {fmt!r}; expected one of {', '.join(FORMATS)}", markup=False, highlight=False)
        return 2
    if not db.is_file():
        errors.print(f"error: no database at {db}", markup=False, highlight=False)
        return 2
    as_of = as_of or date.today()
    with Store.open(db, store_dir) as store:
        years = [year] if year is not None else default_years(store, store.units(), as_of, DEFAULT_POLICY)
        findings = evaluate(store, as_of=as_of, years=years)
        report = build_status(store, findings, as_of=as_of, years=years)
    if output is not None:
        # Excel reads a CSV as UTF-8 only after a byte-order mark.
        output.write_text(render(report, fmt), encoding="utf-8-sig" if fmt == "csv" else "utf-8")
    elif fmt == "table":
        print_table(Console(), report)
    else:
        sys.stdout.write(render(report, fmt))
    return 1 if report.has_errors else 0
