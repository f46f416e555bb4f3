"""Running a crawl in-process, for the CLI (`nianbao crawl`) and the nightly scheduler (in a subprocess: Twisted's
reactor cannot start twice in one process).

    summary = crawl(Path("units.csv"), Path("nianbao.db"), Path("store"), limit=None, settings_overrides={})

Shows a progress bar while it runs (documents fetched, units done) and a summary table at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from scrapy import signals
from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.settings import Settings

from crawler.context import CrawlContext
from spiders.base import PortalSpider
from spiders.portals import PortalsSpider

PROGRESS_SECONDS = 0.5


@dataclass(frozen=True)
class CrawlSummary:
    run_id: int | None
    finish_reason: str
    units: int
    portals: int
    portals_ok: int
    portals_failing: int
    portals_unreachable: int
    requests: int
    documents: int
    reports_new: int
    reports_changed: int
    reports_unchanged: int
    errors: int
    seconds: float
    extraction_tail_seconds: float  # of `seconds`, reading reports after the last response

    @property
    def ok(self) -> bool:
        return self.finish_reason == "finished"


def crawl_settings(db: Path, store_dir: Path, overrides: dict[str, Any] | None = None) -> Settings:
    """crawler/settings.py, the storage paths, then the caller's overrides (tests tune delays down here)."""
    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    # The progress bar and the summary say how it goes; warnings and errors still print above the bar.
    settings.set("LOG_LEVEL", "WARNING", priority="cmdline")
    settings.update({"NIANBAO_DB": str(db), "NIANBAO_STORE_DIR": str(store_dir), **(overrides or {})}, priority="cmdline")
    return settings


def crawl(
    units_file: Path,
    db: Path,
    store_dir: Path,
    *,
    limit: int | None = None,
    settings_overrides: dict[str, Any] | None = None,
    console: Console | None = None,
) -> CrawlSummary:
    """Crawl the portals of `units_file` into the database `db` and the file store `store_dir`."""
    console = console or Console(stderr=True)
    process = CrawlerProcess(crawl_settings(db, store_dir, settings_overrides))
    crawler = process.create_crawler(PortalsSpider)
    closed: dict[str, Any] = {}

    def on_closed(spider: PortalSpider, reason: str) -> None:
        closed["reason"] = reason

    crawler.signals.connect(on_closed, signal=signals.spider_closed)
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=True,
    ) as progress:
        documents = progress.add_task("documents fetched 已抓取", total=None)
        read = progress.add_task("documents read 已读取", total=None)
        units = progress.add_task("units done 已完成单位", total=None)

        def refresh() -> None:
            spider = crawler.spider
            context = CrawlContext.existing(crawler)
            if not isinstance(spider, PortalSpider) or context is None:
                return
            progress.update(documents, completed=context.counts["documents"])
            progress.update(read, total=context.counts["documents"], completed=context.counts["documents_stored"])
            progress.update(units, total=sum(len(p.units) for p in context.portals.values()),
                            completed=sum(len(context.portals[key].units) for key in spider.done))

        _repeat(crawler, refresh)
        process.crawl(crawler, units=str(units_file), limit=limit)
        process.start()
    summary = _summary(crawler, closed.get("reason", "not started"))
    console.print(summary_table(summary))
    return summary


def _repeat(crawler: Crawler, function: Any) -> None:
    """Call `function` every PROGRESS_SECONDS while the spider runs (on the reactor: no thread touches the crawl)."""
    loops = []

    def opened(spider: PortalSpider) -> None:
        from twisted.internet.task import LoopingCall  # here: a LoopingCall imports the reactor CrawlerProcess installs

        loops.append(LoopingCall(function))
        loops[0].start(PROGRESS_SECONDS)

    def closed(spider: PortalSpider, reason: str) -> None:
        if loops and loops[0].running:
            loops[0].stop()

    crawler.signals.connect(opened, signal=signals.spider_opened, weak=False)
    crawler.signals.connect(closed, signal=signals.spider_closed, weak=False)


def _summary(crawler: Crawler, reason: str) -> CrawlSummary:
    context = CrawlContext.existing(crawler)
    stats = context.final_stats if context is not None else {}
    return CrawlSummary(
        run_id=context.run_id if context is not None else None,
        finish_reason=reason,
        units=stats.get("units", 0),
        portals=stats.get("portals", 0),
        portals_ok=stats.get("portals_ok", 0),
        portals_failing=stats.get("portals_failing", 0),
        portals_unreachable=stats.get("portals_unreachable", 0),
        requests=stats.get("requests", 0),
        documents=stats.get("documents", 0),
        reports_new=stats.get("reports_new", 0),
        reports_changed=stats.get("reports_changed", 0),
        reports_unchanged=stats.get("reports_unchanged", 0),
        errors=stats.get("errors", 0),
        seconds=round(stats.get("elapsed_seconds", 0.0), 1),
        extraction_tail_seconds=stats.get("extraction_tail_seconds", 0.0),
    )


def summary_table(summary: CrawlSummary) -> Table:
    table = Table(title=f"crawl run {summary.run_id}: {summary.finish_reason}", show_header=False)
    table.add_column(justify="left")
    table.add_column(justify="right")
    rows = (
        ("units", summary.units),
        ("portals ok", summary.portals_ok),
        ("portals with errors", summary.portals_failing),
        ("  of them unreachable", summary.portals_unreachable),
        ("requests", summary.requests),
        ("documents fetched", summary.documents),
        ("reports new", summary.reports_new),
        ("reports changed", summary.reports_changed),
        ("reports unchanged", summary.reports_unchanged),
        ("fetch errors", summary.errors),
        ("seconds", summary.seconds),
        ("  of them reading reports after the last fetch", summary.extraction_tail_seconds),
    )
    for name, value in rows:
        table.add_row(name, f"{value:,}" if isinstance(value, int) else str(value))
    return table
