"""The simulated world without HTTP: deterministic per seed, consistent by construction, exported as a units file."""

from __future__ import annotations

import ipaddress
import json
import socket
from pathlib import Path

import pytest

from extract.schema import APPEAL_COLUMNS, APPEAL_GROUPS, REQUEST_COLUMNS, template_keys
from registry.units import load_units, save_units
from simulator import World, build_world, serve_world
from simulator.cms import cms_for
from simulator.server import WorldServer
from simulator.truth import ground_truth, registry_units
from simulator.world import CMS_FAMILIES, LAYOUTS, YEARS

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
