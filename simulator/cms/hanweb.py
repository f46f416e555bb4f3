"""Hanweb/jpaas ("jcms") portals: `/col/col<id>/index.html` column pages whose first records sit in an embedded
`<datastore>` and whose later records come from `POST /module/web/jpage/dataproxy.jsp` as XML records in CDATA;
the unitid/webid the proxy needs are only in the column page's script (portal_patterns.md §2.2).
Articles: `/art/YYYY/M/D/art_<col>_<id>.html`, no zero padding."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from simulator.cms.base import Cms, Page, esc, iso
from simulator.site import Article, Column

DATAPROXY = "/module/web/jpage/dataproxy.jsp"
_MOST_RECORDS = 300  # one proxy call answers at most this many records


class Hanweb(Cms):
    family = "hanweb"

    @property
    def webid(self) -> int:
        return 1 + self.portal.index % 200

    @staticmethod
    def unitid(column: Column) -> int:
        # The id of the list module on the column page, not of the column.
        return 20000 + column.column_id * 7 % 70000

    def list_path(self, column: Column, page: int) -> str:
        return f"/col/col{column.column_id}/index.html"

    def list_pages(self, column: Column) -> int:
        return 1  # later pages exist only through the proxy

    def article_path(self, article: Article) -> str:
        day = article.published_on
        return f"/art/{day.year}/{day.month}/{day.day}/art_{article.column.column_id}_{article.doc_id}.html"

    def _record(self, article: Article) -> str:
        return (
            f'<li><a href="{esc(self.article_path(article))}" target="_blank" title="{esc(article.title)}">'
            f"{esc(article.title)}</a><span>{iso(article.published_on)}</span></li>"
        )

    def list_body(self, column: Column, page: int, articles: list[Article]) -> str:
        total = len(column.visible_articles(self.world.today))
        unitid, size = self.unitid(column), self.portal.page_size
        records = "".join(f"<record><![CDATA[{self._record(a)}]]></record>" for a in articles)
        query = (f"col=1&appid=1&webid={self.webid}&path=/&columnid={column.column_id}&sourceContentType=1"
                 f"&unitid={unitid}&webname={quote(self.portal.site_name)}&permissiontype=0")
        return "\n".join(
            [
                f'<div id="{unitid}"><script type="text/xml"><datastore><nextgroup><![CDATA[<a href="{DATAPROXY}'
                f'?page=1&{esc(query)}"></a>]]></nextgroup><recordset>{records}</recordset></datastore></script></div>',
                '<script language="javascript" src="/module/web/jpage/jpage.js"></script>',
                "<script>$(document).ready(function(){",
                f"  $('#{unitid}').jpage({{dataStore: dataStore, perPage: {size}, totalRecord: {total}, "
                f"groupSize: 3, proxyUrl: '{DATAPROXY}', col: 1, appid: 1, webid: {self.webid}, path: '/', "
                f"columnid: {column.column_id}, unitid: {unitid}, sourceContentType: 1, "
                f"webname: '{esc(self.portal.site_name)}', permissiontype: 0}});",
                "});</script>",
            ]
        )

    def dynamic(self, method: str, path: str, query: Mapping[str, str], form: Mapping[str, str], base: str) -> Page | None:
        if path != DATAPROXY:
            return None
        params = {**query, **form}
        column = next((c for c in self.site.columns if str(c.column_id) == params.get("columnid")), None)
        articles: list[Article] = []
        total = 0
        # The proxy answers an empty store, not an error, to a call whose ids do not fit together.
        if column is not None and params.get("unitid") == str(self.unitid(column)) \
                and params.get("webid") == str(self.webid):
            visible = column.visible_articles(self.world.today)
            total = len(visible)
            start = max(1, _int(params.get("startrecord"), 1))
            end = min(_int(params.get("endrecord"), start + self.portal.page_size - 1), start + _MOST_RECORDS - 1)
            articles = visible[start - 1:end]
        records = "".join(f"<record><![CDATA[{self._record(a)}]]></record>\n" for a in articles)
        xml = (f'<?xml version="1.0" encoding="UTF-8"?>\n<datastore>\n<totalrecord>{total}</totalrecord>\n'
               f"<recordset>\n{records}</recordset>\n</datastore>\n")
        return Page(xml.encode("utf-8"), "text/xml", "utf-8")

    def old_column_path(self) -> str:
        return f"/col/col{self.site.nianbao.column_id + 500000}/index.html"


def _int(text: str | None, default: int) -> int:
    return int(text) if text and text.isdigit() else default
