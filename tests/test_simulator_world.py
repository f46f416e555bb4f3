"""The simulated world without HTTP: deterministic per seed, consistent by construction, exported as a units file."""

from __future__ import annotations

import ipaddress
import json
import socket
from pathlib import Path

import pytest

from checks import narrative_similarity
from extract import extract_document
from extract.model import Report
from extract.schema import APPEAL_COLUMNS, APPEAL_GROUPS, REQUEST_COLUMNS, template_keys
from registry.units import load_units, save_units
from simulator import World, build_world, serve_world
from simulator.cms import cms_for
from simulator.documents import report_document
from simulator.render import render_text
from simulator.server import WorldServer
from simulator.truth import ground_truth, registry_units
from simulator.world import CMS_FAMILIES, LAYOUTS, YEARS, AnnualReport

PORT = 8080  # any: the truth is computed, not served


def _truth(world: World) -> dict:
    return ground_truth(world, {p.index: cms_for(world, p) for p in world.portals}, PORT)


def test_a_world_is_the_same_for_the_same_seed_and_differs_for_another() -> None:
    first, again, other = _truth(build_world(5, 3)), _truth(build_world(5, 3)), _truth(build_world(5, 4))
    assert json.dumps(first, sort_keys=True) == json.dumps(again, sort_keys=True)
    assert first["units"] != other["units"]


def test_served_pages_are_the_same_for_the_same_seed() -> None:
    bodies = []
    for _ in range(2):
        world = build_world(4, 5)
        with serve_world(world) as running:
            portal = world.portals[0]
            cms = cms_for(world, portal)
            paths = ["/", cms.column_path(portal.site.nianbao)] + [cms.article_path(a) for a in portal.site.articles[:30]]
            faulty = {f.path for f in portal.faults}
            pages = []
            for path in (p for p in paths if p not in faulty):
                connection = socket.create_connection((portal.host, running.port), timeout=5)
                connection.sendall(f"GET {path} HTTP/1.0\r\nHost: {portal.host}\r\n\r\n".encode())
                answer = b"".join(iter(lambda c=connection: c.recv(65536), b""))
                connection.close()
                pages.append(answer.split(b"\r\n\r\n", 1)[1])
            bodies.append(pages)
    assert bodies[0] == bodies[1]


def test_a_small_world_has_every_family_layout_and_year(sim_world: World) -> None:
    assert {p.cms for p in sim_world.portals} == set(CMS_FAMILIES)
    assert {p.layout for p in sim_world.portals} == set(LAYOUTS)
    assert all(sorted(u.reports) == list(YEARS) for u in sim_world.units)
    hosts = [p.host for p in sim_world.portals]
    assert len(set(hosts)) == len(hosts)
    assert all(ipaddress.ip_address(h).is_loopback for h in hosts)


def _column(fields: dict, row: str, col: str) -> float:
    return fields.get(f"requests.{row}.{col}") or 0


def test_clean_reports_satisfy_h1_to_h4_and_x1_x2_exactly() -> None:
    world = build_world(30, 9)
    truth = _truth(world)
    checked = 0
    for unit in truth["units"]:
        previous = None
        for report in unit["reports"]:
            clean = report["published"] and not set(report["defects"]) - {"late", "edited_after_publication"}
            if clean:
                checked += 1
                fields = report["fields"]
                assert set(fields) == set(template_keys(report["template"]))
                assert report["violations"] == []
                cols = [c.key for c in REQUEST_COLUMNS]
                for c in cols:  # H1
                    assert (_column(fields, "new_received", c) + _column(fields, "carried_over", c)
                            == _column(fields, "total_closed", c) + _column(fields, "carried_forward", c))
                rows = {k.split(".")[1] for k in fields if k.startswith("requests.")}
                for row in rows:  # H2
                    assert _column(fields, row, "total") == sum(_column(fields, row, c) for c in cols[:-1])
                for group in APPEAL_GROUPS:  # H4
                    parts = sum(fields[f"{group.key}.{c}"] or 0 for c, _ in APPEAL_COLUMNS[:-1])
                    assert fields[f"{group.key}.total"] in (parts, None)
                if report["template"] == "2019":  # P5: what was made this year is published, no more than that
                    made, published = fields["active.normative_docs.made"], fields["active.normative_docs.published"]
                    assert (published > 0 if made else published == 0) and published <= made
                if previous is not None and previous["published"]:  # X1, X2
                    for c in cols:
                        assert _column(fields, "carried_over", c) == _column(previous["fields"], "carried_forward", c)
                    if "active.normative_docs.in_force" in previous["fields"] and report["template"] == "2021":
                        assert fields["active.normative_docs.in_force"] == (
                            (previous["fields"]["active.normative_docs.in_force"] or 0)
                            + (fields["active.normative_docs.issued"] or 0)
                            - (fields["active.normative_docs.repealed"] or 0))
            previous = report
    assert checked > 2000


def test_defective_reports_break_what_their_defect_says(sim_world: World) -> None:
    rule_of = {"h1_broken": "H1", "h2_broken": "H2", "h3_broken": "H3", "h4_broken": "H4",
               "wrong_template": "H6", "rules_at_township": "P1"}
    for unit in sim_world.units:
        for report in unit.reports.values():
            if report.published_on is None:
                continue
            found = sim_world.truth_of(report).violations
            for defect, rule in rule_of.items():
                if defect in report.defects:
                    assert rule in found, (unit.name, report.year, defect, found)
            if "late" in report.defects:
                assert report.published_on > report.deadline
            elif report.published_on is not None:
                assert report.published_on <= report.deadline


def _prose(world: World, report: AnnualReport) -> Report:
    """The report's prose as the extractor hands it to the copy check."""
    doc = report_document(world, report)
    narrative = {n: "\n".join(p) for n, p in doc.narrative.items() if n not in doc.omit_sections}
    return Report(unit=None, year=report.year, template=None, title=None, narrative=narrative)


def test_honest_prose_changes_every_year_and_a_copy_repeats_it() -> None:
    world = build_world(12, 5)
    honest, copies = [], []
    for unit in world.units:
        for year in YEARS[1:]:
            before, report = unit.reports[year - 1], unit.reports[year]
            if before.published_on and report.published_on:
                similarity = narrative_similarity(_prose(world, before), _prose(world, report))
                (copies if "copy_of_last_year" in report.defects else honest).append(similarity)
    assert len(honest) > 500 and copies
    assert max(honest) < 0.75  # far from the 90 % of a copy (report_format.md §3.2 X4)
    assert min(copies) >= 0.95


def test_a_copy_of_a_copy_repeats_the_report_written_anew() -> None:
    world = build_world(3, 2)
    unit = next(u for u in world.units if all(u.reports[y].published_on and not u.reports[y].defects for y in (2022, 2023, 2024)))
    for year in (2023, 2024):  # before any truth is computed: 2024 copies 2023, which copies 2022
        unit.reports[year].defects.append("copy_of_last_year")
    first, second, third = (unit.reports[y] for y in (2022, 2023, 2024))
    assert third.copied_from is first and second.copied_from is first
    assert world.truth_of(third).fields == world.truth_of(first).fields
    assert narrative_similarity(_prose(world, second), _prose(world, third)) >= 0.95


def test_a_report_without_tables_prints_no_table_text_and_breaks_no_number_rule(sim_world: World) -> None:
    truth = _truth(sim_world)
    bare = [(u, r) for u in sim_world.units for r in u.reports.values() if "tables_missing" in r.defects and r.published_on]
    assert bare
    for unit, report in bare:
        (extracted,) = extract_document(render_text(report_document(sim_world, report)).encode())
        assert extracted.missing_tables == ["二", "三", "四"] and extracted.sections == list("一二三四五六")
        assert extracted.template is None and not any(extracted.values.values())
        entry = next(e for u in truth["units"] if u["unit_id"] == unit.unit_id for e in u["reports"] if e["year"] == report.year)
        assert entry["template"] is None and entry["missing_tables"] == ["二", "三", "四"]
        assert entry["violations"] == [] and not any(entry["fields"].values())
        after = unit.reports.get(report.year + 1)
        if after is not None and after.published_on:  # nothing printed to carry over from
            assert sim_world.truth_of(after).prior is None


def test_the_units_file_round_trips_and_leaves_some_columns_to_discover(sim_world: World, tmp_path: Path) -> None:
    units = registry_units(sim_world, {p.index: cms_for(sim_world, p) for p in sim_world.portals}, PORT)
    for name in ("units.csv", "units.yaml"):
        save_units(units, tmp_path / name)
        assert load_units(tmp_path / name) == units
    assert {u.unit_id for u in units} == {u.unit_id for u in sim_world.units}
    assert any(u.column_urls for u in units) and any(not u.column_urls for u in units)
    assert all(u.portal_url.startswith("http://127.") for u in units)
    assert {len(u.division_code) for u in units} == {12}


def test_only_loopback_addresses_are_served(sim_world: World) -> None:
    portal = sim_world.portals[0]
    real_host = portal.host
    portal.host = "192.168.1.10"
    try:
        with pytest.raises(ValueError, match="loopback"):
            WorldServer(sim_world)
    finally:
        portal.host = real_host


def test_the_server_stops_cleanly_and_frees_its_addresses() -> None:
    world = build_world(3, 1)
    with serve_world(world) as running:
        host, port = running.hosts[0], running.port
        socket.create_connection((host, port), timeout=2).close()
    with pytest.raises(OSError):
        socket.create_connection((host, port), timeout=2)


def test_too_many_portals_is_refused() -> None:
    with pytest.raises(ValueError, match="portals"):
        build_world(10_000, 1)
