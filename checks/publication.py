"""Publication rules: deadlines (report_format.md §1.2), reachability and silent changes.

Pure functions over plain values (dates, nightly outcomes, version lists) so the storage layer can feed them
from the database and a single file can be checked without one.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import pairwise
from typing import NamedTuple

from checks.findings import Finding, Subject
from registry.units import COUNTY_DEPARTMENT, COUNTY_GOVERNMENT, LEVELS, TOWNSHIP, Unit

DateLike = date | str


def as_date(value: DateLike) -> date:
    """A date from a `date` or an ISO 8601 string (a timestamp's time part is ignored)."""
    return value if isinstance(value, date) else date.fromisoformat(value[:10])


def _month_day(text: str) -> tuple[int, int]:
    month, day = (int(part) for part in text.split("-"))
    return month, day


@dataclass(frozen=True)
class DeadlinePolicy:
    """When a report on year Y is due, as "MM-DD" of year Y+1.

    Defaults follow 条例 第四十九条 for county departments (01-31) and county governments (03-31); townships are
    not named in the 条例 and default to the de-facto 01-31 (report_format.md §1.2). `provinces` overrides the
    default per province and level (e.g. {"湖南省": {"township": "02-20"}}); a unit's own `deadline` overrides all.
    """

    defaults: Mapping[str, str] = field(
        default_factory=lambda: {COUNTY_DEPARTMENT: "01-31", COUNTY_GOVERNMENT: "03-31", TOWNSHIP: "01-31"}
    )
    provinces: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for level, text in (*self.defaults.items(), *(i for p in self.provinces.values() for i in p.items())):
            if level not in LEVELS:
                raise ValueError(f"deadline policy: unknown level {level!r}")
            month, day = _month_day(text)
            if not (1 <= month <= 12 and 1 <= day <= 31):
                raise ValueError(f"deadline policy: {text!r} is not MM-DD")

    def deadline_for(self, level: str, year: int, province: str | None = None, unit_deadline: str | None = None) -> date:
        """The last day a report on `year` may be published: the unit's own date, else the province's
        date for its level, else the level's default."""
        month_day = unit_deadline or self.provinces.get(province or "", {}).get(level) or self.defaults[level]
        return deadline_date(month_day, year)

    def deadline(self, unit: Unit, year: int) -> date:
        return self.deadline_for(unit.level, year, unit.province, unit.deadline)


DEFAULT_POLICY = DeadlinePolicy()


def deadline_date(month_day: str, year: int) -> date:
    month, day = _month_day(month_day)
    # "02-29" must still mean the end of February in a common year.
    return date(year + 1, month, min(day, calendar.monthrange(year + 1, month)[1]))


def unit_subject(unit: Unit, year: int | None, source_url: str | None = None) -> Subject:
    return Subject(unit.unit_id, unit.name, year, source_url)


def check_publication(
    unit: Unit,
    year: int,
    published_on: DateLike | None,
    as_of: DateLike,
    policy: DeadlinePolicy = DEFAULT_POLICY,
    *,
    source_url: str | None = None,
) -> list[Finding]:
    """`not_published` when nothing is out and the deadline has passed by `as_of`; `late` when the report
    came out after the deadline. A report due today is not missing yet: the deadline day itself counts."""
    due = policy.deadline(unit, year)
    return publication_findings(unit_subject(unit, year, source_url), unit.level, due, published_on, as_of)


def publication_findings(
    subject: Subject, level: str, due: date, published_on: DateLike | None, as_of: DateLike
) -> list[Finding]:
    """`check_publication` for a unit the registry may not know (a report read from a file)."""
    year = subject.year
    who = f"{subject.unit_name}（{LEVELS[level]}）"
    if published_on is None:
        today = as_date(as_of)
        if today <= due:
            return []
        days = (today - due).days
        return [
            subject.finding(
                "not_published",
                "",
                f"{who}{year}年度报告应于{due.isoformat()}前发布，截至{today.isoformat()}（逾期{days}天）仍未发现",
                f"{subject.unit_name} ({level}): the {year} report was due by {due.isoformat()}; none found as of "
                f"{today.isoformat()} ({days} days overdue)",
                (("deadline", due.isoformat()), ("as_of", today.isoformat())),
            )
        ]
    published = as_date(published_on)
    if published <= due:
        return []
    days = (published - due).days
    return [
        subject.finding(
            "late",
            "",
            f"{who}{year}年度报告于{published.isoformat()}发布，晚于截止日期{due.isoformat()} {days}天",
            f"{subject.unit_name} ({level}): the {year} report was published on {published.isoformat()}, "
            f"{days} days after the deadline {due.isoformat()}",
            (("published_on", published.isoformat()), ("deadline", due.isoformat())),
        )
    ]


def check_reachability(unit: Unit, outcomes: Sequence[bool], threshold: int = 3) -> list[Finding]:
    """`unreachable` when the last `threshold` or more nightly visits (oldest first, True = success)
    all failed; one success resets the count."""
    if threshold < 1:
        raise ValueError("threshold must be at least 1")
    failures = 0
    for ok in reversed(outcomes):
        if ok:
            break
        failures += 1
    if failures < threshold:
        return []
    return [
        unit_subject(unit, None).finding(
            "unreachable",
            "",
            f"{unit.name}的门户网站（{unit.portal_url}）已连续{failures}晚访问失败",
            f"the portal of {unit.name} ({unit.portal_url}) failed on the last {failures} nightly visits",
            (("consecutive_failures", failures), ("portal_url", unit.portal_url)),
        )
    ]


class Version(NamedTuple):
    """One stored version of a report page."""

    published_on: DateLike | None
    content_hash: str
    first_seen: DateLike


def check_versions(unit: Unit, year: int, versions: Sequence[Version | tuple]) -> list[Finding]:
    """`changed_after_publication` for every new content whose page kept the previous version's
    publication date. Versions without a date are skipped: with no date shown nothing says it was kept."""
    ordered = sorted((Version(*v) for v in versions), key=lambda v: as_date(v.first_seen))
    findings = []
    for before, after in pairwise(ordered):
        if after.content_hash == before.content_hash or before.published_on is None or after.published_on is None:
            continue
        if as_date(before.published_on) != as_date(after.published_on):
            continue
        seen = as_date(after.first_seen).isoformat()
        shown = as_date(after.published_on).isoformat()
        findings.append(
            unit_subject(unit, year).finding(
                "changed_after_publication",
                f"version:{seen}",
                f"{unit.name} {year}年度报告内容于{seen}发生变化，发布日期仍为{shown}",
                f"the {year} report of {unit.name} changed on {seen} while its publication date stayed {shown}",
                (
                    ("published_on", shown),
                    ("first_seen", seen),
                    ("content_hash_before", before.content_hash),
                    ("content_hash_after", after.content_hash),
                ),
            )
        )
    return findings
