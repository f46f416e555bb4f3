"""Crash safety (issue 10): SIGKILL at random (seeded) points of the crawl, of one of the crawl's extraction workers,
of the nightly cycle (`nianbao run-once`: crawl, checks, status report), of `nianbao status` and of `nianbao export`,
20 times in a row on one database, each kill followed by a normal run of the same command.

After every kill and every normal run: PRAGMA integrity_check passes; every report and version stored before is still
there and none is stored twice; every file under a hash name in the file store holds exactly the bytes of that hash
and every document row has its file (a kill leaves at most a temp file, which nothing reads); an output file is the
previous one or a complete new one. At the end the reports, the open findings, the status report and the export equal
those of an uninterrupted run.

The world grows as the rounds go (a new portal before the first crawl and before each worker kill), so those kills land
in real work: fetching, extracting, storing. They come when the database holds a random number of the new portal's
reports; the others at a random fraction of the command's last normal duration.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
from crawl_support import count_rows, stored_reports
from test_scheduler import settings_file

from registry.units import Unit, save_units
from simulator import RunningWorld, build_world, serve_world
from storage import Store
from storage.files import TEMP_SUFFIX, is_sha256

SEED = 34
KILLS = 20
# Rounds in a seeded order: the crawl killed outright, the crawl losing an extraction worker, the nightly cycle, the
# status report, the export. The first round crawls; a new portal comes before it and before each "worker" round.
OPERATIONS = ["crawl"] * 5 + ["worker"] * 3 + ["run-once"] * 4 + ["status"] * 4 + ["export"] * 4
NEW_PORTALS = 1 + OPERATIONS.count("worker")
ATTEMPTS = 4
COMMAND_SECONDS = 300  # a normal run of any of them takes seconds; a loaded machine may take far longer
STATUS, EXPORT = "status-now.json", "export.csv"
COMMANDS = {
    "crawl": ["crawl"],
    "worker": ["crawl"],
    "run-once": ["run-once"],
    "status": ["status", "--format", "json", "--output", STATUS],
    "export": ["export", "--format", "csv", "--output", EXPORT],
}


@dataclass
class Space:
    """A directory with the settings file, the units file, the database, the file store and the outputs."""

    root: Path
    config: Path = field(init=False)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.config = settings_file(self.root)

    @property
    def db(self) -> Path:
        return self.root / "nianbao.db"

    @property
    def store(self) -> Path:
        return self.root / "store"

    def start(self, operation: str) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "nianbao", "--config", str(self.config), *COMMANDS[operation]],
                                cwd=self.root, text=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                start_new_session=True)

    def run(self, operation: str) -> float:
        """A normal run; its duration. `status` exits 1 when it lists error findings, as it does here."""
        started = time.monotonic()
        code, stderr = _finish(self.start(operation), f"a normal {operation}")
        assert code in ((0, 1) if operation == "status" else (0,)), f"{operation}: {stderr[-3000:]}"
        return time.monotonic() - started


def _finish(process: subprocess.Popen[str], what: str) -> tuple[int, str]:
    """(exit code, stderr) of a command left to end; one that hangs is killed and named."""
    try:
        _, stderr = process.communicate(timeout=COMMAND_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        _, stderr = process.communicate()
        raise AssertionError(f"{what} did not end within {COMMAND_SECONDS} s: {stderr[-3000:]}") from None
    return process.returncode, stderr


@pytest.fixture(scope="module")
def world() -> Iterator[RunningWorld]:
    # The healthy portals of a fault-matrix world: no fault stalls a crawl, so the rounds stay short.
    with serve_world(build_world(15, SEED, fault_matrix=True)) as running:
        yield running


def _portals(running: RunningWorld) -> list[list[Unit]]:
    """The units of the smallest healthy portals, one list per portal, smallest first."""
    healthy = sorted((p for p in running.world.portals if not p.faults),
                     key=lambda p: sum(r.visible(running.world.today) for u in p.units for r in u.reports.values()))
    hosts = [p.host for p in healthy[:NEW_PORTALS]]
    return [[u for u in running.units if u.portal_url == f"{running.base_url(host)}/"] for host in hosts]


# ------------------------------------------------------------------------------------------------ the checks


def _snapshot(db: Path) -> set[tuple[Any, ...]]:
    """Every stored report version, by what identifies it."""
    if not db.exists():
        return set()
    with sqlite3.connect(db, timeout=30) as connection:
        return set(connection.execute(
            "SELECT r.unit_id, r.year, v.version, v.content_hash, v.document_sha256"
            " FROM reports r JOIN report_versions v USING (report_id)"))


def _check_consistent(space: Space, before: set[tuple[Any, ...]], moment: str) -> set[tuple[Any, ...]]:
    """The invariants after a kill or a run; the versions stored now."""
    if not space.db.exists():
        assert not before, moment
        return before
    with Store.open(space.db, space.store) as store:
        assert store.integrity_ok(), moment
        twice = store.db.execute("SELECT report_id, content_hash FROM report_versions GROUP BY 1, 2 HAVING count(*) > 1")
        assert not twice.fetchall(), f"{moment}: a version stored twice"
        documents = {sha256 for (sha256,) in store.db.execute("SELECT sha256 FROM documents")}
    now = _snapshot(space.db)
    assert before <= now, f"{moment}: lost {before - now}"
    files = {}
    for path in space.store.rglob("*"):
        if path.is_file():
            if is_sha256(path.name):
                files[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                assert path.name.startswith(".") and path.name.endswith(TEMP_SUFFIX), f"{moment}: stray file {path}"
    assert {name: digest for name, digest in files.items() if name != digest} == {}, f"{moment}: a half-written file"
    assert documents <= files.keys(), f"{moment}: a document row without its file"
    return now


def _killed(process: subprocess.Popen[str]) -> bool:
    """SIGKILL the command and everything it started (crawl, extraction workers), as an OOM kill or a power cut
    does; whether it was still running."""
    alive = process.poll() is None
    if alive:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    return alive


def _kill_a_worker(process: subprocess.Popen[str]) -> bool:
    """SIGKILL one extraction worker of the crawl (a worker process under the crawl's forkserver)."""
    try:
        workers = [p for p in psutil.Process(process.pid).children(recursive=True)
                   if "forkserver" in " ".join(p.parent().cmdline())]
    except psutil.NoSuchProcess:
        return False
    if not workers:
        return False
    workers[0].send_signal(signal.SIGKILL)
    return True


# ------------------------------------------------------------------------------------------------ the rounds


def test_twenty_kills_in_a_row_lose_nothing_and_end_as_an_uninterrupted_run(world: RunningWorld,
                                                                            tmp_path: Path) -> None:
    rng = random.Random(SEED)
    operations = ["crawl", *rng.sample(OPERATIONS[1:], len(OPERATIONS) - 1)]
    assert len(operations) == KILLS  # each round asserts its kill
    portals = _portals(world)
    space = Space(tmp_path / "killed")
    listed: list[Unit] = []
    durations: dict[str, float] = {}
    stored: set[tuple[Any, ...]] = set()
    for kill, operation in enumerate(operations, start=1):
        previous_output = _output(space, operation)
        if kill == 1 or operation == "worker":
            listed += portals[sum(p[0] in listed for p in portals)]
            save_units(listed, space.root / "units.csv")
            # When a random share of the new portal's reports is stored: mid-crawl, mid-extraction.
            target = len(stored) + rng.randint(1, 40)
            moment = _kill(space, operation, lambda: count_rows(space.db, "report_versions") >= target)  # noqa: B023
        else:
            share = rng.uniform(0.1, 0.8)
            moment = None
            for attempt in range(ATTEMPTS):  # a command quicker than its last run is started again, killed sooner
                moment = _kill(space, operation, _after(share / 2**attempt * durations.get(operation, 2.0)))
                if moment is not None:
                    break
        assert moment is not None, f"kill {kill}: {operation} ended before it could be killed"
        moment = f"kill {kill}, {moment}"
        stored = _check_consistent(space, stored, moment)
        killed_output = _output(space, operation)
        durations[operation] = space.run(operation)
        stored = _check_consistent(space, stored, f"{moment}, then a normal run")
        assert killed_output in (previous_output, _output(space, operation)), f"{moment}: a half-written output"

    for operation in ("run-once", "status", "export"):  # the morning's outputs, from the complete database
        space.run(operation)
    reference = Space(tmp_path / "reference")
    save_units(listed, reference.root / "units.csv")
    for operation in ("run-once", "status", "export"):
        reference.run(operation)
    with Store.open(space.db, space.store) as store, Store.open(reference.db, reference.store) as uninterrupted:
        assert stored_reports(store) == stored_reports(uninterrupted)
        assert _open_findings(store) == _open_findings(uninterrupted)
        assert not store.db.execute("SELECT run_id FROM crawl_runs WHERE status = 'running'").fetchall()
        assert [c["outcome"] for c in store.cycles()].count("running") == 0
    assert _status(space) == _status(reference)
    assert _export(space) == _export(reference)


def _after(seconds: float) -> Callable[[], bool]:
    deadline = time.monotonic() + seconds
    return lambda: time.monotonic() >= deadline


def _kill(space: Space, operation: str, when: Callable[[], bool]) -> str | None:
    """Start the command, kill it (or, for "worker", one of its extraction workers) once `when` holds; what was
    killed, or None when the command ended first."""
    process = space.start(operation)
    while process.poll() is None and not when():
        time.sleep(0.05)
    if operation == "worker":
        killed = _kill_a_worker(process)
        code, stderr = _finish(process, "a crawl that lost an extraction worker")
        assert code == 0, f"the crawl did not survive a dead extraction worker: {stderr[-3000:]}"
        return "an extraction worker of the crawl" if killed else None
    return f"{operation} at {time.strftime('%X')}" if _killed(process) else None


def _output(space: Space, operation: str) -> bytes | None:
    name = {"status": STATUS, "export": EXPORT, "run-once": "status.json"}.get(operation)
    path = space.root / name if name else None
    return path.read_bytes() if path is not None and path.exists() else None


def _open_findings(store: Store) -> set[tuple[Any, ...]]:
    return {(f["fingerprint"], f["rule"], f["unit_id"], f["year"]) for f in store.findings() if f["status"] != "resolved"}


def _status(space: Space) -> Any:
    """The status report, but for whether a finding is new tonight: that depends on how many nights came before."""
    status = json.loads((space.root / STATUS).read_text(encoding="utf-8"))
    for finding in status["findings"]:
        del finding["status"]
    for count in ("new", "open"):
        del status["summary"][count]
    return status


# Export columns that depend on the order documents were read in, not on what they say: the database's row id, and
# for a report published twice (an article and its attachment, a re-post under a later date), which copy was read
# last and so is the current version. Lateness goes by the first date of any version (compared in the status report).
_ORDER_COLUMNS = ("report_id", "version", "source_url", "published_on")


def _export(space: Space) -> list[dict[str, str]]:
    with (space.root / EXPORT).open(encoding="utf-8", newline="") as export:
        return [{k: v for k, v in row.items() if k not in _ORDER_COLUMNS} for row in csv.DictReader(export)]
