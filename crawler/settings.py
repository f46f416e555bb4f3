"""Scrapy settings of nianbao's crawl: the one place for them. Tests and tools override, never edit.

Polite by default: county servers are small and slow, so one request at a time per server, a delay that
AutoThrottle stretches when a server slows down, robots.txt obeyed, and a User-Agent saying who crawls and where
to complain. Parallelism comes from crawling many portals at once, not from pressing one.
"""

from __future__ import annotations

import os

BOT_NAME = "nianbao"
SPIDER_MODULES = ["spiders"]
NEWSPIDER_MODULE = "spiders"

# Who we are: set NIANBAO_CONTACT_URL to the page that explains the crawl and how to reach its operator.
NIANBAO_CONTACT_URL = os.environ.get("NIANBAO_CONTACT_URL", "https://github.com/nianbao/nianbao#crawler")
USER_AGENT = os.environ.get("NIANBAO_USER_AGENT", f"nianbao/0.1 (annual-report archive; +{NIANBAO_CONTACT_URL})")

# Where the crawl stores what it fetched (storage/): the database and the content-addressed files.
NIANBAO_DB = os.environ.get("NIANBAO_DB", "nianbao.db")
NIANBAO_STORE_DIR = os.environ.get("NIANBAO_STORE_DIR", "store")
NIANBAO_NIGHT = None  # the run's night (ISO date); None: today
# Crawl policy (spiders/base.py).
NIANBAO_DISCOVERY_DEPTH = 4  # home › 政务公开 › 乡镇信息公开 › 某镇 › its 年报 column
NIANBAO_MAX_LIST_PAGES = 200  # per column; a 年报 column holds a few hundred articles at most
NIANBAO_REVISIT_NIGHTS = 30  # a stored report, or a column with nothing due, is looked at again once in this many nights
NIANBAO_EXTRACT_WORKERS = 0  # extraction processes; 0: one per CPU
NIANBAO_EXTRACT_BACKLOG = 10_000  # articles stored whose reports are not read yet (~1 KB each): past it, the fetching waits

# Distributed mode (crawler/distributed.py, docs/distributed.md): `nianbao ingest redis://…` publishes the night and
# stores what `nianbao crawl --distributed redis://…` workers fetch; the workers switch to scrapy-redis's scheduler.
REDIS_URL = "redis://127.0.0.1:6379/0"  # the commands take the URL; this is scrapy-redis's default
REDIS_ITEMS_SERIALIZER = "crawler.night.dump_item"  # bytes round-trip (JSON, base64), not scrapy-redis's JSON encoder
SCHEDULER_QUEUE_CLASS = "crawler.distributed.HostQueue"  # a queue and a lease per host: one worker per host at a time
SCHEDULER_PERSIST = True  # the night's queue outlives any worker; the ingester removes it once the night is stored
NIANBAO_LEASE_SECONDS = 60.0  # a killed worker's hosts, with the requests it had taken, pass to another after this

# Politeness.
ROBOTSTXT_OBEY = True
CONCURRENT_REQUESTS_PER_DOMAIN = 1  # per slot, and crawler.middlewares makes the slot the server's address
# One request at a time per server, so the crawl's total is one per server: the portal spider (spiders/base.py) sets
# it from its units' portal hosts (at spider priority: a value given on the command line wins); this is the default.
CONCURRENT_REQUESTS = 64
CONCURRENT_ITEMS = 16  # Scrapy starts this many tasks for every callback's output; ours yield a handful
# Scrapy parses a callback's source on every response to warn of a generator returning a value; its cache misses on
# bound methods (a new object each time): 5 % of the crawl thread's time. Our callbacks yield and return nothing.
WARN_ON_GENERATOR_RETURN_VALUE = False
# One request per slot even without a delay, the delay counted from the previous response, no retry behind its back.
DOWNLOADER = "crawler.downloader.PoliteDownloader"
DOWNLOAD_HANDLERS = {scheme: "crawler.downloader.PoliteHTTPDownloadHandler" for scheme in ("http", "https")}
# Requests leave the scheduler from the least busy server first (Scrapy's queue for broad crawls): a portal that
# lists 200 articles does not fill the downloader's queues while the other portals wait.
SCHEDULER_PRIORITY_QUEUE = "scrapy.pqueues.DownloaderAwarePriorityQueue"
# The least time a server is left alone between two requests, from the end of one to the next (crawler/downloader.py).
# Not randomised (Scrapy's default is 0.5-1.5 times the delay): a crawler that says who it is has nothing to disguise,
# and the delay is then a floor servers can count on (tests/test_politeness.py).
DOWNLOAD_DELAY = 2.0
DOWNLOAD_DELAY_JITTER = 0.0
AUTOTHROTTLE_ENABLED = True  # stretches the delay for a slow server, never below DOWNLOAD_DELAY
AUTOTHROTTLE_START_DELAY = 2.0
AUTOTHROTTLE_MAX_DELAY = 60.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
COOKIES_ENABLED = True  # some Hanweb data proxies answer only within the column page's session
HTTPCACHE_ENABLED = False  # the store is the cache: conditional GETs use its validators

# Slow, flaky county servers: wait long, retry more, including on the statuses their gateways send.
# The timeout bounds the whole download, not each read: a server that trickles a byte at a time is cut off too.
DOWNLOAD_TIMEOUT = 60
DNS_TIMEOUT = 20
RETRY_ENABLED = True
RETRY_TIMES = 4
RETRY_HTTP_CODES = [500, 502, 503, 504, 520, 522, 524, 408, 429]
REDIRECT_MAX_TIMES = 8
DOWNLOAD_MAXSIZE = 60 * 2**20  # attachments over the extractor's 50 MB limit are not reports
DOWNLOAD_WARNSIZE = 20 * 2**20
NIANBAO_PAGE_MAXSIZE = 16 * 2**20  # pages (all but attachments): a Word-pasted report page weighs 1 MB at most

DOWNLOADER_MIDDLEWARES = {
    "crawler.middlewares.SlotPerAddressMiddleware": 50,
    # An unreadable robots.txt disallows the site (RFC 9309) instead of allowing it.
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "crawler.middlewares.RobotsTxtMiddleware": 100,
    # Responses pass middlewares from high to low numbers: redirects off the site are refused before Scrapy's
    # redirects (600) follow them, bodies cut short are caught before decompression (590) hides it; then the
    # stored copy replaces a 304, then the bytes decide the encoding, then retries (550) see the result.
    "crawler.middlewares.RedirectGuardMiddleware": 610,
    "crawler.middlewares.CutShortMiddleware": 595,
    "crawler.middlewares.ConditionalGetMiddleware": 560,
    "crawler.middlewares.EncodingMiddleware": 555,
}
ITEM_PIPELINES = {"crawler.pipelines.StorePipeline": 300}

TELNETCONSOLE_ENABLED = False
LOG_LEVEL = "INFO"
