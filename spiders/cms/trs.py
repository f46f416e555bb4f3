"""TRS-WCM static lists (portal_patterns.md §2.1): `index.html`, `index_1.html`, … whose only pager is a script call
`createPageHTML(pages, current, "index", "html")` (or the 3-number form `createPageHTML(records, pages, current, …)`,
or `var countPage = N`); articles in month folders, `./202101/t20210120_80576.html`."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.http import Response, TextResponse

from spiders.cms.base import Cms

_CALL = re.compile(r"createPageHTML\(\s*([^)]*)\)")
_VAR = re.compile(r"var\s+(\w+)\s*=\s*(\d+)")
_PAGE_IN_URL = re.compile(r"_(\d+)\.\w+$")


class Trs(Cms):
    name = "trs"

    def detect(self, response: Response) -> bool:
        return isinstance(response, TextResponse) and ("createPageHTML" in response.text or "var countPage" in response.text)

    def pager(self, response: TextResponse) -> tuple[int, str, str] | None:
        """(pages, prefix, extension) from the pager script; the current page comes from the URL, which cannot lie."""
        variables = dict(_VAR.findall(response.text))
        call = _CALL.search(response.text)
        if call is None:
            pages = variables.get("countPage")
            return (int(pages), "index", _extension(response.url)) if pages else None
        args = [a.strip().strip("'\"") for a in call.group(1).split(",")]
        numbers = [int(variables.get(a, a)) for a in args if variables.get(a, a).isdigit()]
        words = [a for a in args if a and not a.isdigit() and a not in variables]
        if not numbers:
            return None
        pages = numbers[1] if len(numbers) >= 3 else numbers[0]  # (records, pages, current) or (pages, current)
        prefix = words[0] if words else "index"
        extension = words[1] if len(words) > 1 else _extension(response.url)
        return pages, prefix, extension

    def next_page(self, response: Response) -> Request | None:
        if not isinstance(response, TextResponse):
            return None
        pager = self.pager(response)
        if pager is None:
            return None
        pages, prefix, extension = pager
        match = _PAGE_IN_URL.search(urlsplit(response.url).path)
        current = int(match.group(1)) if match else 0
        if current + 1 >= pages:
            return None
        return Request(response.urljoin(f"{prefix}_{current + 1}.{extension}"))


def _extension(url: str) -> str:
    path = urlsplit(url).path
    return path.rsplit(".", 1)[1] if "." in path.rsplit("/", 1)[-1] else "html"
