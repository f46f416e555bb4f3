"""What one crawl shares between the spider, the downloader middlewares and the pipeline: the store, the run, the
units by portal, the incremental policy and the counters the progress bar and the summary read.

One context per crawler, opened by whichever component asks first and closed when the spider closes, after the
pipeline has stored the last item.

The incremental policy, for nights after a run that finished (a first or interrupted run looks at everything).
Every stored report and every column has a revisit night, once every NIANBAO_REVISIT_NIGHTS nights, spread by URL
(a report's by its unit and year, whichever of its copies is current):
- a stored report's document is fetched again only on its revisit night: that finds reports edited in place, which
  no list shows;
- a list stops paging at its first page with nothing new (spiders/base.py), except on its revisit night, when it is
  paged to the end (a late report on an old page), and the night after one of its pages failed in a way that may pass
  (the crawl state "unfinished": the pages behind the failed one were never read);
- a column that cannot hold anything new rests until its revisit night: the column of a unit whose report on last
  year is stored (the next one is not due before next January), and a year sub-column older than last year;
- the 年报 columns found from a home page are remembered (the crawl state "columns", kept with the run that found
  them) and looked for again on the home page's revisit night, or when one of them fails.
"""

from __future__ import annotations

import logging
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from weakref import WeakKeyDictionary

from scrapy import Spider, signals
from scrapy.crawler import Crawler

from crawler.items import FetchErrorItem
from registry.units import Unit
from spiders.recognize import UnitNames, title_years
from storage import Store

logger = logging.getLogger(__name__)

COLUMNS = "columns"  # the crawl state of the 年报 columns found from home pages
UNFINISHED = "unfinished"  # the crawl state of the columns a failed list page left unread to the end

# Scrapy stats copied into the run's stats row, under shorter names.
_SCRAPY_STATS = {
    "requests": "downloader/request_count",
    "responses": "downloader/response_count",
    "bytes": "downloader/response_bytes",
    "retries": "retry/count",
    "robots_forbidden": "robotstxt/forbidden",
    "elapsed_seconds": "elapsed_time_seconds",
    "extraction_tail_seconds": "nianbao/extraction_tail_seconds",  # crawler/pipelines.py
}


@dataclass
class Portal:
    """The units one portal publishes for, and the names that tell their reports apart."""

    key: str
    home: str
    units: list[Unit] = field(default_factory=list)
    names: UnitNames = field(default_factory=lambda: UnitNames(()))


@dataclass(frozen=True)
class DueReport:
    """A stored report due for a revisit tonight: what `register` reads of Store.latest_reports, and what a distributed
    night's snapshot carries to its workers in its place."""

    unit_id: str
    source_url: str
    year: int
    published_on: str | None = None  # the current version's: a file fetched alone has no page to take its date from


def portal_key(url: str) -> str:
    return urlsplit(url).netloc.lower()


class CrawlContext:
    """The crawl's shared state; `CrawlContext.of(crawler)` opens it (the store, a new run) on first use."""

    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        self.crawler = crawler
        self.store = Store.open(Path(settings["NIANBAO_DB"]), Path(settings["NIANBAO_STORE_DIR"]))
        # One crawl at a time (the scheduler runs nights one after another): a run still marked running was killed.
        self.store.abandon_running_runs()
        previous = self.store.last_run()
        # Stopping at known list pages is safe only after a run that got to the end: a killed run may have fetched
        # a column's first page and never its second.
        self.full = previous is None or previous["status"] != "finished"
        self.run_id = self.store.start_run(settings.get("NIANBAO_NIGHT") or None)
        self.night = date.fromisoformat(self.store.run(self.run_id)["night"])
        self.revisit_nights = max(1, settings.getint("NIANBAO_REVISIT_NIGHTS"))
        self.counts: Counter[str] = Counter()
        self.portals: dict[str, Portal] = {}
        self.settled: set[str] = set()  # units whose report on last year is stored
        self._reports_due: dict[str, list[DueReport]] = {}
        # portal → {年报 column URL found from its home page: the unit it belongs to, if one}
        self.remembered: dict[str, dict[str, str | None]] = {} if self.full else self.store.crawl_state(COLUMNS) or {}
        self.discovered: dict[str, dict[str, str | None]] = {}
        # Columns paged to the end tonight because a page of theirs failed last night; those failing tonight.
        self.unfinished: frozenset[str] = frozenset(() if self.full else self.store.crawl_state(UNFINISHED) or ())
        self.left_unfinished: set[str] = set()
        self.reached: set[str] = set()  # portals that answered at least once
        self.failing: set[str] = set()  # portals with a recorded fetch error
        self.final_stats: dict[str, Any] = {}
        crawler.signals.connect(self._close, signal=signals.spider_closed)

    @classmethod
    def of(cls, crawler: Crawler) -> CrawlContext:
        if crawler not in _CONTEXTS:
            _CONTEXTS[crawler] = cls(crawler)
        return _CONTEXTS[crawler]

    @staticmethod
    def existing(crawler: Crawler) -> CrawlContext | None:
        """The crawler's context if one was opened (a crawl that failed to start has none)."""
        return _CONTEXTS.get(crawler)

    # ------------------------------------------------------------------------------------------------ units

    def register(self, units: Iterable[Unit]) -> list[Portal]:
        """Keep the units (reports refer to them) and group them by portal host."""
        units = list(units)
        self.store.upsert_units(units)
        for unit in units:
            key = portal_key(unit.portal_url)
            self.portals.setdefault(key, Portal(key, unit.portal_url)).units.append(unit)
        for portal in self.portals.values():
            portal.names = UnitNames(portal.units)
        lacking = {u.unit_id for u in self.store.units_without_report(self.night.year - 1)}
        self.settled = {u.unit_id for u in units} - lacking
        portal_of = {u.unit_id: portal_key(u.portal_url) for u in units}
        for report in self.store.latest_reports():
            # Keyed by the report, not by its current URL: which copy of a report published twice (an article and its
            # file, a re-post) is current depends on the order they were read in, and its night must not move with it.
            if report.unit_id in portal_of and not self.full and self.due(f"{report.unit_id} {report.year}"):
                self._reports_due.setdefault(portal_of[report.unit_id], []).append(
                    DueReport(report.unit_id, report.source_url, report.year, report.published_on))
        return list(self.portals.values())

    # ---------------------------------------------------------------------------------------- incremental

    def is_known(self, url: str) -> bool:
        """Fetched before, with its bytes kept: a report page already read (the pipeline records a URL only after
        its report is stored, and an article only after its attachments)."""
        state = self.store.url_state(url)
        return state is not None and state.sha256 is not None

    def due(self, key: str) -> bool:
        """Whether tonight is the revisit night of a URL or a report: one in `revisit_nights`, spread evenly."""
        return zlib.crc32(key.encode()) % self.revisit_nights == self.night.toordinal() % self.revisit_nights

    def revisits(self, column: str) -> bool:
        """Whether a column is paged to the end tonight."""
        return self.full or self.due(column) or column in self.unfinished

    def reports_due(self, portal: str) -> list[DueReport]:
        """The portal's stored reports whose revisit night it is."""
        return self._reports_due.get(portal, [])

    def rests(self, url: str, *, owner: str | None, name: str = "") -> bool:
        """Whether a column is left alone tonight: it belongs to a unit whose report on last year is stored, or it is
        a year sub-column («2021年») older than last year, and tonight it is not paged to the end (`revisits`). A column
        never read (a new portal's, a new unit's) is read whatever its age."""
        if self.revisits(url) or self.store.url_state(url) is None:
            return False
        years = title_years(name)
        return (owner is not None and owner in self.settled) or bool(years and max(years) < self.night.year - 1)

    def remember(self, portal: str, column: str, owner: str | None) -> None:
        self.discovered.setdefault(portal, {})[column] = owner

    def forget(self, portal: str, column: str) -> None:
        for columns in (self.remembered, self.discovered):
            columns.get(portal, {}).pop(column, None)

    def record_error(self, error: FetchErrorItem) -> None:
        """One row per unit the failed request concerned (none: a row for the portal's URL alone)."""
        self.failing.add(error.portal)
        self.counts["errors"] += 1
        for unit_id in error.units or (None,):
            self.store.record_error(self.run_id, error.kind, error.message, unit_id=unit_id, url=error.url)

    # ---------------------------------------------------------------------------------------------- close

    def summary_stats(self) -> dict[str, Any]:
        scrapy_stats = self.crawler.stats.get_stats() if self.crawler.stats else {}
        stats: dict[str, Any] = {name: scrapy_stats.get(key, 0) for name, key in _SCRAPY_STATS.items()}
        stats.update(self.counts)
        stats.update(
            portals=len(self.portals),
            portals_ok=len(self.reached - self.failing),
            portals_failing=len(self.failing),
            portals_unreachable=len(self.portals.keys() - self.reached),
            units=sum(len(p.units) for p in self.portals.values()),
            full=self.full,
        )
        return stats

    def _close(self, spider: Spider, reason: str) -> None:
        self.final_stats = self.summary_stats()
        finished = reason == "finished"
        try:
            self.store.finish_run(self.run_id, "finished" if finished else "failed", self.final_stats,
                                  {COLUMNS: {**self.remembered, **self.discovered},
                                   UNFINISHED: sorted(self.left_unfinished)} if finished else None)
        finally:
            self.store.close()
            logger.info("crawl run %s closed: %s", self.run_id, reason)


_CONTEXTS: WeakKeyDictionary[Crawler, CrawlContext] = WeakKeyDictionary()

