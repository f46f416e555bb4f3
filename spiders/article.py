"""What the spider reads from an article page: its title, its publisher and its file links.

By pattern over the text, not by parsing it: a Word-pasted report page runs to hundreds of kilobytes, the extractor
parses it anyway (in a worker process), and the crawl's own thread, which serves every portal, needs only these few
strings from it.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Iterator

from scrapy.http import Response, TextResponse

from spiders.cms.base import is_attachment
from spiders.recognize import normalize

_TITLE_METAS = ("articletitle", "title", "og:title")
_PUBLISHER_METAS = ("contentsource", "publisher", "author")
_META = re.compile(r"<meta\s[^>]*>", re.IGNORECASE)
_ATTRIBUTE = re.compile(r"""([\w:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""")
_HEADING = re.compile(r"<h1[^>]*>(.*?)</h1>", re.IGNORECASE | re.DOTALL)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
# The 索引号/发布机构/公开日期 table above an article (portal_patterns.md §5): the label's cell, then the value's.
_PUBLISHER_CELL = re.compile(r"发布机构\s*[:：]?\s*(?:</t[dh]>\s*<t[dh][^>]*>)?\s*(?:<[^>]+>\s*)*([^<]{2,40})")
# Links to files (spiders.cms.is_attachment has the last word): a Word-pasted page holds hundreds of other links.
# Matched in the page's bytes with their ASCII letters lowered (same length, so the spans hold in the original; pages
# are UTF-8 or GB18030, crawler.middlewares.EncodingMiddleware, in which no byte of a multi-byte character is a quote):
# a case-insensitive pattern has no literal to search for and took 5 times as long over a Word-pasted page.
_FILE_HREF = re.compile(rb"""href\s*=\s*["']([^"']+?\.(?:pdf|docx?|xlsx?|wps|et)(?:[?#][^"']*)?)["']""")
_SITE_SUFFIX = re.compile(r"[_|\-–—].*$")


def _text(fragment: str) -> str:
    return normalize(html.unescape(_TAG.sub("", fragment)))


@functools.lru_cache(maxsize=8)  # the title and the publisher are read from the same page
def _metas(text: str) -> dict[str, str]:
    head = text[: text.find("</head>")] if "</head>" in text else text[:20000]
    found = {}
    for tag in _META.findall(head):
        attributes = {m[0].lower(): next(v for v in m[1:] if v) if any(m[1:]) else "" for m in _ATTRIBUTE.findall(tag)}
        name = (attributes.get("name") or attributes.get("property") or "").lower()
        if name and attributes.get("content", "").strip():
            found.setdefault(name, _text(attributes["content"]))
    return found


def page_title(response: Response) -> str:
    """The article's title: a title meta, else its heading, else the page title without the site's name."""
    if not isinstance(response, TextResponse):
        return ""
    text = response.text
    metas = _metas(text)
    title = next((metas[name] for name in _TITLE_METAS if name in metas), "")
    if not title and (heading := _HEADING.search(text)):
        title = _text(heading.group(1))
    if not title and (page := _TITLE.search(text)):
        title = _SITE_SUFFIX.sub("", _text(page.group(1)))
    return title


def publisher(response: Response) -> str | None:
    if not isinstance(response, TextResponse):
        return None
    metas = _metas(response.text)
    named = next((metas[name] for name in _PUBLISHER_METAS if name in metas), None)
    if named:
        return named
    cell = _PUBLISHER_CELL.search(response.text)
    return _text(cell.group(1)) or None if cell else None


def file_links(response: Response) -> list[str]:
    """The attachments an article links (PDF, Word, spreadsheets), absolute, once each, in page order."""
    if not isinstance(response, TextResponse):
        return []
    return list(dict.fromkeys(_attachments(response)))


def _attachments(response: TextResponse) -> Iterator[str]:
    body = response.body
    for match in _FILE_HREF.finditer(body.lower()):
        href = body[match.start(1):match.end(1)].decode(response.encoding, errors="replace")
        url = response.urljoin(html.unescape(href.strip()))
        if is_attachment(url):
            yield url
