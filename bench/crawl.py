"""Crawl speed: nianbao's crawl against a bare Scrapy spider fetching the same URLs, on one simulated world.

    .venv/bin/python bench/crawl.py [--portals N] [--seed S]

Serves a world on loopback, runs nianbao's crawl (all politeness delays off, one request at a time per portal as
always), then a bare spider over every URL the crawl stored, with the same concurrency. Prints pages/s of both,
their ratio, and the peak RSS of each (the crawl's process tree: the crawl and its extraction workers).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # run as a script, bench/ is on the path instead of the repository

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from registry.units import save_units  # noqa: E402
from simulator import build_world, serve_world  # noqa: E402
from storage import Store  # noqa: E402

FAST = {"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False, "DOWNLOAD_TIMEOUT": 3, "LOG_LEVEL": "ERROR"}

NIANBAO = """
import dataclasses, json, sys
from pathlib import Path
from crawler.run import crawl
summary = crawl(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), settings_overrides=json.loads(sys.argv[4]))
print(json.dumps(dataclasses.asdict(summary)))
"""

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

settings = {"ROBOTSTXT_OBEY": True, "CONCURRENT_REQUESTS": 64, "CONCURRENT_REQUESTS_PER_DOMAIN": 1,
            "TELNETCONSOLE_ENABLED": False, "RETRY_TIMES": 4, **json.loads(sys.argv[2])}
process = CrawlerProcess(settings)
crawler = process.create_crawler(Bare)
process.crawl(crawler)
process.start()
stats = crawler.stats.get_stats()
print(json.dumps({"responses": stats.get("downloader/response_count", 0), "seconds": stats["elapsed_time_seconds"]}))
"""


def tree_rss_kib(root: int) -> int:
    """Resident memory of a process and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return total


def run(name: str, script: str, *args: str) -> tuple[dict, float]:
    """Run a script in a subprocess; its last stdout line as JSON, and the peak RSS of its tree in MiB."""
    process = subprocess.Popen([sys.executable, "-c", script, *args], cwd=ROOT, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss_kib(process.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = process.communicate()
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"{name} failed with exit code {process.returncode}")
    return json.loads(out.strip().splitlines()[-1]), peak / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--portals", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory() as tmp, serve_world(build_world(args.portals, args.seed)) as running:
        work = Path(tmp)
        save_units(running.units, work / "units.csv")
        crawl, crawl_rss = run("nianbao crawl", NIANBAO, str(work / "units.csv"), str(work / "db.sqlite"), str(work / "store"),
                               json.dumps(FAST))
        with Store.open(work / "db.sqlite", work / "store") as store:
            urls = [row[0] for row in store.db.execute("SELECT url FROM url_state ORDER BY url")]
        (work / "urls.json").write_text(json.dumps(urls))
        running.advance(0)  # a new world version: the server renders every page again, as it did for the crawl
        bare, bare_rss = run("bare spider", BARE, str(work / "urls.json"), json.dumps(FAST))
    nianbao_rate = crawl["requests"] / crawl["seconds"]
    bare_rate = bare["responses"] / bare["seconds"]
    table = Table(title=f"crawl of {args.portals} portals (seed {args.seed}), {len(urls):,} URLs stored")
    for column in ("", "requests", "seconds", "pages/s", "peak RSS MiB"):
        table.add_column(column, justify="right" if column else "left")
    table.add_row("nianbao crawl", f"{crawl['requests']:,}", f"{crawl['seconds']:.1f}", f"{nianbao_rate:.0f}", f"{crawl_rss:.0f}")
    table.add_row("bare Scrapy spider", f"{bare['responses']:,}", f"{bare['seconds']:.1f}", f"{bare_rate:.0f}", f"{bare_rss:.0f}")
    console.print(table)
    console.print(f"nianbao / bare: {nianbao_rate / bare_rate:.2f} of the bare spider's pages/s "
                  f"({crawl['reports_new']:,} reports extracted and stored on the way)")


if __name__ == "__main__":
    main()
