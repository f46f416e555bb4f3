"""Which portal misbehaves where: the fault plan of a world (world.FAULTS), deterministic per seed, and what a
crawler must record for each fault (`expected_error`).

Faults that would make reports unreachable for good are rare and named in the ground truth (a dead report
link, a moved column); the rest are transient (bursts, resets, truncation, timeouts: only the first requests of
a path) or cost only time, so a crawler that retries and follows redirects still finds every report.

A world built with fault_matrix=True has instead the fault matrix of issue 10 (`plan_fault_matrix`): 404, 410, 5xx,
timeouts, resets mid-body, cut bodies, redirect loops and escapes, robots.txt errors, a 50 MB page, a slow-loris page
and a replaced page, each for good on its own URL, on a fifth of the portals; the other portals are healthy.
"""

from __future__ import annotations

import random
from posixpath import dirname

from simulator.cms import Cms
from simulator.world import FAULTS, AnnualReport, Fault, Portal, World, rng_for

STALL_SECONDS = 30.0  # how long a read-timeout answer hangs before the server drops it
MATRIX_SHARE = 0.2  # of the portals in a fault-matrix world
OFFSITE_HOST = "127.0.9.253"  # where an offsite redirect points: another host, on which nothing listens
ROBOTS = "/robots.txt"
# What a crawler records for a fault that fails for good (spiders/base.py describe); the rest must not fail a fetch.
_ERRORS = {
    "not_found": "http_404",
    "gone": "http_410",
    "read_timeout": "timeout",
    "connection_reset": "connection",
    "truncated_body": "data_loss",
    "redirect_loop": "redirect",
    "robots_disallow": "robots",
    "reset_mid_body": "data_loss",
    "truncated_gzip": "truncated",
    "wrong_content_length": "truncated",
    "offsite_redirect": "offsite_redirect",
    "bad_scheme_redirect": "bad_scheme",
    "robots_error": "robots_error",
    "robots_timeout": "robots_error",
    "huge_page": "too_large",
    "slow_loris": "timeout",
}
_CHANCE = 0.12  # of each fault kind on a portal, besides the one-of-each guarantee
_ROOT_LAYOUTS = ("flat", "by_year", "subsites")  # layouts whose units file records the 年报 column itself


def list_request_path(cms: Cms, portal: Portal) -> str:
    """The path a crawler requests to list the portal's 年报 column."""
    column = portal.site.nianbao
    if cms.is_page(column):
        return cms.column_path(column)
    return f"/gkmlpt/api/all/{column.column_id}"


def expected_error(fault: Fault) -> str | None:
    """The error kind a crawler must record when it requests the fault's path; None when retrying or following
    redirects gets the page (a transient fault, a redirect chain, a slow answer)."""
    if fault.kind == "server_error_burst":
        return f"http_{fault.status or 500}" if fault.times is None else None
    if fault.kind == "moved_column":
        return "http_404" if fault.status == 404 else None
    if fault.times is not None:
        return None
    return _ERRORS.get(fault.kind)


def unreadable(fault: Fault) -> bool:
    """Whether the report of an article path with this fault cannot be read there."""
    return expected_error(fault) is not None or fault.kind == "changing_page"


def _report_article_paths(world: World, cms: Cms, portal: Portal) -> list[str]:
    return [
        cms.article_path(a)
        for a in portal.site.articles
        if a.report is not None and not a.repost and a.published_on <= world.today
    ]


def _fault(rng: random.Random, kind: str, world: World, cms: Cms, portal: Portal, taken: set[str]) -> Fault | None:
    """One fault of `kind` on a path no other fault of the portal uses; None when the portal offers none."""
    site = portal.site
    articles = [p for p in _report_article_paths(world, cms, portal) if p not in taken]
    if kind in ("not_found", "slow", "read_timeout", "truncated_body") and not articles:
        return None
    if kind == "not_found":
        return Fault(kind, rng.choice(articles))
    if kind == "slow":
        return Fault(kind, rng.choice(articles), seconds=round(rng.uniform(0.8, 1.5), 2))
    if kind == "read_timeout":
        return Fault(kind, rng.choice(articles), times=1, seconds=STALL_SECONDS)
    if kind == "truncated_body":
        return Fault(kind, rng.choice(articles), times=rng.randint(1, 2))
    if kind == "server_error_burst":
        return Fault(kind, list_request_path(cms, portal), times=rng.randint(2, 3), status=rng.choice((500, 503)))
    if kind == "connection_reset":
        lists = [cms.column_path(c) for c in site.unit_columns.values() if cms.is_page(c)]
        choices = [p for p in (*lists, *articles) if p not in taken]
        return Fault(kind, rng.choice(choices), times=rng.randint(1, 2)) if choices else None
    if kind == "redirect_chain":
        target = site.nianbao if cms.is_page(site.nianbao) else site.zfxxgk
        return Fault(kind, f"/zwgk/go{target.column_id}.jsp", target=cms.column_path(target))
    if kind == "redirect_loop":
        interpretations = next(c for c in site.zwgk.children if c.slug == "zcjd")
        return Fault(kind, f"/zwgk/go{interpretations.column_id}.jsp", target=cms.column_path(interpretations))
    if kind == "robots_disallow":
        news = cms.column_path(next(c for c in site.home.children if c.slug == "xwdt"))
        return Fault(kind, news if news.endswith("/") else dirname(news) + "/")  # the news column's folder
    if kind == "malformed_html":
        return Fault(kind, "*")
    if kind == "moved_column":
        if portal.layout not in _ROOT_LAYOUTS:
            return None
        return Fault(kind, cms.old_column_path(), status=rng.choice((404, 301)), target=list_request_path(cms, portal))
    raise ValueError(f"unknown fault kind {kind}")


def plan_faults(world: World, cms_of: dict[int, Cms]) -> None:
    """Give each portal its faults, and every fault kind at least one portal when the world can hold it."""
    rng = rng_for(world.seed, "faults")
    taken: dict[int, set[str]] = {p.index: set() for p in world.portals}

    def give(portal: Portal, kind: str) -> bool:
        if portal.faults_of(kind):
            return False
        fault = _fault(rng_for(world.seed, "fault", portal.index, kind), kind, world, cms_of[portal.index], portal,
                       taken[portal.index])
        if fault is None:
            return False
        portal.faults.append(fault)
        taken[portal.index].add(fault.path)
        return True

    for portal in world.portals:
        for kind in FAULTS:
            if rng.random() < _CHANCE:
                give(portal, kind)
    for kind in FAULTS:
        if not any(p.faults_of(kind) for p in world.portals):
            for portal in rng.sample(world.portals, len(world.portals)):
                if give(portal, kind):
                    break


# The matrix on the portals that do not carry a robots.txt fault (a portal without robots.txt is not crawled at all):
# each kind on its own report article, except the burst, on the 年报 column's list, which retries outlast.
_MATRIX_KINDS = ("not_found", "gone", "server_error_burst", "read_timeout", "reset_mid_body", "truncated_gzip",
                 "wrong_content_length", "redirect_loop", "offsite_redirect", "bad_scheme_redirect", "huge_page",
                 "slow_loris", "changing_page")
_ROBOTS_KINDS = ("robots_error", "robots_timeout")


def plan_fault_matrix(world: World, cms_of: dict[int, Cms]) -> None:
    """MATRIX_SHARE of the portals (at least three) carry the matrix; the others are healthy."""
    count = max(len(_ROBOTS_KINDS) + 1, round(MATRIX_SHARE * len(world.portals)))
    if count > len(world.portals):
        raise ValueError(f"a fault-matrix world needs at least {count} portals")
    rng = rng_for(world.seed, "fault matrix")
    faulty = rng.sample(world.portals, count)
    for portal, kind in zip(faulty, _ROBOTS_KINDS, strict=False):
        portal.faults.append(Fault(kind, ROBOTS, status=503) if kind == "robots_error"
                             else Fault(kind, ROBOTS, seconds=STALL_SECONDS))
    carriers = faulty[len(_ROBOTS_KINDS):]
    for position, kind in enumerate(_MATRIX_KINDS):
        portal = carriers[position % len(carriers)]
        cms = cms_of[portal.index]
        taken = {p for f in portal.faults for p in (f.path, f.target)}
        fault = _matrix_fault(rng_for(world.seed, "matrix fault", kind), kind, world, cms, portal, taken)
        portal.faults.append(fault)
    # A burst the retries outlast, on a list every carrier's reports are reached through.
    for portal in carriers:
        path = list_request_path(cms_of[portal.index], portal)
        portal.faults.append(Fault("server_error_burst", path, times=2, status=503))


def _matrix_fault(rng: random.Random, kind: str, world: World, cms: Cms, portal: Portal, taken: set[str | None]) -> Fault:
    """`kind` for good on a report article of the portal that no other fault uses."""
    articles = [p for p in _report_article_paths(world, cms, portal) if p not in taken]
    if len(articles) < 2:
        raise ValueError(f"portal {portal.host} has too few report articles for the fault matrix")
    path = rng.choice(articles)
    if kind == "server_error_burst":
        return Fault(kind, path, status=503)
    if kind == "read_timeout":
        return Fault(kind, path, seconds=STALL_SECONDS)
    if kind == "offsite_redirect":
        return Fault(kind, path, target=f"http://{OFFSITE_HOST}{path}")
    if kind == "bad_scheme_redirect":
        return Fault(kind, path, target="file:///etc/passwd")
    if kind == "changing_page":
        # Replaced by another unit's report on the same year: its title names the other unit.
        replaced = _report_of(cms, portal, path)
        others = [p for p in articles if p != path and (other := _report_of(cms, portal, p)).year == replaced.year
                  and other.unit is not replaced.unit]
        return Fault(kind, path, target=rng.choice(others or [p for p in articles if p != path]))
    return Fault(kind, path)


def _report_of(cms: Cms, portal: Portal, path: str) -> AnnualReport:
    return next(a.report for a in portal.site.articles if a.report is not None and cms.article_path(a) == path)
