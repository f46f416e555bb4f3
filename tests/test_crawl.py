"""The crawl end to end, against simulated worlds served on loopback: every report of a healthy portal stored with its
ground-truth fields, no look-alike stored, every failing portal's error recorded; a second night of the unchanged
world cheap and changing nothing; an edit stored as a new version; a crawl killed midway and run again losing and
duplicating nothing.

Each crawl runs in a subprocess, as the nightly scheduler runs it (Twisted's reactor starts once per process), with
the politeness delays tuned down through settings overrides.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
import pytest
from crawl_support import (
    FAST,
    REPO,
    Workspace,
    content_rows,
    count_rows,
    dead_unit,
    night,
    published,
    requests_served,
    stored_reports,
    workspace,
)

from crawler.settings import RETRY_TIMES
from extract.unreadable import unreadable_reason
from simulator import RunningWorld, build_world, serve_world
from simulator.world import ATTACHMENT_FORMS, CMS_FAMILIES, FAULTS, Fault
from spiders.recognize import FIRST_YEAR, is_lookalike
from storage import Store

PORTALS = 30
SEED = 7

# ------------------------------------------------------------------------------------ three nights of one world


@dataclass
class Night:
    summary: dict[str, Any]
    requests: int
    truth: dict[str, Any]
    rows_before: dict[str, list[tuple[Any, ...]]]


@pytest.fixture(scope="module")
def world() -> Iterator[RunningWorld]:
    with serve_world(build_world(PORTALS, SEED)) as running:
        yield running


@pytest.fixture(scope="module")
def space(world: RunningWorld, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return workspace(tmp_path_factory.mktemp("crawl"), world, (dead_unit(world.port),))


def _night(world: RunningWorld, space: Workspace, nth: int, **overrides: Any) -> Night:
    world.reset_stats()
    before = content_rows(space.db) if space.db.exists() else {}
    summary = space.crawl(nth, **overrides)
    return Night(summary, requests_served(world), world.truth, before)


@pytest.fixture(scope="module")
def night1(world: RunningWorld, space: Workspace) -> Night:
    return _night(world, space, 1)


@pytest.fixture(scope="module")
def night2(world: RunningWorld, space: Workspace, night1: Night) -> Night:
    return _night(world, space, 2)


@pytest.fixture(scope="module")
def night3(world: RunningWorld, space: Workspace, night2: Night) -> Night:
    world.advance()
    # Night 3 is every stored report's revisit night: edits in place show only in the report's own page.
    return _night(world, space, 3, NIANBAO_REVISIT_NIGHTS=1)


def test_world_has_every_family_and_fault(night1: Night) -> None:
    assert {p["cms"] for p in night1.truth["portals"]} == set(CMS_FAMILIES)
    assert {f["kind"] for p in night1.truth["portals"] for f in p["faults"]} == set(FAULTS)
    assert night1.summary["finish_reason"] == "finished"


def test_first_night_stores_every_report_with_its_fields(night1: Night, space: Workspace) -> None:
    with space.open_store() as store:
        _check_reports(store, night1.truth)


def _check_reports(store: Store, truth_of_world: dict[str, Any]) -> None:
    """Every published report stored with its ground-truth fields, whatever form it was published in: attachments
    (PDF, DOCX, DOC, XLS) exactly; tables printed as pictures with their sections named and no value that is not
    the truth; an attachment served broken as a report with no values and the reason it could not be read."""
    stored = {(r.unit_id, r.year): r for r in store.latest_reports()}
    problems = []
    for unit, truth in published(truth_of_world):
        key = (unit["unit_id"], truth["year"])
        if key not in stored:
            problems.append(f"{key}: {truth['form']} report at {truth['urls']} not stored")
            continue
        report = store.load_report(stored[key].report_id)
        if "unreadable_attachment" in truth["defects"]:
            if unreadable_reason(report) is None or any(v is not None for v in report.values.values()):
                problems.append(f"{key}: broken {truth['form']} stored as {report.values} {report.warnings}")
            continue
        if truth["form"] == "image_only":
            if report.image_only_sections != truth["image_only_sections"]:
                problems.append(f"{key}: image-only sections {report.image_only_sections}")
            # The pictures are not read in a crawl: a value, if any, may only be the truth.
            wrong = {k: (report.value(k), v) for k, v in truth["fields"].items() if report.value(k) not in (None, v)}
        else:
            wrong = {k: (report.value(k), v) for k, v in truth["fields"].items() if report.value(k) != v}
        if wrong:
            problems.append(f"{key}: {truth['form']}: {len(wrong)} fields differ, e.g. {list(wrong.items())[:3]}")
        if not truth["missing_tables"] and truth["form"] != "image_only" and report.template != truth["template"]:
            problems.append(f"{key}: {truth['form']}: template {report.template} ≠ {truth['template']}")
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:30])


def test_no_look_alike_is_stored(night1: Night, space: Workspace) -> None:
    expected = {(unit["unit_id"], report["year"]) for unit, report in published(night1.truth)}
    with space.open_store() as store:
        for report in store.latest_reports():
            assert (report.unit_id, report.year) in expected, f"not a published report: {report}"
            assert report.year >= FIRST_YEAR and not is_lookalike(report.title or ""), report.title


def test_every_failing_portal_has_a_recorded_error(night1: Night, space: Workspace) -> None:
    with space.open_store() as store:
        errors = store.errors_for_run(night1.summary["run_id"])
        assert store.integrity_ok()
    failing_urls = {f["url"] for p in night1.truth["portals"] for f in p["faults"]
                    if f["kind"] == "not_found" or (f["kind"] == "moved_column" and f.get("status") == 404)}
    assert failing_urls
    recorded = {e.url for e in errors}
    assert failing_urls <= recorded, f"not recorded: {failing_urls - recorded}"
    dead = [e for e in errors if e.unit_id == "659999000000"]
    assert dead and {e.kind for e in dead} <= {"connection", "dns", "timeout"}, dead
    assert night1.summary["portals_unreachable"] == 1


def test_one_request_at_a_time_per_portal_and_robots_txt_obeyed(night1: Night, world: RunningWorld) -> None:
    stats = world.stats()  # night 1's: stats are reset before each night
    assert sum(s.disallowed_requests for s in stats.values()) == 0
    # A read-timeout or slow fault keeps the server's handler busy after the crawler timed out, closed the
    # connection and asked again (a slow page can pass the tests' 3 s timeout on a loaded machine).
    stalled = {p["host"] for p in night1.truth["portals"] for f in p["faults"] if f["kind"] in ("read_timeout", "slow")}
    assert {host: s.max_in_flight for host, s in stats.items() if host not in stalled and s.max_in_flight > 1} == {}


def test_second_night_of_an_unchanged_world_is_cheap_and_changes_nothing(night1: Night, night2: Night,
                                                                         space: Workspace) -> None:
    assert night2.summary["finish_reason"] == "finished"
    assert night2.requests <= 0.10 * night1.requests, (night2.requests, night1.requests)
    assert content_rows(space.db) == night2.rows_before
    assert night2.summary["reports_new"] == night2.summary["reports_changed"] == 0


def test_an_edited_report_gets_a_new_version_and_keeps_the_old(night3: Night, space: Workspace) -> None:
    with space.open_store() as store:
        _check_edits(store, night3)


def _check_edits(store: Store, night3: Night) -> None:
    today = night3.truth["today"]
    edited = [(u, r) for u, r in published(night3.truth) if r.get("edited_on") == today]
    appeared = [(u, r) for u, r in published(night3.truth) if r.get("published_on") == today]
    assert edited and appeared
    for unit, truth in edited:
        history = [v for v in store.report_history(unit["unit_id"]) if v.year == truth["year"]]
        current = next(v for v in history if v.is_current)
        assert current.run_id == night3.summary["run_id"] and len(history) >= 2
        now, before = store.load_report(current.report_id), store.load_report(current.report_id, current.version - 1)
        assert all(now.value(k) == v for k, v in truth["fields"].items())
        assert all(before.value(k) == v for k, v in truth["original_fields"].items())
        # Edited in place, on the page or in the file fetched alone: the publication date stays.
        assert (truth["form"], current.published_on) == (truth["form"], history[-2].published_on)
    for unit, truth in appeared:
        if truth["form"] not in ATTACHMENT_FORMS:
            assert any(v.year == truth["year"] for v in store.report_history(unit["unit_id"]))


# ----------------------------------------------------------------------------------------------- a killed crawl


def test_a_killed_crawl_run_again_loses_and_duplicates_nothing(fresh_running_world: RunningWorld,
                                                              tmp_path: Path) -> None:
    killed = workspace(tmp_path / "killed", fresh_running_world)
    process = killed.start(1)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.5)
            if killed.db.exists() and count_rows(killed.db, "reports") >= 40:
                break
        assert process.poll() is None, "the crawl ended before it could be killed"
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # the crawl and its extraction workers, as an OOM kill would
        process.wait()
    partial = count_rows(killed.db, "reports")
    assert partial >= 40
    again = killed.crawl(1)
    assert again["finish_reason"] == "finished"
    clean = workspace(tmp_path / "clean", fresh_running_world)
    clean.crawl(1)
    with killed.open_store() as store, clean.open_store() as reference:
        assert store.integrity_ok()
        assert stored_reports(store) == stored_reports(reference)
        runs = store.db.execute("SELECT status FROM crawl_runs ORDER BY run_id").fetchall()
        assert [r[0] for r in runs] == ["abandoned", "finished"]


def test_a_crawl_killed_alone_takes_its_extraction_workers_with_it(fresh_running_world: RunningWorld,
                                                                  tmp_path: Path) -> None:
    """The OOM killer kills the crawl's process, not its process group: its workers, forkserver and resource tracker
    must not live on, idle, one set per killed night."""
    space = workspace(tmp_path, fresh_running_world)
    process = space.start(1)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (space.db.exists() and count_rows(space.db, "reports") >= 5):
            time.sleep(0.2)
        helpers = psutil.Process(process.pid).children(recursive=True)
        assert process.poll() is None and len(helpers) >= 3, "the crawl ended before it could be killed"
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        _, alive = psutil.wait_procs(helpers, timeout=15)
        assert [p.cmdline()[-1][:80] for p in alive] == []
    finally:
        with contextlib.suppress(ProcessLookupError):  # a test that failed leaves nothing running either
            os.killpg(process.pid, signal.SIGKILL)


def test_scrapy_crawl_command(fresh_running_world: RunningWorld, tmp_path: Path) -> None:
    """`scrapy crawl portals -a units=FILE` runs the same spider with the project's settings."""
    space = workspace(tmp_path, fresh_running_world)
    settings = [f"-s{k}={v}" for k, v in {**FAST, "NIANBAO_DB": space.db, "NIANBAO_STORE_DIR": space.store,
                                          "NIANBAO_NIGHT": night(1)}.items()]
    done = subprocess.run([str(Path(sys.executable).with_name("scrapy")), "crawl", "portals", "-a", f"units={space.units}",
                           "-a", "limit=20", *settings], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    with space.open_store() as store:
        units = {r.unit_id for r in store.latest_reports()}
        assert units and units <= {u.unit_id for u in fresh_running_world.units[:20]}
        assert store.run(1)["status"] == "finished"


def test_a_list_page_that_failed_all_night_is_paged_past_the_next_night(tmp_path: Path) -> None:
    """~40 s. The second page of a 12-page 年报 column answers 500 to every try of a night, so the ten pages behind it
    are not read. The next night pages the column to the end instead of stopping at its first page, where nothing is
    new, and stores the reports listed behind the failed page."""
    world = build_world(1, 6)
    with serve_world(world) as running:
        portal = world.portals[0]
        url = f"http://{portal.host}:{running.port}/zwgk/zfxxgk/zfxxgknb/index_1.html"
        tries = 1 + RETRY_TIMES  # the world's own faults pass within the default retries
        running.add_fault(portal, Fault("server_error_burst", urlsplit(url).path, times=tries, status=500))
        space = workspace(tmp_path, running)
        everything = {(u["unit_id"], r["year"]) for u, r in published(running.truth)}

        first = space.crawl(1)
        with space.open_store() as store:
            assert ("http_500", url) in {(e.kind, e.url) for e in store.errors_for_run(first["run_id"])}
            unread = everything - {(r.unit_id, r.year) for r in store.latest_reports()}
        assert len(unread) > 10, "the failed page hid too few reports for the test to mean anything"

        second = space.crawl(2)
        with space.open_store() as store:
            _check_reports(store, running.truth)
        assert second["reports_new"] == len(unread)
