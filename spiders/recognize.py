"""What a link or a page is, from its words: an annual report, a look-alike, a column on the way to the 年报 column.

Pure functions over titles and names, shared by the spider (list titles, article pages) and the pipeline (the
title and year the extractor read), so both sides reject the same look-alikes (report_format.md §1.4).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from registry.units import Unit

FIRST_YEAR = 2019  # reports before the 2019 条例 revision follow another format and are out of scope

_SPACE = re.compile(r"\s+")
_YEAR = re.compile(r"(?<!\d)((?:19|20)\d{2})\s*年")
# «…工作年度报告», «…年度报告», «…年度工作报告», «…年报»: the report's own name, after 信息公开 somewhere before it.
_REPORT = re.compile(r"(?:信息|政务)公开.{0,12}?(?:年度(?:工作)?报告|年报)")
# Pages about the reports that are no report (portal_patterns.md §5, report_format.md §1.4).
_LOOKALIKE = re.compile(
    r"通知|解读|图解|一图|读懂|格式|工作要点|要点|落实情况|函$|编制|报送|发布工作|答记者问|培训|考核|评估|排名|测评|问答|模板|样本|说明会|征集"
)
# Column names of the 年报 column itself (portal_patterns.md §1): short, no article-like words.
_NIANBAO_COLUMN = re.compile(r"年报|年度报告")
# Columns on the way down to it: 政务公开 › 政府信息公开, a township's 信息公开 sub-site, 公开目录.
_NAVIGATION = re.compile(r"政务公开|信息公开|公开目录|政府公开")
_NOT_NAVIGATION = re.compile(r"指南|申请|制度|规定|动态|解读|意见|信箱|邮箱")  # leaves beside the 年报 column
# Sub-columns under the 年报 column: per year, per level (县政府 / 县直部门 / 镇街 …).
_YEAR_COLUMN = re.compile(r"^(?:19|20)\d{2}\s*年?度?(?:年报|报告)?$")
_GROUP_COLUMN = re.compile(r"^(?:县|区|市|旗)?(?:人民)?政府$|部门|县直|区直|市直|乡镇|镇街|镇乡|(?:乡|镇|街道|办事处)$")
MAX_COLUMN_NAME = 16  # a column link's text; longer texts are article titles


def normalize(text: str) -> str:
    """NFKC (full-width digits and letters), no whitespace: how titles are compared."""
    return _SPACE.sub("", unicodedata.normalize("NFKC", text or ""))


def title_years(title: str) -> list[int]:
    return [int(y) for y in _YEAR.findall(normalize(title))]


def is_lookalike(title: str) -> bool:
    """A page about the reports (notice, 解读, the format, a letter about 工作要点) rather than a report."""
    return bool(_LOOKALIKE.search(normalize(title)))


@dataclass(frozen=True)
class Verdict:
    fetch: bool
    reason: str  # why not, or "report" / "maybe" (no year in the title: the content decides)


def rejection(title: str) -> str | None:
    """Why a report-like title is not one to keep: a look-alike, or a report older than FIRST_YEAR."""
    if is_lookalike(title):
        return "look-alike"
    years = title_years(title)
    if years and max(years) < FIRST_YEAR:
        return f"report on {max(years)}, before {FIRST_YEAR}"
    return None


def judge_title(title: str) -> Verdict:
    """Whether an article listed under `title` is worth fetching as a report candidate."""
    norm = normalize(title)
    if not _REPORT.search(norm):
        return Verdict(False, "not a report title")
    reason = rejection(norm)
    if reason:
        return Verdict(False, reason)
    return Verdict(True, "report" if title_years(norm) else "maybe")


def is_nianbao_column(text: str) -> bool:
    """A link to the 年报 column (政府信息公开年报, 信息公开年报, 2021年政府信息公开工作年度报告 …), not to a report."""
    norm = normalize(text)
    return bool(_NIANBAO_COLUMN.search(norm)) and not is_lookalike(norm) and len(norm) <= 2 * MAX_COLUMN_NAME


def is_navigation(text: str) -> bool:
    norm = normalize(text)
    return bool(_NAVIGATION.search(norm)) and not _NOT_NAVIGATION.search(norm) and len(norm) <= MAX_COLUMN_NAME


def is_sub_column(text: str) -> bool:
    """A year or level sub-column of the 年报 column (2021年, 镇街, 县直部门), not a navigation column such as
    乡镇信息公开 that a breadcrumb links back to."""
    norm = normalize(text)
    return (len(norm) <= MAX_COLUMN_NAME and not _NAVIGATION.search(norm)
            and bool(_YEAR_COLUMN.match(norm) or _GROUP_COLUMN.search(norm)))


class UnitNames:
    """The names and aliases a portal's units print, for telling whose report a title is."""

    def __init__(self, units: Iterable[Unit]) -> None:
        self._by_name: dict[str, set[str]] = {}
        self._named: dict[str, str | None] = {}  # text → unit: a portal's titles and links repeat a few names
        for unit in units:
            for name in (unit.name, *unit.aliases):
                if len(normalize(name)) >= 2:
                    self._by_name.setdefault(normalize(name), set()).add(unit.unit_id)

    def named(self, text: str | None) -> str | None:
        """The unit whose name or alias is `text` exactly, or ends it («中共某县委 某县人民政府»); None when
        ambiguous, unknown, or a unit not on the list (a 地方税务局 posting in the county's column)."""
        norm = normalize(text or "")
        if not norm:
            return None
        if norm not in self._named:
            self._named[norm] = self._unit_named(norm)
        return self._named[norm]

    def _unit_named(self, norm: str) -> str | None:
        exact = self._by_name.get(norm)
        if exact:
            return next(iter(exact)) if len(exact) == 1 else None
        ends = {uid for name, uids in self._by_name.items() if len(name) >= 3 and norm.endswith(name) for uid in uids}
        return next(iter(ends)) if len(ends) == 1 else None

    def of_title(self, title: str | None) -> tuple[str | None, bool]:
        """(unit, named): the unit a report title names before its year or 信息公开; `named` is False when the
        title names no one («2021年政府信息公开年度工作报告»), so other clues may decide."""
        prefix = title_prefix(title or "")
        if not prefix:
            return None, False
        return self.named(prefix), True

    def link_unit(self, text: str) -> str | None:
        """The unit a navigation link is named after (a township's sub-site, a department's column)."""
        return self.named(text)


_PREFIX_END = re.compile(r"(?:19|20)\d{2}\s*年|关于|(?:政府|政务)?信息公开|政务公开")


def title_prefix(title: str) -> str:
    """The words of a report title before its year (or before 关于 / 信息公开): who published it."""
    norm = normalize(title)
    match = _PREFIX_END.search(norm)
    prefix = norm[: match.start()] if match else ""
    return prefix.strip("：:-—_·|（）()【】[]《》\"'")


def resolve_unit(names: UnitNames, *, titles: Iterable[str | None], publisher: str | None, owner: str | None) -> str | None:
    """Whose report a page is: the first title that names a unit decides; a title naming someone not on the list
    means the report is nobody's here. Titles naming no one fall back on the page's publisher, then on the
    column's owner (a column that belongs to one unit)."""
    for title in titles:
        unit, named = names.of_title(title)
        if named:
            return unit
    return names.named(publisher) or owner
