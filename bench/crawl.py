"""Crawl speed: nianbao's crawl against a bare Scrapy spider fetching the same URLs, on one simulated world.

    .venv/bin/python bench/crawl.py [--portals N] [--seed S] [--runs R]

Serves a world on loopback, crawls it once unmeasured (the simulator renders its attachments once and keeps them), then
runs nianbao's crawl (all politeness delays off, one request at a time per portal as always), then a bare spider over
every URL the crawl stored, with the same concurrency and the same one request at a time per portal (Scrapy's
downloader, with crawler.downloader's fix that makes that hold without a delay: plain Scrapy 2.19 opens up to 18
connections to one portal then). `--runs` repeats both, alternating, on a fresh database each time.

Prints, for each: requests, seconds, pages/s, CPU seconds (the process and its children: the crawl's extraction
workers) and peak RSS of the process tree. nianbao's crawl reads reports while it fetches and ends when the last is
stored: its pages/s are given over the fetching ("fetch", to the last response) and over the whole run ("with the
reports", the extraction tail after the last response included). The ratio compares the fetching with the bare
spider's; the extraction tail depends on the extractor and on the cores left to it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # run as a script, bench/ is on the path instead of the repository

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.processes import CRAWL, measure  # noqa: E402
from registry.units import save_units  # noqa: E402
from simulator import build_world, serve_world  # noqa: E402
from storage import Store  # noqa: E402

FAST = {"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False, "DOWNLOAD_TIMEOUT": 3, "LOG_LEVEL": "ERROR"}


# The same politeness as nianbao's (robots.txt, one request at a time per portal), nothing else.
BARE = """
import json, sys
from scrapy import Request, Spider
from scrapy.crawler import CrawlerProcess

class Bare(Spider):
    name = "bare"

    async def start(self):
        for url in json.load(open(sys.argv[1])):
            yield Request(url, callback=self.parse, errback=self.failed)

    def parse(self, response):
        return None

    def failed(self, failure):
        return None

settings = {"ROBOTSTXT_OBEY": True, "CONCURRENT_REQUESTS": int(sys.argv[3]), "CONCURRENT_REQUESTS_PER_DOMAIN": 1,
            "DOWNLOADER": "crawler.downloader.PoliteDownloader", "TELNETCONSOLE_ENABLED": False, "RETRY_TIMES": 4,
            **json.loads(sys.argv[2])}
process = CrawlerProcess(settings)
crawler = process.create_crawler(Bare)
process.crawl(crawler)
process.start()
stats = crawler.stats.get_stats()
print(json.dumps({"requests": stats.get("downloader/request_count", 0), "seconds": stats["elapsed_time_seconds"]}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--portals", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    console = Console(width=140)
    table = Table(title=f"crawl of {args.portals} portals (seed {args.seed}), delays off")
    for column in ("run", "", "requests", "seconds", "pages/s", "CPU s", "of it workers", "CPU ms/page", "peak RSS MiB"):
        table.add_column(column, justify="right" if column else "left")
    ratios = []
    with serve_world(build_world(args.portals, args.seed)) as running:
        # The simulator keeps the attachments it renders (PDF, DOCX, …: 0.1-0.25 s each) across world versions: a
        # crawl that is not measured renders them first, so that every measured crawl, nianbao's and the bare one,
        # finds them rendered alike.
        with tempfile.TemporaryDirectory() as tmp:
            save_units(running.units, Path(tmp) / "units.csv")
            measure("warm-up crawl", CRAWL, str(Path(tmp) / "units.csv"), str(Path(tmp) / "db.sqlite"),
                    str(Path(tmp) / "store"), json.dumps(FAST), cwd=ROOT)
        for number in range(1, args.runs + 1):
            with tempfile.TemporaryDirectory() as tmp:
                work = Path(tmp)
                save_units(running.units, work / "units.csv")
                running.advance(0)  # a new world version: the server renders every page again, for each crawl alike
                crawl = measure("nianbao crawl", CRAWL, str(work / "units.csv"), str(work / "db.sqlite"),
                                str(work / "store"), json.dumps(FAST), cwd=ROOT)
                with Store.open(work / "db.sqlite", work / "store") as store:
                    urls = [row[0] for row in store.db.execute("SELECT url FROM url_state ORDER BY url")]
                (work / "urls.json").write_text(json.dumps(urls))
                running.advance(0)
                bare = measure("bare spider", BARE, str(work / "urls.json"), json.dumps(FAST), str(len(running.hosts)),
                               cwd=ROOT)
            requests, seconds = crawl.result["requests"], crawl.result["seconds"]
            fetching = seconds - crawl.result["extraction_tail_seconds"]
            bare_rate = bare.result["requests"] / bare.result["seconds"]
            ratios.append(requests / fetching / bare_rate)
            rows = (
                ("nianbao crawl: fetch", requests, fetching, crawl),
                ("  with the reports", requests, seconds, crawl),
                ("bare Scrapy spider", bare.result["requests"], bare.result["seconds"], bare),
            )
            for label, count, elapsed, measured in rows:
                cpu = measured.cpu_seconds + measured.children_cpu_seconds
                table.add_row(str(number), label, f"{count:,}", f"{elapsed:.1f}", f"{count / elapsed:.0f}", f"{cpu:.0f}",
                              f"{measured.children_cpu_seconds:.0f}", f"{1000 * cpu / count:.1f}",
                              f"{measured.peak_rss_mib:.0f}")
            reports = crawl.result["reports_new"]
    console.print(table)
    console.print(f"{reports:,} reports extracted and stored each run; {len(urls):,} URLs stored")
    console.print(f"nianbao fetch / bare pages/s: {', '.join(f'{r:.2f}' for r in ratios)}"
                  f" (median {statistics.median(ratios):.2f})")


if __name__ == "__main__":
    main()
