"""Which portal misbehaves where: the fault plan of a world (world.FAULTS), deterministic per seed.

Faults that would make reports unreachable for good are rare and named in the ground truth (a dead report
link, a moved column); the rest are transient (bursts, resets, truncation, timeouts: only the first requests of
a path) or cost only time, so a crawler that retries and follows redirects still finds every report.
"""

from __future__ import annotations

import random
from posixpath import dirname

from simulator.cms import Cms
from simulator.world import FAULTS, Fault, Portal, World, rng_for

STALL_SECONDS = 30.0  # how long a read-timeout answer hangs before the server drops it
_CHANCE = 0.12  # of each fault kind on a portal, besides the one-of-each guarantee
_ROOT_LAYOUTS = ("flat", "by_year", "subsites")  # layouts whose units file records the 年报 column itself


def list_request_path(cms: Cms, portal: Portal) -> str:
    """The path a crawler requests to list the portal's 年报 column."""
    column = portal.site.nianbao
    if cms.is_page(column):
        return cms.column_path(column)
    return f"/gkmlpt/api/all/{column.column_id}"


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
