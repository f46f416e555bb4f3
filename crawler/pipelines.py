"""Storage of what the spider fetched: bytes content-addressed, reports extracted and versioned, failures recorded.

The order of the writes makes a killed crawl safe to re-run: the document's bytes first, then its report, and the
URL states last — an article's and its files' together, once the reports of all of them are stored, the article's
last — so a URL counts as known, and is skipped on later nights, only once everything read from it is stored.
Unchanged bytes are neither extracted again nor make a row.

Extraction costs more than fetching (tens of milliseconds a page, hundreds a PDF), so it must not hold the fetching
up: an item is done for Scrapy once its bytes are stored, and its reports are read from the file store by worker
processes while the crawl goes on (at most NIANBAO_EXTRACT_BACKLOG documents behind), then stored with their URL
states; the crawl ends when the last is. Workers run at a lower priority than the crawl, whose one thread keeps every
portal's downloads going; every database write stays in that thread. A crawl killed before a document's reports are
stored has not recorded its URL state either: the next run fetches it again.

A document that cannot be read (damaged, encrypted, over a limit) is a recorded error ("unreadable"); when it was
the only report an article linked, the report the article announces is kept with no values and the reason
(extract.unreadable), so the unit shows as having published a report nobody can read, not as unpublished.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TypeVar

from scrapy import Spider
from scrapy.crawler import Crawler

from crawler.context import CrawlContext
from crawler.extraction import announced, extract, start_worker
from crawler.items import PAGE, DocumentItem, FetchErrorItem
from spiders.recognize import FIRST_YEAR, rejection
from storage.store import ReportRecord

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Extraction takes only the CPU the crawl's thread leaves: that thread serves every portal's downloads, and when it
# waits for a core the latencies AutoThrottle measures grow, and with them the delays. Reports wait instead (at most
# NIANBAO_EXTRACT_BACKLOG documents; then the fetching waits for them).
WORKER_NICENESS = 19
EXTRACTION_TAIL = "nianbao/extraction_tail_seconds"  # Scrapy stat: how long the last reports took after the fetching


@dataclass
class Kept:
    """A document whose bytes are in the store: what reading its reports and recording its URL need (the item
    without its bytes, which the workers read from `path`)."""

    item: DocumentItem
    sha256: str
    path: str
    unchanged: bool  # the URL's stored bytes were these already


def stop_workers(pool: ProcessPoolExecutor) -> None:
    """Stop a pool whose work is all done. Not by `shutdown` alone: in CPython 3.11 a worker that dies at the moment
    the pool is asked to stop (a kill, the OOM killer) can die holding the lock of the pool's work queue, and the pool
    then waits forever for the others, which wait for that lock (tests/test_extraction_workers.py). With nothing left
    to do, the workers are terminated (Python 3.14's ProcessPoolExecutor.terminate_workers does the same)."""
    for worker in list((pool._processes or {}).values()):
        worker.terminate()
    pool.shutdown(cancel_futures=True)


class StorePipeline:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.workers = crawler.settings.getint("NIANBAO_EXTRACT_WORKERS") or os.cpu_count() or 1
        self.pool = self._start_workers()
        self.backlog: set[asyncio.Task[None]] = set()
        self.room = asyncio.Semaphore(max(1, crawler.settings.getint("NIANBAO_EXTRACT_BACKLOG")))

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        return cls(crawler)

    def _start_workers(self) -> ProcessPoolExecutor:
        # forkserver: workers start from a clean process, not a fork of the crawl's sockets and database handle.
        return ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("forkserver"),
                                   initializer=start_worker, initargs=(WORKER_NICENESS, os.getpid()))

    async def _in_worker(self, function: Callable[..., T], *args: object) -> T:
        """`function(*args)` in an extraction worker. A worker that dies (killed, out of memory, crashed in a C
        library) breaks the pool and fails every document in it: new workers take over and each of those documents
        is read once more; a second failure costs the document tonight (BrokenProcessPool, its URL not recorded)."""
        pool = self.pool
        try:
            return await asyncio.wrap_future(pool.submit(function, *args))
        except BrokenProcessPool:
            if self.pool is pool:  # the first of the pool's documents to hear of it replaces the workers
                logger.error("an extraction worker died: starting new workers")
                pool.shutdown(wait=False, cancel_futures=True)
                self.pool = self._start_workers()
        return await asyncio.wrap_future(self.pool.submit(function, *args))

    async def close_spider(self, spider: Spider | None = None) -> None:
        """The fetching is over: store the reports of what was fetched, then stop the workers."""
        started = time.monotonic()
        while self.backlog:
            await asyncio.wait(self.backlog)
        if self.crawler.stats:
            self.crawler.stats.set_value(EXTRACTION_TAIL, round(time.monotonic() - started, 1))
        stop_workers(self.pool)

    async def process_item(self, item: DocumentItem | FetchErrorItem) -> DocumentItem | FetchErrorItem:
        context = CrawlContext.of(self.crawler)
        if isinstance(item, FetchErrorItem):
            context.record_error(item)
            return item
        context.reached.add(item.portal)
        kept = [await self._keep(context, document) for document in (*item.attachments, item)]
        await self.room.acquire()
        task = asyncio.ensure_future(self._read(context, kept))
        self.backlog.add(task)
        task.add_done_callback(self._done)
        return item

    def _done(self, task: asyncio.Task[None]) -> None:
        self.backlog.discard(task)
        self.room.release()

    async def _keep(self, context: CrawlContext, item: DocumentItem) -> Kept:
        """Store a document's bytes and row."""
        store = context.store
        context.counts["documents"] += 1
        context.counts["not_modified"] += item.from_store
        previous = store.url_state(item.url)
        if item.from_store and previous is not None and previous.sha256 is not None:
            # A 304 answered with the stored copy (crawler.middlewares.ConditionalGetMiddleware): bytes and row are
            # there — most documents of an ordinary night.
            sha256, unchanged = previous.sha256, True
        else:
            # Writing and fsyncing the file takes milliseconds: off the crawl's thread.
            sha256 = await asyncio.to_thread(store.files.put, item.body)
            store.save_document(item.body, item.content_type, sha256=sha256)
            unchanged = previous is not None and previous.sha256 == sha256
        return Kept(dataclasses.replace(item, body=b"", attachments=[]), sha256, str(store.files.path(sha256)), unchanged)

    async def _read(self, context: CrawlContext, kept: list[Kept]) -> None:
        """Read and store the reports of an article's attachments, then of the article; then record their URL states,
        the article's last. Recorded together or not at all: a file whose URL is known is not fetched again, and the
        report the article announces for an unreadable file is stored only while that file is read with it."""
        *attachments, article = kept
        try:
            stored = [await self._document(context, attachment, page=article) for attachment in attachments]
            if not all(s.assigned for s in stored):
                return
            # An article whose report is only in attachments that cannot be read still announces the report.
            unreadable = [(a, s) for a, s in zip(attachments, stored, strict=True) if s.unreadable]
            page = await self._document(context, article,
                                        unreadable[0] if unreadable and not any(s.reports for s in stored) else None)
            if not page.assigned or article.item.incomplete:
                return
            for document in kept:
                item = document.item
                context.store.record_fetch(item.url, item.status, item.headers, document.sha256, context.run_id)
        except Exception as exc:  # costs these documents tonight, not the crawl: their URLs are not recorded
            logger.exception("storing the reports of %s failed", article.item.url)
            context.counts["storage_failures"] += 1
            try:
                context.store.record_error(context.run_id, "storage", f"{type(exc).__name__}: {exc}"[:500],
                                           unit_id=article.item.unit_id, url=article.item.url)
            except Exception:  # the database itself is what fails: the log has it
                logger.exception("recording that failure failed too")

    async def _document(self, context: CrawlContext, kept: Kept, unreadable: tuple[Kept, Stored] | None = None,
                        page: Kept | None = None) -> Stored:
        """Store one document's reports (and, when it holds none, the report an unreadable attachment of it was); an
        attachment's reports take their publication date from its `page` when they print none. Not `assigned` when it
        holds a report of a unit not on the list: fetched again (its URL state left alone) until the list knows the
        unit."""
        item = kept.item
        stored = Stored(kept.sha256)
        if item.kind != PAGE:
            if kept.unchanged:
                context.counts["documents_unchanged"] += 1
            else:
                stored = await self._reports(context, kept, page)
                if not stored.assigned:
                    return stored
                if unreadable is not None and not stored.reports:
                    stored.assigned = await self._announced(context, kept, *unreadable)
        context.counts["documents_stored"] += 1
        return stored

    async def _reports(self, context: CrawlContext, kept: Kept, page: Kept | None) -> Stored:
        item = kept.item
        outcome, result = await self._in_worker(extract, kept.path, item.final_url, item.filename, item.content_type,
                                                page.path if page else None, item.page_published_on)
        stored = Stored(kept.sha256)
        if outcome != "reports":
            context.counts[_OUTCOME_COUNTS[outcome]] += 1
            logger.log(_OUTCOME_LEVELS[outcome], "%s: %s: %s", outcome, item.url, result)
            if outcome != "not a report":
                kind = "unreadable" if outcome == "unreadable" else "extraction"
                context.store.record_error(context.run_id, kind, str(result), unit_id=item.unit_id, url=item.url)
                stored.unreadable = str(result) if outcome == "unreadable" else None
            return stored
        for report in result:
            rejected = _rejected(report)
            if rejected:
                context.counts["rejected_reports"] += 1
                logger.debug("not kept: %s: %s", item.url, rejected)
                continue
            unit_id = item.unit_id or context.portals[item.portal].names.named(report.unit)
            if unit_id is None:
                context.counts["unassigned_reports"] += 1
                logger.info("report of an unlisted unit %r: %s", report.unit, item.url)
                stored.assigned = False
                continue
            saved = context.store.save_report(unit_id, report, kept.sha256, item.url, run_id=context.run_id)
            context.counts[f"reports_{saved.outcome}"] += 1
            stored.reports += 1
        return stored

    async def _announced(self, context: CrawlContext, article: Kept, attachment: Kept, stored: Stored) -> bool:
        """Keep the report `article` announces, whose attachment could not be read (extract.unreadable): the unit
        published, and the checks say why nothing in it can be checked. False when the report is of a unit not on the
        list (read again, as any such report, until the list knows the unit)."""
        page, document = article.item, attachment.item
        report = await self._in_worker(announced, article.path, page.final_url, document.url, stored.unreadable or "",
                                       document.filename)
        if report is None or _rejected(report):
            return True
        unit_id = page.unit_id or context.portals[page.portal].names.named(report.unit)
        if unit_id is None:
            return False
        saved = context.store.save_report(unit_id, report, stored.sha256, document.url, run_id=context.run_id)
        context.counts[f"reports_{saved.outcome}"] += 1
        context.counts["reports_unreadable"] += 1
        return True


@dataclass
class Stored:
    """What storing one document came to."""

    sha256: str
    assigned: bool = True  # False: it holds a report of a unit not on the list
    reports: int = 0  # reports kept from it
    unreadable: str | None = None  # why it could not be read


_OUTCOME_COUNTS = {"not a report": "not_reports", "unreadable": "unreadable_documents", "failed": "extraction_failures"}
_OUTCOME_LEVELS = {"not a report": logging.DEBUG, "unreadable": logging.WARNING, "failed": logging.ERROR}


def _rejected(report: ReportRecord) -> str | None:
    """Why an extracted report is not kept: it has no year, is older than the format, or is a look-alike."""
    if report.year is None:
        return "no year"
    if report.year < FIRST_YEAR:
        return f"a report on {report.year}"
    return rejection(report.title) if report.title else None
