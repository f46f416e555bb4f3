"""Downloader middlewares: one politeness slot per server address, conditional GETs answered from the store,
and HTML decoded the way Chinese portals need."""

from __future__ import annotations

import logging

from scrapy import Request
from scrapy.core.downloader import Downloader
from scrapy.crawler import Crawler
from scrapy.http import Response, TextResponse
from scrapy.responsetypes import responsetypes
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached

from crawler.context import CrawlContext

logger = logging.getLogger(__name__)

CONDITIONAL = "nianbao_conditional"  # request meta: send the stored validators, answer a 304 from the store
STORED = "stored"  # response flag: the body is the stored copy


def listed_url(request: Request) -> str:
    """The URL a document is known by: as the list linked it, before redirects."""
    return (request.meta.get("redirect_urls") or [request.url])[0]


class SlotPerAddressMiddleware:
    """Put each request in the download slot of its server's IP address, so CONCURRENT_REQUESTS_PER_DOMAIN and the
    delays hold per server: county sites often share one provincial platform's address. (Scrapy 2.19 deprecates
    CONCURRENT_REQUESTS_PER_IP, and its DownloaderAwarePriorityQueue refuses it.)"""

    def __init__(self) -> None:
        self._addresses: dict[str, str] = {}

    async def process_request(self, request: Request) -> None:
        host = urlparse_cached(request).hostname
        if not host or Downloader.DOWNLOAD_SLOT in request.meta:
            return
        if host not in self._addresses:
            from twisted.internet import reactor  # here: importing it with the module would install the default reactor

            try:
                self._addresses[host] = await maybe_deferred_to_future(reactor.resolve(host))  # type: ignore[attr-defined]
            except Exception:  # the download fails on the same lookup and is recorded there
                return
        request.meta[Downloader.DOWNLOAD_SLOT] = self._addresses[host]


class ConditionalGetMiddleware:
    """If-None-Match / If-Modified-Since from the URL state; a 304 becomes the stored bytes with the flag `stored`,
    so the spider reads an unchanged page as it would a fetched one."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ConditionalGetMiddleware:
        return cls(crawler)

    def process_request(self, request: Request) -> None:
        if request.method != "GET" or not request.meta.get(CONDITIONAL):
            return
        for name, value in CrawlContext.of(self.crawler).store.conditional_headers(listed_url(request)).items():
            request.headers.setdefault(name, value)

    def process_response(self, request: Request, response: Response) -> Response:
        if response.status != 304 or not request.meta.get(CONDITIONAL):
            return response
        store = CrawlContext.of(self.crawler).store
        state = store.url_state(listed_url(request))
        if state is None or state.sha256 is None:
            return response  # validators we never sent: the 304 fails as an HTTP error
        with store.open_document(state.sha256) as stored:
            body = stored.read()
        cls = responsetypes.from_args(url=response.url, body=body)
        return cls(url=response.url, status=200, headers=response.headers, body=body, request=request,
                   flags=[*response.flags, STORED])


def html_encoding(body: bytes) -> str:
    """Strict UTF-8, else gb18030 (a superset of GBK and GB2312): portals send GBK under a utf-8 header or meta, and
    a strict UTF-8 decode of GBK bytes fails reliably (dependency_notes.md)."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8"


class EncodingMiddleware:
    """Decode text responses by their bytes, not by what the header or the meta tag claims."""

    def process_response(self, request: Request, response: Response) -> Response:
        if not isinstance(response, TextResponse):
            return response
        encoding = html_encoding(response.body)
        return response if response.encoding == encoding else response.replace(encoding=encoding)
