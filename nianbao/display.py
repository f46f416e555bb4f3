"""Terminal views of reports: the three tables with Chinese labels next to the schema's keys."""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table

from checks import RULES, Finding
from extract.model import Report
from extract.schema import APPEAL_COLUMNS, APPEAL_GROUPS, REQUEST_COLUMNS, TEMPLATE_NAMES, active_tables, request_rows


def _cell(report: Report, key: str) -> str:
    fv = report.fields.get(key)
    if fv is None or fv.value is None:
        return "[dim]—[/dim]"
    text = f"{fv.value:g}" if isinstance(fv.value, float) else str(fv.value)
    return f"[italic yellow]{text}*[/italic yellow]" if fv.inferred else text


def active_table(report: Report) -> Table:
    table = Table(title="二、主动公开政府信息情况  active.*", show_lines=False, title_justify="left")
    table.add_column("第二十条")
    table.add_column("信息内容 row")
    table.add_column("栏目 column · value")
    for spec in active_tables(report.template or ""):
        for row in spec.rows:
            values = "   ".join(
                f"{col.label.canonical} [dim]{col.key}[/dim] {_cell(report, f'active.{row.key}.{col.key}')}"
                for col in spec.columns
            )
            table.add_row(f"（{spec.item}）", f"{row.label.canonical} [dim]{row.key}[/dim]", values)
    return table


def requests_table(report: Report) -> Table:
    table = Table(title="三、收到和处理政府信息公开申请情况  requests.<row>.<column>", title_justify="left")
    table.add_column("row")
    for col in REQUEST_COLUMNS:
        table.add_column(f"{col.label.canonical}\n[dim]{col.key}[/dim]", justify="right")
    for row in request_rows(report.template or ""):
        table.add_row(
            f"{row.label.canonical} [dim]{row.key}[/dim]",
            *(_cell(report, f"requests.{row.key}.{col.key}") for col in REQUEST_COLUMNS),
        )
    return table


def appeals_table(report: Report) -> Table:
    table = Table(title="四、政府信息公开行政复议、行政诉讼情况", title_justify="left")
    table.add_column("group")
    for col, label in APPEAL_COLUMNS:
        table.add_column(f"{label.canonical}\n[dim]{col}[/dim]", justify="right")
    for group in APPEAL_GROUPS:
        table.add_row(
            f"{group.label.canonical} [dim]{group.key}[/dim]",
            *(_cell(report, f"{group.key}.{col}") for col, _ in APPEAL_COLUMNS),
        )
    return table


def print_report(console: Console, report: Report, name: str) -> None:
    template = TEMPLATE_NAMES.get(report.template or "", "未识别 not detected")
    header = (
        f"[bold]{report.title or '（无标题 no title）'}[/bold]\n"
        f"单位 unit: {report.unit}   年度 year: {report.year}   模板 template: {report.template} ({template})\n"
        f"发布日期 published: {report.published_on or '—'}   部分 sections: {' '.join(report.sections) or '—'}   "
        f"来源 source: {name}"
    )
    parts: list = [header]
    if report.template:
        parts += [active_table(report), requests_table(report), appeals_table(report)]
        parts.append("[dim]— blank / not printed    [italic yellow]n*[/italic yellow] inferred[/dim]")
    for warning in report.warnings:
        parts.append(f"[yellow]warning:[/yellow] {warning}")
    console.print(Panel(Group(*parts), expand=False))


_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def print_findings(console: Console, findings: list[Finding]) -> None:
    if not findings:
        console.print("[green]没有发现问题 no findings[/green]")
        return
    table = Table(title=f"发现 findings: {len(findings)}", title_justify="left", show_lines=True)
    for column in ("级别 severity", "规则 rule", "单位 unit", "年度 year", "说明 message"):
        table.add_column(column)
    for finding in findings:
        rule = RULES.get(finding.rule)
        title = f"{finding.rule}\n[dim]{rule.title_zh}[/dim]" if rule else finding.rule
        table.add_row(
            f"[{_SEVERITY_STYLE.get(finding.severity, '')}]{finding.severity}[/]",
            title,
            finding.unit_name,
            str(finding.year or ""),
            f"{finding.message_zh}\n[dim]{finding.message_en}[/dim]",
        )
    console.print(table)
