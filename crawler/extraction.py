"""What the crawl's extraction workers run (crawler/pipelines.py submits it). Apart from the crawl's modules on purpose:
a worker imports this module, the extractor and the storage's ReportRecord, not Scrapy.

A worker reads the document from the file store, where the crawl has put it: the bytes do not travel through a pipe.
It hands back each report as the rows the store writes (storage.ReportRecord), hashed and serialised here: the crawl's
one thread, which serves every portal, then only writes them.
"""

from __future__ import annotations

import dataclasses
import os
import select
import threading
from pathlib import Path

from extract import ExtractionError, UnreadableDocument, extract_document, read_grid
from extract.unreadable import unreadable_report
from storage.store import ReportRecord


def start_worker(niceness: int, crawl_pid: int) -> None:
    """Make this process an extraction worker of the crawl `crawl_pid`: at the lowest priority, and gone with the crawl.
    Linux's idle policy on top of the niceness: a niced worker still delays the crawl's thread when a response wakes
    it (until the worker's time slice ends); an idle-policy worker gives the core up at once.
    A crawl killed outright (SIGKILL, the OOM killer) cannot stop its pool, and a worker waiting for work would wait
    forever: it holds a copy of its queue's write end, so the queue never reads as closed."""
    os.nice(niceness)
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    try:
        crawl = os.pidfd_open(crawl_pid)
    except ProcessLookupError:
        os._exit(0)
    threading.Thread(target=_exit_with, args=(crawl,), name="exit with the crawl", daemon=True).start()


def _exit_with(pidfd: int) -> None:
    select.select([pidfd], [], [])  # readable once the process has ended
    os._exit(0)


def extract(path: str, url: str, filename: str | None, content_type: str | None,
            page_path: str | None = None, page_published_on: str | None = None) -> tuple[str, list[ReportRecord] | str]:
    """("reports", reports), ("not a report", why), ("unreadable", why) or ("failed", what broke). An extractor bug
    must cost one document, not the night, and an exception may not survive the trip back between processes.

    `page_path` is the article page an attachment was linked from: a PDF or Word file seldom prints its publication
    date, the page does, and the checks judge lateness by it. A file fetched without its page takes the date the page
    showed before (`page_published_on`)."""
    try:
        reports = extract_document(Path(path).read_bytes(), url=url, filename=filename, content_type=content_type)
        if (page_path or page_published_on) and any(report.published_on is None for report in reports):
            published_on = _page_date(page_path) if page_path else page_published_on
            reports = [dataclasses.replace(report, published_on=report.published_on or published_on) for report in reports]
        return "reports", [ReportRecord.of(report) for report in reports]
    except UnreadableDocument as exc:
        return "unreadable", str(exc)
    except ExtractionError as exc:
        return "not a report", str(exc)
    except Exception as exc:
        return "failed", f"{type(exc).__name__}: {exc}"


def _page_date(page_path: str) -> str | None:
    try:
        return read_grid(Path(page_path).read_bytes()).published_on
    except ExtractionError:
        return None


def announced(page_path: str, page_url: str, document_url: str, reason: str, filename: str | None) -> ReportRecord | None:
    """The report an article page announces for its unreadable attachment; None when there is none, or when reading
    the page fails (that must cost one report, not the night)."""
    try:
        report = unreadable_report(Path(page_path).read_bytes(), page_url=page_url, document_url=document_url,
                                   reason=reason, source=filename)
        return None if report is None else ReportRecord.of(report)
    except Exception:
        return None
