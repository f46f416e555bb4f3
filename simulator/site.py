"""A portal's site, independent of its CMS: the column tree from the home page down, and the articles in it.

Navigation follows real county portals: 首页 → 政务公开 → 政府信息公开 → 政府信息公开年报, the 年报 column laid
out as the portal's `layout` says (world.LAYOUTS). Besides the reports, the 年报 columns carry the look-alikes
a crawler must not take for reports (report_format.md §1.4): the notices about compiling the reports, 解读 pages,
the 年度报告格式 itself, the last decade's reports, and a letter about the year's 工作要点.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from registry.units import COUNTY_DEPARTMENT, TOWNSHIP
from simulator.world import YEARS, AnnualReport, Portal, rng_for

# Kinds of articles that are not reports (a report article has kind "report").
LOOKALIKES = ("notice", "interpretation", "format", "old_report", "letter")
OTHER_ARTICLES = ("news", "guide")


@dataclass(eq=False)
class Column:
    column_id: int  # the CMS's own number for it: TRS 栏目 id, Hanweb col id, gkmlpt category id
    name: str
    slug: str  # its path segment on path-based CMSs
    parent: Column | None = None
    children: list[Column] = field(default_factory=list)
    articles: list[Article] = field(default_factory=list)

    def add(self, column_id: int, name: str, slug: str) -> Column:
        child = Column(column_id, name, slug, self)
        self.children.append(child)
        return child

    @property
    def lineage(self) -> list[Column]:
        """The columns from the home page down to this one."""
        chain: list[Column] = []
        column: Column | None = self
        while column is not None:
            chain.append(column)
            column = column.parent
        return chain[::-1]

    def walk(self) -> list[Column]:
        return [self, *(c for child in self.children for c in child.walk())]

    def visible_articles(self, today: date) -> list[Article]:
        """Newest first, as CMS lists are."""
        shown = [a for a in self.articles if a.published_on <= today]
        return sorted(shown, key=lambda a: (a.published_on, a.doc_id), reverse=True)


@dataclass(eq=False)
class Article:
    doc_id: int
    title: str
    published_on: date
    column: Column
    kind: str  # "report", one of LOOKALIKES, or one of OTHER_ARTICLES
    report: AnnualReport | None = None
    year: int | None = None  # the year a look-alike is about
    repost: bool = False


@dataclass(eq=False)
class Site:
    home: Column
    zwgk: Column  # 政务公开
    zfxxgk: Column  # 政府信息公开
    nianbao: Column  # 政府信息公开年报
    unit_columns: dict[str, Column]  # the column where each unit's reports are listed (units file column_urls)
    articles: list[Article]

    @property
    def columns(self) -> list[Column]:
        return self.home.walk()

    def articles_of(self, report: AnnualReport) -> list[Article]:
        return [a for a in self.articles if a.report is report]


class _Ids:
    """Column and article numbers that look like a real CMS's (large, increasing, with gaps)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.column = rng.randint(1000, 90000)
        self.doc = rng.randint(100000, 9000000)

    def next_column(self) -> int:
        self.column += self.rng.randint(1, 40)
        return self.column

    def next_doc(self) -> int:
        self.doc += self.rng.randint(1, 900)
        return self.doc


def build_site(seed: int, portal: Portal) -> Site:
    rng = rng_for(seed, "site", portal.index)
    ids = _Ids(rng)
    home = Column(ids.next_column(), "首页", "")
    zwgk = home.add(ids.next_column(), "政务公开", "zwgk")
    news = home.add(ids.next_column(), "新闻动态", "xwdt")
    zfxxgk = zwgk.add(ids.next_column(), "政府信息公开", "zfxxgk")
    notices = zwgk.add(ids.next_column(), "通知公告", "tzgg")
    interpretations = zwgk.add(ids.next_column(), "政策解读", "zcjd")
    guide = zfxxgk.add(ids.next_column(), "政府信息公开指南", "zfxxgkzn")
    zfxxgk.add(ids.next_column(), "法定主动公开内容", "fdzdgknr")
    nianbao = zfxxgk.add(ids.next_column(), "政府信息公开年报", "zfxxgknb")
    site = Site(home, zwgk, zfxxgk, nianbao, {}, [])

    def post(column: Column, title: str, day: date, kind: str, **extra: object) -> Article:
        article = Article(ids.next_doc(), title, day, column, kind, **extra)  # type: ignore[arg-type]
        column.articles.append(article)
        site.articles.append(article)
        return article

    _lay_out_reports(portal, site, ids)
    for unit in portal.units:
        for report in unit.reports.values():
            if report.published_on is None:
                continue
            column = _report_column(site, report)
            first = post(column, _title_line(report), report.published_on, "report", report=report)
            doc_ids = (first.doc_id, 0)
            if report.reposted_on is not None:
                again = post(column, _title_line(report), report.reposted_on, "report", report=report, repost=True)
                doc_ids = (first.doc_id, again.doc_id)
            report.doc_ids = doc_ids
    county = portal.county.name
    post(guide, f"{county}人民政府信息公开指南", date(2019, 12, rng.randint(1, 28)), "guide")
    post(nianbao, "中华人民共和国政府信息公开工作年度报告格式", date(2021, 9, 29) + timedelta(rng.randint(0, 20)), "format")
    for year in rng.sample(YEARS, rng.randint(2, 3)):
        title = f"关于做好{year}年政府信息公开工作年度报告编制发布工作的通知"
        day = date(year, 12, rng.randint(1, 28))
        post(rng.choice((nianbao, notices)), title, day, "notice", year=year)
    gov_reports = [r for r in portal.county_government.reports.values() if r.published_on]
    for report in rng.sample(gov_reports, min(len(gov_reports), rng.randint(1, 3))):
        assert report.published_on is not None
        title = rng.choice(("图解：", "文字解读：", "一图读懂")) + f"{county}{report.year}年政府信息公开工作年度报告"
        post(rng.choice((nianbao, interpretations)), title, report.published_on + timedelta(days=1),
             "interpretation", year=report.year)
    for year in rng.sample(range(2010, 2019), rng.randint(3, 6)):
        title = f"{county}人民政府{year}年政府信息公开工作年度报告"
        post(nianbao, title, date(year + 1, 3, rng.randint(1, 31)), "old_report", year=year)
    if rng.random() < 0.5:
        year = rng.choice(YEARS)
        post(nianbao, f"关于{year}年政府信息公开工作要点落实情况的函", date(year, 11, rng.randint(1, 30)), "letter", year=year)
    for _ in range(rng.randint(4, 9)):
        day = date(2024, 1, 1) + timedelta(days=rng.randint(0, 400))
        post(news, rng.choice(_NEWS).format(county=county), day, "news")
    return site


_NEWS = (
    "{county}召开2024年政务公开工作推进会",
    "{county}开展政府开放日活动",
    "{county}举办政务公开业务培训班",
    "{county}召开全县经济工作会议",
    "{county}部署春季安全生产工作",
)


def _title_line(report: AnnualReport) -> str:
    return "".join(part.strip() for part in report.title.splitlines())


def _lay_out_reports(portal: Portal, site: Site, ids: _Ids) -> None:
    """Create the sub-columns of the portal's layout and record where each unit's reports go."""
    nianbao = site.nianbao
    units = portal.units
    gov = portal.county_government
    by_level = {level: [u for u in units if u.level == level] for level in (COUNTY_DEPARTMENT, TOWNSHIP)}
    layout = portal.layout
    if layout in ("flat", "by_year"):
        for unit in units:
            site.unit_columns[unit.unit_id] = nianbao
        if layout == "by_year":
            for year in sorted(YEARS, reverse=True):
                nianbao.add(ids.next_column(), f"{year}年", f"{year}n")
    elif layout == "by_unit":
        site.unit_columns[gov.unit_id] = nianbao.add(ids.next_column(), "县政府", gov.slug)
        groups = {COUNTY_DEPARTMENT: nianbao.add(ids.next_column(), "县直部门", "bm"),
                  TOWNSHIP: nianbao.add(ids.next_column(), "乡镇街道", "xzjd")}
        for level, group in groups.items():
            for unit in by_level[level]:
                site.unit_columns[unit.unit_id] = group.add(ids.next_column(), unit.short_name, unit.slug)
    elif layout == "by_unit_year":
        site.unit_columns[gov.unit_id] = nianbao.add(ids.next_column(), "县政府", gov.slug)
        for level, name, slug in ((COUNTY_DEPARTMENT, "部门", "bm"), (TOWNSHIP, "镇街", "zj")):
            group = nianbao.add(ids.next_column(), name, slug)
            for year in sorted(YEARS, reverse=True):
                group.add(ids.next_column(), f"{year}年", f"{year}n")
            for unit in by_level[level]:
                site.unit_columns[unit.unit_id] = group
    else:  # subsites
        towns = site.zwgk.add(ids.next_column(), "乡镇信息公开", "xzxxgk")
        for unit in units:
            site.unit_columns[unit.unit_id] = nianbao
        for unit in by_level[TOWNSHIP]:
            subsite = towns.add(ids.next_column(), unit.short_name, unit.slug)
            subsite.add(ids.next_column(), "政务信息公开", "zwxxgk")
            site.unit_columns[unit.unit_id] = subsite.add(ids.next_column(), "政务信息公开年报", "zwxxgknb")


def _report_column(site: Site, report: AnnualReport) -> Column:
    """The column a report is listed in: its unit's column, or the year sub-column under it."""
    column = site.unit_columns[report.unit.unit_id]
    year_column = next((c for c in column.children if c.slug == f"{report.year}n"), None)
    return year_column or column

