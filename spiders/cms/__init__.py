"""CMS adapters, one per family of portal_patterns.md §2; `adapter_for` picks the one a list response belongs to."""

from __future__ import annotations

from scrapy.http import Response

from spiders.cms.base import Cms, Entry, Link, is_article, is_attachment, links, same_site
from spiders.cms.gkmlpt import Gkmlpt
from spiders.cms.hanweb import Hanweb
from spiders.cms.static import Static
from spiders.cms.trs import Trs

# Most specific first: the static adapter takes any HTML page.
ADAPTERS: tuple[Cms, ...] = (Gkmlpt(), Hanweb(), Trs(), Static())


def adapter_for(response: Response) -> Cms | None:
    """The family of a list response, from the response itself: the units file's `cms` may be "unknown" or stale."""
    return next((adapter for adapter in ADAPTERS if adapter.detect(response)), None)


__all__ = ["ADAPTERS", "Cms", "Entry", "Link", "adapter_for", "is_article", "is_attachment", "links", "same_site"]
