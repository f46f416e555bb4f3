"""Plain static lists, the fallback family (portal_patterns.md §2.3): numbered pages (`?page=N`, `/N.html`,
`index_N.shtml`, `column-index-N.shtml`) reached through «下一页» links; when «下一页» is a script, the «尾页» link
shows where the page number sits and the next page is the current one plus one."""

from __future__ import annotations

import re

from scrapy import Request
from scrapy.http import Response, TextResponse

from spiders.cms.base import Cms, Link, links, same_site

_NEXT = re.compile(r"^(?:下一页|下页|后一页|>|›|»|下一页>+|>>)$")
_LAST = re.compile(r"^(?:尾页|末页|最后一页|>>\||»\|)$")
_NUMBER = re.compile(r"\d+")


class Static(Cms):
    name = "static"

    def detect(self, response: Response) -> bool:
        return isinstance(response, TextResponse)

    def next_page(self, response: Response) -> Request | None:
        if not isinstance(response, TextResponse):
            return None
        found = [link for link in links(response) if same_site(link.url, response.url) and link.url != response.url]
        following = next((link for link in found if _NEXT.match(link.text)), None)
        if following is not None:
            return Request(following.url)
        last = next((link for link in found if _LAST.match(link.text)), None)
        return _after(response.url, last) if last is not None else None


def _after(current: str, last: Link) -> Request | None:
    """The page after `current` when the last page is `last`, both URLs differing only in the page number. A first
    page that carries no number (`index.htm`) has its «下一页» link in every CMS seen so far."""
    last_numbers = list(_NUMBER.finditer(last.url))
    if not last_numbers:
        return None
    for match in reversed(last_numbers):
        head, tail = last.url[: match.start()], last.url[match.end() :]
        if current.startswith(head) and current.endswith(tail) and len(current) > len(head) + len(tail):
            number = current[len(head) : len(current) - len(tail)]
            if not number.isdigit():
                continue
            following = int(number) + 1
            return Request(f"{head}{following}{tail}") if following <= int(match.group()) else None
    return None
