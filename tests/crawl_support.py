"""What the crawl tests share: a workspace (units file, database, file store) whose crawls run in subprocesses, as the
nightly scheduler runs them (Twisted's reactor starts once per process), with the politeness delays tuned down; and
ways to read a world's ground truth and a database's content for comparison.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from registry.units import COUNTY_GOVERNMENT, Unit, save_units
from simulator import RunningWorld
from simulator.world import FIRST_DAY
from storage import Store

REPO = Path(__file__).resolve().parent.parent
FAST = {
    "DOWNLOAD_DELAY": 0,
    "AUTOTHROTTLE_ENABLED": False,
    "DOWNLOAD_TIMEOUT": 3,  # a read-timeout fault stalls 30 s: give up soon and retry
    "LOG_LEVEL": "ERROR",
}
DEAD_HOST = "127.0.9.254"  # no portal listens there: every connection is refused
_ATTACHMENT_LINK = re.compile(r"""href="([^"]+\.(?:pdf|docx|doc|xls))\"""")


def night(n: int) -> str:
    """The crawl nights follow the world's calendar: night 1 is the world's first day."""
    return (FIRST_DAY + timedelta(days=n - 1)).isoformat()


@dataclass
class Workspace:
    units: Path
    db: Path
    store: Path

    def crawl(self, nth_night: int, **overrides: Any) -> dict[str, Any]:
        """A crawl in a subprocess; its CrawlSummary as a dict."""
        return json.loads(_run(self._script(nth_night, overrides)).stdout.splitlines()[-1])

    def start(self, nth_night: int) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-c", self._script(nth_night, {})], cwd=REPO, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)

    def _script(self, nth_night: int, overrides: dict[str, Any]) -> str:
        settings = {**FAST, "NIANBAO_NIGHT": night(nth_night), **overrides}
        return (
            "import dataclasses, json\nfrom pathlib import Path\nfrom crawler.run import crawl\n"
            f"summary = crawl(Path({str(self.units)!r}), Path({str(self.db)!r}), Path({str(self.store)!r}), "
            f"limit=None, settings_overrides={settings!r})\n"
            "print(json.dumps(dataclasses.asdict(summary)))\n"
        )

    def open_store(self) -> Store:
        return Store.open(self.db, self.store)


def _run(script: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def workspace(directory: Path, running: RunningWorld, extra: tuple[Unit, ...] = ()) -> Workspace:
    directory.mkdir(parents=True, exist_ok=True)
    space = Workspace(directory / "units.csv", directory / "nianbao.db", directory / "store")
    save_units([*running.units, *extra], space.units)
    return space


def dead_unit(port: int) -> Unit:
    """A county whose portal is down for good."""
    return Unit(unit_id="659999000000", name="不在线县人民政府", division_code="659999000000", level=COUNTY_GOVERNMENT,
                province="新疆维吾尔自治区", parent_county="不在线县", portal_url=f"http://{DEAD_HOST}:{port}/",
                aliases=("不在线县",))


def requests_served(running: RunningWorld) -> int:
    return sum(stats.requests for stats in running.stats().values())


def content_rows(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    with sqlite3.connect(db) as connection:
        return {table: connection.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
                for table in ("reports", "report_versions", "fields")}


def published(truth: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(unit, report) of every report one can read today: published, and not only at a dead link."""
    for unit in truth["units"]:
        for report in unit["reports"]:
            if report.get("published") and set(report["urls"]) - set(report["dead_urls"]):
                yield unit, report


def attachment_url(report: dict[str, Any]) -> str:
    """The file an attachment-form report is published as: the link on its article page."""
    url = next(u for u in report["urls"] if u not in report["dead_urls"])
    page = urllib.request.urlopen(url, timeout=10).read().decode("utf-8", "replace")
    return urljoin(url, _ATTACHMENT_LINK.search(page).group(1))  # type: ignore[union-attr]


def stored_reports(store: Store) -> dict[tuple[str, int], tuple[int, dict[str, Any]]]:
    """(unit, year) → (how many versions, the current version's values)."""
    versions: dict[tuple[str, int], int] = {}
    for unit_id in {r.unit_id for r in store.latest_reports()}:
        for version in store.report_history(unit_id):
            versions[(unit_id, version.year)] = versions.get((unit_id, version.year), 0) + 1
    return {(r.unit_id, r.year): (versions[(r.unit_id, r.year)], store.load_report(r.report_id).values)
            for r in store.latest_reports()}


def count_rows(db: Path, table: str) -> int:
    try:
        with sqlite3.connect(db, timeout=30) as connection:
            return connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0
