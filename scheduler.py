"""The nightly job: crawl → extract → checks → status report → alerts, on a cron trigger (APScheduler 3.x).

    nianbao schedule        # runs a cycle at schedule.cron (default 02:00 Asia/Shanghai) until SIGTERM
    nianbao run-once        # one cycle now

The crawl (which extracts as it stores) runs in a subprocess: Twisted's reactor cannot start twice in one process,
and a crawl that dies takes nothing else with it. The checks, the status report and the alerts run here.

Each cycle is a row in the database's `scheduler_runs`, so a restarted scheduler knows the last one and how it
ended. One cycle at a time per database, across processes (a lock file beside the database), and within one
scheduler (`max_instances=1`, `coalesce=True`). SIGTERM lets a cycle in its checks finish; a crawl under way is
stopped the way Scrapy stops (in-flight requests finish, every write is a transaction) and the cycle is recorded
as abandoned. A scheduler killed outright takes its crawl with it (PR_SET_PDEATHSIG) and the next start records
the cycle as abandoned.
"""

from __future__ import annotations

import ctypes
import fcntl
import logging
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import IO

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from rich.console import Console

from nianbao.alerts import send_alerts
from nianbao.config import Config
from nianbao.status import DEFAULT_POLICY, StatusReport, build_status, default_years, evaluate, new_findings, record, render
from storage import Store

log = logging.getLogger("nianbao.scheduler")

FINISHED, ABANDONED, CRAWL_FAILED, FAILED, BUSY = "finished", "abandoned", "crawl_failed", "failed", "busy"
_PR_SET_PDEATHSIG = 1
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@dataclass(frozen=True)
class CycleResult:
    cycle_id: int | None
    outcome: str  # finished | abandoned | crawl_failed | failed | busy
    run_id: int | None
    message: str
    status: StatusReport | None = None  # the morning report, when the cycle finished

    @property
    def ok(self) -> bool:
        return self.outcome == FINISHED


class CycleBusy(RuntimeError):
    """Another cycle holds this database."""


@contextmanager
def cycle_lock(db: Path) -> Iterator[None]:
    """The database's cycle lock (an flock: the kernel releases it when its holder dies, however it dies)."""
    path = db.with_name(db.name + ".cycle.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CycleBusy(f"another nianbao cycle is running on {db}") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _die_with_parent() -> None:
    """In the crawl's process before it starts: be killed when the scheduler dies, not crawl on as an orphan.
    (Strictly: when the thread that started it ends; the scheduler's job threads live as long as the scheduler.)"""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def crawl_command(config: Config) -> list[str]:
    return [sys.executable, "-m", "nianbao", *config.command_line(), "crawl"]


def run_crawl(config: Config, stop: threading.Event, output: IO[str] | None) -> int:
    """The crawl in its own process; its output to `output` (None: this process's terminal). Asked to stop, it
    gets SIGTERM, which Scrapy answers with a graceful shutdown."""
    command = crawl_command(config)
    log.info("crawl: %s", " ".join(command))
    process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT if output else None,
                               preexec_fn=_die_with_parent)  # prctl only, in the child before exec
    signalled = False
    while True:
        try:
            return process.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            if stop.is_set() and not signalled:
                log.warning("stop requested: ending the crawl (pid %s)", process.pid)
                process.send_signal(signal.SIGTERM)
                signalled = True


def write_atomically(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def check_and_report(config: Config, store: Store, run_id: int) -> tuple[StatusReport, str]:
    """Findings as of today → stored (new / open / resolved) → status.html and status.json → alerts on new ones.
    Returns the status report and a line saying what happened."""
    as_of = config.today
    years = default_years(store, store.units(), as_of, DEFAULT_POLICY)
    findings = evaluate(store, as_of=as_of, years=years)
    summary = record(store, run_id, findings)
    new = new_findings(store, run_id, findings)
    report = build_status(store, findings, as_of=as_of, years=years)
    write_atomically(config["status.html"], render(report, "html"))
    write_atomically(config["status.json"], render(report, "json"))
    failures = send_alerts(config.alert_settings(), new, as_of=as_of)
    for failure in failures:
        log.error("alert not delivered by %s to %s: %s", failure.channel, failure.target, failure.error)
    undelivered = f"; {len(failures)} alert{'s' if len(failures) > 1 else ''} not delivered" if failures else ""
    return report, (f"{len(findings)} findings ({len(new)} new, {summary.resolved} resolved){undelivered}; "
                    f"status in {config['status.html']}")


def run_cycle(config: Config, stop: threading.Event | None = None, crawl_output: IO[str] | None = None) -> CycleResult:
    """One nightly cycle, recorded in the database's run log."""
    stop = stop or threading.Event()
    db, store_dir = config["storage.db"], config["storage.store"]
    try:
        with cycle_lock(db):
            with Store.open(db, store_dir) as store:
                for cycle_id in store.abandon_running_cycles("the scheduler stopped during this cycle"):
                    log.warning("cycle %s was left running by a scheduler that died: recorded as abandoned", cycle_id)
                cycle_id = store.start_cycle()
                before = store.last_run()
            log.info("cycle %s: crawl", cycle_id)
            code = run_crawl(config, stop, crawl_output)
            with Store.open(db, store_dir) as store:
                run = store.last_run()
                run_id = run["run_id"] if run is not None and run != before else None
                if stop.is_set():
                    return _finish(store, cycle_id, ABANDONED, "stopped (SIGTERM) during the crawl", run_id)
                if code != 0 or run_id is None:
                    return _finish(store, cycle_id, CRAWL_FAILED, f"the crawl exited with code {code}", run_id)
                log.info("cycle %s: checks and status report", cycle_id)
                try:
                    report, message = check_and_report(config, store, run_id)
                except Exception as exc:  # recorded, and the scheduler lives on to the next night
                    log.exception("cycle %s: checks failed", cycle_id)
                    return _finish(store, cycle_id, FAILED, f"checks failed: {type(exc).__name__}: {exc}", run_id)
                return _finish(store, cycle_id, FINISHED, message, run_id, report)
    except CycleBusy as exc:
        log.warning("%s: this cycle is skipped", exc)
        return CycleResult(None, BUSY, None, str(exc))


def _finish(store: Store, cycle_id: int, outcome: str, message: str, run_id: int | None,
            report: StatusReport | None = None) -> CycleResult:
    store.finish_cycle(cycle_id, outcome, message, run_id)
    log.log(logging.INFO if outcome == FINISHED else logging.ERROR, "cycle %s %s: %s", cycle_id, outcome, message)
    return CycleResult(cycle_id, outcome, run_id, message, report)


def cron_trigger(expression: str, timezone: str) -> CronTrigger:
    """A crontab expression (minute hour day month weekday), or six fields with seconds first. Weekday numbers
    mean what they mean in crontab (0 and 7 are Sunday), not APScheduler 3's Monday-based numbers."""
    fields = expression.split()
    if len(fields) not in (5, 6):
        raise ValueError(f"schedule.cron {expression!r}: expected 5 fields (or 6 with seconds first)")
    second = fields.pop(0) if len(fields) == 6 else "0"
    minute, hour, day, month, weekday = fields
    weekday = re.sub(r"(?<![/\d])\d+", lambda m: _WEEKDAYS[int(m.group())] if int(m.group()) < 8 else m.group(), weekday)
    return CronTrigger(second=second, minute=minute, hour=hour, day=day, month=month, day_of_week=weekday,
                       timezone=timezone)


def configure_logging(config: Config) -> None:
    path = config["schedule.log_file"]
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = RotatingFileHandler(path, maxBytes=config["schedule.log_max_bytes"], backupCount=config["schedule.log_backups"],
                                  encoding="utf-8")
    handler.setFormatter(logging.Formatter(_LOG_FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)


class NightlyScheduler:
    """APScheduler running `run_cycle` on the configured trigger until `stop()` (or SIGTERM in `serve`)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.stopping = threading.Event()
        self.scheduler = BackgroundScheduler(timezone=config["schedule.timezone"])
        self.scheduler.add_job(
            self.cycle, cron_trigger(config["schedule.cron"], config["schedule.timezone"]), id="nightly",
            name="crawl → checks → status → alerts", max_instances=1, coalesce=True,
            misfire_grace_time=config["schedule.misfire_grace_seconds"],
        )
        self.scheduler.add_listener(self._missed_or_failed, EVENT_JOB_MISSED | EVENT_JOB_ERROR)

    def cycle(self) -> None:
        if self.stopping.is_set():
            return
        with self.config["schedule.log_file"].open("a", encoding="utf-8") as output:
            run_cycle(self.config, self.stopping, output)

    def _missed_or_failed(self, event: JobExecutionEvent) -> None:
        if event.code == EVENT_JOB_MISSED:
            log.warning("a cycle due at %s was missed (past the misfire grace time)", event.scheduled_run_time)
        else:
            log.error("the cycle raised %r", event.exception)

    def serve(self) -> None:
        """Run until SIGTERM or SIGINT; then let the running cycle end (see the module's doc) and return."""
        done = threading.Event()

        def on_signal(signum: int, frame: object) -> None:
            log.info("signal %s: stopping", signal.Signals(signum).name)
            self.stopping.set()
            done.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        with Store.open(self.config["storage.db"], self.config["storage.store"]) as store:
            cycles = store.cycles()
        if cycles:
            last = cycles[-1]
            log.info("last cycle %s started %s: %s %s", last["cycle_id"], last["started_at"], last["outcome"], last["message"] or "")
        self.scheduler.start()
        log.info("scheduler started: next cycle at %s", self.scheduler.get_job("nightly").next_run_time)
        done.wait()
        self.scheduler.shutdown(wait=True)
        log.info("scheduler stopped")


def serve(config: Config, console: Console) -> int:
    """`nianbao schedule`."""
    configure_logging(config)
    scheduler = NightlyScheduler(config)
    console.print(f"nianbao scheduler: cycles at [bold]{config['schedule.cron']}[/bold] ({config['schedule.timezone']}); "
                  f"log {config['schedule.log_file']}; SIGTERM or Ctrl-C stops it.")
    scheduler.serve()
    return 0
