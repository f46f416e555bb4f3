"""The nightly scheduler against a simulated world, on a seconds-level trigger: cycles never overlap, the second is
incremental, the run log keeps both; SIGTERM stops it cleanly; SIGKILL in the middle of a cycle leaves the database
consistent and the next cycle completes it."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from crawl_support import REPO, count_rows, night, stored_reports, workspace

from simulator import RunningWorld
from storage import Store

CYCLE_SECONDS = 240  # a cycle of the small world takes ~15 s; a loaded machine may take much longer


def settings_file(directory: Path, cron: str = "*/2 * * * * *") -> Path:
    """The scheduler's settings for a small world: the tests' fast crawl settings, the world's night 1 as today."""
    path = directory / "nianbao.toml"
    path.write_text(f"""
[storage]
db = "nianbao.db"
store = "store"
[registry]
units = "units.csv"
[crawl]
download_delay = 0
autothrottle = false
download_timeout = 3
log_level = "ERROR"
[schedule]
cron = "{cron}"
log_file = "nianbao.log"
[status]
html = "status.html"
json = "status.json"
today = {night(1)}
""", encoding="utf-8")
    return path


def start_scheduler(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "nianbao", "--config", str(config), "schedule"], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def cycles(db: Path) -> list[dict[str, Any]]:
    if not db.exists():
        return []
    with Store.open(db, db.parent / "store") as store:
        return store.cycles()


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[str] | None = None, seconds: float = CYCLE_SECONDS) -> None:
    """Poll `condition`; fail when `process` (the scheduler) exits first or time runs out."""
    deadline = time.monotonic() + seconds
    while not condition():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the scheduler exited with {process.returncode}: {process.stderr.read()[-3000:]}")  # type: ignore[union-attr]
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s")
        time.sleep(0.5)


def stop(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=CYCLE_SECONDS)


def test_two_cycles_never_overlap_the_second_is_incremental_and_sigterm_stops(fresh_running_world: RunningWorld,
                                                                             tmp_path: Path) -> None:
    space = workspace(tmp_path, fresh_running_world)
    scheduler = start_scheduler(settings_file(tmp_path))
    try:
        wait_for(lambda: sum(c["outcome"] == "finished" for c in cycles(space.db)) >= 2, scheduler)
    finally:
        code = stop(scheduler)
    assert code == 0, scheduler.stderr.read()[-3000:]  # type: ignore[union-attr]
    log = cycles(space.db)
    assert all(c["outcome"] in ("finished", "abandoned") for c in log), log  # SIGTERM may catch a third one
    done = [c for c in log if c["outcome"] == "finished"]
    for earlier, later in itertools.pairwise(log):
        assert earlier["finished_at"] <= later["started_at"], (earlier, later)
    with space.open_store() as store:
        first, second = (store.run(c["run_id"]) for c in done[:2])
        assert store.integrity_ok()
        assert first["stats"].get("reports_new", 0) > 0 and second["stats"].get("reports_new", 0) == 0
        assert second["stats"]["requests"] <= 0.10 * first["stats"]["requests"], (second["stats"], first["stats"])
        assert store.findings(), "the cycle's checks recorded no finding"
    status = json.loads((tmp_path / "status.json").read_text(encoding="utf-8"))
    assert status["summary"]["as_of"] == night(1)
    assert (tmp_path / "status.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    log_text = (tmp_path / "nianbao.log").read_text(encoding="utf-8")
    assert f"cycle {done[1]['cycle_id']} finished" in log_text and "scheduler stopped" in log_text


def test_a_killed_scheduler_leaves_the_database_consistent_and_the_next_cycle_completes(
        fresh_running_world: RunningWorld, tmp_path: Path) -> None:
    killed = workspace(tmp_path / "killed", fresh_running_world)
    config = settings_file(killed.db.parent)
    scheduler = start_scheduler(config)
    try:
        wait_for(lambda: count_rows(killed.db, "reports") >= 30, scheduler)
        crawl = _children(scheduler.pid)
    finally:
        scheduler.send_signal(signal.SIGKILL)  # the scheduler only: its crawl must die with it
        scheduler.wait()
    assert crawl, "no crawl process under the scheduler"
    assert cycles(killed.db)[-1]["outcome"] == "running"
    wait_for(lambda: not any(_alive(pid) for pid in crawl), seconds=30)

    again = start_scheduler(config)
    try:
        wait_for(lambda: any(c["outcome"] == "finished" for c in cycles(killed.db)), again)
    finally:
        assert stop(again) == 0
    log = cycles(killed.db)
    assert log[0]["outcome"] == "abandoned" and log[1]["outcome"] == "finished"
    clean = workspace(tmp_path / "clean", fresh_running_world)
    clean.crawl(1)
    with killed.open_store() as store, clean.open_store() as reference:
        assert store.integrity_ok()
        assert stored_reports(store) == stored_reports(reference)
        runs = [r[0] for r in store.db.execute("SELECT status FROM crawl_runs ORDER BY run_id")]
        assert runs[:2] == ["abandoned", "finished"], runs


def _children(pid: int) -> list[int]:
    """The process's children, whichever of its threads started them (the scheduler's job thread starts the crawl)."""
    return [int(child) for task in Path(f"/proc/{pid}/task").iterdir() for child in (task / "children").read_text().split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"  # a zombie waits only for init to reap it
