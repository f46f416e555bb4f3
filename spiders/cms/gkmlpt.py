"""Guangdong gkmlpt (政府信息公开目录管理平台) and list APIs like it (portal_patterns.md §2.3): the `/gkmlpt/index` page
carries `window._CONFIG` with the site id (SID) and the category TREE; each category lists its articles through
`/gkmlpt/api/all/{category_id}?page={n}&sid={sid}`, a JSON object with `articles` (title, url) and `total`."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from scrapy import Request
from scrapy.http import Response, TextResponse

from spiders.cms.base import Cms, Entry, Link, same_site
from spiders.recognize import UnitNames, is_nianbao_column, normalize

API = re.compile(r"/api/all/(\d+)$")
# Keys of window._CONFIG, bare (SID: '…') or quoted as JSON ("SID": "…").
_SID = re.compile(r"""\bSID['"]?\s*[:=]\s*['"]?(\w+)""")
_TREE = re.compile(r"""\bTREE['"]?\s*[:=]\s*\[""")
FRAGMENTS = "fragments"  # request meta: the category ids the column URLs name
_TOTAL_KEYS = ("total", "totalCount", "total_count", "count", "recordCount")
_SIZE_KEYS = ("size", "pageSize", "page_size", "perPage", "per_page")


class Gkmlpt(Cms):
    name = "json_api"

    def detect(self, response: Response) -> bool:
        path = urlsplit(response.url).path
        if API.search(path):
            return True
        return isinstance(response, TextResponse) and "/gkmlpt/" in path and "_CONFIG" in response.text

    def entries(self, response: Response) -> list[Entry]:
        data = _json(response)
        if data is None:
            return []
        entries = []
        for article in _articles(data):
            url = response.urljoin(str(article.get("url") or article.get("link") or ""))
            title = normalize(str(article.get("title") or ""))
            if title and same_site(url, response.url):
                entries.append(Entry(url, title))
        return entries

    def next_page(self, response: Response) -> Request | None:
        data = _json(response)
        if data is None:
            return None
        shown = len(list(_articles(data)))
        query = parse_qs(urlsplit(response.url).query)
        page = int(query.get("page", ["1"])[0])
        numbers = {k: int(v) for k, v in data.items() if str(v).isdigit()} if isinstance(data, dict) else {}
        total = next((numbers[k] for k in _TOTAL_KEYS if k in numbers), None)
        size = next((numbers[k] for k in _SIZE_KEYS if k in numbers), shown)
        # Without a page size, the last (shorter) page undercounts what came before: at worst one empty page more.
        if not shown or (total is not None and (page - 1) * size + shown >= total):
            return None
        query["page"] = [str(page + 1)]
        return Request(response.urljoin(f"{urlsplit(response.url).path}?{urlencode(query, doseq=True)}"))

    def sub_columns(self, response: Response, names: UnitNames) -> list[Link]:
        """On the index page: the API of each 年报 category and of the year and unit categories below it, and of
        the categories the column URLs name (`…/gkmlpt/index#<id>`, ids in the request meta `FRAGMENTS`) even when
        the TREE lacks them: a moved category answers at its old API path with a redirect or a 404."""
        if not isinstance(response, TextResponse) or API.search(urlsplit(response.url).path):
            return []
        sid = _SID.search(response.text)
        if sid is None:
            return []
        wanted = [f for f in (response.meta.get(FRAGMENTS) or ()) if f.isdigit()] if response.request else []
        api = response.urljoin(urlsplit(response.url).path.rsplit("/gkmlpt/", 1)[0] + "/gkmlpt/api/all/")
        query = urlencode({"page": 1, "sid": sid.group(1)})
        found = {f"{api}{f}?{query}": Link(f"{api}{f}?{query}", "") for f in wanted}

        def is_root(category: dict[str, Any]) -> bool:
            return str(category["id"]) in wanted or is_nianbao_column(str(category.get("name", "")))

        for category in _branch(_tree(response.text) or [], is_root):
            url = f"{api}{category['id']}?{query}"
            found[url] = Link(url, normalize(str(category.get("name", ""))))
        return list(found.values())

    def nianbao_columns(self, response: Response) -> list[Link]:
        """The index page itself when its TREE has a 年报 category: as a column, it lists the category and the year
        and unit categories below it (sub_columns), which only the TREE names."""
        if not isinstance(response, TextResponse) or API.search(urlsplit(response.url).path):
            return []
        tree = _tree(response.text) or []
        roots = [c for c in _branch(tree, lambda c: is_nianbao_column(str(c.get("name", ""))))]
        return [Link(response.url, normalize(str(roots[0].get("name", ""))))] if roots else []


def _json(response: Response) -> Any:
    if not isinstance(response, TextResponse):
        return None
    try:
        return json.loads(response.text)
    except ValueError:
        return None


def _articles(data: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    """The list of articles wherever the API puts it (`articles`, `data.list`, …): dicts with a url and a title."""
    if depth > 3:
        return
    if isinstance(data, list):
        if data and all(isinstance(d, dict) and ("url" in d or "link" in d) and "title" in d for d in data):
            yield from data
            return
        for item in data:
            yield from _articles(item, depth + 1)
    elif isinstance(data, dict):
        for value in data.values():
            if isinstance(value, list | dict):
                yield from _articles(value, depth + 1)


def _tree(text: str) -> list[dict[str, Any]] | None:
    """The TREE array of window._CONFIG, cut out by bracket matching (the rest of the object is JavaScript)."""
    match = _TREE.search(text)
    if match is None:
        return None
    start = match.end() - 1
    depth = 0
    quote = ""
    for i in range(start, len(text)):
        char = text[i]
        if quote:
            if char == quote and text[i - 1] != "\\":
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                try:
                    tree = json.loads(text[start : i + 1])
                except ValueError:
                    return None
                return tree if isinstance(tree, list) else None
    return None


def _branch(nodes: list[Any], is_root: Callable[[dict[str, Any]], bool], inside: bool = False) -> Iterator[dict[str, Any]]:
    """The categories at and below those `is_root` picks (the 年报 category and its year and unit categories)."""
    for node in nodes:
        if not isinstance(node, dict) or "id" not in node:
            continue
        below = inside or is_root(node)
        if below:
            yield node
        yield from _branch(node.get("children") or [], is_root, below)
