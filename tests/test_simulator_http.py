"""The simulator over real HTTP: every CMS family's lists, pagination and articles, walked from the home pages
with a plain client; every defect and every fault kind seen on the wire; stats; a night passing."""

from __future__ import annotations

import http.client
import json
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
import urllib.robotparser
import xml.etree.ElementTree as ET
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import lxml.html
import pytest

from extract.html import read_html
from extract.labels import normalize
from extract.schema import SECTIONS
from simulator import RunningWorld, World
from simulator.cms import cms_for
from simulator.cms.hanweb import DATAPROXY
from simulator.documents import document_identity, version_fields
from simulator.render import TABLE_SECTIONS, LayoutTable, placed_rows, section_layout
from simulator.values import violations
from simulator.world import CMS_FAMILIES, DEFECTS, FAULTS, AnnualReport

TIMEOUT = 2.0  # the client's; a read-timeout fault stalls far longer
_ARTICLE = re.compile(r"(/t\d{8}_\d+\.html|/info/\d+/\d+\.htm|/art/\d+/\d+/\d+/art_\d+_\d+\.html|/post_\d+\.html)$")
_FILES = (".pdf", ".docx", ".doc", ".xls", ".png", ".css", ".js")
_HREF = re.compile(r"""(?:href|src)=["']?([^"' >]+)""")
_TRS_PAGER = re.compile(r'createPageHTML\((\d+),\s*(\d+),\s*"index",\s*"html"\)')
_JPAGE = re.compile(r"perPage: (\d+), totalRecord: (\d+).*?webid: (\d+).*?columnid: (\d+), unitid: (\d+)", re.S)
_GKMLPT = re.compile(r"window\._CONFIG = (\{.*?\});</script>")


def decode(data: bytes) -> str:
    """As a careful crawler decodes, whatever the page declares: strict UTF-8, else GB18030."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gb18030")


def fetch(url: str, data: bytes | None = None, attempts: int = 4) -> tuple[int, str, bytes]:
    """GET (or POST `data`) with retries on the transient faults; (status, content type, body)."""
    error: Exception | None = None
    for _ in range(attempts):
        try:
            with urllib.request.urlopen(url, data=data, timeout=TIMEOUT) as response:
                return response.status, response.headers.get("Content-Type", ""), response.read()
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return exc.code, exc.headers.get("Content-Type", ""), exc.read()
            error = exc
        except (OSError, http.client.HTTPException) as exc:  # resets, truncation, timeouts
            error = exc
    raise AssertionError(f"{url}: still failing after {attempts} attempts: {error!r}")


@dataclass
class Walk:
    """What a walk from the home pages found."""

    pages: dict[str, bytes] = field(default_factory=dict)
    articles: set[str] = field(default_factory=set)
    files: dict[str, str] = field(default_factory=dict)  # attachment/picture URL → Content-Type
    broken: dict[str, str] = field(default_factory=dict)  # URL → why it could not be read


def walk_world(running: RunningWorld) -> Walk:
    """Breadth-first from every home page, obeying robots.txt, expanding each family's pager or list API."""
    walk = Walk()
    robots: dict[str, urllib.robotparser.RobotFileParser] = {}
    queue = deque(running.base_url(host) + "/" for host in running.hosts)
    seen = set(queue)

    def add(url: str) -> None:
        url = url.split("#")[0]
        if url not in seen:
            seen.add(url)
            queue.append(url)

    while queue:
        url = queue.popleft()
        parts = urllib.parse.urlsplit(url)
        host = parts.netloc
        if host not in robots:
            robots[host] = urllib.robotparser.RobotFileParser()
            robots[host].parse(decode(fetch(f"http://{host}/robots.txt")[2]).splitlines())
        if not robots[host].can_fetch("*", url):
            continue
        try:
            status, content_type, body = fetch(url)
        except AssertionError as exc:
            walk.broken[url] = str(exc)
            continue
        if status != 200:
            walk.broken[url] = f"HTTP {status}"
            continue
        if not content_type.startswith("text/html"):
            walk.files[url] = content_type
            continue
        walk.pages[url] = body
        text = decode(body)
        is_article = bool(_ARTICLE.search(parts.path))
        if is_article:
            walk.articles.add(url)
        for href in _HREF.findall(text):
            target = urllib.parse.urljoin(url, href.replace("&amp;", "&"))
            same_host = urllib.parse.urlsplit(target).netloc == host
            if same_host and not href.startswith("javascript") and (not is_article or target.endswith(_FILES)):
                add(target)
        if not is_article:
            for found in _expand_lists(url, text):
                add(found)
    return walk


def _expand_lists(url: str, text: str) -> list[str]:
    """The URLs only a family's script or API gives: TRS pager pages, Hanweb proxy records, gkmlpt categories."""
    found: list[str] = []
    if pager := _TRS_PAGER.search(text):
        found += [urllib.parse.urljoin(url, f"index_{i}.html") for i in range(1, int(pager[1]))]
    if jpage := _JPAGE.search(text):
        per_page, total, webid, columnid, unitid = map(int, jpage.groups())
        form = urllib.parse.urlencode({"col": 1, "appid": 1, "webid": webid, "path": "/", "columnid": columnid,
                                       "sourceContentType": 1, "unitid": unitid, "permissiontype": 0}).encode()
        for start in range(per_page + 1, total + 1, per_page * 3):
            query = f"?startrecord={start}&endrecord={start + per_page * 3 - 1}&perpage={per_page}"
            xml = fetch(urllib.parse.urljoin(url, DATAPROXY) + query, data=form)[2]
            root = ET.fromstring(xml)
            assert int(root.findtext("totalrecord") or -1) == total
            for record in root.iter("record"):
                found += [urllib.parse.urljoin(url, h) for h in _HREF.findall(record.text or "")]
    if config := _GKMLPT.search(text):
        settings = json.loads(config[1])
        stack = list(settings["TREE"])
        while stack:
            category = stack.pop()
            stack += category["children"]
            page, listed = 1, 0
            while True:
                api = urllib.parse.urljoin(url, f"{settings['API']}{category['id']}?page={page}&sid={settings['SID']}")
                answer = json.loads(fetch(api)[2])
                found += [a["url"] for a in answer["articles"]]
                listed += len(answer["articles"])
                if not answer["articles"] or listed >= answer["total"]:
                    break
                page += 1
    return found


@pytest.fixture(scope="module")
def walk(running_world: RunningWorld) -> Walk:
    running_world.reset_stats()
    return walk_world(running_world)


def _report_urls(truth: dict[str, Any], cms: str | None = None) -> tuple[set[str], set[str]]:
    """(live, dead) URLs of the reports visible today, of the portals of one CMS family or all."""
    hosts = {p["host"] for p in truth["portals"] if cms in (None, p["cms"])}
    live, dead = set(), set()
    for unit in truth["units"]:
        if unit["host"] in hosts:
            for report in unit["reports"]:
                if report["published"]:
                    dead |= set(report["dead_urls"])
                    live |= set(report["urls"]) - set(report["dead_urls"])
    return live, dead


# ---------------------------------------------------------------- walking the families


@pytest.mark.parametrize("family", CMS_FAMILIES)
def test_walk_from_the_home_page_finds_every_report_of_the_family(
    family: str, walk: Walk, running_world: RunningWorld
) -> None:
    truth = running_world.truth
    world = running_world.world
    live, dead = _report_urls(truth, family)
    assert live, f"no {family} portal has a visible report"
    assert any(len(c.visible_articles(world.today)) > p.page_size  # so the walk went through the pager
               for p in world.portals if p.cms == family for c in p.site.columns)
    missing = live - walk.articles
    assert not missing, f"{len(missing)} {family} reports not reachable from the home page, e.g. {sorted(missing)[:3]}"
    assert all(url in walk.broken for url in dead)


def test_every_article_found_is_a_report_or_a_known_other_page(walk: Walk, running_world: RunningWorld) -> None:
    world = running_world.world
    kinds: dict[str, str] = {}
    for portal in world.portals:
        cms = cms_for(world, portal)
        base = running_world.base_url(portal)
        kinds |= {base + cms.article_path(a): a.kind for a in portal.site.articles}
    live, _ = _report_urls(running_world.truth)
    for url in walk.articles:
        assert url in kinds, f"{url} is no article of the world"
        assert (kinds[url] == "report") == (url in live), url
    lookalikes = {kinds[u] for u in walk.articles} - {"report", "news", "guide"}
    assert lookalikes == {"notice", "interpretation", "format", "old_report", "letter"}


def test_pages_are_well_formed_and_declare_what_they_are(walk: Walk) -> None:
    for url, body in walk.pages.items():
        text = decode(body)
        assert "<title>" in text, url
        root = lxml.html.fromstring(text)
        assert root.findtext(".//title"), url
    assert {"application/pdf", "image/png", "application/msword"} <= {t.split(";")[0] for t in walk.files.values()}


def test_the_walk_kept_to_robots_txt(walk: Walk, running_world: RunningWorld) -> None:
    stats = running_world.stats()
    assert sum(s.requests for s in stats.values()) >= len(walk.pages)
    assert all(s.disallowed_requests == 0 for s in stats.values())


# ---------------------------------------------------------------- reading a report page back


def _grid(table: lxml.html.HtmlElement) -> list[list[str]]:
    """The table's rows with merged cells expanded: each position holds its covering cell's text."""
    placed: dict[tuple[int, int], str] = {}
    rows = [r for r in table.xpath(".//tr") if "".join(r.itertext()).strip() or r.xpath("./td[@rowspan or @colspan]")]
    for r, row in enumerate(rows):
        c = 0
        for cell in row.xpath("./td | ./th"):
            while (r, c) in placed:
                c += 1
            text = re.sub(r"\s+", "", cell.text_content().replace("\xa0", " "))
            for dr in range(int(cell.get("rowspan", 1))):
                for dc in range(int(cell.get("colspan", 1))):
                    placed[(r + dr, c + dc)] = text
            c += int(cell.get("colspan", 1))
    height = max((r for r, _ in placed), default=-1) + 1
    width = max((c for _, c in placed), default=-1) + 1
    return [[placed.get((r, c), "") for c in range(width)] for r in range(height)]


def page_cells(body: bytes, report: AnnualReport, running: RunningWorld) -> dict[str, str]:
    """The printed text of every value cell of an HTML-table report page, by field key."""
    truth = running.world.truth_of(report)
    doc = document_identity(report)
    doc.template, doc.other_as_single_row = truth.template, report.other_as_single_row
    root = lxml.html.fromstring(decode(body))
    tables = root.xpath("//table[not(.//table)][not(contains(@class, 'table_content'))]")
    numerals = [n for n in TABLE_SECTIONS if n not in report.omit_sections]
    cells: dict[str, str] = {}
    for numeral, table in zip(numerals, tables, strict=True):
        layout: LayoutTable = section_layout(doc, numeral)
        grid = _grid(table)
        for row, line in zip(grid, placed_rows(layout), strict=False):
            for col, cell in line:
                if cell is not None and cell.kind == "value":
                    cells[cell.key] = row[col]
    return cells


def _number(text: str) -> float | None:
    return float(text.lstrip("+")) if text else None


def _report_with(world: World, defect: str, forms: tuple[str, ...] = ("html_clean", "html_word")) -> AnnualReport:
    for unit in world.units:
        for report in unit.reports.values():
            if defect in report.defects and report.form in forms and report.visible(world.today):
                return report
    raise AssertionError(f"no visible {'/'.join(forms)} report with the defect {defect}")


def _page_of(running: RunningWorld, report: AnnualReport) -> bytes:
    portal = running.world.portal_of[report.unit.unit_id]
    cms = cms_for(running.world, portal)
    article = next(a for a in portal.site.articles_of(report) if not a.repost)
    return fetch(running.base_url(portal) + cms.article_path(article))[2]


def test_clean_reports_print_their_truth(running_world: RunningWorld) -> None:
    world = running_world.world
    report = next(r for u in world.units for r in u.reports.values()
                  if not r.defects and r.form == "html_clean" and r.visible(world.today))
    cells = page_cells(_page_of(running_world, report), report, running_world)
    shown = version_fields(world, report)
    assert {k: _number(v) for k, v in cells.items()} == {k: shown[k] for k in cells}
    assert not world.truth_of(report).violations


@pytest.mark.parametrize("defect", ["h1_broken", "h2_broken", "h3_broken", "h4_broken"])
def test_broken_rules_are_on_the_page(defect: str, running_world: RunningWorld) -> None:
    world = running_world.world
    report = _report_with(world, defect)
    cells = page_cells(_page_of(running_world, report), report, running_world)
    shown = version_fields(world, report)
    assert {k: _number(v) for k, v in cells.items()} == {k: shown[k] for k in cells}
    assert world.truth_of(report).changed_cells
    assert violations(shown, report.template, report.year, None)[:1] == ["H" + defect[1]]


def test_every_defect_kind_occurs_and_shows_over_http(running_world: RunningWorld, walk: Walk) -> None:
    world = running_world.world
    truth = running_world.truth
    seen = {d for u in truth["units"] for r in u["reports"] for d in r["defects"]}
    assert seen == set(DEFECTS)
    reports = {(u["unit_id"], r["year"]): r for u in truth["units"] for r in u["reports"]}

    unpublished = next(r for u in world.units for r in u.reports.values() if "unpublished" in r.defects)
    assert not world.portal_of[unpublished.unit.unit_id].site.articles_of(unpublished)
    assert not reports[(unpublished.unit.unit_id, unpublished.year)]["published"]

    late = _report_with(world, "late", ("html_clean", "html_word", "text"))
    pubdate = lxml.html.fromstring(decode(_page_of(running_world, late))).xpath("//meta[@name='PubDate']/@content")[0]
    assert pubdate[:10] > late.deadline.isoformat()

    wrong = _report_with(world, "wrong_template")
    # Compare the cells as a reader sees them: the Word style splits labels across <span>s.
    cells = {normalize(c.text) for t in read_html(_page_of(running_world, wrong)).tables for row in t.rows for c in row}
    assert ("本年新制作数量" in cells) == (wrong.year >= 2021)

    missing = _report_with(world, "missing_section")
    (numeral,) = missing.omit_sections
    section = next(s for s in SECTIONS if s.numeral == numeral)
    assert not any(f"{numeral}、{form}" in decode(_page_of(running_world, missing)) for form in section.label.all_forms)

    bare = _report_with(world, "tables_missing")
    assert not any(page_cells(_page_of(running_world, bare), bare, running_world).values())

    copy = _report_with(world, "copy_of_last_year")
    before = copy.unit.reports[copy.year - 1]
    assert world.truth_of(copy).fields == world.truth_of(before).fields
    if before.form in ("html_clean", "html_word"):
        assert page_cells(_page_of(running_world, copy), copy, running_world) == page_cells(
            _page_of(running_world, before), before, running_world)

    township = _report_with(world, "rules_at_township")
    cells = page_cells(_page_of(running_world, township), township, running_world)
    assert any(_number(v) for k, v in cells.items() if k.startswith("active.rules."))

    contradiction = _report_with(world, "narrative_contradiction")
    table = page_cells(_page_of(running_world, contradiction), contradiction, running_world)
    quoted = re.search(r"共收到政府信息公开申请(\d+)件", decode(_page_of(running_world, contradiction)))
    assert quoted is not None and int(quoted[1]) != int(_number(table["requests.new_received.total"]) or 0)

    edited = _report_with(world, "edited_after_publication", ("html_clean", "html_word", "text"))
    entry = reports[(edited.unit.unit_id, edited.year)]
    assert entry["original_fields"] != entry["fields"]


# ---------------------------------------------------------------- faults


def _fault_url(running: RunningWorld, kind: str) -> tuple[dict[str, Any], str]:
    for portal in running.truth["portals"]:
        for fault in portal["faults"]:
            if fault["kind"] == kind:
                return fault, fault["url"]
    raise AssertionError(f"no portal has the fault {kind}")


def _raw_get(url: str, timeout: float = TIMEOUT) -> http.client.HTTPResponse:
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    connection.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""))
    return connection.getresponse()


def test_every_fault_kind_occurs_and_shows_over_http(running_world: RunningWorld) -> None:
    truth = running_world.truth
    assert {f["kind"] for p in truth["portals"] for f in p["faults"]} == set(FAULTS)
    running_world.reset_stats()

    _, url = _fault_url(running_world, "not_found")
    assert _raw_get(url).status == 404

    fault, url = _fault_url(running_world, "server_error_burst")
    assert [_raw_get(url).status for _ in range(fault["times"])] == [fault["status"]] * fault["times"]
    assert _raw_get(url).status < 500  # a list API answers 403 to a call without its sid

    fault, url = _fault_url(running_world, "slow")
    started = time.monotonic()
    assert _raw_get(url).status == 200
    assert time.monotonic() - started >= fault["seconds"]

    _, url = _fault_url(running_world, "read_timeout")
    with pytest.raises(TimeoutError):
        _raw_get(url, timeout=0.5).read()
    assert _raw_get(url).read()

    fault, url = _fault_url(running_world, "connection_reset")
    for _ in range(fault["times"]):
        with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected)):
            _raw_get(url)
    assert _raw_get(url).status == 200

    fault, url = _fault_url(running_world, "truncated_body")
    with pytest.raises(http.client.IncompleteRead):
        _raw_get(url).read()
    fetch(url)

    fault, url = _fault_url(running_world, "redirect_chain")
    hops = []
    while (answer := _raw_get(url)).status in (301, 302):
        url = urllib.parse.urljoin(url, answer.headers["Location"])
        hops.append(answer.status)
    assert hops == [302, 302, 301] and url == fault["target"] and answer.status == 200

    _, url = _fault_url(running_world, "redirect_loop")
    visited = [url]
    for _ in range(3):
        visited.append(urllib.parse.urljoin(visited[-1], _raw_get(visited[-1]).headers["Location"]))
    assert visited[0] == visited[2] and visited[1] == visited[3]

    fault, url = _fault_url(running_world, "robots_disallow")
    path = urllib.parse.urlsplit(url).path
    host = urllib.parse.urlsplit(url).netloc
    assert f"Disallow: {path}" in decode(fetch(f"http://{host}/robots.txt")[2])
    before = running_world.stats()[urllib.parse.urlsplit(url).hostname].disallowed_requests
    fetch(f"http://{host}{path}")  # the column behind the disallowed folder is still served
    assert running_world.stats()[urllib.parse.urlsplit(url).hostname].disallowed_requests == before + 1

    fault, url = _fault_url(running_world, "malformed_html")
    assert fault["every_page"]
    page = decode(fetch(url)[2])
    assert "</html>" not in page and "</div></span>" in page

    fault, url = _fault_url(running_world, "moved_column")
    answer = _raw_get(url)
    assert answer.status == fault["status"]
    if answer.status == 301:
        assert urllib.parse.urljoin(url, answer.headers["Location"]).startswith(fault["target"])


def test_the_units_file_records_a_moved_column_by_its_old_url(running_world: RunningWorld) -> None:
    world = running_world.world
    portal = next(p for p in world.portals if p.faults_of("moved_column"))
    old = running_world.base_url(portal) + cms_for(world, portal).old_column_url()
    recorded = {u.unit_id: u.column_urls for u in running_world.units}
    on_root = [u for u in portal.units if portal.site.unit_columns[u.unit_id] is portal.site.nianbao]
    known = [u for u in on_root if u.column_url_known]
    assert known
    assert all(recorded[u.unit_id] == (old,) for u in known)


# ---------------------------------------------------------------- stats and time


def test_stats_record_connections_gaps_requests_and_bytes(fresh_running_world: RunningWorld) -> None:
    running = fresh_running_world
    host = running.hosts[0]
    home = running.base_url(host) + "/"
    sockets = [socket.create_connection((host, running.port)) for _ in range(3)]
    time.sleep(0.1)
    for _ in range(3):
        fetch(home)
    for sock in sockets:
        sock.close()
    stats = running.stats()[host]
    assert stats.requests == 3 and stats.bytes_sent > 0 and stats.statuses[200] == 3
    assert stats.max_connections >= 4
    assert stats.min_gap is not None and stats.min_gap < 1
    assert all(s.requests == 0 for h, s in running.stats().items() if h != host)


def test_a_night_passing_publishes_and_edits(fresh_running_world: RunningWorld) -> None:
    running = fresh_running_world
    world = running.world
    tomorrow = world.today.toordinal() + 1
    appearing = next(r for u in world.units for r in u.reports.values()
                     if r.published_on and r.published_on.toordinal() == tomorrow)
    edited = next(r for u in world.units for r in u.reports.values()
                  if r.edited_on and r.edited_on.toordinal() == tomorrow)
    before_truth = running.truth
    before_page = _page_of(running, edited)
    live_before, _ = _report_urls(before_truth)
    running.advance()
    after_truth = running.truth
    live_after, _ = _report_urls(after_truth)
    new = live_after - live_before
    assert new, "nothing appeared overnight"
    assert all(fetch(url)[0] == 200 for url in new)
    assert _page_of(running, edited) != before_page
    entry = next(r for u in after_truth["units"] if u["unit_id"] == edited.unit.unit_id
                 for r in u["reports"] if r["year"] == edited.year)
    assert entry["edited_on"] == edited.edited_on.isoformat() if edited.edited_on else False
    assert appearing.year in {r["year"] for u in after_truth["units"] if u["unit_id"] == appearing.unit.unit_id
                              for r in u["reports"] if r["published"]}


def test_static_pages_carry_an_etag_and_answer_a_matching_one_with_304(fresh_running_world: RunningWorld) -> None:
    running = fresh_running_world
    host = running.hosts[0]
    home = running.base_url(host) + "/"
    with urllib.request.urlopen(home, timeout=TIMEOUT) as response:
        etag, body = response.headers["ETag"], response.read()
    assert re.fullmatch(r'"[0-9a-f]{16}"', etag)
    with pytest.raises(urllib.error.HTTPError) as not_modified:
        urllib.request.urlopen(urllib.request.Request(home, headers={"If-None-Match": etag}), timeout=TIMEOUT)
    assert not_modified.value.code == 304 and not_modified.value.read() == b""
    stale = urllib.request.Request(home, headers={"If-None-Match": '"0123456789abcdef"'})
    with urllib.request.urlopen(stale, timeout=TIMEOUT) as response:
        assert response.status == 200 and response.read() == body
    assert running.stats()[host].statuses == {200: 2, 304: 1}
