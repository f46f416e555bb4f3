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
NIANBAO_STATE_FILE = ""  # the 年报 columns found from home pages; "": beside the database (NIANBAO_DB.crawl-state.json)
NIANBAO_EXTRACT_WORKERS = 0  # extraction processes; 0: one per CPU

# Politeness.
ROBOTSTXT_OBEY = True
CONCURRENT_REQUESTS = 64  # across portals
CONCURRENT_ITEMS = 16  # Scrapy starts this many tasks for every callback's output; ours yield a handful
CONCURRENT_REQUESTS_PER_DOMAIN = 1  # per slot, and crawler.middlewares makes the slot the server's address
DOWNLOAD_DELAY = 2.0
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 2.0
AUTOTHROTTLE_MAX_DELAY = 60.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
COOKIES_ENABLED = True  # some Hanweb data proxies answer only within the column page's session
HTTPCACHE_ENABLED = False  # the store is the cache: conditional GETs use its validators

# Slow, flaky county servers: wait long, retry more, including on the statuses their gateways send.
DOWNLOAD_TIMEOUT = 60
DNS_TIMEOUT = 20
RETRY_ENABLED = True
RETRY_TIMES = 4
RETRY_HTTP_CODES = [500, 502, 503, 504, 520, 522, 524, 408, 429]
REDIRECT_MAX_TIMES = 8
DOWNLOAD_MAXSIZE = 60 * 2**20  # attachments over the extractor's 50 MB limit are not reports
DOWNLOAD_WARNSIZE = 20 * 2**20

DOWNLOADER_MIDDLEWARES = {
    "crawler.middlewares.SlotPerAddressMiddleware": 50,
    # Responses pass middlewares from high to low numbers: after redirects (600) and decompression (590) the
    # stored copy replaces a 304, then the bytes decide the encoding, then retries (550) see the result.
    "crawler.middlewares.ConditionalGetMiddleware": 560,
    "crawler.middlewares.EncodingMiddleware": 555,
}
ITEM_PIPELINES = {"crawler.pipelines.StorePipeline": 300}

TELNETCONSOLE_ENABLED = False
LOG_LEVEL = "INFO"
