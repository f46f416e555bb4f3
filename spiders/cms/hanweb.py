"""Hanweb / jpaas ("jcms") columns (portal_patterns.md §2.2): `/col/col<COL>/index.html` embeds its first records as
CDATA `<li>`s of a `<datastore>`; later pages come from `POST /module/web/jpage/dataproxy.jsp?startrecord=…&endrecord=…
&perpage=…&columnid=…&unitid=…&webid=…`, answering the same XML. unitid and webid are only found in the column
page's embedded script, so the spider carries them from page to page in the request meta."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlencode, urlsplit

from scrapy import Request
from scrapy.http import Response, TextResponse

from spiders.cms.base import Cms, Entry, cdata, entries_of, links

PROXY_PATH = "/module/web/jpage/dataproxy.jsp"
META = "hanweb"  # request meta key of the column's proxy parameters
_COLUMN_IN_URL = re.compile(r"/col/col(\d+)/")
_PARAM = {
    name: re.compile(rf"""\b{name}\s*(?:=|:)\s*['"]?(\d+)""", re.IGNORECASE)
    for name in ("columnid", "unitid", "webid", "perpage", "totalrecord")
}
_JPAGE_DIV = re.compile(r"""\$\(\s*['"]#(\d+)['"]\s*\)\.jpage""")
# The jpage call's quoted value first; the nextgroup link's query carries it percent-encoded.
_WEBNAME = (re.compile(r"""webname\s*:\s*['"]([^'"]*)['"]""", re.IGNORECASE), re.compile(r"webname=([^&'\"\s]*)", re.IGNORECASE))
_RECORD_TOTAL = re.compile(r"<totalrecord>\s*(\d+)\s*</totalrecord>", re.IGNORECASE)
_PAGES_TOTAL = re.compile(r"共\s*(\d+)\s*条")
_RECORD = re.compile(r"<record[\s>]", re.IGNORECASE)


class Hanweb(Cms):
    name = "hanweb"

    def detect(self, response: Response) -> bool:
        if urlsplit(response.url).path.endswith("dataproxy.jsp"):
            return True
        return isinstance(response, TextResponse) and ("<datastore>" in response.text or "jpage" in response.text)

    def entries(self, response: Response) -> list[Entry]:
        assert isinstance(response, TextResponse)
        # Records are CDATA inside a <script type="text/xml"> (or the proxy's XML): no HTML parser sees them as links.
        return entries_of(response, links(response, cdata(response.text)) + links(response))

    def params(self, response: TextResponse) -> dict[str, str] | None:
        """The proxy parameters of the column: from the meta of a proxy answer, else from the column page."""
        if META in response.meta:
            return response.meta[META]
        text = response.text
        found = {name: m.group(1) for name, p in _PARAM.items() if (m := p.search(text))}
        column = _COLUMN_IN_URL.search(response.url)
        if column:
            found.setdefault("columnid", column.group(1))
        div = _JPAGE_DIV.search(text)
        if div:
            found.setdefault("unitid", div.group(1))
        if not {"columnid", "unitid", "webid"} <= found.keys():
            return None
        webname = next((m.group(1) for p in _WEBNAME if (m := p.search(text))), "")
        found["webname"] = unquote(webname)
        found.setdefault("perpage", "15")
        found["start"] = "1"
        return found

    def next_page(self, response: Response) -> Request | None:
        if not isinstance(response, TextResponse):
            return None
        params = self.params(response)
        if params is None:
            return None
        per_page = int(params["perpage"])
        shown = len(_RECORD.findall(response.text)) or len(self.entries(response))
        start = int(params["start"]) + shown
        total = _RECORD_TOTAL.search(response.text) or _PAGES_TOTAL.search(response.text)
        total_records = int(total.group(1)) if total else int(params.get("totalrecord", 0))
        if not shown or (start > total_records if total_records else shown < per_page):
            return None
        query = {
            "startrecord": start,
            "endrecord": start + per_page - 1,
            "perpage": per_page,
            "columnid": params["columnid"],
            "unitid": params["unitid"],
            "webid": params["webid"],
        }
        # jpage.js POSTs the column's identity as a form and the record range in the query; servers read both.
        form = {"col": 1, "appid": 1, "webid": params["webid"], "path": "/", "columnid": params["columnid"],
                "sourceContentType": 1, "unitid": params["unitid"], "webname": params["webname"], "permissiontype": 0}
        return Request(
            response.urljoin(f"{PROXY_PATH}?{urlencode(query)}"),
            method="POST",
            body=urlencode(form),
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"},
            meta={META: {**params, "start": str(start)}},
        )
