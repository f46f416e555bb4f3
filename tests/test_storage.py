"""Storage: real rows in a real SQLite file and a real file store, under tmp_path."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from extract.model import FieldValue, Report
from extract.schema import template_keys
from registry.units import Unit
from storage import FileStore, StorageError, Store
from storage.schema import MIGRATIONS

REPO = Path(__file__).resolve().parent.parent
REAL = REPO / "tests" / "fixtures" / "real" / "shuyang_fgj_2023.expected.json"
URL = "http://www.shuyang.gov.cn/syfgj/zfxxgkndbg/content/2024-01-17.html"
FGJ = "321322000000-fgj"


def unit(unit_id: str = FGJ, name: str = "沭阳县发展和改革局", level: str = "county_department") -> Unit:
    return Unit(
        unit_id=unit_id,
        name=name,
        division_code="321322000000",
        level=level,
        province="江苏省",
        parent_county="沭阳县",
        portal_url="http://www.shuyang.gov.cn/",
        column_urls=("http://www.shuyang.gov.cn/syfgj/zfxxgkndbg/",),
        cms="trs",
        deadline="01-31",
        aliases=("沭阳县发改局",),
    )


def real_report() -> Report:
    """The real 沭阳县发改局 2023 report, with every kind of value the schema has."""
    expected = json.loads(REAL.read_text(encoding="utf-8"))
    fields = {
        key: FieldValue(value, raw="" if value is None else str(value), where=f"table 1 row {i} col 2")
        for i, (key, value) in enumerate(expected["fields"].items())
    }
    fields["active.fees.amount_wan"] = FieldValue(12.5, raw="12.50", where="table 0 row 9 col 1", note="万元")
    fields["active.licensing.decisions"] = FieldValue(3, raw="3", where="table 0 row 6 col 1")
    fields["requests.new_received.commercial"] = FieldValue(None, raw="——", where="table 1 row 2 col 2", note="dash")
    fields["requests.other.total"] = FieldValue(0, raw=None, inferred=True, note="sum of the three rows below")
    return Report(
        unit=expected["unit"],
        year=expected["year"],
        template=expected["template"],
        title="沭阳县发展和改革局2023年政府信息公开工作年度报告",
        source_url=URL,
        published_on=expected["published_on"],
        sections=["一", "二", "三", "四", "五", "六"],
        fields=fields,
        narrative={"一": "2023年，我局认真贯彻落实《中华人民共和国政府信息公开条例》……", "四": "无。", "五": "存在的主要问题……"},
        image_only_sections=[],
        missing_tables=[],
        warnings=["row 12: 自然人 column blank, read as null"],
        source="shuyang_fgj_2023.html",
    )


def dump(store: Store) -> dict[str, list[tuple]]:
    """Every row of every table, typed as SQLite holds it."""
    tables = [r[0] for r in store.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {t: sorted(map(tuple, store.db.execute(f'SELECT * FROM "{t}"')), key=repr) for t in tables}


def files_in(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture
def store(tmp_path: Path):
    with Store.open(tmp_path / "nianbao.db", tmp_path / "files") as opened:
        opened.upsert_units([unit()])
        yield opened


def test_report_round_trips_exactly_with_sqlite_types(store: Store) -> None:
    report = real_report()
    run = store.start_run("2024-02-01")
    sha = store.save_document(b"<html>report</html>", "text/html")

    result = store.save_report(FGJ, report, sha, URL, run_id=run)

    assert (result.version, result.outcome) == (1, "new")
    loaded = store.load_report(result.report_id)
    assert loaded == report
    assert list(loaded.fields) == list(report.fields)
    assert list(loaded.narrative) == ["一", "四", "五"]
    assert len(loaded.fields) == len(template_keys("2021")) == 207
    assert type(loaded.value("active.fees.amount_wan")) is float
    assert type(loaded.value("active.licensing.decisions")) is int
    typeof = dict(store.db.execute("SELECT key, typeof(value) FROM fields WHERE report_id = ?", [result.report_id]))
    assert typeof["active.fees.amount_wan"] == "real"
    assert typeof["requests.new_received.total"] == "integer"
    assert typeof["requests.new_received.commercial"] == "null"
    assert loaded.fields["requests.other.total"] == FieldValue(0, None, None, True, "sum of the three rows below")
    [latest] = store.latest_reports(2023)
    assert (latest.unit_id, latest.year, latest.version, latest.is_current) == (FGJ, 2023, 1, True)
    assert (latest.document_sha256, latest.unit_name, latest.run_id) == (sha, "沭阳县发展和改革局", run)
    assert store.latest_reports(2022) == []


def test_money_zero_stays_real_and_bad_values_are_refused(store: Store) -> None:
    sha = store.save_document(b"doc", "text/plain")
    report = real_report()
    report.fields["active.fees.amount_wan"] = FieldValue(0.0, raw="0.00")
    loaded = store.load_report(store.save_report(FGJ, report, sha, URL).report_id)
    assert type(loaded.value("active.fees.amount_wan")) is float

    for bad in (float("nan"), "12", True):
        broken = real_report()
        broken.fields["requests.granted.total"] = FieldValue(bad)
        broken.year = 2022
        with pytest.raises(ValueError, match=r"requests\.granted\.total"):
            store.save_report(FGJ, broken, sha, URL)
    nameless = real_report()
    nameless.year = None
    with pytest.raises(ValueError, match="year"):
        store.save_report(FGJ, nameless, sha, URL)
    assert [r.year for r in store.latest_reports()] == [2023]


def test_failed_save_leaves_nothing(store: Store) -> None:
    # The document was never saved: the version row violates its foreign key after the report row went in.
    with pytest.raises(sqlite3.IntegrityError):
        store.save_report(FGJ, real_report(), "0" * 64, URL)
    assert store.db.execute("SELECT count(*) FROM reports").fetchone()[0] == 0
    assert store.db.execute("SELECT count(*) FROM fields").fetchone()[0] == 0


def populate(store: Store, run: int) -> None:
    """One night's worth of every kind of write."""
    store.upsert_units([unit(), unit("321322100000", "沭城街道办事处", "township")])
    sha = store.save_document(b"<html>report 2023</html>", "text/html; charset=utf-8")
    store.record_fetch(URL, 200, {"ETag": '"abc"', "Last-Modified": "Wed, 17 Jan 2024 08:00:00 GMT"}, sha, run)
    store.save_report(FGJ, real_report(), sha, URL, run_id=run)
    store.record_error(run, "http", "HTTP 500", unit_id="321322100000", url="http://x.gov.cn/list")
    store.record_findings(run, [{"fingerprint": "f1", "rule": "balance", "severity": "error", "unit_id": FGJ,
                                 "year": 2023, "message_zh": "不平衡", "message_en": "does not balance",
                                 "cells": ["requests.new_received.total"], "source_url": URL}])


def test_saving_the_same_inputs_twice_changes_no_row(tmp_path: Path) -> None:
    with Store.open(tmp_path / "db.sqlite", tmp_path / "files") as store:
        run = store.start_run("2024-02-01")
        populate(store, run)
        before, files_before = dump(store), files_in(tmp_path / "files")
        populate(store, run)
        assert dump(store) == before
        assert files_in(tmp_path / "files") == files_before
        again = store.save_report(FGJ, real_report(), store.latest_reports()[0].document_sha256, URL)
        assert again.outcome == "unchanged"
    with Store.open(tmp_path / "db.sqlite", tmp_path / "files") as reopened:  # opening migrates nothing twice
        assert dump(reopened) == before
        assert reopened.schema_version() == len(MIGRATIONS)


def test_changed_report_makes_a_new_version_and_keeps_the_old(store: Store) -> None:
    first_doc = store.save_document(b"<html>v1</html>", "text/html")
    first = store.save_report(FGJ, real_report(), first_doc, URL)

    corrected = real_report()
    corrected.fields["requests.granted.total"] = FieldValue(25, raw="25", where="table 1 row 4 col 8")
    second_doc = store.save_document(b"<html>v2</html>", "text/html")
    second = store.save_report(FGJ, corrected, second_doc, URL)

    assert (second.report_id, second.version, second.outcome) == (first.report_id, 2, "changed")
    assert store.load_report(first.report_id) == corrected
    assert store.load_report(first.report_id, version=1) == real_report()
    assert store.db.execute("SELECT count(*) FROM fields").fetchone()[0] == 2 * 207
    assert [(v.version, v.is_current, v.document_sha256) for v in store.report_history(FGJ)] == [
        (1, False, first_doc),
        (2, True, second_doc),
    ]
    assert [v.version for v in store.latest_reports()] == [2]

    # The same report read from another document (a PDF beside the HTML page) with other raw text: no new row.
    as_pdf = copy.deepcopy(corrected)
    for fv in as_pdf.fields.values():
        fv.where = "page 2 table 1"
    as_pdf.narrative["一"] = as_pdf.narrative["一"].replace("，", "，\n")
    pdf_doc = store.save_document(b"%PDF-1.7 v2", "application/octet-stream")
    assert store.save_report(FGJ, as_pdf, pdf_doc, URL + ".pdf").outcome == "unchanged"
    # A document seen before matches the version made from it, even when it is not the current one (the old page
    # re-posted under another URL).
    assert store.save_report(FGJ, real_report(), first_doc, URL + "?repost") == first.__class__(first.report_id, 1,
                                                                                                "unchanged")
    assert store.db.execute("SELECT count(*) FROM report_versions").fetchone()[0] == 2
    with pytest.raises(KeyError):
        store.load_report(first.report_id, version=3)


def test_a_correction_taken_back_makes_the_first_content_current_again(store: Store) -> None:
    """A→B→A at one URL: the third reading is a new version, current, with the first one's content."""
    first_doc, second_doc = store.save_document(b"<html>v1</html>", "text/html"), store.save_document(b"<html>v2</html>")
    first = store.save_report(FGJ, real_report(), first_doc, URL)
    corrected = real_report()
    corrected.fields["requests.granted.total"] = FieldValue(25, raw="25", where="table 1 row 4 col 8")
    assert store.save_report(FGJ, corrected, second_doc, URL).outcome == "changed"

    back = store.save_report(FGJ, real_report(), first_doc, URL)
    assert (back.report_id, back.version, back.outcome) == (first.report_id, 3, "changed")
    assert store.load_report(first.report_id) == real_report()
    assert [(v.version, v.is_current, v.document_sha256) for v in store.report_history(FGJ)] == [
        (1, False, first_doc), (2, False, second_doc), (3, True, first_doc)]
    assert store.save_report(FGJ, real_report(), first_doc, URL).outcome == "unchanged"  # read again: nothing new


def test_one_file_under_two_pages_keeps_both_publication_dates(store: Store) -> None:
    """A PDF prints no date and takes its article page's: linked from the first article and from a later re-post, it is
    one version per date, whichever page is read first; read alone (a revisit, no page) it matches what is stored."""
    pdf = store.save_document(b"%PDF-1.7 report", "application/pdf")
    on_time, reposted = dataclasses.replace(real_report(), published_on="2024-01-20"), dataclasses.replace(
        real_report(), published_on="2024-03-02")
    assert store.save_report(FGJ, reposted, pdf, URL + ".pdf").outcome == "new"
    assert store.save_report(FGJ, on_time, pdf, URL + ".pdf").outcome == "changed"
    assert store.save_report(FGJ, on_time, pdf, URL + ".pdf").outcome == "unchanged"
    assert store.save_report(FGJ, dataclasses.replace(real_report(), published_on=None), pdf, URL + ".pdf").outcome == "unchanged"
    assert sorted(v.published_on for v in store.report_history(FGJ)) == ["2024-01-20", "2024-03-02"]


def test_file_store_is_content_addressed(store: Store, tmp_path: Path) -> None:
    root = tmp_path / "files"
    data = b"%PDF-1.4 " + bytes(range(256)) * 100
    sha = store.save_document(data, "application/octet-stream")
    first_seen = store.db.execute("SELECT first_seen_at FROM documents").fetchone()

    assert sha == hashlib.sha256(data).hexdigest()
    assert files_in(root) == [f"{sha[:2]}/{sha[2:4]}/{sha}"]
    assert store.save_document(data, "application/pdf") == sha
    assert files_in(root) == [f"{sha[:2]}/{sha[2:4]}/{sha}"]  # stored once, no temp file left
    assert store.db.execute("SELECT sha256, size, content_type, kind FROM documents").fetchall() == [
        (sha, len(data), "application/octet-stream", "pdf")
    ]
    assert store.db.execute("SELECT first_seen_at FROM documents").fetchone() == first_seen
    with store.open_document(sha) as f:
        assert f.read() == data
    with pytest.raises(KeyError):
        store.open_document("f" * 64)
    for bad in ("../../etc/passwd", "F" * 64, sha[:-1], sha + "0"):
        with pytest.raises(ValueError):
            store.files.path(bad)


def test_file_store_repairs_damage_and_sweeps_stale_temp_files(tmp_path: Path) -> None:
    files = FileStore(tmp_path / "files")
    sha = files.put(b"report bytes")
    files.path(sha).write_bytes(b"repo")  # damaged outside the store: shorter than its bytes
    assert files.put(b"report bytes") == sha
    assert files.path(sha).read_bytes() == b"report bytes"

    stale = files.path(sha).parent / ".deadbeef-stale.tmp"
    young = files.path(sha).parent / ".deadbeef-young.tmp"
    stale.write_bytes(b"half")
    young.write_bytes(b"half")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    assert files.sweep_temp_files(min_age_seconds=3600) == 1
    assert not stale.exists() and young.exists()


def test_document_kinds_come_from_the_bytes(store: Store) -> None:
    kinds = {
        b"%PDF-1.7 ...": ("application/octet-stream", "pdf"),
        b"\xef\xbb\xbf<!DOCTYPE html><html></html>": (None, "html"),
        b"PK\x03\x04....word/document.xml": ("application/zip", "docx"),
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + "WordDocument".encode("utf-16-le"): (None, "doc"),
        "一、总体情况".encode(): ("text/plain; charset=utf-8", "text"),
    }
    for data, (content_type, kind) in kinds.items():
        sha = store.save_document(data, content_type)
        assert store.db.execute("SELECT kind FROM documents WHERE sha256 = ?", [sha]).fetchone() == (kind,)


def test_url_state_changes_only_when_validators_change(store: Store) -> None:
    run1, run2 = store.start_run("2024-02-01"), store.start_run("2024-02-02")
    sha = store.save_document(b"<html>report</html>", "text/html")
    assert store.conditional_headers(URL) == {}

    assert store.record_fetch(URL, 200, {"ETag": '"v1"', "Last-Modified": "Wed, 17 Jan 2024 08:00:00 GMT"}, sha, run1)
    assert store.conditional_headers(URL) == {
        "If-None-Match": '"v1"',
        "If-Modified-Since": "Wed, 17 Jan 2024 08:00:00 GMT",
    }
    before = dump(store)["url_state"]
    # Scrapy-style headers (bytes, lists) with the same validators: an identical night changes no row.
    scrapy_headers = {b"Etag": [b'"v1"'], b"Last-Modified": [b"Wed, 17 Jan 2024 08:00:00 GMT"]}
    assert not store.record_fetch(URL, 200, scrapy_headers, sha, run2)
    assert not store.record_fetch(URL, 304, {}, None, run2)
    assert not store.record_fetch(URL, 304, {}, sha, run2)  # answered with the kept copy: the same state
    assert dump(store)["url_state"] == before

    assert store.record_fetch(URL, 503, {"ETag": '"error-page"'}, None, run2)
    state = store.url_state(URL)
    assert (state.status, state.etag, state.sha256, state.changed_run) == (503, '"v1"', sha, run2)
    assert store.conditional_headers(URL)["If-None-Match"] == '"v1"'  # still describes the kept bytes

    assert store.record_fetch(URL + "?list", 200, {}, None, run2)  # a page whose bytes are not kept
    # A 304 answered with a copy this database has no state for (a distributed worker's store): the copy is current.
    assert store.record_fetch(URL + "?copy", 304, {"ETag": '"c1"'}, sha, run2)
    assert store.conditional_headers(URL + "?copy") == {"If-None-Match": '"c1"'}
    assert store.conditional_headers(URL + "?list") == {}
    assert store.url_state("http://never.fetched/") is None


def test_findings_go_new_open_resolved_over_three_nights(store: Store) -> None:
    def finding(fp: str, message: str = "不平衡") -> dict:
        return {"fingerprint": fp, "rule": "requests_balance", "severity": "error", "unit_id": FGJ, "year": 2023,
                "message_zh": message, "message_en": "does not balance", "cells": {"total": 26}, "source_url": URL}

    def statuses() -> dict[str, tuple]:
        return {f["fingerprint"]: (f["status"], f["first_seen_run"], f["last_seen_run"], f["resolved_run"])
                for f in store.findings()}

    night1, night2, night3 = (store.start_run(f"2024-02-0{d}") for d in (1, 2, 3))
    summary = store.record_findings(night1, [finding("A"), finding("B")])
    assert (summary.new, summary.open, summary.resolved) == (2, 0, 0)
    assert statuses() == {"A": ("new", night1, night1, None), "B": ("new", night1, night1, None)}

    summary = store.record_findings(night2, [finding("A", "更新的说明"), finding("C")])
    assert (summary.new, summary.open, summary.resolved) == (1, 1, 1)
    assert statuses() == {
        "A": ("open", night1, night2, None),
        "B": ("resolved", night1, night1, night2),
        "C": ("new", night2, night2, None),
    }
    assert store.findings("open")[0]["message_zh"] == "更新的说明"
    assert store.findings("new")[0]["cells"] == {"total": 26}

    summary = store.record_findings(night3, [finding("B"), finding("C")])
    assert (summary.new, summary.open, summary.resolved) == (1, 1, 1)
    assert statuses() == {
        "A": ("resolved", night1, night2, night3),
        "B": ("new", night3, night3, None),  # came back: a new episode
        "C": ("open", night2, night3, None),
    }
    before = dump(store)["findings"]
    store.record_findings(night3, [finding("B"), finding("C")])
    assert dump(store)["findings"] == before

    with pytest.raises(ValueError):
        store.record_findings(night3, [{"fingerprint": "X", "rule": "r", "severity": "warn", "mesage_zh": "typo"}])


def test_fetch_errors_and_consecutive_failed_nights(store: Store) -> None:
    town = "321322100000"
    store.upsert_units([unit(town, "沭城街道办事处", "township")])
    nights = {}
    for day, status, failing in [
        ("2024-03-01", "finished", [FGJ, town]),
        ("2024-03-02", "finished", [FGJ]),
        ("2024-03-03", "failed", []),  # died before reaching anyone: says nothing
        ("2024-03-04", "finished", [FGJ]),
    ]:
        run = nights[day] = store.start_run(day)
        for unit_id in failing:
            store.record_error(run, "http", "HTTP 502 Bad Gateway", unit_id=unit_id, url="http://x.gov.cn/col/")
            store.record_error(run, "http", "HTTP 502 Bad Gateway", unit_id=unit_id, url="http://x.gov.cn/col/")
        store.finish_run(run, status, {"requests": 10, "portals_failed": len(failing)})

    errors = store.errors_for_run(nights["2024-03-01"])
    assert [(e.night, e.unit_id, e.kind, e.url) for e in errors] == [
        ("2024-03-01", FGJ, "http", "http://x.gov.cn/col/"),
        ("2024-03-01", town, "http", "http://x.gov.cn/col/"),
    ]
    assert store.consecutive_failed_nights(FGJ) == 3
    assert store.consecutive_failed_nights(town) == 0
    assert store.consecutive_failed_nights("321322200000") == 0
    assert store.run(nights["2024-03-04"])["stats"] == {"requests": 10, "portals_failed": 1}

    tonight = store.start_run("2024-03-05")
    assert store.consecutive_failed_nights(FGJ) == 3  # a running night does not count yet
    store.finish_run(tonight)
    assert store.consecutive_failed_nights(FGJ) == 0
    with pytest.raises(KeyError):
        store.record_error(999, "http", "no such run")


def test_units_runs_cycles_and_schema_version(store: Store, tmp_path: Path) -> None:
    town = unit("321322100000", "沭城街道办事处", "township")
    store.upsert_units([unit(), town])
    assert store.units() == [unit(), town]
    sha = store.save_document(b"doc", "text/html")
    store.save_report(FGJ, real_report(), sha, URL)
    assert store.units_without_report(2023) == [town]
    assert store.units_without_report(2022) == [unit(), town]

    stuck = store.start_run("2024-02-01")
    assert store.abandon_running_runs() == [stuck]
    assert store.run(stuck)["status"] == "abandoned"
    with pytest.raises(ValueError):
        store.finish_run(stuck, "running")
    cycle = store.start_cycle()
    store.finish_cycle(cycle, "succeeded", "crawl exited 0", run_id=stuck)
    assert store.db.execute("SELECT outcome, run_id FROM scheduler_runs").fetchall() == [("succeeded", stuck)]
    assert store.integrity_ok()
    assert store.db.execute("PRAGMA journal_mode").fetchone() == ("wal",)

    store.db.execute("INSERT INTO schema_version (version, applied_at) VALUES (99, 'future')")
    with pytest.raises(StorageError, match="newer"):
        Store.open(tmp_path / "nianbao.db", tmp_path / "files")


# A writer that saves documents and reports until it is killed; each report's 207 values all equal its step.
_WRITER = """
import os, sys
from extract.model import FieldValue, Report
from extract.schema import template_keys
from registry.units import Unit
from storage import Store

db, files, start = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = Store.open(db, files)
units = [Unit(unit_id=f"3213221{i:05d}", name=f"镇{i}", division_code=f"3213221{i:05d}", level="township",
              province="江苏省", parent_county="沭阳县", portal_url="http://x.gov.cn/") for i in range(10)]
store.upsert_units(units)
for step in range(start, start + 100_000):
    sha = store.save_document(os.urandom(100_000), "application/pdf")
    fields = {k: FieldValue(step, raw=str(step), where=f"row {i}") for i, k in enumerate(template_keys("2021"))}
    report = Report(unit=f"镇{step % 10}", year=2020 + step % 3, template="2021", title=str(step), fields=fields)
    store.save_report(units[step % 10].unit_id, report, sha, f"http://x.gov.cn/{step}")
    print(step, flush=True)
"""


def test_killed_writer_leaves_whole_reports_and_files(tmp_path: Path) -> None:
    db, root = tmp_path / "nianbao.db", tmp_path / "files"
    rng = random.Random(4)
    acknowledged = 0
    rounds = range(0, 6000, 1000)
    for start in rounds:
        writer = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(db), str(root), str(start)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        lines = [writer.stdout.readline() for _ in range(rng.randint(5, 25))]
        time.sleep(rng.random() / 50)  # land anywhere in a save
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
        lines += writer.stdout.read().splitlines()  # what it printed while we waited: committed too
        writer.stdout.close()
        acknowledged += len(lines)

    with Store.open(db, root) as store:
        assert store.integrity_ok()
        versions = store.db.execute(
            "SELECT report_id, count(*), max(version) FROM report_versions GROUP BY report_id"
        ).fetchall()
        # Every acknowledged save is there; at most the one in flight per writer was committed unacknowledged.
        assert acknowledged <= sum(count for _, count, _ in versions) <= acknowledged + len(rounds)
        for report_id, count, latest in versions:
            assert count == latest  # versions 1..n, none missing
            current = store.db.execute("SELECT current_version FROM reports WHERE report_id = ?", [report_id])
            assert current.fetchone() == (latest,)
            for version in range(1, latest + 1):
                report = store.load_report(report_id, version)
                assert len(report.fields) == 207
                assert {fv.value for fv in report.fields.values()} == {int(report.title)}
        assert store.db.execute(
            "SELECT count(*) FROM reports r WHERE NOT EXISTS (SELECT 1 FROM report_versions v"
            " WHERE v.report_id = r.report_id)"
        ).fetchone() == (0,)
        for (sha,) in store.db.execute("SELECT document_sha256 FROM report_versions"):
            assert sha in store.files
    for path in root.rglob("*"):
        if path.is_file() and not path.name.endswith(".tmp"):
            assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name  # no half-written file has a hash name


def test_writer_killed_before_its_file_is_on_disk_leaves_no_hash_name(tmp_path: Path) -> None:
    # The writer dies at the fsync, after its bytes went to the page cache: the state a power cut would expose.
    writer = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from storage import FileStore\n"
        "os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)\n"
        "FileStore(Path(sys.argv[1])).put(b'report bytes' * 1000)\n"
    )
    completed = subprocess.run([sys.executable, "-c", writer, str(tmp_path / "files")], cwd=REPO, check=False)
    assert completed.returncode == -signal.SIGKILL

    files = FileStore(tmp_path / "files")
    sha = hashlib.sha256(b"report bytes" * 1000).hexdigest()
    assert not files.path(sha).exists()
    [leftover] = files_in(tmp_path / "files")
    assert leftover.startswith(f"{sha[:2]}/{sha[2:4]}/.") and leftover.endswith(".tmp")
    assert files.put(b"report bytes" * 1000) == sha
    assert files.sweep_temp_files(min_age_seconds=0) == 1
    assert files_in(tmp_path / "files") == [f"{sha[:2]}/{sha[2:4]}/{sha}"]


def test_crawl_state_is_what_the_last_finished_run_left(store: Store) -> None:
    columns = {"127.0.1.1:8080": {"http://127.0.1.1:8080/zfxxgknb/": None, "http://127.0.1.1:8080/x100/nb/": "321322100000"}}
    assert store.crawl_state("columns") is None
    first = store.start_run("2024-02-01")
    store.finish_run(first, "finished", {"requests": 10}, {"columns": columns})
    assert store.crawl_state("columns") == columns
    kept = store.db.execute("SELECT * FROM crawl_state").fetchall()
    second = store.start_run("2024-02-02")
    store.finish_run(second, "finished", {}, {"columns": json.loads(json.dumps(columns))})
    assert store.db.execute("SELECT * FROM crawl_state").fetchall() == kept  # the same state changes no row
    with pytest.raises(KeyError):
        store.finish_run(999, "finished", {}, {"columns": {}})
    assert store.crawl_state("columns") == columns  # a finish that failed wrote no state
    assert store.run(second)["status"] == "finished"


def test_a_document_already_in_the_file_store_is_not_written_again(store: Store) -> None:
    data = b"%PDF-1.7 report"
    sha = store.files.put(data)
    written = store.files.path(sha).stat().st_mtime_ns
    assert store.save_document(data, "application/octet-stream", sha256=sha) == sha
    assert store.files.path(sha).stat().st_mtime_ns == written
    assert store.db.execute("SELECT size, kind FROM documents WHERE sha256 = ?", [sha]).fetchone() == (len(data), "pdf")
