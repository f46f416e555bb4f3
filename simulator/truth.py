"""What the world is, as of its `today`, for the tests and benchmarks that judge a crawl: the ground truth as
JSON-ready data, and the target list in the units-file format (registry/units.py)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

from extract.schema import SECTIONS
from registry.units import Unit
from simulator.cms import Cms
from simulator.documents import narrative_numbers, version_fields
from simulator.faults import ROBOTS, expected_error, unreadable
from simulator.render import TABLE_SECTIONS
from simulator.world import AnnualReport, Fault, Portal, SimUnit, World

ALL_SECTIONS = tuple(s.numeral for s in SECTIONS)


def base_url(portal: Portal, port: int) -> str:
    return f"http://{portal.host}:{port}"


def recorded_column_urls(cms: Cms, unit: SimUnit, port: int) -> tuple[str, ...]:
    """The column URLs the units file gives for a unit: none when unknown, the old one when the column moved."""
    if not unit.column_url_known:
        return ()
    portal, site = cms.portal, cms.site
    column = site.unit_columns[unit.unit_id]
    path = cms.old_column_url() if column is site.nianbao and portal.faults_of("moved_column") else cms.column_url(column)
    return (base_url(portal, port) + path,)


def registry_units(world: World, cms_of: dict[int, Cms], port: int) -> list[Unit]:
    """The world's target list, as the crawler reads it."""
    units = []
    for portal in world.portals:
        cms = cms_of[portal.index]
        for unit in portal.units:
            units.append(
                Unit(
                    unit_id=unit.unit_id,
                    name=unit.name,
                    division_code=unit.division_code,
                    level=unit.level,
                    province=portal.county.province,
                    parent_county=portal.county.name,
                    portal_url=base_url(portal, port) + "/",
                    column_urls=recorded_column_urls(cms, unit, port),
                    cms=portal.cms,
                    deadline=unit.deadline,
                    aliases=unit.aliases,
                )
            )
    return units


def _report_truth(world: World, cms: Cms, report: AnnualReport, base: str) -> dict[str, Any]:
    today = world.today
    entry: dict[str, Any] = {"year": report.year, "deadline": report.deadline.isoformat()}
    if not report.visible(today):
        # Not out yet (or never): what comes later is not part of today's truth.
        return entry | {"published": False, "defects": ["unpublished"] if "unpublished" in report.defects else []}
    truth = world.truth_of(report)
    fields = version_fields(world, report)
    site = cms.site
    articles = [a for a in site.articles_of(report) if a.published_on <= today]
    dead = {f.path for f in cms.portal.faults if unreadable(f)}
    closed = ROBOTS in dead  # no robots.txt, no crawling the portal (RFC 9309 §2.3.1.4)
    urls = [base + cms.article_path(a) for a in articles]
    defects = [d for d in report.defects if d != "edited_after_publication" or report.edited(today)]
    present = [s for s in ALL_SECTIONS if s not in report.omit_sections]
    entry |= {
        "published": True,
        "published_on": report.published_on.isoformat() if report.published_on else None,
        "late": report.late,
        "urls": urls,
        "dead_urls": [u for u, a in zip(urls, articles, strict=True) if closed or cms.article_path(a) in dead],
        "title": report.title,
        "unit_as_printed": report.unit.name,
        "template": truth.template if report.tables_printed else None,  # no table text, no template to tell
        "form": report.form,
        "encoding": report.encoding,
        "charset_header": report.charset_header,
        "meta_charset": report.meta_charset,
        "defects": defects,
        "violations": truth.violations,
        "sections": present,
        "missing_tables": [s for s in TABLE_SECTIONS if s in present] if "tables_missing" in report.defects else [],
        "image_only_sections": [s for s in TABLE_SECTIONS if s in present] if report.form == "image_only" else [],
        "other_as_single_row": report.other_as_single_row,
        "fields": fields,
        "narrative_numbers": narrative_numbers(truth, fields),
        "changed_cells": truth.changed_cells,
    }
    if report.reposted_on is not None and report.reposted_on <= today:
        entry["reposted_on"] = report.reposted_on.isoformat()
    if report.edited(today) and report.edited_on is not None:
        entry["edited_on"] = report.edited_on.isoformat()
        entry["original_fields"] = truth.original_fields
    return entry


def _fault_truth(fault: Fault, base: str) -> dict[str, Any]:
    # A fault of every page ("*") is shown by the home page's URL. `error`: what a crawler must record for the URL.
    entry: dict[str, Any] = {"kind": fault.kind, "url": base + (fault.path if fault.path != "*" else "/"),
                             "error": expected_error(fault)}
    if fault.path == "*":
        entry["every_page"] = True
    for name in ("times", "seconds", "status"):
        if getattr(fault, name) is not None:
            entry[name] = getattr(fault, name)
    if fault.target is not None:
        entry["target"] = urljoin(base, fault.target)  # a path, or another host's or scheme's URL
    return entry


def ground_truth(world: World, cms_of: dict[int, Cms], port: int) -> dict[str, Any]:
    """Per portal: CMS family, layout and faults; per unit and year: published or not, URLs, dates, template,
    fields, defects and the rules they break."""
    portals, units = [], []
    for portal in world.portals:
        cms = cms_of[portal.index]
        base = base_url(portal, port)
        portals.append(
            {
                "host": portal.host,
                "base_url": base + "/",
                "county": portal.county.name,
                "province": portal.county.province,
                "division_code": portal.county.division_code,
                "cms": portal.cms,
                "layout": portal.layout,
                "encoding": portal.encoding,
                "page_size": portal.page_size,
                "nianbao_column_url": base + cms.column_url(portal.site.nianbao),
                "robots_disallow": cms.robots_disallowed(),
                "faults": [_fault_truth(f, base) for f in portal.faults],
            }
        )
        for unit in portal.units:
            units.append(
                {
                    "unit_id": unit.unit_id,
                    "name": unit.name,
                    "level": unit.level,
                    "host": portal.host,
                    "column_url": base + cms.column_url(portal.site.unit_columns[unit.unit_id]),
                    "recorded_column_urls": list(recorded_column_urls(cms, unit, port)),
                    "reports": [_report_truth(world, cms, r, base) for r in unit.reports.values()],
                }
            )
    return {"seed": world.seed, "today": world.today.isoformat(), "portals": portals, "units": units}
