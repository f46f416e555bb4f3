"""The simulated world: counties with their portals, the units that must publish, and what each published when.

Pure data, built from a seed by build.build_world(portals, seed). Every choice comes from a random.Random seeded
with the world's seed and the name of the thing chosen, so a world is the same on every machine and a
part of it does not change when another part is added. The world has its own calendar (`today`);
`advance()` moves it a night forward, which publishes and edits what was scheduled for that day.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property
from typing import TYPE_CHECKING

from extract.schema import REQUEST_OTHER_SUBROWS
from registry.units import COUNTY_DEPARTMENT, COUNTY_GOVERNMENT, TOWNSHIP
from simulator import values as V
from simulator.divisions import County

if TYPE_CHECKING:
    from simulator.site import Site

YEARS = tuple(range(2019, 2025))
FIRST_DAY = date(2025, 2, 20)  # the world's "today" when built: 2024 reports are partly out, partly due
# Deadline of the report on year Y, as MM-DD of Y+1 (report_format.md §1.2); registry.Unit.deadline overrides it.
DEFAULT_DEADLINES = {COUNTY_DEPARTMENT: "01-31", COUNTY_GOVERNMENT: "03-31", TOWNSHIP: "01-31"}

CMS_FAMILIES = ("trs", "hanweb", "json_api", "static")
# Where a portal keeps its reports under the 政府信息公开年报 column (portal_patterns.md §1–2).
LAYOUTS = (
    "flat",  # one mixed list of every unit's reports
    "by_year",  # sub-columns 2024年, 2023年, …
    "by_unit",  # 县政府 / 县直部门 → one column per department / 乡镇街道 → one column per township
    "by_unit_year",  # 县政府 / 县直部门 / 镇街 → 2021年 … (wqx.gov.cn)
    "subsites",  # townships publish in their own 乡镇信息公开 › 某镇 › 政务信息公开年报 column (huichang.gov.cn)
)
# How the report reaches the page (portal_patterns.md §3).
FORMS = ("html_clean", "html_word", "text", "image_only", "pdf", "docx", "doc", "xls")
ATTACHMENT_FORMS = ("pdf", "docx", "doc", "xls")
# How an attachment can be unreadable, in worlds built with unreadable_attachments=True (simulator/attachments.py
# serves the file so; such a report has the defect "unreadable_attachment"), with the forms each can happen to.
ATTACHMENT_DAMAGES = {
    "truncated": ATTACHMENT_FORMS,  # an upload cut off
    "encrypted": ("pdf",),  # saved with a password to open
    "oversized": ("pdf",),  # over the extractor's 50 MB limit
    "zip_bomb": ("docx",),  # Office XML that inflates a thousandfold
}

DEFECTS = (
    "unpublished",
    "late",
    "h1_broken",
    "h2_broken",
    "h3_broken",
    "h4_broken",
    "wrong_template",
    "missing_section",
    "tables_missing",
    "copy_of_last_year",
    "edited_after_publication",
    "rules_at_township",
    "narrative_contradiction",
)
BROKEN_RULE = {"h1_broken": "H1", "h2_broken": "H2", "h3_broken": "H3", "h4_broken": "H4"}

FAULTS = (
    "not_found",  # a report's article link is dead (404) for good
    "server_error_burst",  # the first requests of a path answer 500/503
    "slow",  # a path answers after a delay
    "read_timeout",  # the first requests of a path send headers, then nothing until the client gives up
    "connection_reset",  # the first requests of a path are reset (RST) before any answer
    "truncated_body",  # the first answers of a path stop short of their Content-Length
    "redirect_chain",  # a navigation link reaches its page through three redirects
    "redirect_loop",  # a navigation link redirects in a circle
    "robots_disallow",  # robots.txt disallows a path that pages link to
    "malformed_html",  # list and article pages with unclosed and stray tags
    "moved_column",  # the 年报 column moved: its old URL (the one in the units file) is 404 or 301
)
# The rest of the fault matrix (issue 10), planned only in worlds built with fault_matrix=True (faults.py): each on a
# path the crawler must request, for good.
MATRIX_FAULTS = (
    "gone",  # a report's article answers 410 Gone
    "reset_mid_body",  # headers and part of the body, then a TCP RST
    "truncated_gzip",  # a gzip body whose stream stops short; Content-Length matches what is sent
    "wrong_content_length",  # Content-Length counts characters instead of bytes: the body is cut at it
    "offsite_redirect",  # a report link redirects to another host
    "bad_scheme_redirect",  # a report link redirects to a file: URL
    "robots_error",  # robots.txt answers 503
    "robots_timeout",  # robots.txt sends headers, then nothing
    "huge_page",  # a report link answers 50 MB of HTML, chunked
    "slow_loris",  # a report link trickles its page a few bytes at a time
    "changing_page",  # between the list fetch and the article fetch, the article was replaced by another report
)

def rng_for(seed: int, *names: object) -> random.Random:
    """The random stream of one named thing of a world."""
    return random.Random("/".join(map(str, (seed, *names))))


@dataclass(eq=False)
class SimUnit:
    """A unit of the world; `registry_unit()` is its record in the units file."""

    unit_id: str
    name: str  # as it prints itself: 沭阳县人民政府, 沭阳县发展和改革局, 陇集镇人民政府, 沭城街道办事处
    division_code: str
    level: str
    aliases: tuple[str, ...]
    slug: str  # URL segment of its own column
    deadline: str | None = None  # MM-DD override
    column_url_known: bool = True  # False: the units file leaves column_urls empty
    reports: dict[int, AnnualReport] = field(default_factory=dict)

    @property
    def short_name(self) -> str:
        return self.aliases[0]

    def deadline_for(self, year: int) -> date:
        month, day = map(int, (self.deadline or DEFAULT_DEADLINES[self.level]).split("-"))
        return date(year + 1, month, day)


@dataclass(eq=False)
class AnnualReport:
    """One unit's report on one year: whether and when it appears, in which form, with which defects."""

    unit: SimUnit
    year: int
    template: str  # as printed
    published_on: date | None  # None: never published
    form: str
    encoding: str  # utf-8 or gbk
    charset_header: str  # "right", "missing" or "wrong" Content-Type charset
    meta_charset: str  # "right", "missing" or "wrong" <meta charset>
    text_style: str  # for the "text" form: how the tables were flattened
    title: str
    defects: list[str] = field(default_factory=list)
    reposted_on: date | None = None
    edited_on: date | None = None
    omit_sections: frozenset[str] = frozenset()
    other_as_single_row: bool = False  # a 2021-template report printing （六）其他处理 as one row
    damage: str | None = None  # of ATTACHMENT_DAMAGES: how its attachment is served broken
    doc_ids: tuple[int, int] = (0, 0)  # article ids of the post and of its re-post

    @property
    def deadline(self) -> date:
        return self.unit.deadline_for(self.year)

    @property
    def late(self) -> bool:
        return self.published_on is not None and self.published_on > self.deadline

    def visible(self, today: date) -> bool:
        return self.published_on is not None and self.published_on <= today

    def edited(self, today: date) -> bool:
        return self.edited_on is not None and self.edited_on <= today

    @property
    def tables_printed(self) -> bool:
        """False for a report whose 二/三/四 headings stand over tables with no text in them (tables_missing)."""
        return "tables_missing" not in self.defects

    @property
    def copied_from(self) -> AnnualReport:
        """The report whose text this one repeats: itself, or — for a copy of last year's, through a copy of a
        copy — the last report of the unit that was written anew."""
        report = self
        while "copy_of_last_year" in report.defects and report.year - 1 in report.unit.reports:
            report = report.unit.reports[report.year - 1]
        return report


@dataclass(frozen=True)
class Fault:
    """A misbehaviour of one portal. `path` is a URL path (with query, if any) on the portal's host."""

    kind: str
    path: str
    times: int | None = None  # the first `times` requests misbehave; None: every request
    seconds: float | None = None  # delay of "slow", stall of "read_timeout"
    status: int | None = None  # 500/503 of a burst, 404/301 of a moved column
    target: str | None = None  # where a redirect chain ends, or the column's new path


@dataclass(eq=False)
class Portal:
    index: int
    host: str
    county: County
    cms: str
    layout: str
    units: list[SimUnit]
    encoding: str
    faults: list[Fault] = field(default_factory=list)
    page_size: int = 20  # list entries a page shows
    latency: float = 0.0  # seconds the server takes before each answer
    site: Site = field(init=False)

    @property
    def county_government(self) -> SimUnit:
        return self.units[0]

    @property
    def site_name(self) -> str:
        return f"{self.county.name}人民政府"

    def faults_of(self, kind: str) -> list[Fault]:
        return [f for f in self.faults if f.kind == kind]


@dataclass
class YearTruth:
    """The numbers one report prints, derived from the unit's series (see values.py)."""

    template: str
    fields: V.Values  # as printed in the current version (blank cells None)
    original_fields: V.Values | None  # before the edit, for reports edited after publication
    blank: set[str]  # keys printed as empty cells
    narrative_offset: int  # added to the 本年新收 count the prose quotes: not 0 contradicts the table (P2)
    changed_cells: dict[str, V.Value]  # cells a defect changed, for the ground truth
    year: int
    prior: V.Values | None  # the unit's previous published report with tables, for the cross-year rules
    tables: bool = True  # False: the report prints no table text (tables_missing), so no number to check

    @cached_property
    def violations(self) -> list[str]:
        """The rules the printed numbers break (computed when first asked: serving pages never needs it)."""
        if not self.tables:
            return []
        return V.violations(self.fields, self.template, self.year, self.prior)


class World:
    """A world of portals. Holds no I/O: the server and the ground truth read it."""

    def __init__(self, seed: int, portals: list[Portal], today: date = FIRST_DAY) -> None:
        self.seed = seed
        self.portals = portals
        self.today = today
        self.version = 0  # bumped by advance(); caches of rendered pages key on it
        self._series: dict[str, dict[int, YearTruth]] = {}

    @property
    def units(self) -> list[SimUnit]:
        return [u for p in self.portals for u in p.units]

    @cached_property
    def portal_of(self) -> dict[str, Portal]:
        return {u.unit_id: p for p in self.portals for u in p.units}

    def advance(self, nights: int = 1) -> None:
        """Move the calendar forward: reports scheduled for those days appear, edits scheduled then apply."""
        self.today += timedelta(days=nights)
        self.version += 1

    def series(self, unit: SimUnit) -> dict[int, YearTruth]:
        """The numbers of all of a unit's reports, computed on first use (they need each previous year)."""
        if unit.unit_id not in self._series:
            self._series[unit.unit_id] = _unit_series(self.seed, unit)
        return self._series[unit.unit_id]

    def truth_of(self, report: AnnualReport) -> YearTruth:
        return self.series(report.unit)[report.year]


def _unit_series(seed: int, unit: SimUnit) -> dict[int, YearTruth]:
    rng = rng_for(seed, unit.unit_id, "values")
    ledger = V.new_ledger(rng, unit.level)
    series: dict[int, YearTruth] = {}
    previous: V.Values | None = None
    previous_template = ""
    for year in YEARS:
        report = unit.reports[year]
        values = V.year_values(rng, unit.level, report.template, ledger)
        changed: dict[str, V.Value] = {}
        kinds = set(report.defects)
        copied = "copy_of_last_year" in kinds and previous is not None and previous_template == report.template
        if copied:
            values = dict(previous)  # type: ignore[arg-type]
        for kind, rule in BROKEN_RULE.items():
            if kind in kinds:
                changed = V.break_rule(rng, values, rule)
        if "rules_at_township" in kinds:
            changed = V.put_rules_at_township(rng, values, report.template)
        blank = V.blank_zero_keys(values) if rng.random() < 0.3 else set()
        if copied:
            blank = set(series[year - 1].blank)
        if "tables_missing" in kinds:
            blank = set(values)
        if "missing_section" in kinds and "四" in report.omit_sections:
            blank |= {k for k in values if not k.startswith(("active.", "requests."))}
        printed = {k: (None if k in blank else v) for k, v in values.items()}
        if report.other_as_single_row:
            printed |= dict.fromkeys((k for k in printed if k.split(".")[1] in REQUEST_OTHER_SUBROWS), None)
        elif report.template == "2021":
            # （六） as three rows: the schema's `other` is their sum, null where all three cells are blank.
            for column in V.REQUEST_COLUMN_KEYS:
                parts = [printed[f"requests.{row}.{column}"] for row in REQUEST_OTHER_SUBROWS]
                known = [p for p in parts if p is not None]
                printed[f"requests.other.{column}"] = sum(known) if known else None  # type: ignore[arg-type]
        original = V.edit_numbers(rng, printed) if "edited_after_publication" in kinds else None
        before = unit.reports.get(year - 1)
        prior = previous if before is not None and before.published_on and before.tables_printed else None
        offset = 0
        if "narrative_contradiction" in kinds:
            # Prose may count this year's and the carried-over applications together (P2 accepts both), so the
            # wrong number is neither 本年新收 nor 本年新收 + 上年结转.
            carried = int(printed.get("requests.carried_over.total") or 0)
            offset = rng.choice([d for d in range(1, 6) if d != carried])
        series[year] = YearTruth(
            template=report.template,
            fields=printed,
            original_fields=original,
            blank=blank,
            narrative_offset=offset,
            year=year,
            prior=prior,
            changed_cells=changed,
            tables=report.tables_printed,
        )
        V.carry(ledger, printed)
        previous, previous_template = printed, report.template
    return series
