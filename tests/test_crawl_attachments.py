"""Attachments end to end: a small simulated world whose units publish reports as PDF, DOCX, DOC and XLS files (and
tables as pictures), one attachment served broken in each way a file can be (cut short, password-protected, over the
size limit, a zip bomb), crawled in a subprocess as the nightly job crawls.

Every readable attachment's report is stored with its exact fields; every broken one is a recorded error, a stored
report with no values, and an `unreadable_document` finding in the morning status report — never `not_published` —
while the rest of the crawl goes on.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from crawl_support import Workspace, attachment_url, published, workspace
from test_crawl import _check_reports

from nianbao.status import build_status, evaluate, render
from simulator import RunningWorld, build_world, serve_world
from simulator.world import ATTACHMENT_DAMAGES, ATTACHMENT_FORMS, Fault

PORTALS, SEED = 4, 5
FAST_RETRIES = 2
# What the recorded error says for each damage (the seed's broken files: a cut-off PDF, an encrypted PDF, a 51 MB
# PDF and a DOCX zip bomb).
SAYS = {"truncated": "damaged", "encrypted": "encrypted", "oversized": "exceeds", "zip_bomb": "zip bomb"}


@dataclass
class Crawled:
    running: RunningWorld
    space: Workspace
    summary: dict[str, Any]
    truth: dict[str, Any]
    damaged: dict[tuple[str, int], str]  # (unit, year) → damage

    @property
    def today(self) -> date:
        return date.fromisoformat(self.truth["today"])


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crawled]:
    """~50 s: a world of 4 portals crawled once."""
    world = build_world(PORTALS, SEED, unreadable_attachments=True)
    damaged = {(r.unit.unit_id, r.year): r.damage for u in world.units for r in u.reports.values() if r.damage}
    with serve_world(world) as running:
        space = workspace(tmp_path_factory.mktemp("attachments"), running)
        summary = space.crawl(1)
        yield Crawled(running, space, summary, running.truth, damaged)


def test_every_attachment_report_is_stored_with_its_exact_fields(crawled: Crawled) -> None:
    assert crawled.summary["finish_reason"] == "finished"
    readable = Counter(r["form"] for _, r in published(crawled.truth) if "unreadable_attachment" not in r["defects"])
    assert {form: readable[form] >= 8 for form in ATTACHMENT_FORMS} == dict.fromkeys(ATTACHMENT_FORMS, True), readable
    assert readable["image_only"] >= 5
    with crawled.space.open_store() as store:
        _check_reports(store, crawled.truth)
        latest = {(r.unit_id, r.year): r for r in store.latest_reports()}
    # Read from the files themselves: the article pages around them hold no table.
    attached = [(u["unit_id"], r["year"], r["form"]) for u, r in published(crawled.truth) if r["form"] in ATTACHMENT_FORMS]
    assert [key for *key, form in attached if not latest[tuple(key)].source_url.endswith(f".{form}")] == []
    # The files print no publication date; their article pages do, and lateness is judged by it.
    dates = {(u["unit_id"], r["year"]): {r["published_on"], r.get("reposted_on")} for u, r in published(crawled.truth)}
    assert {(unit, year): latest[unit, year].published_on for unit, year, _ in attached
            if latest[unit, year].published_on not in dates[unit, year]} == {}


def test_each_broken_attachment_is_a_recorded_error(crawled: Crawled) -> None:
    assert set(crawled.damaged.values()) == set(ATTACHMENT_DAMAGES)
    with crawled.space.open_store() as store:
        errors = [e for e in store.errors_for_run(crawled.summary["run_id"]) if e.kind == "unreadable"]
        counts = store.run(crawled.summary["run_id"])["stats"]
    reports = {(u["unit_id"], r["year"]): r for u, r in published(crawled.truth)}
    expected = {(unit, attachment_url(reports[(unit, year)])): SAYS[damage] for (unit, year), damage in crawled.damaged.items()}
    assert {(e.unit_id, e.url) for e in errors} == set(expected)
    for error in errors:
        assert expected[(error.unit_id, error.url)] in error.message and "\n" not in error.message, error
    assert counts["unreadable_documents"] == counts["reports_unreadable"] == len(ATTACHMENT_DAMAGES)
    assert counts.get("extraction_failures", 0) == 0


def test_a_unit_whose_report_is_unreadable_shows_as_found_but_unreadable(crawled: Crawled) -> None:
    with crawled.space.open_store() as store:
        findings = evaluate(store, as_of=crawled.today)
        years = sorted({y for _, y in crawled.damaged})
        status = json.loads(render(build_status(store, findings, as_of=crawled.today, years=years), "json"))
    unreadable = {(f.unit, f.year): f for f in findings if f.rule == "unreadable_document"}
    assert set(unreadable) == set(crawled.damaged)
    assert not {(f.unit, f.year) for f in findings if f.rule in ("not_published", "tables_missing")} & set(crawled.damaged)
    for key, damage in crawled.damaged.items():
        assert unreadable[key].severity == "warning" and SAYS[damage] in unreadable[key].message_en
    listed = [f for f in status["findings"] if f["rule"] == "unreadable_document"]
    assert len(listed) == len(ATTACHMENT_DAMAGES)
    assert {(f["section"], f["rule_title_zh"], f["rule_title_en"]) for f in listed} == {
        ("other", "年报文件无法读取", "report found but unreadable")}
    assert {f["source_url"] for f in listed} == {
        attachment_url(r) for u, r in published(crawled.truth) if (u["unit_id"], r["year"]) in crawled.damaged}


def test_a_file_that_fails_all_night_is_fetched_again_the_next_night(tmp_path: Path) -> None:
    """~30 s. A report's file answers 500 to every try of one night: the article linking it is not taken as done, so
    the next night fetches it again, then the file, and stores the report."""
    world = build_world(1, SEED)
    with serve_world(world) as running:
        unit, report = next((u, r) for u, r in published(running.truth) if r["form"] in ATTACHMENT_FORMS)
        url = attachment_url(report)
        tries = 1 + FAST_RETRIES
        running.add_fault(world.portals[0], Fault("server_error_burst", urlsplit(url).path, times=tries, status=500))
        space = workspace(tmp_path, running)
        key = (unit["unit_id"], report["year"])

        first = space.crawl(1, RETRY_TIMES=FAST_RETRIES)
        with space.open_store() as store:
            assert key not in {(r.unit_id, r.year) for r in store.latest_reports()}
            assert ("http_500", url) in {(e.kind, e.url) for e in store.errors_for_run(first["run_id"])}

        space.crawl(2, RETRY_TIMES=FAST_RETRIES)
        with space.open_store() as store:
            _check_reports(store, running.truth)
            assert store.url_state(url).status == 200  # type: ignore[union-attr]


def test_a_file_edited_in_place_keeps_the_date_of_its_page(tmp_path: Path) -> None:
    """~30 s. A report's PDF is replaced in place. On its revisit night the file is fetched alone, without the article
    page it took its date from (a PDF prints none): the new version keeps that date."""
    world = build_world(1, 2)  # a world with a PDF report that gets edited
    with serve_world(world) as running:
        report = next(r for p in world.portals for u in p.units for r in u.reports.values()
                      if r.form == "pdf" and r.edited_on and r.visible(world.today) and not (r.reposted_on or r.damage))
        edited_on, report.edited_on = report.edited_on, None  # as first published
        space = workspace(tmp_path, running)
        space.crawl(1)
        report.edited_on = edited_on
        running.advance(0)  # the portal serves the edited file from now on
        space.crawl(2, NIANBAO_REVISIT_NIGHTS=1)  # every stored report's revisit night
        with space.open_store() as store:
            history = [v for v in store.report_history(report.unit.unit_id) if v.year == report.year]
    published_on = report.published_on.isoformat()  # type: ignore[union-attr]
    assert [(v.version, v.source_url.endswith(".pdf"), v.published_on) for v in history] == [
        (1, True, published_on), (2, True, published_on)]
