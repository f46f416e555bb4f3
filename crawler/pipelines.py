"""Storage of what the spider fetched: bytes content-addressed, reports extracted and versioned, failures recorded.

The order of the writes makes a killed crawl safe to re-run: the document's bytes first, then its report, and the
URL state last (an article's after its attachments'), so a URL counts as known, and is skipped on later nights,
only once everything read from it is stored. Unchanged bytes are neither extracted again nor make a row.

Extraction costs tens of milliseconds a report, more than fetching it: it runs in worker processes while the
crawl goes on, and every database write stays in the crawl's thread.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

from scrapy import Spider
from scrapy.crawler import Crawler

from crawler.context import CrawlContext
from crawler.items import PAGE, DocumentItem, FetchErrorItem
from extract import ExtractionError, Report, extract_document
from spiders.recognize import FIRST_YEAR, rejection

logger = logging.getLogger(__name__)


class StorePipeline:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        workers = crawler.settings.getint("NIANBAO_EXTRACT_WORKERS") or os.cpu_count() or 1
        # forkserver: workers start from a clean process, not a fork of the crawl's sockets and database handle.
        self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver"))

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        return cls(crawler)

    def close_spider(self, spider: Spider | None = None) -> None:
        self.pool.shutdown(cancel_futures=True)

    async def process_item(self, item: DocumentItem | FetchErrorItem) -> DocumentItem | FetchErrorItem:
        context = CrawlContext.of(self.crawler)
        if isinstance(item, FetchErrorItem):
            context.record_error(item)
            return item
        context.reached.add(item.portal)
        stored = True
        for attachment in item.attachments:
            stored = await self._document(context, attachment) and stored
        if stored:
            await self._document(context, item)
        return item

    async def _document(self, context: CrawlContext, item: DocumentItem) -> bool:
        """Store one document; False when it holds a report of a unit not on the list, which is fetched again
        (and its URL state left alone) until the list knows the unit."""
        store = context.store
        context.counts["documents"] += 1
        context.counts["not_modified"] += item.from_store
        previous = store.url_state(item.url)
        # Writing and fsyncing the file takes milliseconds: off the crawl's thread. save_document then finds the file
        # in place and only adds its row.
        await asyncio.to_thread(store.files.put, item.body)
        sha256 = store.save_document(item.body, item.content_type)
        if item.kind != PAGE:
            if previous is not None and previous.sha256 == sha256:
                context.counts["documents_unchanged"] += 1
            elif not await self._reports(context, item, sha256):
                return False
        store.record_fetch(item.url, item.status, item.headers, sha256, context.run_id)
        return True

    async def _reports(self, context: CrawlContext, item: DocumentItem, sha256: str) -> bool:
        outcome, result = await asyncio.wrap_future(
            self.pool.submit(extract, item.body, item.final_url, item.filename, item.content_type)
        )
        if outcome != "reports":
            context.counts["not_reports" if outcome == "not a report" else "extraction_failures"] += 1
            logger.log(logging.DEBUG if outcome == "not a report" else logging.ERROR, "%s: %s: %s", outcome, item.url, result)
            if outcome != "not a report":
                context.store.record_error(context.run_id, "extraction", str(result), unit_id=item.unit_id, url=item.url)
            return True
        assigned = True
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
                assigned = False
                continue
            saved = context.store.save_report(unit_id, report, sha256, item.url, run_id=context.run_id)
            context.counts[f"reports_{saved.outcome}"] += 1
        return assigned


def extract(body: bytes, url: str, filename: str | None, content_type: str | None) -> tuple[str, list[Report] | str]:
    """In a worker: ("reports", reports), ("not a report", why) or ("failed", what broke). An extractor bug must cost
    one document, not the night, and an exception may not survive the trip back between processes."""
    try:
        return "reports", extract_document(body, url=url, filename=filename, content_type=content_type)
    except ExtractionError as exc:
        return "not a report", str(exc)
    except Exception as exc:
        return "failed", f"{type(exc).__name__}: {exc}"


def _rejected(report: Report) -> str | None:
    """Why an extracted report is not kept: it has no year, is older than the format, or is a look-alike."""
    if report.year is None:
        return "no year"
    if report.year < FIRST_YEAR:
        return f"a report on {report.year}"
    return rejection(report.title) if report.title else None
