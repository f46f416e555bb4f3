"""What every CMS adapter shares: the links of an HTML list page, read as article entries, sub-columns and pager.

An adapter is data (URL patterns of its articles, words of its pager script) and a few functions over a list
response: `detect`, `entries`, `next_page`, `sub_columns`. Families differ mostly in how a column pages (a
script call, a POSTed data proxy, a JSON API, «下一页» links); reading the links of a list is the same everywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from posixpath import dirname
from urllib.parse import urldefrag, urlsplit
from weakref import WeakKeyDictionary

from parsel import Selector
from scrapy import Request
from scrapy.http import Response, TextResponse

from spiders.recognize import UnitNames, is_nianbao_column, is_sub_column, judge_title, normalize, title_years

# Article URLs of the families in portal_patterns.md §2, and the generic shape of the rest: a last path segment
# with a long document number or a 32-hex id (content_2051703.html, xxgk-show-136188.html). Column ids run to
# five digits (/zwgk/go12345.jsp); a report title with a year marks an article whatever its URL (is_entry).
ARTICLE_PATTERNS = (
    re.compile(r"/t\d{8}_\d+(?:_wap)?\.s?html?$"),  # TRS: 202101/t20210116_4743388.html
    re.compile(r"/art/\d{4}/\d{1,2}/\d{1,2}/art_\d+_\d+\.html$"),  # Hanweb: /art/2022/1/11/art_1229358718_4858173.html
    re.compile(r"/col/col\d+/art/\d{4}/art_[0-9a-f]+\.html$"),  # Hanweb, Zhejiang variant
    re.compile(r"/post_\d+\.html$"),  # gkmlpt and Guangdong content/post_<id>.html
    re.compile(r"/info/\d+/\d+\.htm$"),  # 博达/VSB
    re.compile(r"(?:\d{6,}|[0-9a-f]{32})[^/]*\.(?:s?html?|jhtml|aspx|jsp)$", re.IGNORECASE),
)
ATTACHMENT = re.compile(r"\.(pdf|docx?|xlsx?|wps|et)$", re.IGNORECASE)
# Links that lead nowhere a crawler should go.
_NOT_A_PAGE = re.compile(r"^(?:javascript:|mailto:|tel:|#)", re.IGNORECASE)
_CDATA = re.compile(r"<!\[CDATA\[(.*?)\]\]>", re.DOTALL)


@dataclass(frozen=True)
class Entry:
    """An article as a list shows it."""

    url: str
    title: str


@dataclass(frozen=True)
class Link:
    url: str
    text: str


def is_article(url: str) -> bool:
    path = urlsplit(url).path
    return any(p.search(path) for p in ARTICLE_PATTERNS)


def is_entry(link: Link) -> bool:
    """An article link of a list: its URL has an article's shape, or its text is a dated report title."""
    return is_article(link.url) or bool(title_years(link.text) and judge_title(link.text).fetch)


def is_attachment(url: str) -> bool:
    return bool(ATTACHMENT.search(urlsplit(url).path))


def same_site(url: str, base: str) -> bool:
    return urlsplit(url).hostname == urlsplit(base).hostname


def folder(url: str) -> str:
    """The directory a page sits in: a column's folder for static CMSs (…/zfxxgknb/ for …/zfxxgknb/index_1.html)."""
    path = urlsplit(url).path or "/"
    return path if path.endswith("/") else dirname(path) + "/"


# A page's links, read once: a list page is asked for its entries, its sub-columns and its pager.
_LINKS: WeakKeyDictionary[TextResponse, list[Link]] = WeakKeyDictionary()


def links(response: TextResponse, html: str | None = None) -> list[Link]:
    """Every followable link of a page (or of an HTML fragment of it), absolute and without fragment, with the
    text a reader sees: the link's title attribute when lists truncate the text («…»)."""
    if html is None:
        if response not in _LINKS:
            _LINKS[response] = _read_links(response, response.selector)
        return _LINKS[response]
    return _read_links(response, TextResponse(response.url, body=html.encode(), encoding="utf-8").selector)


def _read_links(response: TextResponse, selector: Selector) -> list[Link]:
    found = []
    for anchor in selector.xpath("//a[@href]"):
        element = anchor.root  # lxml directly: parsel's per-anchor selectors cost more than the rest of a list page
        href = (element.get("href") or "").strip()
        if not href or _NOT_A_PAGE.match(href):
            continue
        text = normalize(element.get("title") or "") or normalize("".join(element.itertext()))
        found.append(Link(urldefrag(response.urljoin(href))[0], text))
    return found


def cdata(text: str) -> str:
    """The HTML inside the CDATA sections of a Hanweb datastore (records are `<li>` fragments)."""
    return "\n".join(_CDATA.findall(text))


class Cms:
    """A CMS family. Subclasses set `name` and override what their family does differently."""

    name = "generic"

    def detect(self, response: Response) -> bool:
        raise NotImplementedError

    def entries(self, response: Response) -> list[Entry]:
        """The articles this list page lists, in list order."""
        assert isinstance(response, TextResponse)
        return entries_of(response, links(response))

    def next_page(self, response: Response) -> Request | None:
        """The list page after this one, or None on the last page."""
        raise NotImplementedError

    def sub_columns(self, response: Response, names: UnitNames) -> list[Link]:
        """Columns below this one: per-year and per-unit sub-columns (portal_patterns.md §1). A link is one when its
        text says so (2021年, 镇街, a unit's name) or, on path-based CMSs, when it leads into a deeper folder."""
        if not isinstance(response, TextResponse):
            return []
        here = folder(response.url)
        found = []
        for link in links(response):
            if not same_site(link.url, response.url) or is_entry(link) or is_attachment(link.url):
                continue
            there = folder(link.url)
            deeper = there != here and there.startswith(here)
            if deeper or is_sub_column(link.text) or names.link_unit(link.text):
                found.append(link)
        return found


    def nianbao_columns(self, response: Response) -> list[Link]:
        """Links to a 年报 column on a page on the way to it (政府信息公开 › 政府信息公开年报)."""
        if not isinstance(response, TextResponse):
            return []
        return [
            link for link in links(response)
            if same_site(link.url, response.url) and is_nianbao_column(link.text) and not is_entry(link)
        ]


def entries_of(response: Response, found: list[Link]) -> list[Entry]:
    seen: set[str] = set()
    entries = []
    for link in found:
        if link.text and link.url not in seen and same_site(link.url, response.url) and is_entry(link):
            seen.add(link.url)
            entries.append(Entry(link.url, link.text))
    return entries
