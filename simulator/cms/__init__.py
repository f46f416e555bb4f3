"""The CMS families a portal can run (portal_patterns.md §2): each maps the site to its URLs and list pages."""

from __future__ import annotations

from simulator.cms.base import Cms, Page, Route
from simulator.cms.gkmlpt import Gkmlpt
from simulator.cms.hanweb import Hanweb
from simulator.cms.static import Static
from simulator.cms.trs import Trs
from simulator.world import Portal, World

FAMILIES: dict[str, type[Cms]] = {cls.family: cls for cls in (Trs, Hanweb, Gkmlpt, Static)}


def cms_for(world: World, portal: Portal) -> Cms:
    return FAMILIES[portal.cms](world, portal)


__all__ = ["FAMILIES", "Cms", "Page", "Route", "cms_for"]
