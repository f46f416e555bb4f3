"""Scrapy's downloader and HTTP handler, with their politeness per slot made to hold as a server sees it: one request
at a time, and at least the slot's delay between the end of one and the arrival of the next.

- Scrapy 2.19 starts each download as an asyncio task, and the task is what adds the request to its slot's
  `transferring` set. With no delay, `Downloader._process_queue` keeps handing out queued requests while the slot
  still looks free, so every request queued for one server starts at once: a crawl with DOWNLOAD_DELAY 0 (tests,
  benchmarks) opened 18 connections to one portal. A delay hides that, and politeness must not depend on it.
- Scrapy counts the delay from when a request leaves the slot's queue, not from when it reaches the server: one that
  waits for a busy reactor or a new connection arrives late, the next one on time, and the server sees them closer
  than the delay (6 ms apart for a 0.3 s delay, measured on a loaded machine). Counting from the end of the previous
  download, answered or failed (a timeout: the server may still be at it), makes the delay a floor.
- Twisted's connection pool asks again at once, on a new connection, when a kept-alive one fails before the answer
  (6 ms after a reset, measured): a second request the slot never saw. Retries are RetryMiddleware's, through the
  slot and its delay.
"""

from __future__ import annotations

from collections.abc import Coroutine
from time import monotonic
from typing import Any

from scrapy import Request
from scrapy.core.downloader import Downloader, Slot
from scrapy.core.downloader.handlers import DownloadHandlers
from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
from scrapy.crawler import Crawler
from scrapy.http import Response
from twisted.internet.defer import Deferred


class PoliteDownloader(Downloader):
    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.handlers = _NotingEnds(self.handlers, self.slots)  # type: ignore[assignment]

    def _wait_for_download(self, slot: Slot, request: Request, queue_dfd: Deferred[Any]) -> Coroutine[Any, Any, None]:  # type: ignore[override]
        slot.transferring.add(request)  # now, not when the task starts: the slot is busy from this moment
        return super()._wait_for_download(slot, request, queue_dfd)


class _NotingEnds:
    """The downloader's handlers, noting in its slot when each download ends: Downloader._download hands out the
    slot's next request right after, its delay counted from `lastseen`."""

    def __init__(self, handlers: DownloadHandlers, slots: dict[str, Slot]) -> None:
        self._handlers = handlers
        self._slots = slots

    async def download_request_async(self, request: Request) -> Response:
        try:
            return await self._handlers.download_request_async(request)
        finally:
            slot = self._slots.get(request.meta.get(Downloader.DOWNLOAD_SLOT, ""))
            if slot is not None:
                slot.lastseen = monotonic()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handlers, name)


class PoliteHTTPDownloadHandler(HTTP11DownloadHandler):
    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self._pool.retryAutomatically = False
