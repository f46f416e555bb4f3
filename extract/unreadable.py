"""A report known to exist that cannot be read: its article page announces it, its document is damaged, encrypted
or beyond a limit. Kept as a report with no values and the reason, so the unit counts as having published and the
checks say why nothing can be checked (checks: `unreadable_document`), instead of the unit looking unpublished.
"""

from __future__ import annotations

from extract import read_grid
from extract.builder import build_report
from extract.model import ExtractionError, Report

UNREADABLE = "unreadable document: "  # the warning that marks such a report, followed by the reason
_TABLES = ["二", "三", "四"]


def unreadable_report(page: bytes, *, page_url: str, document_url: str, reason: str, source: str | None = None) -> Report | None:
    """The report the article at `page_url` announces, whose document at `document_url` cannot be read for
    `reason`: the page's title, unit, year and publication date, no table values, the reason as a warning. None
    when the page names no report (no report title or no year)."""
    try:
        grid = read_grid(page)
    except ExtractionError:
        return None
    announced = build_report(grid, url=page_url, source=source)
    if announced.title is None or announced.year is None:
        return None
    return Report(
        unit=announced.unit,
        year=announced.year,
        template=None,
        title=announced.title,
        source_url=document_url,
        published_on=announced.published_on,
        sections=announced.sections,
        missing_tables=list(_TABLES),
        warnings=[UNREADABLE + reason],
        source=source,
    )


def unreadable_reason(report: Report) -> str | None:
    """Why the report's document could not be read, or None for a report that was read."""
    return next((w.removeprefix(UNREADABLE) for w in report.warnings if w.startswith(UNREADABLE)), None)
