"""`nianbao demo`: the whole nightly job on a simulated world of county portals, served on loopback.

It builds the world, writes its units file and a settings file into the demo directory, runs one nightly cycle
exactly as `nianbao run-once` would (crawl in a subprocess, checks, status report, alerts), prints the status
report and says how to look at what it wrote. The world's calendar stands still at its own date, so the demo
crawls and evaluates as of that day.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from rich.console import Console

from nianbao.config import load
from nianbao.status import print_table
from registry.units import save_units
from scheduler import configure_logging, run_cycle
from simulator import build_world, serve_world

DEMO_ROWS_PER_SECTION = 5  # the terminal shows a taste of each section; status.html has every row

# The simulator answers at once and is ours to press: short delays and timeouts keep the demo to a minute or two.
# Real portals get crawler/settings.py's defaults (2 s between requests to a server, 60 s timeouts).
DEMO_SETTINGS = """\
# nianbao settings for the demo: a simulated world of {portals} county portals on loopback (seed {seed}).
# Paths are relative to this file. `nianbao --config {config} config show` lists every setting.

[storage]
db = "nianbao.db"
store = "store"

[registry]
units = "units.csv"

[crawl]
download_delay = 0.1        # real portals: 2.0 (the default)
autothrottle = false        # real portals: true
download_timeout = 5        # real portals: 60; the simulator's stalled pages hang 30 s

[schedule]
log_file = "nianbao.log"

[status]
html = "status.html"
json = "status.json"
today = {today}          # the simulated world's date
"""


def run_demo(directory: Path, portals: int, seed: int, console: Console) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with console.status(f"building a world of {portals} county portals (seed {seed})…"):
        world = build_world(portals, seed)
    with serve_world(world) as running:
        console.print(f"[bold]simulator[/bold]: {portals} county portals ({len(running.units)} units) on "
                      f"{len(running.hosts)} loopback addresses, port {running.port}; world date {world.today}")
        save_units(running.units, directory / "units.csv")
        # What the world really published, to hold the night's findings against.
        (directory / "truth.json").write_text(json.dumps(running.truth, ensure_ascii=False), encoding="utf-8")
        config_path = directory / "nianbao.toml"
        config_path.write_text(DEMO_SETTINGS.format(portals=portals, seed=seed, config=config_path, today=world.today.isoformat()),
                               encoding="utf-8")
        config = load(config_path)
        configure_logging(config)
        console.print("[bold]nightly cycle[/bold]: crawl → extract → checks → status report → alerts")
        result = run_cycle(config)
    if result.status is not None:
        print_table(console, result.status, rows_per_section=DEMO_ROWS_PER_SECTION)
    colour = "green" if result.ok else "red"
    console.print(f"[{colour}]cycle {result.outcome}[/{colour}] in {time.perf_counter() - started:.0f} s: {result.message}")
    console.print(
        "\nWhat it wrote, and how to look at it:\n"
        f"  {config['status.html']}   the morning status report (open it in a browser)\n"
        f"  {config['storage.db']}    every unit, document, report, field and finding (SQLite)\n"
        f"  {config['storage.store']}/          the fetched documents, content-addressed\n"
        f"  {config['schedule.log_file']}    the cycle's log\n"
        f"  {directory / 'truth.json'}    what the simulated world really published (to judge the findings by)\n"
        f"  nianbao --config {config_path} status           the status report in the terminal\n"
        f"  nianbao --config {config_path} units list       the units the crawl watched\n"
        f"  sqlite3 {config['storage.db']} 'SELECT * FROM scheduler_runs'"
    )
    return 0 if result.ok else 1
