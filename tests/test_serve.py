"""`nianbao serve`: Datasette on a database built from the real seed reports, started as the user starts it and
read in a real headless browser (Debian's chromium): home page and every canned query, rows as shown."""

from __future__ import annotations

import json
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import lxml.html
import psutil
import pytest
from test_exports import HYPERLINK, PLUS_CMD, SQL_NAME, ResearchDb, build_research_db

from exports.datasette import QUERIES, metadata, render_cell

NIANBAO = Path(sys.executable).parent / "nianbao"
CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/setup.sh installs it)")


@dataclass(frozen=True)
class Served:
    research: ResearchDb
    url: str
    process: subprocess.Popen[bytes]

    @property
    def database(self) -> str:
        return f"{self.url}/{self.research.db.stem}"


def _free_port() -> int:
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    directory = tmp_path_factory.mktemp("serve")
    research = build_research_db(directory)
    port = _free_port()
    log = (directory / "serve.log").open("wb")
    process = subprocess.Popen([str(NIANBAO), "serve", "--db", str(research.db), "--port", str(port)], stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, (directory / "serve.log").read_text()
            try:
                urllib.request.urlopen(url + "/-/versions.json", timeout=5).read()
                break
            except OSError:
                assert time.monotonic() < deadline, "nianbao serve did not answer within 90 s"
                time.sleep(0.3)
        yield Served(research, url, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def chromium_dom(url: str, profile: Path) -> lxml.html.HtmlElement:
    assert CHROMIUM is not None
    command = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", "--dump-dom", url]
    return lxml.html.fromstring(subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout)


PAGES = {
    "home": "",
    "not_published": "/not_published?year=2021",
    "rule_breaking": "/rule_breaking",
    "unit_history": "/unit_history?unit=" + quote("鹿乡镇"),
}


@pytest.fixture(scope="module")
def pages(served: Served, tmp_path_factory: pytest.TempPathFactory) -> dict[str, lxml.html.HtmlElement]:
    """Every page as the browser built it (scripts run), loaded side by side."""
    profiles = tmp_path_factory.mktemp("chromium")
    urls = {name: served.url + "/" if name == "home" else served.database + path for name, path in PAGES.items()}
    with ThreadPoolExecutor(len(urls)) as pool:
        loaded = {name: pool.submit(chromium_dom, url, profiles / name) for name, url in urls.items()}
        return {name: future.result() for name, future in loaded.items()}


RESULTS = "//table[contains(@class, 'rows-and-columns')]"


def shown_rows(dom: lxml.html.HtmlElement) -> list[dict[str, str]]:
    """The result table's rows as the page shows them: column (from the cell's class) → text."""
    return [{td.get("class").split()[0].removeprefix("col-"): td.text_content().strip() for td in tr.xpath("td")}
            for tr in dom.xpath(RESULTS + "/tbody/tr")]


def headings(dom: lxml.html.HtmlElement) -> list[list[str]]:
    """Each column heading's lines: the key, then the label the page's script added."""
    return [[text.strip() for text in th.itertext() if text.strip()] for th in dom.xpath(RESULTS + "//th")]


def db_query(research: ResearchDb, sql: str, params: list | tuple | dict = ()) -> list[tuple]:
    with closing(sqlite3.connect(research.db)) as conn:
        return conn.execute(sql, params).fetchall()


def test_serve_listens_on_loopback_only(served: Served) -> None:
    listening = [c.laddr for c in psutil.Process(served.process.pid).net_connections("inet") if c.status == psutil.CONN_LISTEN]
    assert [(a.ip, a.port) for a in listening] == [("127.0.0.1", int(served.url.rsplit(":", 1)[1]))]


@needs_chromium
def test_home_page_shows_the_database_and_its_tables(served: Served, pages: dict) -> None:
    dom = pages["home"]
    assert dom.findtext(".//h1") == "nianbao 年报 — 政府信息公开工作年度报告"
    links = {a.text_content(): a.get("title") for a in dom.xpath("//section[@class='content']//p/a[@title]")}
    assert "fields" in links and len(links) == 5  # the five largest tables, then a link to the rest
    for table, title in links.items():
        assert title == f"{db_query(served.research, f'SELECT count(*) FROM {table}')[0][0]} rows", table


@needs_chromium
def test_not_published_lists_the_units_without_a_report(served: Served, pages: dict) -> None:
    dom = pages["not_published"]
    rows = shown_rows(dom)
    assert sorted(r["unit_name"] for r in rows) == sorted(["大新镇人民政府", HYPERLINK, "兴国县政府办", "沭阳县发展和改革局", SQL_NAME])
    assert {r["year"] for r in rows} == {"2021"}
    # Shown as text: the name's quotes, SQL and <script> are intact and nothing ran.
    assert dom.findtext(".//title") != "pwned" and not dom.xpath("//td//script")
    assert ["unit_name", "单位名称"] in headings(dom) and ["level", "层级"] in headings(dom)  # the labels script ran
    level = {r["unit_name"]: r["level"] for r in rows}
    assert level["兴国县政府办"] == "county_department县级人民政府部门"


@needs_chromium
def test_rule_breaking_lists_the_open_findings_of_stored_reports(served: Served, pages: dict) -> None:
    rows = shown_rows(pages["rule_breaking"])
    assert sorted((r["unit_name"], r["year"], r["rule"]) for r in rows) == sorted([
        (PLUS_CMD, "2021", "H1勾稽关系不符（一+二=（七）+四）"),  # version 2 counts one more application
        (PLUS_CMD, "2021", "H1勾稽关系不符（一+二=（七）+四）"),
        ("大新镇人民政府", "2020", "P5规范性文件数量可疑"),
        ("鹿乡镇", "2021", "H6模板版本不符"),
        ("鹿乡镇", "2021", "copy_of_last_year内容与上年雷同"),
    ])
    # Each finding links to the report it is about.
    trs = pages["rule_breaking"].xpath(RESULTS + "/tbody/tr")
    links = sorted((tr.xpath("string(td[contains(@class, 'col-unit_name')])"), tr.xpath("td[contains(@class, 'col-source_url')]/a/@href"))
                   for tr in trs)
    stored = db_query(served.research, "SELECT u.name, f.source_url FROM findings f JOIN units u USING (unit_id)"
                      " WHERE f.rule != 'not_published'")
    assert links == sorted((name, [url]) for name, url in stored)


@needs_chromium
def test_unit_history_shows_every_year_with_its_numbers(served: Served, pages: dict) -> None:
    rows = shown_rows(pages["unit_history"])
    assert [(r["year"], r["version"], r["current"], r["unit_name"]) for r in rows] == [("2020", "1", "1", "鹿乡镇"),
                                                                                       ("2021", "1", "1", "鹿乡镇")]
    totals = db_query(served.research, "SELECT r.year, f.value FROM reports r JOIN fields f ON f.report_id = r.report_id"
                      " AND f.version = r.current_version WHERE r.unit_id = '321322102000' AND f.key = 'requests.new_received.total'"
                      " ORDER BY r.year")
    shown = headings(pages["unit_history"])
    assert ["requests.new_received.total", "一、本年新收政府信息公开申请数量 · 总计"] in shown
    column = [lines[0] for lines in shown].index("requests.new_received.total")
    cells = [tr.xpath("td")[column].text_content().strip() for tr in pages["unit_history"].xpath(RESULTS + "/tbody/tr")]
    assert cells == [str(value) for _, value in totals]
    assert [r["open_findings"] for r in rows] == ["0", "2"]  # 2021: H6 and copy_of_last_year


def test_facets_by_province_county_and_level(served: Served) -> None:
    data = json.load(urllib.request.urlopen(f"{served.database}/units.json", timeout=30))
    facets = {name: {item["value"]: item["count"] for item in result["results"]} for name, result in data["facet_results"].items()}
    assert facets == {
        "province": {"江苏省": 5, "江西省": 2},
        "parent_county": {"沭阳县": 5, "兴国县": 2},
        "level": {"township": 4, "county_department": 2, "county_government": 1},
    }


# ---------------------------------------------------------------------------------------------- without a server


def run_query(research: ResearchDb, name: str, **params: str) -> list[tuple]:
    """A canned query as Datasette runs it: every parameter given, missing ones as ''."""
    sql = QUERIES[name]["sql"]
    names = re.findall(r"(?<!:):(\w+)", sql)
    return db_query(research, sql, {n: params.get(n, "") for n in names})


def test_canned_query_parameters(served: Served) -> None:
    research = served.research
    latest = run_query(research, "not_published")  # no year: the latest year with a report, 2023
    assert {(row[1], row[2]) for row in latest} == {(u.name, 2023) for k, u in research.units.items() if k != "fgj"}
    assert [row[1] for row in run_query(research, "not_published", year="2021", level="county_department")] == [
        "沭阳县发展和改革局", "兴国县政府办"]  # by province: 江苏省, then 江西省
    assert [row[1] for row in run_query(research, "not_published", year="2020", province="江西省")] == [SQL_NAME]
    assert {row[0] for row in run_query(research, "rule_breaking", rule="H1")} == {"H1"}
    by_id = run_query(research, "unit_history", unit="321322103000")
    assert [(row[0], row[1], row[2]) for row in by_id] == [(2021, 1, 0), (2021, 2, 1)]
    assert by_id[1][9] == by_id[0][9] + 1  # version 2 counted one more application
    assert run_query(research, "unit_history", unit=PLUS_CMD) == by_id


def test_metadata_labels_and_facets(served: Served) -> None:
    tables = metadata(served.research.db)["databases"]["nianbao"]["tables"]
    assert tables["units"]["facets"] == ["province", "parent_county", "level"]
    assert tables["units"]["columns"]["name"] == "名称" and tables["units"]["columns"]["parent_county"] == "所属县（区）"
    assert tables["report_versions"]["columns"]["unit_name"] == "年报所署单位（原文）"
    assert tables["fields"]["columns"]["raw"] == "原文" and tables["schema_version"]["hidden"]


def test_source_links_are_http_only_and_escaped() -> None:
    def cell(value: str, column: str = "source_url") -> str | None:
        rendered = render_cell(row=None, value=value, column=column, table="findings", database="nianbao", datasette=None)
        return None if rendered is None else str(rendered)

    assert cell("javascript:alert(1)") is None  # left to Datasette, which shows it as text
    link = cell('http://x.example/a"><script>alert(1)</script>')
    assert link is not None and "<script" not in link and 'href="http://x.example/a&#34;&gt;&lt;script&gt;' in link
    assert cell("requests.granted.total", "key") == 'requests.granted.total<br><small class="label-zh">（一）予以公开 · 总计</small>'
