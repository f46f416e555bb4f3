"""Downloader middlewares: one politeness slot per server address, conditional GETs answered from the store,
HTML decoded the way Chinese portals need, and the guards against servers that fail in ways Scrapy lets through
(a robots.txt that cannot be read, redirects off the site or off HTTP, bodies cut short behind complete headers).
A response the crawl refuses fails its request with FetchRefused, whose `kind` the nightly error report shows."""

from __future__ import annotations

import ipaddress
import logging
import zlib
from urllib.parse import urljoin, urlsplit

from scrapy import Request
from scrapy.core.downloader import Downloader
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares import robotstxt
from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.exceptions import CannotResolveHostError, DownloadConnectionRefusedError, IgnoreRequest
from scrapy.http import Response, TextResponse
from scrapy.responsetypes import responsetypes
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet import error as tx

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


class FetchRefused(IgnoreRequest):
    """A response the crawl does not take; `kind` names why (spiders/base.py describe)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


# A robots.txt that cannot be fetched because the host is down: the page requests fail the same way, and say so.
_HOST_DOWN = (DownloadConnectionRefusedError, CannotResolveHostError, tx.ConnectionRefusedError, tx.DNSLookupError)


class RobotsTxtMiddleware(robotstxt.RobotsTxtMiddleware):
    """Scrapy's, except for a robots.txt the server fails to give: 5xx after the retries, a timeout, a broken answer.
    Scrapy then allows everything; RFC 9309 §2.3.1.4 says to assume complete disallow, so every request to the host
    fails as robots_error for the rest of the crawl. A 4xx still allows all; a host that refuses connections is left
    to the page requests, which fail as connection errors."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self._unreadable: dict[str, str] = {}  # netloc → why its robots.txt could not be read

    async def process_request(self, request: Request) -> None:
        await super().process_request(request)
        why = self._unreadable.get(urlparse_cached(request).netloc)
        if why is not None and not request.meta.get("dont_obey_robotstxt"):
            raise FetchRefused("robots_error", f"robots.txt could not be read ({why}): the site is not crawled")

    # The two hooks of Scrapy's middleware that see how the robots.txt request ended.
    async def _parse_robots(self, response: Response, netloc: str, request: Request) -> None:
        if response.status >= 500:
            self._unreadable[netloc] = f"HTTP {response.status}"
        await super()._parse_robots(response, netloc, request)

    def _robots_error(self, exc: Exception, netloc: str) -> None:
        if not isinstance(exc, (*_HOST_DOWN, IgnoreRequest)):
            self._unreadable[netloc] = f"{type(exc).__name__}: {exc}"[:200]
        super()._robots_error(exc, netloc)


_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


def same_site(host: str | None, other: str | None) -> bool:
    """Whether two hosts are one site: equal, or, without a leading www., one a subdomain of the other (a portal
    moving its 年报 column to zyk.bjhd.gov.cn from www.bjhd.gov.cn). IP addresses only equal themselves."""
    if not host or not other:
        return False
    if host == other:
        return True
    if _is_address(host) or _is_address(other):
        return False
    a, b = host.removeprefix("www."), other.removeprefix("www.")
    return a == b or a.endswith(f".{b}") or b.endswith(f".{a}")


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class RedirectGuardMiddleware:
    """Refuse a redirect off the portal's site or off HTTP before Scrapy follows it (or, for a file: or javascript:
    URL, hands the 3xx on as an HTTP error): a county page that points elsewhere is broken or hijacked, and
    following it would escape the per-server politeness and robots.txt."""

    def process_response(self, request: Request, response: Response) -> Response:
        location = response.headers.get("Location")
        if response.status not in _REDIRECT_STATUSES or location is None:
            return response
        target = urljoin(request.url, location.decode("latin-1").strip())
        parts = urlsplit(target)
        if parts.scheme not in ("http", "https"):
            raise FetchRefused("bad_scheme", f"redirect to a non-HTTP URL: {target[:200]}")
        if not same_site(urlparse_cached(request).hostname, parts.hostname):
            raise FetchRefused("offsite_redirect", f"redirect to another site: {target[:200]}")
        return response


_CHUNK = 2**16


def cut_short(response: Response, limit: int) -> str | None:
    """Why a response whose headers say it is complete holds only part of its content, or None: a gzip stream
    without its end (Scrapy's gunzip keeps whatever it decompressed), or an HTML page that stops mid-text (a
    Content-Length counted in characters instead of bytes). An HTML page ends with a tag: with </html>, or, on the
    broken templates of some portals, with the last tag they print. A gzip stream is followed up to `limit`
    decompressed bytes; past it, HttpCompressionMiddleware refuses the response as too large."""
    if not 200 <= response.status < 300 or not response.body:
        return None
    encodings = [e.strip().lower() for v in response.headers.getlist("Content-Encoding") for e in v.split(b",")]
    tail = response.body[-1024:]
    if encodings in ([b"gzip"], [b"x-gzip"]):
        ended, tail = _gzip_tail(response.body, limit)
        if ended is None:
            return None
        if not ended:
            return "gzip stream cut short"
    elif encodings and encodings != [b"identity"]:
        return None  # other encodings: Scrapy checks them as it decodes
    html = b"html" in (response.headers.get("Content-Type") or b"").lower()
    if html and not tail.rstrip().endswith(b">") and b"</html" not in tail.lower():
        return "HTML page cut short"
    return None


def _gzip_tail(body: bytes, limit: int) -> tuple[bool | None, bytes]:
    """(whether the gzip stream ends — None: not known within `limit` bytes —, its last decompressed bytes),
    decompressing chunk by chunk into nothing."""
    stream = zlib.decompressobj(wbits=31)
    data, tail, size = body, b"", 0
    try:
        while not stream.eof:
            chunk = stream.decompress(data, _CHUNK)
            data = stream.unconsumed_tail
            if not chunk and not data:
                break  # all read, nothing more comes out, no end marker
            size += len(chunk)
            if limit and size > limit:
                return None, tail
            tail = (tail + chunk)[-1024:]
    except zlib.error:
        return False, tail
    return stream.eof, tail


class CutShortMiddleware:
    """A response cut short (cut_short) is fetched again like a lost connection; when the retries run out it fails as
    `truncated`, so the page is read whole on a later night rather than kept half."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.maxsize = crawler.settings.getint("DOWNLOAD_MAXSIZE")

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CutShortMiddleware:
        return cls(crawler)

    def process_response(self, request: Request, response: Response) -> Request | Response:
        why = cut_short(response, request.meta.get("download_maxsize", self.maxsize))
        if why is None:
            return response
        again = get_retry_request(request, spider=self.crawler.spider, reason="truncated")
        if again is not None:
            return again
        raise FetchRefused("truncated", f"{why}: {len(response.body)} bytes")
