"""The base spider of county portals: from a portal's 年报 column (or its home page) to every report on it.

Per portal, not per unit: a county's government, departments and townships publish in the same columns, so the
portal's columns are walked once and each report is told apart by the unit its title (or publisher) names.

    home ─nav→ 政务公开 ─nav→ 政府信息公开 ─→ 年报 column ─sub-columns→ 2021年 / 镇街 / 某镇 …
                                                  │ pages (adapter: pager script, data proxy, JSON API, 下一页)
                                                  └─ entries → article (report candidate) → attachments

What differs between CMS families lives in the adapters (spiders/cms); what a title or a page is, in
spiders/recognize. Every failed request becomes a FetchErrorItem for the units it concerned; nothing stops the
crawl. Known articles are skipped (and re-checked on their night), and after a finished run a list stops paging
at the first page without anything new.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urldefrag, urlsplit

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from scrapy.http import Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet import error as tx
from twisted.internet.defer import CancelledError
from twisted.python.failure import Failure
from twisted.web._newclient import ResponseFailed

from crawler.context import CrawlContext, Portal, portal_key
from crawler.items import ARTICLE, ATTACHMENT, PAGE, DocumentItem, FetchErrorItem
from crawler.middlewares import CONDITIONAL, STORED, FetchRefused, listed_url
from registry.units import Unit
from spiders.article import file_links, page_title, publisher
from spiders.cms import adapter_for, is_attachment, links, same_site
from spiders.cms.base import folder, is_entry
from spiders.cms.gkmlpt import FRAGMENTS
from spiders.recognize import is_navigation, judge_title, rejection, resolve_unit

# Request meta keys.
PORTAL = "portal"
UNITS = "units"  # the units a request concerns: whose error it is when it fails
OWNER = "owner"  # the unit a column belongs to, when only one publishes there
FALLBACK = "fallback"  # what to do when a column fails: FIND (a units-file column) or DISCOVER (a remembered one)
FIND, DISCOVER = "find", "discover"
DISCOVERED = "discovered"  # a 年报 column found from the home page: remembered for the next nights
REVISIT = "revisit"  # the column is paged to the end tonight (crawler/context.py): set on its first page
COLUMN = "column"  # the URL of the column's first page, carried to its next pages
LIST_PAGE = "list_page"
DEPTH = "nav_depth"
LIST_TITLE = "list_title"
ARTICLE_ITEM = "article_item"
PENDING = "pending_attachments"
TRACKED = "tracked"
PUBLISHED_ON = "published_on"  # a stored report's publication date, for its file fetched again without its page


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _settles(callback: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
    """Count a request as finished once its callback (or errback) has yielded everything: the progress bar's
    "units done" is the units of portals with nothing left to fetch."""

    @functools.wraps(callback)
    def wrapper(self: PortalSpider, result: Response | Failure, **kwargs: Any) -> Iterator[Any]:
        request = result.request
        try:
            yield from callback(self, result, **kwargs)
        finally:
            if request is not None:
                self.settle(request)

    return wrapper


class PortalSpider(Spider):
    """Crawls the portals of `units()`; subclasses say where the units come from."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pending: Counter[str] = Counter()
        self.done: set[str] = set()
        # Navigation pages are deduplicated here, apart from the scheduler's filter of list pages: a page can be both
        # (乡镇信息公开 is a list and the way to the townships' 年报 columns), and the role that came first must not
        # swallow the other.
        self.navigated: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> PortalSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider._dropped, signal=signals.request_dropped)
        # One request at a time per server (crawler/settings.py): as many at once as there are portals. Settings are
        # applied after the spider is made (unless a test froze them); one given on the command line outranks this.
        if not crawler.settings.frozen:
            portals = len({portal_key(unit.portal_url) for unit in spider.units()})
            crawler.settings.set("CONCURRENT_REQUESTS", max(1, portals), priority="spider")
        return spider

    def units(self) -> list[Unit]:
        raise NotImplementedError

    @property
    def context(self) -> CrawlContext:
        return CrawlContext.of(self.crawler)

    async def start(self) -> AsyncIterator[Request]:
        for portal in self.context.register(self.units()):
            for request in self.portal_requests(portal):
                yield request

    def portal_requests(self, portal: Portal) -> Iterator[Request]:
        """The stored reports due for a revisit; the portal's column pages from the units file (one request per page,
        whoever lists it); for units whose column is unknown, the columns found from the home page on an earlier night,
        or the home page."""
        context = self.context
        for due in context.reports_due(portal.key):
            callback = self.parse_file if is_attachment(due.source_url) else self.parse_article
            yield self.request(due.source_url, callback, portal.key, [due.unit_id],
                               {OWNER: due.unit_id, PUBLISHED_ON: due.published_on})
        columns: dict[str, list[Unit]] = {}
        fragments: dict[str, list[str]] = {}
        for unit in portal.units:
            for url in unit.column_urls:
                page, fragment = urldefrag(url)
                columns.setdefault(page, []).append(unit)
                if fragment:
                    fragments.setdefault(page, []).append(fragment)
        unknown = [u.unit_id for u in portal.units if not u.column_urls]
        for page, listed_by in columns.items():
            owner = listed_by[0].unit_id if len({u.unit_id for u in listed_by}) == 1 else None
            # A column one unit lists is its own only if every unit's column is known: else others may share it.
            if not unknown and context.rests(page, owner=owner):
                context.counts["columns_resting"] += 1
                continue
            yield self.request(page, self.parse_list, portal.key, [u.unit_id for u in listed_by],
                               {OWNER: owner, FALLBACK: FIND, FRAGMENTS: fragments.get(page, [])})
        if unknown:
            yield from self.find_columns(portal, unknown)

    def find_columns(self, portal: Portal, units: list[str]) -> Iterator[Request]:
        """The 年报 columns of units whose column is unknown or failed: those found from the home page on an earlier
        night, or, on the home page's revisit night or when none are remembered, the home page."""
        context = self.context
        remembered = context.remembered.get(portal.key)
        if not remembered or context.due(portal.home):
            yield from self.discover(portal, units)
            return
        for column, owner in remembered.items():
            context.remember(portal.key, column, owner)
            if context.rests(column, owner=owner):
                context.counts["columns_resting"] += 1
                continue
            yield self.request(column, self.parse_list, portal.key, [owner] if owner else units,
                               {OWNER: owner, FALLBACK: DISCOVER, DISCOVERED: True})

    def discover(self, portal: Portal, units: list[str]) -> Iterator[Request]:
        yield from self.nav(portal.home, portal.key, units, 0, None)

    def nav(self, url: str, portal: str, units: Iterable[str], depth: int, owner: str | None) -> Iterator[Request]:
        if url not in self.navigated:
            self.navigated.add(url)
            yield self.request(url, self.parse_nav, portal, units, {DEPTH: depth, OWNER: owner}, dont_filter=True)

    # ------------------------------------------------------------------------------------------ requests

    def request(self, url: str, callback: Callable[..., Any], portal: str, units: Iterable[str],
                meta: dict[str, Any] | None = None, **kwargs: Any) -> Request:
        self.pending[portal] += 1
        self.done.discard(portal)  # start() hands requests out one by one: a portal can look done between two
        return Request(
            url,
            callback=callback,
            errback=self.failed,
            meta={PORTAL: portal, UNITS: tuple(units), CONDITIONAL: True, TRACKED: True, **self._size_limit(url),
                  **(meta or {})},
            **kwargs,
        )

    def _size_limit(self, url: str) -> dict[str, int]:
        """Pages get NIANBAO_PAGE_MAXSIZE; attachments DOWNLOAD_MAXSIZE."""
        limit = self.settings.getint("NIANBAO_PAGE_MAXSIZE")
        return {"download_maxsize": limit} if limit and not is_attachment(url) else {}

    def follow(self, request: Request, callback: Callable[..., Any], response: Response, **meta: Any) -> Request:
        """A request an adapter built (a next page, a POST to a data proxy), carried on with the response's meta."""
        self.pending[response.meta[PORTAL]] += 1
        carried = {k: response.meta[k] for k in (PORTAL, UNITS, OWNER, REVISIT, COLUMN) if k in response.meta}
        return request.replace(
            callback=callback,
            errback=self.failed,
            meta={**carried, CONDITIONAL: request.method == "GET", TRACKED: True, **self._size_limit(request.url),
                  **request.meta, **meta},
        )

    def settle(self, request: Request) -> None:
        portal = request.meta.get(PORTAL)
        if portal is None or not request.meta.get(TRACKED):
            return
        self.pending[portal] -= 1
        if self.pending[portal] <= 0:
            self.done.add(portal)

    def _dropped(self, request: Request, spider: Spider) -> None:
        """A duplicate the scheduler filtered: it will not come back. When a redirect led back to a URL of its own
        chain, that is a redirect loop, which no errback hears of (the chain's requests pass the filter one by one)."""
        self.settle(request)
        chain = request.meta.get("redirect_urls") or []
        if PORTAL in request.meta and request.url in chain:
            self.context.record_error(FetchErrorItem(portal=request.meta[PORTAL], units=request.meta.get(UNITS, ()),
                                                     url=chain[0], kind="redirect", message="redirect loop"))

    def document(self, response: Response, kind: str, unit_id: str | None = None) -> DocumentItem:
        headers = {k.decode("latin-1"): [v.decode("latin-1") for v in vs] for k, vs in response.headers.items()}
        content_type = response.headers.get("Content-Type")
        return DocumentItem(
            kind=kind,
            portal=response.meta[PORTAL],
            url=listed_url(response.request) if response.request else response.url,
            final_url=response.url,
            status=304 if STORED in response.flags else response.status,  # the store's 304 branch keeps the validators
            headers=headers,
            body=response.body,
            fetched_at=_now(),
            unit_id=unit_id,
            filename=_filename(response),
            content_type=content_type.decode("latin-1") if content_type else None,
            from_store=STORED in response.flags,
        )

    # ----------------------------------------------------------------------------------------- discovery

    @_settles
    def parse_nav(self, response: Response) -> Iterator[Any]:
        """A page on the way to the 年报 column: 年报 columns found here are listed, navigation followed deeper."""
        self.context.reached.add(response.meta[PORTAL])
        if not isinstance(response, TextResponse):
            return
        portal = self.context.portals[response.meta[PORTAL]]
        units = response.meta[UNITS]
        adapter = adapter_for(response)
        columns = dict.fromkeys(link.url for link in adapter.nianbao_columns(response)) if adapter is not None else {}
        for column in columns:
            self.context.remember(portal.key, column, response.meta.get(OWNER))
            yield self.request(column, self.parse_list, portal.key, units, {OWNER: response.meta.get(OWNER), DISCOVERED: True})
        depth = response.meta[DEPTH]
        if depth >= self.settings.getint("NIANBAO_DISCOVERY_DEPTH"):
            return
        here = folder(response.url)
        for link in links(response):
            there = folder(link.url)
            upward = there != here and here.startswith(there)  # the breadcrumb back to where discovery came from
            if (link.url == response.url or link.url in columns or upward or not same_site(link.url, response.url)
                    or is_entry(link) or is_attachment(link.url)):
                continue
            owner = portal.names.link_unit(link.text)
            if owner or is_navigation(link.text):
                yield from self.nav(link.url, portal.key, units, depth + 1, owner or response.meta.get(OWNER))

    # ------------------------------------------------------------------------------------------- columns

    @_settles
    def parse_list(self, response: Response) -> Iterator[Any]:
        """A list page of a column: its report candidates, its sub-columns, and the next page while it may hold
        something new."""
        context = self.context
        portal = context.portals[response.meta[PORTAL]]
        if response.meta.get(DISCOVERED) and response.request is not None and response.url != listed_url(response.request):
            # Remember where a redirecting link leads (a moved column), not the redirect.
            context.forget(portal.key, listed_url(response.request))
            context.remember(portal.key, response.url, response.meta.get(OWNER))
        if response.request is not None and response.request.method == "GET":
            yield self.document(response, PAGE)
        adapter = adapter_for(response)
        if adapter is None:
            return
        column = response.meta.setdefault(COLUMN, listed_url(response.request) if response.request else response.url)
        revisit = response.meta.setdefault(REVISIT, context.revisits(column))
        new = False
        for entry in adapter.entries(response):
            verdict = judge_title(entry.title)
            if not verdict.fetch:
                context.counts["rejected_titles"] += 1
                continue
            if context.is_known(entry.url):
                continue
            new = True
            unit, named = portal.names.of_title(entry.title)
            units = (unit,) if unit else () if named else response.meta[UNITS]
            yield self.request(entry.url, self.parse_article, portal.key, units,
                               {LIST_TITLE: entry.title, OWNER: response.meta.get(OWNER)})
        for link in adapter.sub_columns(response, portal.names):
            named = portal.names.link_unit(link.text)
            if context.rests(link.url, owner=named, name=link.text):
                context.counts["columns_resting"] += 1
                continue
            owner = named or response.meta.get(OWNER)
            units = (owner,) if owner else response.meta[UNITS]
            yield self.request(link.url, self.parse_list, portal.key, units, {OWNER: owner})
        page = response.meta.get(LIST_PAGE, 0)
        following = adapter.next_page(response)
        if following is None or page + 1 >= self.settings.getint("NIANBAO_MAX_LIST_PAGES"):
            return
        if new or revisit:
            yield self.follow(following, self.parse_list, response, **{LIST_PAGE: page + 1})
        else:
            context.counts["lists_stopped_early"] += 1

    # ------------------------------------------------------------------------------------------ articles

    @_settles
    def parse_article(self, response: Response) -> Iterator[Any]:
        """A report candidate: kept as a document for the pipeline to extract, after its attachments."""
        context = self.context
        portal = context.portals[response.meta[PORTAL]]
        title = page_title(response)
        if title and rejection(title):
            context.counts["rejected_pages"] += 1
            yield self.document(response, PAGE)  # known from now on, so not fetched again
            return
        unit_id = resolve_unit(portal.names, titles=(title, response.meta.get(LIST_TITLE)),
                               publisher=publisher(response), owner=response.meta.get(OWNER))
        article = self.document(response, ARTICLE, unit_id)
        yield from self.attachments(response.meta, article, file_links(response))

    def attachments(self, meta: dict[str, Any], article: DocumentItem, files: list[str]) -> Iterator[Any]:
        """Fetch the files one after another, then hand over the article with them (crawler.items.DocumentItem)."""
        for position, url in enumerate(files):
            if not self.context.is_known(url):
                unit = (article.unit_id,) if article.unit_id else meta[UNITS]
                yield self.request(url, self.parse_attachment, article.portal, unit,
                                   {ARTICLE_ITEM: article, PENDING: files[position + 1:]},
                                   dont_filter=True)  # the chain must go on even if another article links the file
                return
        yield article

    @_settles
    def parse_file(self, response: Response) -> Iterator[Any]:
        """A stored report's attachment, fetched again on its revisit night."""
        document = self.document(response, ATTACHMENT, response.meta.get(OWNER))
        document.page_published_on = response.meta.get(PUBLISHED_ON)
        yield document

    @_settles
    def parse_attachment(self, response: Response) -> Iterator[Any]:
        article = response.meta[ARTICLE_ITEM]
        article.attachments.append(self.document(response, ATTACHMENT, article.unit_id))
        yield from self.attachments(response.meta, article, response.meta[PENDING])

    # -------------------------------------------------------------------------------------------- errors

    @_settles
    def failed(self, failure: Failure) -> Iterator[Any]:
        request = failure.request
        meta = request.meta
        kind, message = describe(failure)
        if request.callback == self.parse_list and may_pass(kind):
            # The pages behind this one were not read: tomorrow the column is paged to the end, not stopped at its
            # first page with nothing new.
            self.context.left_unfinished.add(meta.get(COLUMN) or listed_url(request))
        portal_name = meta.get(PORTAL) or portal_key(request.url)
        if isinstance(failure.value, HttpError):
            self.context.reached.add(portal_name)
        yield FetchErrorItem(portal=portal_name, units=meta.get(UNITS, ()), url=listed_url(request), kind=kind,
                             message=message)
        # A column that moved or died (portal_patterns.md §5): look for it where it was found before, or from home.
        portal = self.context.portals.get(portal_name)
        if meta.get(FALLBACK) == FIND and portal is not None:
            yield from self.find_columns(portal, list(meta.get(UNITS, ())))
        elif meta.get(FALLBACK) == DISCOVER and portal is not None:
            self.context.forget(portal_name, listed_url(request))
            yield from self.discover(portal, list(meta.get(UNITS, ())))
        elif ARTICLE_ITEM in meta:
            # A file that may answer another night (not one that is gone, forbidden or too large): try again then.
            meta[ARTICLE_ITEM].incomplete |= may_pass(kind)
            yield from self.attachments(meta, meta[ARTICLE_ITEM], meta[PENDING])


_PASSING = {"dns", "connection", "timeout", "data_loss", "truncated", "other"}


def may_pass(kind: str) -> bool:
    """Whether a failure of this kind may pass by tomorrow: not a page that is gone, forbidden or too large, which
    would fail again every night."""
    return kind in _PASSING or kind.startswith("http_5")


def describe(failure: Failure) -> tuple[str, str]:
    """(kind, message) of a failed request, kinds as nightly reports group them."""
    exc = failure.value
    if isinstance(exc, HttpError):
        status = exc.response.status
        return f"http_{status}", f"HTTP {status}"
    if isinstance(exc, FetchRefused):
        return exc.kind, str(exc)
    # Over the size limit: announced (DownloadCancelledError), reached while reading (the download is cancelled), or
    # reached while decompressing (HttpCompressionMiddleware's IgnoreRequest).
    if isinstance(exc, DownloadCancelledError | CancelledError) or (isinstance(exc, IgnoreRequest)
                                                                   and "DOWNLOAD_MAXSIZE" in str(exc)):
        request = getattr(failure, "request", None)
        limit = request.meta.get("download_maxsize") if request is not None else None
        return "too_large", f"larger than the size limit{f' of {limit:,} bytes' if limit else ''}: {exc}"[:500]
    if isinstance(exc, IgnoreRequest):
        text = str(exc)
        return ("robots" if "robots.txt" in text else "redirect" if "redirect" in text else "ignored"), text
    kinds = (
        ((CannotResolveHostError, tx.DNSLookupError), "dns"),
        ((DownloadTimeoutError, tx.TimeoutError), "timeout"),
        ((ResponseDataLossError,), "data_loss"),
        ((DownloadConnectionRefusedError, tx.ConnectError, tx.ConnectionLost, tx.ConnectionDone, ResponseFailed,
          DownloadFailedError), "connection"),
    )
    kind = next((name for types, name in kinds if isinstance(exc, types)), "other")
    return kind, f"{type(exc).__name__}: {exc}"[:500]


def _filename(response: Response) -> str | None:
    disposition = response.headers.get("Content-Disposition")
    if disposition:
        text = disposition.decode("utf-8", "replace")
        if "filename=" in text:
            return text.split("filename=", 1)[1].strip().strip("\"'") or None
    name = urlsplit(response.url).path.rsplit("/", 1)[-1]
    return name or None
