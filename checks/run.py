"""`check_reports`: every rule that a set of extracted reports allows, grouped by unit (`nianbao check`)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from checks.findings import Finding
from checks.history import check_history
from checks.publication import DEFAULT_POLICY, DateLike, DeadlinePolicy, publication_findings
from checks.report import check_report, report_subject
from extract.model import Report
from registry.units import COUNTY_DEPARTMENT, COUNTY_GOVERNMENT, TOWNSHIP, Unit

_TOWNSHIP_NAME = re.compile(r"(乡|镇|街道|街道办事处)(人民政府)?$")
_COUNTY_GOVERNMENT_NAME = re.compile(r"(县|区|市|旗)人民政府$")


def level_from_name(name: str) -> str:
    """The level a unit the registry does not know most likely has, from the name it prints: a
    township (…镇, …街道), the county government (…县人民政府), else a county department (…县发改局)."""
    if _TOWNSHIP_NAME.search(name):
        return TOWNSHIP
    if _COUNTY_GOVERNMENT_NAME.search(name):
        return COUNTY_GOVERNMENT
    return COUNTY_DEPARTMENT


def _resolve(name: str | None, units: Sequence[Unit]) -> Unit | None:
    if not name:
        return None
    return next((u for u in units if name == u.name or name in u.aliases), None)


def check_reports(
    reports: Sequence[Report],
    as_of: DateLike | None = None,
    *,
    units: Sequence[Unit] = (),
    policy: DeadlinePolicy = DEFAULT_POLICY,
) -> list[Finding]:
    """Single-report rules on every report, cross-year rules per unit, and — when `as_of` is given — whether
    each report that shows a publication date came out by its deadline. A report is matched to `units` by
    name or alias; an unmatched one is grouped by the name it prints and its deadline follows the level its
    name suggests. Of two reports of one unit and year, the later one in `reports` takes part in the
    cross-year rules (the database passes the current version last)."""
    findings: list[Finding] = []
    by_unit: dict[str, tuple[Unit | None, dict[int, Report]]] = {}
    for report in reports:
        unit = _resolve(report.unit, units)
        findings += check_report(report, unit)
        subject = report_subject(report, unit)
        by_year = by_unit.setdefault(subject.unit, (unit, {}))[1]
        if report.year is not None:
            by_year[report.year] = report
        if as_of is not None and report.year is not None and report.published_on:
            if unit is not None:
                due = policy.deadline(unit, report.year)
                level = unit.level
            else:
                level = level_from_name(subject.unit_name)
                due = policy.deadline_for(level, report.year)
            findings += publication_findings(subject, level, due, report.published_on, as_of)
    for unit, by_year in by_unit.values():
        findings += check_history(by_year, unit)
    return findings



