"""Building a world from a seed: which counties, units and portals, what each unit publishes when, with which defects."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, timedelta
from itertools import accumulate

from registry.units import COUNTY_DEPARTMENT, COUNTY_GOVERNMENT, TOWNSHIP
from simulator.attachments import plan_damaged_attachments
from simulator.cms import cms_for
from simulator.divisions import County, Township, counties
from simulator.faults import plan_fault_matrix, plan_faults
from simulator.site import build_site
from simulator.world import (
    ATTACHMENT_FORMS,
    CMS_FAMILIES,
    FORMS,
    LAYOUTS,
    YEARS,
    AnnualReport,
    Portal,
    SimUnit,
    World,
    rng_for,
)

_FORM_WEIGHTS = tuple(accumulate((40, 28, 10, 4, 7, 5, 3, 3)))  # cumulative
# Defects of a report's content: a report carries at most one (chance per published report).
_CONTENT_DEFECTS = {
    "h1_broken": 0.02,
    "h2_broken": 0.012,
    "h3_broken": 0.012,
    "h4_broken": 0.01,
    "wrong_template": 0.03,
    "missing_section": 0.025,
    "tables_missing": 0.015,
    "copy_of_last_year": 0.03,
    "rules_at_township": 0.04,
    "narrative_contradiction": 0.03,
}
# County departments that publish their own reports: (name, short name the unit prints too, URL slug).
DEPARTMENTS = (
    ("发展和改革局", "发改局", "fgj"),
    ("教育局", "教育局", "jyj"),
    ("财政局", "财政局", "czj"),
    ("人力资源和社会保障局", "人社局", "rsj"),
    ("自然资源和规划局", "自然资源局", "zrzyj"),
    ("住房和城乡建设局", "住建局", "zjj"),
    ("交通运输局", "交通局", "jtj"),
    ("农业农村局", "农业农村局", "nyncj"),
    ("卫生健康委员会", "卫健委", "wjw"),
    ("市场监督管理局", "市场监管局", "scjgj"),
    ("司法局", "司法局", "sfj"),
    ("民政局", "民政局", "mzj"),
    ("应急管理局", "应急局", "yjglj"),
)
_PAGE_SIZES = (5, 6, 8, 10, 12, 15, 20)
MAX_TOWNSHIPS = 12  # per portal: a sample of the county's townships keeps worlds of 300 portals small


def _host(index: int) -> str:
    # 127.0.1.1, 127.0.1.2, …: one loopback address per portal, so per-host politeness is real.
    return f"127.0.{1 + index // 250}.{1 + index % 250}"


def _twins(seed: int, count: int) -> list[County]:
    """Counties past the real ones, for scale worlds: real counties again under division codes no real county has (a
    twin keeps its name and its townships' names; its codes, and so its units' ids, are its own)."""
    every = counties()
    taken = {county.code6 for county in every}
    twins = []
    for original in rng_for(seed, "twins").choices(every, k=count):
        code6 = next((code for number in range(99, 0, -1) if (code := f"{original.code6[:4]}{number:02d}") not in taken),
                     None)
        if code6 is None:
            raise ValueError(f"too many portals: no division code is left for another twin of {original.name}")
        taken.add(code6)
        townships = tuple(Township(t.name, code6 + t.division_code[6:]) for t in original.townships)
        twins.append(replace(original, code6=code6, townships=townships))
    return twins


def _county_units(rng: random.Random, county: County, most_townships: int | None) -> list[SimUnit]:
    gov = SimUnit(
        county.division_code,
        f"{county.name}人民政府",
        county.division_code,
        COUNTY_GOVERNMENT,
        (f"{county.name}政府", county.name, f"{county.name}人民政府办公室"),
        "xzf",
    )
    units = [gov]
    for name, short, slug in sorted(rng.sample(DEPARTMENTS, rng.randint(3, 6)), key=DEPARTMENTS.index):
        units.append(
            SimUnit(
                f"{county.code6}000000-{slug}",
                f"{county.name}{name}",
                county.division_code,
                COUNTY_DEPARTMENT,
                tuple(dict.fromkeys((f"{county.name}{short}", short, name))),
                slug,
            )
        )
    townships: list[Township] = list(county.townships)
    if most_townships is not None and len(townships) > most_townships:
        townships = sorted(rng.sample(townships, most_townships), key=county.townships.index)
    for town in townships:
        name = town.name if town.kind == "街道" else f"{town.name}人民政府"
        aliases = (town.short_name, f"{county.name}{name}", f"{town.short_name}政府")
        units.append(SimUnit(town.division_code, name, town.division_code, TOWNSHIP, aliases,
                             f"x{town.division_code[6:9]}"))
    return units


# Title forms seen on real portals (portal_patterns.md §1), with their weights made cumulative once: a world of 1,000
# portals draws 125,000 titles. (random.choices draws the same from cum_weights as from the weights they add up.)
_TITLES = (
    "{name}{year}年政府信息公开工作年度报告",
    "{name}{year}年政府信息公开年度报告",
    "{name}{year}年度政府信息公开工作年度报告",
    "{name}关于{year}年政府信息公开工作年度报告",
    "{short}{year}年政府信息公开工作年度报告",
    "{year}年政府信息公开年度工作报告",
    "{name}政府信息公开工作年度报告",
    "{name}\n{year}年政府信息公开工作年度报告",
)
_TITLE_WEIGHTS = tuple(accumulate((50, 12, 6, 4, 8, 3, 2, 4)))
_CHARSET_HEADERS = (("right", "missing", "wrong"), tuple(accumulate((80, 12, 8))))
_META_CHARSETS = (("right", "missing", "wrong"), tuple(accumulate((85, 10, 5))))


def _title(rng: random.Random, unit: SimUnit, year: int) -> str:
    form = rng.choices(_TITLES, cum_weights=_TITLE_WEIGHTS)[0]
    return form.format(name=unit.name, short=unit.short_name, year=year)


def _publication_day(rng: random.Random, unit: SimUnit, year: int, late: bool) -> date:
    deadline = unit.deadline_for(year)
    if late:
        return deadline + timedelta(days=rng.randint(1, 150))
    earliest = date(year + 1, 1, 4)
    return earliest + timedelta(days=rng.randint(0, (deadline - earliest).days))


def _plan_reports(rng: random.Random, unit: SimUnit, portal_encoding: str) -> None:
    never = rng.random() < 0.03  # a unit that publishes nothing at all
    for year in YEARS:
        template = "2019" if year <= 2020 else "2021"
        unpublished = never or rng.random() < 0.05
        late = not unpublished and rng.random() < 0.12
        published_on = None if unpublished else _publication_day(rng, unit, year, late)
        form = rng.choices(FORMS, cum_weights=_FORM_WEIGHTS)[0]
        report = AnnualReport(
            unit=unit,
            year=year,
            template=template,
            published_on=published_on,
            form=form,
            encoding=portal_encoding if rng.random() < 0.9 else ("gbk" if portal_encoding == "utf-8" else "utf-8"),
            charset_header=rng.choices(_CHARSET_HEADERS[0], cum_weights=_CHARSET_HEADERS[1])[0],
            meta_charset=rng.choices(_META_CHARSETS[0], cum_weights=_META_CHARSETS[1])[0],
            text_style=rng.choice(("tabs", "cell_per_line", "pipes")),
            title=_title(rng, unit, year),
            defects=["unpublished"] if unpublished else (["late"] if late else []),
            other_as_single_row=template == "2021" and rng.random() < 0.05,
        )
        if published_on is not None:
            if rng.random() < 0.04:
                report.reposted_on = published_on + timedelta(days=rng.randint(1, 60))
            if rng.random() < 0.05:
                report.edited_on = published_on + timedelta(days=rng.randint(2, 200))
                report.defects.append("edited_after_publication")
            for kind, chance in _CONTENT_DEFECTS.items():
                if _eligible(report, kind) and rng.random() < chance:
                    _give_content_defect(rng, report, kind)
                    break
        unit.reports[year] = report


# A copy of last year's report repeats it whole, so the report it copies prints all of it in its own year's
# template: a copy of a report with a section or the tables left out would repeat that defect too.
_NOT_COPIED = ("wrong_template", "missing_section", "tables_missing")


def _copied_next_year(report: AnnualReport) -> bool:
    after = report.unit.reports.get(report.year + 1)
    return after is not None and "copy_of_last_year" in after.defects


def _eligible(report: AnnualReport, kind: str) -> bool:
    unit, year = report.unit, report.year
    if report.published_on is None or any(d in _CONTENT_DEFECTS for d in report.defects):
        return False
    if kind in _NOT_COPIED and _copied_next_year(report):
        return False
    if kind == "tables_missing":  # an edit must change printed numbers
        return report.edited_on is None
    if kind == "rules_at_township":
        # 规章 carried in 现行有效件数 would reappear next year; only years no later report continues.
        return unit.level == TOWNSHIP and year in (2019, 2020, YEARS[-1])
    if kind == "copy_of_last_year":
        before = unit.reports.get(year - 1)
        return (year not in (YEARS[0], 2021) and before is not None and before.published_on is not None
                and not set(before.defects) & set(_NOT_COPIED))
    return True


def _give_content_defect(rng: random.Random, report: AnnualReport, kind: str) -> None:
    report.defects.append(kind)
    if kind == "wrong_template":
        report.template = "2021" if report.template == "2019" else "2019"
    elif kind == "missing_section":
        report.omit_sections = frozenset({rng.choice(("四", "五", "六", "六"))})
    elif kind == "copy_of_last_year":  # printed as the report it copies: （六） as one row or as three
        report.other_as_single_row = report.unit.reports[report.year - 1].other_as_single_row


def _ensure_every_kind(rng: random.Random, world: World) -> None:
    """Give each defect and fault kind at least one occurrence when the world is big enough to hold it."""
    reports = [r for u in world.units for r in u.reports.values()]
    present = {d for r in reports for d in r.defects}
    plain = [r for r in reports if not r.defects and r.visible(world.today) and not _copied_next_year(r)]
    if "unpublished" not in present and plain:
        never = rng.choice(plain)
        never.published_on, never.defects = None, ["unpublished"]
    if "late" not in present and plain:
        late = rng.choice([r for r in plain if r.published_on is not None and r.deadline < world.today])
        late.published_on = min(world.today, late.deadline + timedelta(days=rng.randint(1, 20)))
        late.defects.append("late")
    for kind in _CONTENT_DEFECTS:
        if kind not in present:
            candidates = [r for r in reports if _eligible(r, kind) and r.visible(world.today)]
            if candidates:
                _give_content_defect(rng, rng.choice(candidates), kind)
    # advance() must change something the first night: one report appears, one is edited.
    tomorrow = world.today + timedelta(days=1)
    pending = [r for r in reports if r.published_on is not None and r.published_on > world.today]
    due = pending or [r for r in reports if r.year == YEARS[-1] and r.published_on is not None]
    if due:
        first = rng.choice(due)
        first.published_on = tomorrow
        if first.late and "late" not in first.defects:
            first.defects.append("late")
    visible = [r for r in reports if r.visible(world.today) and r.form not in ATTACHMENT_FORMS
               and "tables_missing" not in r.defects]
    if visible and not any(r.edited_on == tomorrow for r in reports):
        edited = rng.choice(visible)
        edited.edited_on = tomorrow
        if "edited_after_publication" not in edited.defects:
            edited.defects.append("edited_after_publication")
    for r in reports:  # a report that was never published cannot be late, re-posted or edited
        if r.published_on is None:
            r.reposted_on = r.edited_on = None


def build_world(portals: int, seed: int, *, fault_matrix: bool = False, unreadable_attachments: bool = False,
                townships: int | None = MAX_TOWNSHIPS, latency: float = 0.0) -> World:
    """A world of `portals` county portals; the same seed gives the same world. With `fault_matrix`, a fifth of the
    portals carry every fault that fails for good (simulator/faults.py) and the others none. With
    `unreadable_attachments`, one report's attachment is served broken in each way of world.ATTACHMENT_DAMAGES.

    For scale worlds: `townships` is the most a county publishes for (None: all of them, 15 on average), portals past
    the real counties in simulator/divisions.txt are twins of them (`_twins`), and with a `latency` every portal
    answers a request after 0.5 to 1.5 times that many seconds, as a distant county server does."""
    every = counties()
    if portals < 1:
        raise ValueError("a world has at least one portal")
    rng = rng_for(seed, "world")
    chosen = [every[i] for i in rng.sample(range(len(every)), min(portals, len(every)))] + _twins(seed, portals - len(every))
    families = [CMS_FAMILIES[i % len(CMS_FAMILIES)] for i in range(portals)]
    layouts = [LAYOUTS[i % len(LAYOUTS)] for i in range(portals)]
    rng.shuffle(families)
    rng.shuffle(layouts)
    built = []
    for index, county in enumerate(chosen):
        prng = rng_for(seed, "portal", index)
        encoding = "gbk" if prng.random() < 0.25 else "utf-8"
        units = _county_units(prng, county, townships)
        if prng.random() < 0.2:  # some provinces set townships' deadline later than Jan 31 (怀化: 02-20)
            for unit in units:
                if unit.level == TOWNSHIP:
                    unit.deadline = "02-20"
        for unit in units:
            unit.column_url_known = prng.random() < 0.6
            _plan_reports(rng_for(seed, "reports", unit.unit_id), unit, encoding)
        built.append(Portal(index, _host(index), county, families[index], layouts[index], units, encoding,
                            latency=round(latency * rng_for(seed, "latency", index).uniform(0.5, 1.5), 3)))
    world = World(seed, built)
    _ensure_every_kind(rng, world)
    if unreadable_attachments:
        plan_damaged_attachments(world)
    for portal in built:
        portal.site = build_site(seed, portal)
        # A size its longest list overflows, so every portal shows its family's pagination.
        longest = max(len(c.visible_articles(world.today)) for c in portal.site.columns)
        portal.page_size = rng_for(seed, "page size", portal.index).choice(
            [size for size in _PAGE_SIZES if size < longest] or [_PAGE_SIZES[0]])
    (plan_fault_matrix if fault_matrix else plan_faults)(world, {p.index: cms_for(world, p) for p in built})
    return world
