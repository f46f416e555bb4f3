"""Distributed mode: worker processes on one machine or several share a night's crawl through Redis, and one
ingester stores what they fetch (docs/distributed.md).

    nianbao ingest redis://HOST:6379/0 --units units.csv   # publishes the night, then stores: the single SQLite writer
    nianbao crawl --distributed redis://HOST:6379/0         # a worker; start as many as wanted, wherever

How (crawler/night.py has the keys and the atomic steps):
- Scheduling: scrapy-redis's Scheduler and RFPDupeFilter (whose fingerprint the queue adds as it queues the
  request), persistent and keyed by the night, with HostQueue as the queue: one queue per host, each host leased to
  one worker at a time. A worker claims its share of the hosts (hosts
  left ÷ workers alive) and queues a host's portals' first requests when it claims the host first.
- Politeness: only the lease holder fetches from a host, and within it Scrapy's download slot keeps one request at a
  time and the delays, as in a single-process crawl.
- A killed worker: a request is noted as taken when popped (in the same step) and forgotten only once the engine is
  done with it (downloaded, parsed, items pushed, new requests queued). Leases are renewed every second; a dead
  worker's lapse after NIANBAO_LEASE_SECONDS, and whoever claims the host next puts its taken requests back at the
  head of the host's queue. Nothing is lost; what the dead worker had fetched but not handed over is fetched again.
- Results: workers push items (JSON, bytes in base64) to the night's item list. The ingester is a Scrapy process
  whose spider yields them to StorePipeline in a CrawlContext, exactly as a single-process crawl stores its items;
  an item leaves Redis only once stored, and one that cannot be read or stored is kept aside (night.REJECTED).
- Incremental state: the ingester publishes a snapshot of the database before the night (units, settled units,
  reports due, remembered 年报 columns, every stored URL's validators and hash); workers read it through
  SnapshotStore. A worker sends conditional GETs only for URLs whose bytes it can read (NIANBAO_STORE_DIR on the
  same machine or shared), and fetches the others whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import socket
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO

import redis
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.utils.defer import deferred_from_coro
from scrapy_redis.dupefilter import RFPDupeFilter
from scrapy_redis.pipelines import RedisPipeline
from scrapy_redis.queue import Base

from crawler.context import CrawlContext, DueReport, Portal
from crawler.items import DocumentItem, FetchErrorItem
from crawler.night import (
    REJECTED,
    ItemFormatError,
    Night,
    NightError,
    Popped,
    Snapshot,
    alive,
    connect,
    dump_item,
    host_of,
    lease_ms,
    load_item,
)
from crawler.run import CrawlSummary, _repeat, _summary, crawl_settings, summary_table
from registry.units import Unit, load_units
from spiders.base import ARTICLE_ITEM, PortalSpider
from storage import FileStore, Store, UrlState

logger = logging.getLogger(__name__)

BACKLOG = 2  # requests of one host a worker has in progress at once: one downloading, one ready for the next slot
CLAIM_PAUSE = 0.5  # seconds before a worker that found no host to claim looks again
POLL_SECONDS = 0.2  # the ingester's wait when no item is waiting
SHARED_STATS = ("downloader/", "retry/", "robotstxt/")  # Scrapy stats the run's record adds up over workers
WORKER_STATS = ("downloader/request_count", "item_scraped_count", "nianbao/hosts_claimed", "nianbao/requests_recovered")


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# --------------------------------------------------------------------------------------------- scheduling


class AtomicDupeFilter(RFPDupeFilter):
    """scrapy-redis's duplicate filter, same fingerprints in the same Redis set, except that HostQueue.push adds a
    request's fingerprint in the step that queues it: added here first, a worker killed in between would leave a
    request filtered out and never queued, and the requests it leads to lost for the night."""

    def request_seen(self, request: Request) -> bool:
        return bool(self.server.sismember(self.key, self.request_fingerprint(request)))


class HostQueue(Base):
    """The scheduler's queue (SCHEDULER_QUEUE_CLASS): a queue and a lease per host, requests taken until done."""

    def __init__(self, server: redis.Redis, spider: Spider, key: str, serializer: Any = None) -> None:
        super().__init__(server, spider, key, serializer)
        settings = spider.settings
        self.crawler = spider.crawler
        self.night = Night(server, settings["NIANBAO_NIGHT"])
        self.me = worker_id()
        self.lease_ms = lease_ms(settings.getfloat("NIANBAO_LEASE_SECONDS"))
        self.most_hosts = settings.getint("CONCURRENT_REQUESTS")
        self.dupefilter = AtomicDupeFilter(server, self.night.dupefilter)
        self.held: set[str] = set()
        self.taken: dict[Request, tuple[str, int]] = {}
        self._claim_after = 0.0
        self._unreachable_since: float | None = None
        self._leaving = False
        self.night.renew(self.me, (), self.lease_ms)  # joins the night's workers
        from twisted.internet.task import LoopingCall  # here: importing it installs the reactor CrawlerProcess chose

        self._tending = LoopingCall(self._tend)
        self._tending.start(min(1.0, self.lease_ms / 4000), now=False)
        self.crawler.signals.connect(self._closed, signal=signals.spider_closed)

    def __len__(self) -> int:
        """Hosts with work left, over all workers: a worker keeps going while any is (it may have to take one over)."""
        return self.night.hosts_left()

    def push(self, request: Request) -> None:
        fingerprint = self.dupefilter.request_fingerprint(request)
        unique = ((self.night.followed, followed_as(request, fingerprint)) if request.dont_filter
                  else (self.night.dupefilter, fingerprint))
        self.night.push(host_of(request.url), self._encode_request(request), unique)

    def pop(self, timeout: int = 0) -> Request | None:
        self._settle()
        busy = Counter(host for host, _ in self.taken.values())
        ready = sorted((host for host in self.held if busy[host] < BACKLOG), key=busy.__getitem__)
        popped = self.night.pop(self.me, ready) or self._claim()
        if popped is None:
            return None
        request = self._decode_request(popped.data)
        self.taken[request] = (popped.host, popped.taken_id)
        return request

    def _claim(self) -> Popped | None:
        if time.monotonic() < self._claim_after:
            return None
        claim = self.night.claim(self.me, len(self.held), self.most_hosts, self.lease_ms)
        if claim is None:
            self._claim_after = time.monotonic() + CLAIM_PAUSE
            return None
        self.held.add(claim.host)
        self.crawler.stats.inc_value("nianbao/hosts_claimed")
        self.crawler.stats.inc_value("nianbao/requests_recovered", claim.recovered)
        if not claim.seeded:
            # Through the engine, so the duplicate filter sees them. Killed before `seeded`, the next holder queues them
            # again and the filter drops what was queued already.
            for request in self.spider.seeds(claim.host):
                self.crawler.engine.crawl(request)
            self.night.seeded(claim.host)
        return self.night.pop(self.me, [claim.host])

    def _in_progress(self) -> set[Request] | None:
        """The requests the engine is not done with: downloading, parsed, or their items and new requests still on the
        way. Scrapy signals no request's end; its engine slot's set is exactly that. None once the engine is closing:
        a request it gives up then (a download cancelled) is not done, and is re-queued by the host's next holder."""
        slot = getattr(self.crawler.engine, "_slot", None)
        return None if slot is None or slot.closing is not None else slot.inprogress

    def _settle(self) -> None:
        in_progress = self._in_progress()
        if in_progress is None:
            return
        done: dict[str, list[int]] = defaultdict(list)
        for request in [r for r in self.taken if r not in in_progress]:
            host, taken_id = self.taken.pop(request)
            done[host].append(taken_id)
        if done:
            self.night.done(done)

    def _tend(self) -> None:
        """Every second: forget requests done, renew the leases, give back hosts with nothing left."""
        try:
            self._settle()
            for host in self.night.renew(self.me, self.held, self.lease_ms):
                logger.warning("lost the lease of %s (this worker was too slow): another worker took the host over", host)
                self.held.discard(host)
            busy = {host for host, _ in self.taken.values()}
            for host in self.held - busy:
                if self.night.release(self.me, host) != 0:
                    self.held.discard(host)
            self._unreachable_since = None
        except redis.RedisError as exc:  # the loop goes on: the leases lapse unless renewed
            logger.error("Redis: %s", exc)
            self._unreachable_since = self._unreachable_since or time.monotonic()
            if time.monotonic() - self._unreachable_since > self.lease_ms / 1000 and not self._leaving:
                # The leases have lapsed: the hosts are another worker's now, or the night is gone with Redis.
                self._leaving = True
                deferred_from_coro(self.crawler.engine.close_spider_async(reason="redis_unreachable"))

    def _closed(self, spider: Spider, reason: str) -> None:
        if self._tending.running:
            self._tending.stop()
        # Leases end now: a host this worker leaves unfinished is taken over at once, its taken requests re-queued.
        with contextlib.suppress(redis.RedisError):
            self.night.leave(self.me, self.held)


def followed_as(request: Request, fingerprint: str) -> str:
    """What makes a request queued past the duplicate filter itself: a retry's attempt, the report whose files it
    fetches, the redirects that led to it. A navigation page several workers reach, or what a dead worker's request
    queues again when the next holder fetches it, is the same request and queued once; a retry of another attempt, or
    the same file under another report, is not."""
    article = request.meta.get(ARTICLE_ITEM)
    return json.dumps([fingerprint, request.meta.get("retry_times", 0), article.url if article is not None else None,
                       request.meta.get("redirect_urls", [])])


# ------------------------------------------------------------------------------------------------- workers


class SnapshotStore:
    """The part of storage.Store a worker's crawl reads (CrawlContext.register and is_known, the conditional-GET
    middleware), answered from the night's snapshot. `files`: the file store, when this machine can read it."""

    def __init__(self, night: Night, snapshot: Snapshot, files: FileStore | None) -> None:
        self.night = night
        self.snapshot = snapshot
        self.files = files

    def upsert_units(self, units: list[Unit]) -> None:
        """The ingester keeps the units."""

    def units_without_report(self, year: int) -> list[Unit]:
        if year != date.fromisoformat(self.snapshot.night).year - 1:
            raise ValueError(f"the snapshot knows which units lack a report on {year - 1} only")
        return [unit for unit in self.snapshot.units if unit.unit_id not in self.snapshot.settled]

    def latest_reports(self) -> list[DueReport]:
        """The stored reports due for a revisit tonight: the only ones a crawl asks about."""
        return self.snapshot.reports_due

    def url_state(self, url: str) -> UrlState | None:
        state = self.night.url_state(url)
        return None if state is None else UrlState(url, *state, changed_at="", changed_run=None)

    def conditional_headers(self, url: str) -> dict[str, str]:
        """Validators only for bytes this worker can read: a 304 is answered with them."""
        state = self.url_state(url)
        if state is None or state.sha256 is None or self.files is None or state.sha256 not in self.files:
            return {}
        validators = {"If-None-Match": state.etag, "If-Modified-Since": state.last_modified}
        return {name: value for name, value in validators.items() if value}

    def open_document(self, sha256: str) -> BinaryIO:
        if self.files is None:
            raise KeyError(f"no document {sha256} on this machine")
        return self.files.open(sha256)


class WorkerContext(CrawlContext):
    """A worker's CrawlContext: the night's snapshot instead of the database, and what it learns goes to Redis (fetch
    errors as items, 年报 columns found or found dead, portals reached and counts at the end)."""

    def __init__(self, crawler: Crawler) -> None:  # not CrawlContext's: it opens the database, which only the ingester has
        settings = crawler.settings
        self.crawler = crawler
        self.shared = Night(connect(settings["REDIS_URL"]), settings["NIANBAO_NIGHT"])
        snapshot = self.shared.snapshot()
        store_dir = Path(settings["NIANBAO_STORE_DIR"] or "")
        self.store = SnapshotStore(self.shared, snapshot, FileStore(store_dir) if store_dir.is_dir() else None)  # type: ignore[assignment]
        self.full = snapshot.full
        self.run_id = snapshot.run_id
        self.night = date.fromisoformat(snapshot.night)
        self.revisit_nights = snapshot.revisit_nights
        self.counts: Counter[str] = Counter()
        self.portals = {}
        self.settled: set[str] = set()
        self._reports_due = {}
        self.remembered = snapshot.remembered
        self.discovered = {}
        self.unfinished = frozenset(snapshot.unfinished)
        self.left_unfinished = set()
        self.reached: set[str] = set()
        self.failing: set[str] = set()
        self.final_stats: dict[str, Any] = {}
        crawler.signals.connect(self._close, signal=signals.spider_closed)
        self.register(snapshot.units)

    def remember(self, portal: str, column: str, owner: str | None) -> None:
        super().remember(portal, column, owner)
        self.shared.learn(columns={(portal, column): owner})

    def forget(self, portal: str, column: str) -> None:
        super().forget(portal, column)
        self.shared.learn(columns={(portal, column): False})

    def record_error(self, error: FetchErrorItem) -> None:
        """To the ingester, which records it like every fetch error."""
        self.failing.add(error.portal)
        self.shared.server.rpush(self.shared.items, dump_item(error))

    def _close(self, spider: Spider, reason: str) -> None:
        self.final_stats = self.summary_stats()
        stats = self.crawler.stats.get_stats() if self.crawler.stats else {}
        shared = {k: v for k, v in stats.items() if k.startswith(SHARED_STATS) and isinstance(v, int)}
        self.shared.learn(reached=self.reached, unfinished=self.left_unfinished, counts=self.counts, stats=shared)


class WorkerSpider(PortalSpider):
    """The portals spider in a distributed night: units and incremental state from the night's snapshot
    (WorkerContext); HostQueue asks it for a host's first requests when it claims the host."""

    name = "portals_worker"

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> WorkerSpider:
        WorkerContext.of(crawler)  # before anything asks CrawlContext.of, which would open the database
        return super().from_crawler(crawler, *args, **kwargs)  # type: ignore[return-value]

    def units(self) -> list[Unit]:
        return [unit for portal in self.context.portals.values() for unit in portal.units]

    async def start(self) -> AsyncIterator[Request]:
        """Nothing to start with: HostQueue seeds a host's portals when a worker claims the host."""
        return
        yield

    def seeds(self, host: str) -> Iterator[Request]:
        for portal in self._portals_on[host]:
            yield from self.portal_requests(portal)

    @functools.cached_property
    def _portals_on(self) -> defaultdict[str, list[Portal]]:
        portals: defaultdict[str, list[Portal]] = defaultdict(list)
        for portal in self.context.portals.values():
            portals[host_of(portal.home)].append(portal)
        return portals


class ItemQueuePipeline(RedisPipeline):
    """scrapy-redis's item pipeline (REDIS_ITEMS_KEY, REDIS_ITEMS_SERIALIZER), pushing in the crawl's thread: the
    request an item came from is done, and no longer re-queued should this worker die, only once the item is in Redis."""

    def process_item(self, item: DocumentItem | FetchErrorItem) -> DocumentItem | FetchErrorItem:  # type: ignore[override]
        self.server.rpush(self.key, self.serialize(item))
        return item


# ------------------------------------------------------------------------------------------------ ingester


class IngestSpider(Spider):
    """The ingester: publishes the night (snapshot, hosts), then yields each item the workers push to StorePipeline,
    as a single-process crawl's spider would, until every host is done and every item stored."""

    name = "ingest"

    def __init__(self, units: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not units:
            raise ValueError("give the units file: ingest -a units=FILE")
        self.units_file = Path(units)
        self.night: Night | None = None
        self.storing: dict[int, tuple[DocumentItem | FetchErrorItem, int, bytes]] = {}  # id(item) → item, its id, its data

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> IngestSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider._stored, signal=signals.item_scraped)
        crawler.signals.connect(spider._stored, signal=signals.item_dropped)
        crawler.signals.connect(spider._not_stored, signal=signals.item_error)
        return spider  # type: ignore[return-value]

    async def start(self) -> AsyncIterator[DocumentItem | FetchErrorItem]:
        context = CrawlContext.of(self.crawler)
        units = load_units(self.units_file)
        context.register(units)
        night = self.night = Night(connect(self.settings["REDIS_URL"]), context.night.isoformat())
        night.publish(_snapshot(context, units), _stored_urls(context.store), (host_of(p.home) for p in context.portals.values()))
        at_once = self.settings.getint("CONCURRENT_ITEMS")
        while True:
            taken = night.take_item()
            if taken is None:
                if not self.storing and night.crawled():
                    break
                await asyncio.sleep(POLL_SECONDS)
                continue
            item_id, data = taken
            try:
                item = load_item(data)
            except ItemFormatError as exc:
                logger.error("kept aside in %s: %s", REJECTED, exc)
                night.item_rejected(item_id, data)
                context.store.record_error(context.run_id, "ingest", str(exc))
                continue
            self.storing[id(item)] = (item, item_id, data)
            yield item
            while len(self.storing) >= at_once:
                await asyncio.sleep(0.01)
        self._learn(context, night)
        night.clear()

    def _stored(self, item: Any) -> None:
        entry = self.storing.pop(id(item), None)
        if entry is not None and self.night is not None:
            self.night.item_stored(entry[1])

    def _not_stored(self, item: Any, failure: Any) -> None:
        entry = self.storing.pop(id(item), None)
        if entry is not None and self.night is not None:
            logger.error("kept aside in %s, not stored: %s", REJECTED, failure.getErrorMessage())
            self.night.item_rejected(entry[1], entry[2])

    def _learn(self, context: CrawlContext, night: Night) -> None:
        """Into the run's record and the 年报 column state: what the workers found besides items."""
        learnt = night.learnt()
        for (portal, column), owner in learnt.columns.items():
            if owner is False:
                context.forget(portal, column)
            else:
                context.remember(portal, column, owner)  # type: ignore[arg-type]
        context.reached |= learnt.reached
        context.left_unfinished |= learnt.unfinished
        context.counts.update(learnt.counts)
        for name, value in learnt.stats.items():
            self.crawler.stats.inc_value(name, value)


def _snapshot(context: CrawlContext, units: list[Unit]) -> Snapshot:
    return Snapshot(night=context.night.isoformat(), run_id=context.run_id, full=context.full,
                    revisit_nights=context.revisit_nights, units=units, settled=context.settled,
                    reports_due=[due for key in context.portals for due in context.reports_due(key)],
                    remembered=context.remembered, unfinished=sorted(context.unfinished))


def _stored_urls(store: Store) -> Iterator[tuple[str, int, str | None, str | None, str]]:
    """The URL state of every URL whose bytes are kept: what is_known and conditional GETs ask about."""
    yield from store.db.execute("SELECT url, status, etag, last_modified, sha256 FROM url_state WHERE sha256 IS NOT NULL")


# ------------------------------------------------------------------------------------------------- running


@dataclass(frozen=True)
class WorkerSummary:
    worker: str
    night: str
    finish_reason: str
    requests: int
    items: int
    hosts_claimed: int
    requests_recovered: int
    seconds: float

    @property
    def ok(self) -> bool:
        return self.finish_reason == "finished"


def work(redis_url: str, store_dir: Path, *, settings_overrides: dict[str, Any] | None = None,
         console: Console | None = None) -> WorkerSummary:
    """Wait for a night on `redis_url`, crawl a share of it until no host has work left. `store_dir`: the file store,
    if this machine can read it (conditional GETs); None of the database is needed."""
    console = console or Console(stderr=True)
    server = connect(redis_url)
    settings = crawl_settings(Path(os.devnull), store_dir, settings_overrides)  # devnull: a worker opens no database
    night = _wait_for_night(server, lease_ms(settings.getfloat("NIANBAO_LEASE_SECONDS")), console)
    settings.update({
        "REDIS_URL": redis_url,
        "NIANBAO_NIGHT": night.night,
        "SCHEDULER": "scrapy_redis.scheduler.Scheduler",
        "DUPEFILTER_CLASS": "crawler.distributed.AtomicDupeFilter",
        "SCHEDULER_QUEUE_KEY": night.requests,
        "SCHEDULER_DUPEFILTER_KEY": night.dupefilter,
        "REDIS_ITEMS_KEY": night.items,
        "ITEM_PIPELINES": {"crawler.distributed.ItemQueuePipeline": 300},
    }, priority="cmdline")
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(WorkerSpider)
    started = time.monotonic()
    reason = _run(process, crawler, {}, console, {
        "已抓取 requests fetched": lambda: (_stat(crawler, "downloader/request_count"), None),
        "主机完成 hosts done (all workers)": lambda: _hosts_done(night),
    })
    summary = WorkerSummary(worker_id(), night.night, reason, *(_stat(crawler, name) for name in WORKER_STATS),
                            round(time.monotonic() - started, 1))
    console.print(_worker_table(summary))
    return summary


def ingest(redis_url: str, units_file: Path, db: Path, store_dir: Path, *, settings_overrides: dict[str, Any] | None = None,
           console: Console | None = None) -> CrawlSummary:
    """Publish tonight's crawl on `redis_url` for workers and store what they fetch into `db` and `store_dir`;
    returns when the night is complete. A CrawlSummary, as a single-process crawl's."""
    console = console or Console(stderr=True)
    connect(redis_url)
    process = CrawlerProcess(crawl_settings(db, store_dir, {**(settings_overrides or {}), "REDIS_URL": redis_url}))
    crawler = process.create_crawler(IngestSpider)

    def night() -> Night | None:
        return getattr(crawler.spider, "night", None)

    def stored() -> tuple[int, int | None] | None:
        context = CrawlContext.existing(crawler)
        return None if context is None else (context.counts["documents"], None)

    reason = _run(process, crawler, {"units": str(units_file)}, console, {
        "已存文档 documents stored": stored,
        "主机完成 hosts done": lambda: _hosts_done(night()),
    })
    summary = _summary(crawler, reason)
    console.print(summary_table(summary))
    return summary


def _wait_for_night(server: redis.Redis, lease: int, console: Console) -> Night:
    me = worker_id()
    try:
        with console.status("等待 waiting for `nianbao ingest` to publish a night…"):
            while (night := Night.current(server)) is None:
                alive(server, me, lease)
                time.sleep(1)
        alive(server, me, lease)
    except redis.RedisError as exc:
        raise NightError(f"lost Redis while waiting for a night: {exc}") from None
    return night


def _run(process: CrawlerProcess, crawler: Crawler, spider_kwargs: dict[str, Any], console: Console,
         tasks: dict[str, Callable[[], tuple[int, int | None] | None]]) -> str:
    """Run the crawler with a progress bar per task (label → (completed, total), None while unknown); the finish reason."""
    closed: dict[str, str] = {}

    def on_closed(spider: Spider, reason: str) -> None:
        closed["reason"] = reason

    crawler.signals.connect(on_closed, signal=signals.spider_closed)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        bars = {progress.add_task(label, total=None): measure for label, measure in tasks.items()}

        def refresh() -> None:
            for bar, measure in bars.items():
                try:
                    measured = measure()
                except redis.RedisError:
                    measured = None
                if measured is not None:
                    progress.update(bar, completed=measured[0], total=measured[1])

        _repeat(crawler, refresh)
        process.crawl(crawler, **spider_kwargs)
        process.start()
    return closed.get("reason", "not started")


def _stat(crawler: Crawler, name: str) -> int:
    return int(crawler.stats.get_value(name, 0)) if crawler.stats else 0


def _hosts_done(night: Night | None) -> tuple[int, int | None] | None:
    if night is None:
        return None
    total = night.hosts_total()
    return (total - night.hosts_left(), total) if total else None


def _worker_table(summary: WorkerSummary) -> Table:
    table = Table(title=f"worker {summary.worker}, night {summary.night}: {summary.finish_reason}", show_header=False)
    table.add_column(justify="left")
    table.add_column(justify="right")
    for name, value in (("请求 requests", summary.requests), ("推送条目 items pushed", summary.items),
                        ("主机 hosts crawled", summary.hosts_claimed), ("接管请求 requests taken over", summary.requests_recovered),
                        ("秒 seconds", summary.seconds)):
        table.add_row(name, f"{value:,}" if isinstance(value, int) else str(value))
    return table


__all__ = ["HostQueue", "IngestSpider", "ItemQueuePipeline", "NightError", "WorkerSpider", "ingest", "work"]
