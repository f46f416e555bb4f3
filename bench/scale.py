"""The nationwide nightly crawl at bench scale: 1,000 portal hosts and over 20,000 units, each host with its own latency,
crawled with the production politeness settings, three nights. Figures and what they mean: docs/scale.md.

    .venv/bin/python bench/scale.py [--portals 1000] [--seed 7] [--latency 0.1] [--delay 2.0] [--advance 30]
                                    [--townships N] [--probe SECONDS]

Night 1 finds everything; night 2 crawls the unchanged world a day later (the cost of an ordinary night); night 3 the
world `--advance` nights on, whose newly published reports must all be found. Per night: wall time; the politeness
lower bound, the most requests one host got times the delay, and the same with the time each host spent answering
(the delay counts from the end of an answer: crawler/downloader.py); wall and fetching time against them; pages/s; CPU
seconds per 1,000 pages (the crawl's process and its extraction workers) and per report; peak RSS of the crawl's
process tree, also per 10,000 units; requests per unit; politeness as the hosts saw it (most connections and requests
at once, smallest gap between two requests); the simulator's own CPU. Then night 2's requests and bytes as a share of
night 1's, and night 3's recall of new reports. Each night's figures print as soon as it ends.

Settings are crawler/settings.py's but for the delay (`--delay`, also AutoThrottle's start delay; production's is 2 s)
and the log level. The simulator runs in this process: on one machine the crawl shares the cores with it. A world too
big for the machine can be probed: `--probe SECONDS` stops the first night's fetching after that long (Scrapy's
CLOSESPIDER_TIMEOUT; the reports fetched are still read) and reports that night alone.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # run as a script, bench/ is on the path instead of the repository

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.processes import CRAWL, Measured, measure  # noqa: E402
from registry.units import save_units  # noqa: E402
from simulator import build_world, serve_world  # noqa: E402
from simulator.server import HostStats  # noqa: E402
from simulator.world import FIRST_DAY  # noqa: E402
from storage import Store  # noqa: E402


def published(truth: dict[str, Any]) -> set[tuple[str, int]]:
    """(unit, year) of every report one can read today: published, and not only at a dead link."""
    return {(unit["unit_id"], report["year"]) for unit in truth["units"] for report in unit["reports"]
            if report.get("published") and set(report["urls"]) - set(report["dead_urls"])}


def night_column(night: Night, delay: float, units: int) -> list[str]:
    """One night's figures, in the order of FIGURES."""
    crawl, stats = night.crawl, night.stats
    requests = sum(s.requests for s in stats.values())
    busiest = max(stats, key=lambda host: stats[host].requests)
    bound = stats[busiest].requests * delay
    served = max(s.requests * delay + s.busy_seconds for s in stats.values())
    cpu = crawl.cpu_seconds + crawl.children_cpu_seconds
    reports = crawl.result["reports_new"] + crawl.result["reports_changed"]
    gaps = [s.min_gap for s in stats.values() if s.min_gap is not None]
    fetching = max(1.0, crawl.result["seconds"] - crawl.result["extraction_tail_seconds"])
    return [
        f"{requests:,}", f"{crawl.seconds:,.0f}", f"{bound:,.0f} ({stats[busiest].requests:,} requests)",
        f"{crawl.seconds / bound:.2f}", f"{served:,.0f}", f"{crawl.seconds / served:.2f}",
        f"{fetching:,.0f}", f"{fetching / served:.2f}", f"{requests / crawl.seconds:.1f}", f"{requests / fetching:.1f}",
        f"{crawl.result['extraction_tail_seconds']:,.0f}",
        f"{1000 * crawl.cpu_seconds / requests:,.0f} + {1000 * crawl.children_cpu_seconds / requests:,.0f}",
        f"{1000 * cpu / reports:,.0f}" if reports else "-", f"{reports:,}",
        f"{crawl.peak_rss_mib:,.0f}", f"{crawl.peak_rss_mib * 10_000 / units:,.0f}", f"{requests / units:.2f}",
        f"{max(s.max_connections for s in stats.values())} / {max(s.max_in_flight for s in stats.values())}",
        f"{min(gaps):.2f}" if gaps else "-", f"{night.simulator_cpu_seconds:,.0f}",
    ]


FIGURES = (
    "requests",
    "wall time, s",
    "politeness bound, s: most requests to one host × delay",
    "  wall / bound (target ≤ 1.2)",
    "bound with each host's answering time, s: max (requests × delay + time it spent answering)",
    "  wall / that bound",
    "fetching, s: from the spider's start to the last response",
    "  fetching / the bound with answering time",
    "pages/s over the wall time",
    "  pages/s while fetching",
    "reading reports after the last response, s (of the wall time)",
    "CPU s per 1,000 pages (= ms/page): crawl + extraction workers",
    "CPU ms per report stored (crawl and workers)",
    "reports stored new or changed",
    "peak RSS of the crawl's process tree, MiB",
    "  per 10,000 units (target ≤ 300)",
    "requests per unit",
    "most connections / requests in flight at one host",
    "least gap between two requests to one host, s",
    "CPU s of the simulator serving the night (not the crawl's)",
)


@dataclass(frozen=True)
class Night:
    name: str
    crawl: Measured
    stats: dict[str, HostStats]  # what each host saw
    simulator_cpu_seconds: float


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--portals", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds; each host 0.5-1.5 times it")
    parser.add_argument("--delay", type=float, default=2.0, help="DOWNLOAD_DELAY, seconds (production: 2)")
    parser.add_argument("--advance", type=int, default=30, help="nights the world moves on before night 3")
    parser.add_argument("--townships", type=int, default=None,
                        help="the most townships a county publishes for (default: all, 15 on average)")
    parser.add_argument("--probe", type=float, default=None, metavar="SECONDS",
                        help="a world too big to crawl here: stop the first night's fetching after this long "
                             "(CLOSESPIDER_TIMEOUT) and report it alone (an unfinished night makes the next a full one)")
    args = parser.parse_args()
    console = Console(width=140)
    started = time.monotonic()
    world = build_world(args.portals, args.seed, townships=args.townships, latency=args.latency)
    built = time.monotonic() - started
    with serve_world(world) as running, tempfile.TemporaryDirectory() as tmp:
        units = len(running.units)
        console.print(f"world: {len(world.portals):,} portal hosts, {units:,} units; built in {built:.0f} s, "
                      f"serving after {time.monotonic() - started:.0f} s")
        work = Path(tmp)
        save_units(running.units, work / "units.csv")
        settings = {"DOWNLOAD_DELAY": args.delay, "AUTOTHROTTLE_START_DELAY": args.delay, "LOG_LEVEL": "ERROR",
                    **({"CLOSESPIDER_TIMEOUT": args.probe} if args.probe else {})}

        def night(name: str, day: int) -> Night:
            running.reset_stats()
            overrides = {**settings, "NIANBAO_NIGHT": (FIRST_DAY + timedelta(days=day)).isoformat()}
            serving = time.process_time()
            crawl = measure("crawl", CRAWL, str(work / "units.csv"), str(work / "db.sqlite"), str(work / "store"),
                            json.dumps(overrides), cwd=ROOT)
            done = Night(name, crawl, running.stats(), time.process_time() - serving)
            figures = zip(FIGURES, night_column(done, args.delay, units), strict=True)
            console.print(f"night {name}:", *(f"  {figure}: {value}" for figure, value in figures), sep="\n")
            return done

        if args.probe:
            nights = [night(f"1: first {args.probe:,.0f} s", 0)]
            report(console, args, units, nights)
            console.print(f"whole run {time.monotonic() - started:,.0f} s")
            return
        nights = [night("1: first", 0), night("2: unchanged", 1)]
        before = published(running.truth)
        running.advance(args.advance)
        nights.append(night(f"3: +{args.advance} nights", args.advance))
        after = published(running.truth)
        with Store.open(work / "db.sqlite", work / "store") as store:
            stored = {(r.unit_id, r.year) for r in store.latest_reports()}
    report(console, args, units, nights)
    new = after - before
    console.print(f"night 3: {len(new & stored):,} of the {len(new):,} reports published since night 2 found; "
                  f"all readable reports stored: {len(after & stored):,} of {len(after):,}; "
                  f"whole run {time.monotonic() - started:,.0f} s")


def report(console: Console, args: argparse.Namespace, units: int, nights: list[Night]) -> None:
    table = Table(title=f"{args.portals:,} hosts, {units:,} units, delay {args.delay} s, latency {args.latency} s × "
                        f"0.5–1.5 per host (seed {args.seed})")
    table.add_column("night")
    for night in nights:
        table.add_column(night.name, justify="right")
    columns = [night_column(night, args.delay, units) for night in nights]
    for figure, *values in zip(FIGURES, *columns, strict=True):
        table.add_row(figure, *values)
    console.print(table)
    if len(nights) < 2:
        return
    first, second = nights[0].stats, nights[1].stats
    requests = sum(s.requests for s in second.values()) / sum(s.requests for s in first.values())
    sent = sum(s.bytes_sent for s in second.values()) / sum(s.bytes_sent for s in first.values())
    console.print(f"night 2 / night 1: requests {requests:.1%} (target ≤ 10 %), bytes {sent:.2%} (target ≤ 5 %)")
    console.print(f"night 1: {nights[0].crawl.result['reports_new']:,} reports stored, "
                  f"{nights[0].crawl.result['documents']:,} documents")


if __name__ == "__main__":
    main()
