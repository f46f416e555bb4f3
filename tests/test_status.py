"""The status report: findings over a real database, tracked across nights, in every format, in a real browser,
and on a simulated world whose defects are known."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import struct
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import lxml.html
import pytest
from rich.console import Console

from checks import Finding
from extract import extract_document
from extract.model import Report
from nianbao.status import build_status, evaluate, new_findings, print_table, record, status_command
from registry.units import COUNTY_DEPARTMENT, COUNTY_GOVERNMENT, TOWNSHIP, Unit
from simulator import World, build_world
from simulator.cms import cms_for
from simulator.documents import report_document
from simulator.render import render_text
from simulator.truth import registry_units
from simulator.world import BROKEN_RULE, AnnualReport
from storage import FindingsSummary, Store

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "tests" / "fixtures" / "seeds"

CLEAN = "360732101000"  # 鹿乡镇: seed 002, on time
LATE = "360732000000-zfb"  # 兴国县政府办: seed 003, published after Jan 31
BROKEN = "360732102000"  # a copy of seed 002 whose section 三 does not balance (H1)
MISSING = "360732103000"  # no report at all
DOWN = "360732000000"  # the county government: no report, its portal failed three nights in a row
CARRY = "360732104000"  # seeds 004 (2021) and 001 (2022): 2022's carry-over is not 2021's carry-forward (X1)
AS_OF = date(2021, 6, 1)
TITLE = "年报监测状态报告 nianbao status 2021-06-01"


def unit(unit_id: str, name: str, level: str) -> Unit:
    host = f"u{unit_id.replace('-', '')}.xingguo.example.gov.cn"
    return Unit(unit_id=unit_id, name=name, division_code=unit_id[:12], level=level, province="江西省",
                parent_county="兴国县", portal_url=f"http://{host}/", column_urls=(f"http://{host}/ndbg/",))


UNITS = {
    CLEAN: unit(CLEAN, "鹿乡镇人民政府", TOWNSHIP),
    LATE: unit(LATE, "兴国县人民政府办公室", COUNTY_DEPARTMENT),
    BROKEN: unit(BROKEN, "石门乡人民政府", TOWNSHIP),
    MISSING: unit(MISSING, "长岗乡人民政府", TOWNSHIP),
    DOWN: unit(DOWN, "兴国县人民政府", COUNTY_GOVERNMENT),
    CARRY: unit(CARRY, "金殿镇人民政府", TOWNSHIP),
}


def seed(number: str, published_on: str | None = None, add: dict[str, int] | None = None) -> Report:
    """Seed `number` as extracted, published on `published_on`, with `add[key]` added to some cells."""
    (report,) = extract_document((SEEDS / f"{number}.txt").read_bytes(), filename=f"{number}.txt")
    fields = dict(report.fields)
    for key, delta in (add or {}).items():
        value = fields[key].value
        assert isinstance(value, int)
        fields[key] = replace(fields[key], value=value + delta, raw=str(value + delta))
    return replace(report, published_on=published_on, fields=fields)


def report_url(unit_id: str, year: int) -> str:
    return f"{UNITS[unit_id].column_urls[0]}{year}.html"


def save(store: Store, unit_id: str, report: Report, run_id: int, url: str | None = None) -> None:
    """Store a report as the crawler would: the document's bytes (here its JSON), then the extracted report."""
    data = json.dumps(report.to_json(), ensure_ascii=False, sort_keys=True).encode()
    sha = store.save_document(data, "application/json")
    assert report.year is not None
    store.save_report(unit_id, report, sha, url or report_url(unit_id, report.year), run_id=run_id)


def broken_report(published_on: str = "2021-01-25") -> Report:
    """Seed 002 with one more application in 一、本年新收 than 三 and 四 account for: H1 fails in two columns."""
    return seed("002", published_on, {"requests.new_received.natural_person": 1, "requests.new_received.total": 1})


def fill(store: Store, failed_nights: int = 3) -> None:
    store.upsert_units(UNITS.values())
    run = store.start_run("2021-02-20")
    save(store, CLEAN, seed("002", published_on="2021-01-20"), run)
    save(store, LATE, seed("003", published_on="2021-02-15"), run)
    save(store, BROKEN, broken_report(), run)
    save(store, CARRY, seed("004", published_on="2022-01-20"), run)
    # Seed 004 carries nothing forward and seed 001 nothing over; two more carried over (and so also two more
    # carried forward, to keep H1) break X1 alone.
    assert all(seed("004").value(f"requests.carried_forward.{c}") == seed("001").value(f"requests.carried_over.{c}") == 0
               for c in ("natural_person", "total"))
    carried = {f"requests.{row}.{col}": 2 for row in ("carried_over", "carried_forward") for col in ("natural_person", "total")}
    save(store, CARRY, seed("001", "2023-01-18", carried), run)
    store.finish_run(run)
    for night in range(failed_nights):
        run = store.start_run(f"2021-05-{29 + night:02d}")
        store.record_error(run, "connection", "connection refused", unit_id=DOWN, url=UNITS[DOWN].portal_url)
        store.finish_run(run)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "nianbao.db", tmp_path / "files") as store:
        fill(store)
        yield store


def status(tmp_path: Path, fmt: str, out: Path, year: int = 2020) -> int:
    """`nianbao status` on the `db` fixture's database."""
    return status_command(tmp_path / "nianbao.db", tmp_path / "files", year, fmt, out, AS_OF)


def status_json(tmp_path: Path) -> dict:
    out = tmp_path / "status.json"
    status(tmp_path, "json", out)
    return json.loads(out.read_text(encoding="utf-8"))


def keys(findings: list[Finding]) -> list[tuple[str, str, int | None, str]]:
    return sorted((f.rule, f.unit, f.year, f.location) for f in findings)


# ---------------------------------------------------------------------------------------------- evaluation


def test_findings_are_exactly_the_planted_problems(db: Store) -> None:
    findings = evaluate(db, as_of=AS_OF, years=[2020])
    assert keys(findings) == sorted([
        ("H1", BROKEN, 2020, "column:natural_person"),
        ("H1", BROKEN, 2020, "column:total"),
        ("late", LATE, 2020, ""),
        ("not_published", CARRY, 2020, ""),
        ("not_published", DOWN, 2020, ""),
        ("not_published", MISSING, 2020, ""),
        ("unreachable", DOWN, None, ""),
    ])
    assert not [f for f in findings if f.unit == CLEAN]  # the clean report
    late = next(f for f in findings if f.rule == "late")
    assert dict(late.cells) == {"published_on": "2021-02-15", "deadline": "2021-01-31"}
    assert late.source_url == report_url(LATE, 2020)
    missing = next(f for f in findings if f.rule == "not_published" and f.unit == DOWN)
    assert dict(missing.cells) == {"deadline": "2021-03-31", "as_of": "2021-06-01"}  # a county government's deadline
    assert missing.source_url == UNITS[DOWN].column_urls[0]  # where the report should be
    unreachable = next(f for f in findings if f.rule == "unreachable")
    assert dict(unreachable.cells)["consecutive_failures"] == 3
    assert unreachable.source_url == UNITS[DOWN].portal_url


@pytest.mark.parametrize("dates", [("2021-01-20", "2021-03-05"), ("2021-03-05", "2021-01-20")])
def test_lateness_goes_by_the_first_date_any_version_shows(tmp_path: Path, dates: tuple[str, str]) -> None:
    """A report on time and a re-post of it after the deadline, read in either order: on time either way."""
    with Store.open(tmp_path / "nianbao.db", tmp_path / "files") as store:
        store.upsert_units([UNITS[CLEAN]])
        run = store.start_run("2021-03-10")
        for number, published_on in enumerate(dates):
            save(store, CLEAN, seed("002", published_on), run, url=f"{report_url(CLEAN, 2020)}?copy={number}")
        assert len(store.report_history(CLEAN)) == 2
        assert [f.rule for f in evaluate(store, as_of=AS_OF, years=[2020]) if f.rule in ("late", "not_published")] == []
        save(store, CLEAN, seed("002", "2021-02-02", {"requests.new_received.natural_person": 0}), run)  # a third, late
        assert [f.rule for f in evaluate(store, as_of=AS_OF, years=[2020]) if f.rule == "late"] == []


def test_a_deadline_not_yet_passed_is_not_a_finding(db: Store) -> None:
    # On Mar 31 the townships are overdue; the county government's own report is due that very day.
    found = keys(evaluate(db, as_of=date(2021, 3, 31), years=[2020]))
    assert [k for k in found if k[0] == "not_published"] == sorted([
        ("not_published", CARRY, 2020, ""),
        ("not_published", MISSING, 2020, ""),
    ])


def test_carry_over_across_two_years_is_x1(db: Store) -> None:
    findings = evaluate(db, as_of=date(2023, 6, 1), years=[2022])
    assert [k for k in keys(findings) if k[1] == CARRY] == [
        ("X1", CARRY, 2022, "column:natural_person"),
        ("X1", CARRY, 2022, "column:total"),
    ]
    assert sorted(k[1] for k in keys(findings) if k[0] == "not_published") == sorted([CLEAN, LATE, BROKEN, MISSING, DOWN])
    x1 = next(f for f in findings if f.rule == "X1" and f.location == "column:total")
    assert "2022年“二、上年结转”与2021年“四、结转下年度继续办理”" in x1.message_zh


def test_default_years_run_from_2019_to_the_last_due_year(db: Store) -> None:
    years = {f.year for f in evaluate(db, as_of=date(2023, 2, 1)) if f.rule == "not_published"}
    assert years == {2019, 2020, 2021, 2022}  # 2022's township reports were due on Jan 31 2023


@pytest.mark.parametrize(("nights", "unreachable"), [(2, False), (3, True), (5, True)])
def test_unreachable_after_n_failed_nights(tmp_path: Path, nights: int, unreachable: bool) -> None:
    with Store.open(tmp_path / "n.db", tmp_path / "files") as store:
        fill(store, failed_nights=nights)
        found = [f for f in evaluate(store, as_of=AS_OF, years=[2020]) if f.rule == "unreachable"]
        assert [(f.unit, dict(f.cells)["consecutive_failures"]) for f in found] == ([(DOWN, nights)] if unreachable else [])


def test_one_good_night_resets_unreachable(db: Store) -> None:
    run = db.start_run("2021-06-01")
    db.finish_run(run)  # the portal answered: no error for DOWN this night
    assert not [f for f in evaluate(db, as_of=AS_OF, years=[2020]) if f.rule == "unreachable"]


# ---------------------------------------------------------------------------------------------- tracking


def test_new_then_open_then_resolved(db: Store, tmp_path: Path) -> None:
    def night(day: str, *, down: bool, corrected: bool = False) -> tuple[int, list[Finding]]:
        run = db.start_run(day)
        if down:
            db.record_error(run, "connection", "connection refused", unit_id=DOWN, url=UNITS[DOWN].portal_url)
        if corrected:  # the unit fixed its numbers and kept the publication date
            save(db, BROKEN, seed("002", published_on="2021-01-25"), run)
        db.finish_run(run)
        return run, evaluate(db, as_of=AS_OF, years=[2020])

    def shown() -> tuple[set[str], tuple[int, int, int]]:
        report = status_json(tmp_path)
        summary = report["summary"]
        return {f["status"] for f in report["findings"]}, (summary["new"], summary["open"], summary["resolved"])

    run1, first = night("2021-06-01", down=True)
    assert record(db, run1, first) == FindingsSummary(7, 0, 0)
    assert keys(new_findings(db, run1, first)) == keys(first)
    assert shown() == ({"new"}, (7, 0, 0))

    run2, second = night("2021-06-02", down=False)
    assert record(db, run2, second) == FindingsSummary(0, 6, 1)  # the portal answered: unreachable is resolved
    assert new_findings(db, run2, second) == []
    assert shown() == ({"open"}, (0, 6, 1))

    run3, third = night("2021-06-03", down=False, corrected=True)
    assert record(db, run3, third) == FindingsSummary(1, 4, 2)
    assert [f.rule for f in new_findings(db, run3, third)] == ["changed_after_publication"]
    assert sorted(r["rule"] for r in db.findings("resolved") if r["resolved_run"] == run3) == ["H1", "H1"]
    assert shown() == ({"new", "open"}, (1, 4, 2))


# ---------------------------------------------------------------------------------------------- formats


def test_json_summary_counts(db: Store, tmp_path: Path) -> None:
    report = status_json(tmp_path)
    assert report["summary"] == {
        "as_of": "2021-06-01", "years": [2020], "units": 6, "unit_years": 6, "reports": 3, "on_time": 2, "late": 1,
        "not_published": 3, "not_due": 0, "inconsistent": 1, "unreachable": 1, "errors": 5, "warnings": 2,
        "new": 7, "open": 0, "resolved": 0,
    }
    sections = [(f["section"], f["rule"], f["unit"]) for f in report["findings"]]
    assert sections == [
        ("not_published", "not_published", DOWN), ("not_published", "not_published", MISSING),
        ("not_published", "not_published", CARRY), ("late", "late", LATE), ("inconsistent", "H1", BROKEN),
        ("inconsistent", "H1", BROKEN), ("unreachable", "unreachable", DOWN),
    ]  # in section order, then by unit id: the county government, its departments, its townships
    h1 = next(f for f in report["findings"] if f["rule"] == "H1")
    assert h1["rule_title_zh"] == "勾稽关系不符（一+二=（七）+四）" and h1["unit_name"] == "石门乡人民政府" and h1["year"] == 2020


def test_csv_one_row_per_finding(db: Store, tmp_path: Path) -> None:
    db.upsert_units([replace(UNITS[MISSING], name='=HYPERLINK("http://evil.example/","长岗乡")')])
    out = tmp_path / "status.csv"
    assert status(tmp_path, "csv", out) == 1
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert len(rows) == 7
    h1 = [r for r in rows if r["rule"] == "H1"]
    assert [r["section"] for r in h1] == ["inconsistent", "inconsistent"]
    assert h1[0]["source_url"] == report_url(BROKEN, 2020)
    assert "requests.new_received.natural_person=" in h1[0]["cells"]
    assert all(len(r["fingerprint"]) == 16 for r in rows)
    missing = next(r for r in rows if r["unit_id"] == MISSING)
    assert missing["unit_name"].startswith("'=HYPERLINK")  # a spreadsheet shows it, does not run it


def test_exit_code_follows_error_findings(tmp_path: Path) -> None:
    with Store.open(tmp_path / "ok.db", tmp_path / "files") as store:
        store.upsert_units([UNITS[CLEAN], UNITS[LATE]])
        run = store.start_run("2021-02-20")
        save(store, CLEAN, seed("002", published_on="2021-01-20"), run)
        save(store, LATE, seed("003", published_on="2021-02-15"), run)
        store.finish_run(run)
    out = tmp_path / "ok.json"
    assert status_command(tmp_path / "ok.db", tmp_path / "files", 2020, "json", out, AS_OF) == 0  # a late report warns
    assert [f["rule"] for f in json.loads(out.read_text())["findings"]] == ["late"]
    with Store.open(tmp_path / "ok.db", tmp_path / "files") as store:
        store.upsert_units([UNITS[BROKEN]])
        save(store, BROKEN, broken_report(), run)
    assert status_command(tmp_path / "ok.db", tmp_path / "files", 2020, "json", out, AS_OF) == 1
    assert status_command(tmp_path / "none.db", tmp_path / "files", 2020, "json", out, AS_OF) == 2
    assert status_command(tmp_path / "ok.db", tmp_path / "files", 2020, "xml", out, AS_OF) == 2


def test_terminal_table_shows_report_text_as_text(db: Store) -> None:
    db.upsert_units([replace(UNITS[MISSING], name="长岗乡[bold red]人民政府[/]")])
    findings = evaluate(db, as_of=AS_OF, years=[2020])
    console = Console(file=io.StringIO(), width=200, color_system=None)
    print_table(console, build_status(db, findings, as_of=AS_OF, years=[2020]))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "长岗乡[bold red]人民政府[/]" in text  # rich markup in a unit name is printed, not interpreted
    for label in ("未发布年报 not published", "逾期发布 published late", "数据不一致 inconsistent numbers",
                  "门户网站无法访问 portal unreachable", "其他问题 other findings", "勾稽关系不符", "兴国县人民政府办公室"):
        assert label in text


def test_terminal_table_can_show_the_first_rows_of_each_section(db: Store) -> None:
    findings = evaluate(db, as_of=AS_OF, years=[2020])
    console = Console(file=io.StringIO(), width=200, color_system=None)
    print_table(console, build_status(db, findings, as_of=AS_OF, years=[2020]), rows_per_section=1)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    # Not published: the county government (first by division code), then 长岗乡 and 金殿镇, which are left out.
    assert "未发布年报 not published · 3" in text
    assert "兴国县人民政府" in text and "长岗乡人民政府" not in text and "金殿镇人民政府" not in text
    assert "…另有 2 条 and 2 more in the full report" in text
    assert "数据不一致 inconsistent numbers · 2" in text and "…另有 1 条 and 1 more in the full report" in text  # H1 twice
    assert text.count("more in the full report") == 2  # the other sections have one row or none


# ---------------------------------------------------------------------------------------------- HTML in a browser

XSS_NAME = '长岗乡<script>document.title="pwned";document.body.append(Object.assign(document.createElement("p"),{id:"xss"}))</script>'
XSS_IMG = '<img src=x onerror="document.title=\'pwned-img\'">石门乡'
XSS_URL = "http://u360732102000.xingguo.example.gov.cn/a\"><script>document.title='pwned-url'</script>"


def chromium(*args: str, profile: Path) -> str:
    binary = shutil.which("chromium")
    assert binary, "chromium is missing: scripts/setup.sh installs it"
    command = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=90, check=True).stdout


def test_html_report_in_a_headless_browser(db: Store, tmp_path: Path) -> None:
    db.upsert_units([replace(UNITS[MISSING], name=XSS_NAME), replace(UNITS[BROKEN], name=XSS_IMG)])
    run = db.start_run("2021-06-01")
    save(db, BROKEN, replace(broken_report("2021-01-26"), title="<script>document.title='pwned-title'</script>"), run, XSS_URL)
    save(db, LATE, seed("003", published_on="2021-02-14"), run, "javascript:document.title='pwned-js'")
    db.record_error(run, "connection", "connection refused", unit_id=DOWN, url=UNITS[DOWN].portal_url)
    db.finish_run(run)
    page = tmp_path / "status.html"
    assert status(tmp_path, "html", page) == 1

    dom = lxml.html.fromstring(chromium("--dump-dom", page.as_uri(), profile=tmp_path / "profile"))
    assert dom.findtext(".//title") == TITLE
    assert not dom.xpath("//script") and not dom.xpath("//img") and not dom.xpath("//*[@id='xss']")
    counts = {div.get("id")[6:]: div.findtext("dd") for div in dom.xpath("//div[@class='count' or @class='count bad']")}
    assert counts["units"] == "6" and counts["not_published"] == "3" and counts["late"] == "1"
    assert counts["inconsistent"] == "1" and counts["unreachable"] == "1" and counts["errors"] == "5"
    unit_names = [e.text_content() for e in dom.xpath("//span[@class='unit']")]
    assert XSS_NAME in unit_names and XSS_IMG in unit_names  # shown as the text it is
    links = [a.get("href") for a in dom.xpath("//a[@class='src']")]
    assert XSS_URL in links and not [h for h in links if not h.startswith("http")]
    assert "javascript:document.title='pwned-js'" in [s.text_content() for s in dom.xpath("//span[@class='src']")]
    headings = [h.text_content().split()[0] for h in dom.xpath("//section/h2")]
    assert headings == ["未发布年报", "逾期发布", "数据不一致", "门户网站无法访问", "其他问题"]
    assert len(dom.xpath("//section[@id='not_published']//li")) == 3

    shot = tmp_path / "status.png"
    chromium(f"--screenshot={shot}", "--window-size=412,900", "--hide-scrollbars", page.as_uri(), profile=tmp_path / "profile")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", shot.read_bytes()[16:24]) == (412, 900)  # a phone-sized page
    if os.environ.get("NIANBAO_DOCS_SCREENSHOT"):
        (REPO / "docs").mkdir(exist_ok=True)
        shutil.copy(shot, REPO / "docs" / "status-screenshot.png")


# ---------------------------------------------------------------------------------------------- a simulated world

SIM_YEARS = (2022, 2023, 2024)
RULE_OF_DEFECT = {
    **BROKEN_RULE,
    "late": "late",
    "wrong_template": "H6",
    "missing_section": "sections_missing",
    "tables_missing": "tables_missing",
    "copy_of_last_year": "copy_of_last_year",
    "edited_after_publication": "changed_after_publication",
    "rules_at_township": "P1",
    "narrative_contradiction": "P2",
}


@contextmanager
def first_published(world: World, report: AnnualReport) -> Iterator[None]:
    """The world on the day before the report's edit, when its first version was on the portal."""
    today = world.today
    assert report.edited_on is not None
    world.today = report.edited_on - timedelta(days=1)
    try:
        yield
    finally:
        world.today = today


def save_simulated(store: Store, world: World, report: AnnualReport, run_id: int) -> None:
    """The report as the portal prints it today, flattened to text, extracted and stored with its date."""
    data = render_text(report_document(world, report), style=report.text_style).encode()
    (extracted,) = extract_document(data)
    assert report.published_on is not None
    extracted = replace(extracted, published_on=report.published_on.isoformat())
    url = f"http://{world.portal_of[report.unit.unit_id].host}/ndbg/{report.unit.unit_id}/{report.year}.html"
    store.save_report(report.unit.unit_id, extracted, store.save_document(data, "text/plain"), url, run_id=run_id)


def expected_findings(world: World) -> set[tuple[str, str, int]]:
    """(rule, unit, year) of every injected defect as of the world's today, with the rules the ground truth
    says its printed numbers break (a copied table also breaks the carry-over)."""
    expected = set()
    for unit in world.units:
        for year in SIM_YEARS:
            report = unit.reports[year]
            if not report.visible(world.today):
                if report.deadline < world.today:
                    expected.add(("not_published", unit.unit_id, year))
                continue
            defects = [d for d in report.defects if d != "edited_after_publication" or report.edited(world.today)]
            expected |= {(RULE_OF_DEFECT[d], unit.unit_id, year) for d in defects}
            expected |= {(rule, unit.unit_id, year) for rule in world.truth_of(report).violations}
    return expected


def test_simulated_world_findings_equal_injected_defects(tmp_path: Path) -> None:
    world = build_world(7, seed=7)
    assert len(world.units) >= 100
    with Store.open(tmp_path / "sim.db", tmp_path / "files") as store:
        store.upsert_units(registry_units(world, {p.index: cms_for(world, p) for p in world.portals}, 80))
        run = store.start_run(world.today.isoformat())
        for unit in world.units:
            for year in (SIM_YEARS[0] - 1, *SIM_YEARS):  # the year before: the cross-year rules of the first
                report = unit.reports[year]
                if not report.visible(world.today):
                    continue
                if report.edited(world.today):
                    with first_published(world, report):
                        save_simulated(store, world, report, run)
                save_simulated(store, world, report, run)
        store.finish_run(run)
        found = {(f.rule, f.unit, f.year) for f in evaluate(store, as_of=world.today, years=list(SIM_YEARS))}
    expected = expected_findings(world)
    assert len(expected) > 100
    missing, extra = sorted(expected - found), sorted(found - expected)
    assert not missing and not extra, f"missed {len(missing)}: {missing[:10]}\nextra {len(extra)}: {extra[:10]}"
