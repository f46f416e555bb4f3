"""Benchmark of the portal simulator: how fast a 300-portal world starts, and how many requests/s it serves.

    .venv/bin/python bench/simulator.py [--portals 300] [--requests 20000] [--concurrency 64]

The load comes from a separate process (an aiohttp client with bounded concurrency) over loopback only; the run
is bounded in requests and in time. Three measures: start (world built + every address bound), a first pass over
distinct pages (each rendered for the first time), then requests drawn at random from those pages (cached).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulator import build_world, serve_world
from simulator.cms import cms_for

TIME_LIMIT = 60.0  # seconds, per load phase


def _load(urls: list[str], concurrency: int, out: multiprocessing.Queue) -> None:
    """Fetch every URL once with `concurrency` requests in flight; put (requests, failures, seconds)."""
    import aiohttp

    async def run() -> tuple[int, int, float]:
        queue: asyncio.Queue[str] = asyncio.Queue()
        for url in urls:
            queue.put_nowait(url)
        done = failed = 0
        started = time.perf_counter()
        connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=4)
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

            async def worker() -> None:
                nonlocal done, failed
                while not queue.empty() and time.perf_counter() - started < TIME_LIMIT:
                    url = queue.get_nowait()
                    try:
                        async with session.get(url, allow_redirects=False) as response:
                            await response.read()
                            failed += response.status >= 400
                    except (TimeoutError, aiohttp.ClientError):
                        failed += 1
                    done += 1

            await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done, failed, time.perf_counter() - started

    out.put(asyncio.run(run()))


def _measure(urls: list[str], concurrency: int) -> tuple[int, int, float]:
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue = context.Queue()
    process = context.Process(target=_load, args=(urls, concurrency, results))
    process.start()
    result = results.get(timeout=TIME_LIMIT + 60)
    process.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--portals", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pages", type=int, default=3000, help="distinct pages of the first pass")
    parser.add_argument("--requests", type=int, default=20000, help="requests of the cached phase")
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()

    started = time.perf_counter()
    world = build_world(args.portals, args.seed)
    built = time.perf_counter() - started
    with serve_world(world) as running:
        start_time = time.perf_counter() - started
        print(f"start: {start_time:.2f} s for {args.portals} portals ({built:.2f} s building the world, "
              f"{start_time - built:.2f} s binding {len(running.hosts)} addresses)")
        pages = []
        for portal in world.portals:
            cms = cms_for(world, portal)
            faulty = {f.path for f in portal.faults}
            base = running.base_url(portal)
            paths = ["/", "/robots.txt", *(cms.column_path(c) for c in portal.site.columns[1:] if cms.is_page(c))]
            paths += [cms.article_path(a) for a in portal.site.articles if a.published_on <= world.today]
            pages += [base + p for p in paths if p not in faulty]
        rng = random.Random(args.seed)
        pages = rng.sample(pages, min(args.pages, len(pages)))
        for phase, urls in (("first pass (rendering)", pages), ("cached", rng.choices(pages, k=args.requests))):
            running.reset_stats()
            done, failed, seconds = _measure(urls, args.concurrency)
            served = sum(s.requests for s in running.stats().values())
            print(f"{phase}: {done} requests in {seconds:.1f} s = {done / seconds:,.0f} requests/s "
                  f"({failed} failed, {served} counted by the server, concurrency {args.concurrency})")


if __name__ == "__main__":
    main()
