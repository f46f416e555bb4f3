"""Guangdong gkmlpt (政府信息公开目录管理平台) portals: the 政府信息公开 part is one script-built page,
`/gkmlpt/index`, whose `window._CONFIG` holds the SID and the category TREE; lists come from the JSON API
`/gkmlpt/api/all/{category}?page=n&sid=…`; articles are `/gkmlpt/content/<a>/<b>/post_<id>.html`
(portal_patterns.md §2.3). The rest of the portal is a plain static site."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone

from simulator.cms.base import Page, Route
from simulator.cms.static import Static
from simulator.site import Article, Column

INDEX = "/gkmlpt/index"
_API = re.compile(r"^/gkmlpt/api/all/(\d+)$")
_CHINA = timezone(timedelta(hours=8))


class Gkmlpt(Static):
    family = "json_api"

    @property
    def sid(self) -> str:
        return f"{self.portal.county.code6[:2]}{self.portal.index:04d}"

    def on_platform(self, column: Column) -> bool:
        return self.site.zfxxgk in column.lineage

    def column_path(self, column: Column) -> str:
        if column is self.site.zfxxgk:
            return INDEX
        if self.on_platform(column):
            return f"{INDEX}#{column.column_id}"
        return super().column_path(column)

    def is_page(self, column: Column) -> bool:
        return not self.on_platform(column) or column is self.site.zfxxgk

    def column_routes(self, column: Column) -> dict[str, Route]:
        if column is self.site.zfxxgk:
            return {INDEX: self._index}
        return {} if self.on_platform(column) else super().column_routes(column)

    def article_path(self, article: Article) -> str:
        if not self.on_platform(article.column):
            return super().article_path(article)
        doc = article.doc_id
        return f"/gkmlpt/content/{doc // 1000000}/{doc // 1000}/post_{doc}.html"

    def _tree(self, column: Column) -> dict[str, object]:
        return {"id": column.column_id, "name": column.name, "children": [self._tree(c) for c in column.children]}

    def _index(self) -> Page:
        config = {
            "SID": self.sid,
            "TREE": [self._tree(c) for c in self.site.zfxxgk.children],
            "DEFAULT_ID": self.site.nianbao.column_id,
            "API": "/gkmlpt/api/all/",
        }
        body = "\n".join(
            [
                '<div id="app"><p>正在加载……</p></div>',
                f"<script>window._CONFIG = {json.dumps(config, ensure_ascii=False)};</script>",
                '<script src="/gkmlpt/static/js/app.js"></script>',
            ]
        )
        lineage = self.site.zfxxgk.lineage[1:]
        return self.html(self.page_html(self.site.zfxxgk.name, lineage, body, charset=self.portal.encoding))

    def dynamic(self, method: str, path: str, query: Mapping[str, str], form: Mapping[str, str], base: str) -> Page | None:
        match = _API.match(path)
        if match is None:
            return None
        column = next((c for c in self.site.zfxxgk.walk() if c.column_id == int(match[1])), None)
        if query.get("sid") != self.sid:
            return _json({"error": "invalid sid"}, 403)
        if column is None:
            return _json({"error": "category not found"}, 404)
        page = int(query["page"]) if query.get("page", "").isdigit() else 1
        size = self.portal.page_size
        visible = column.visible_articles(self.world.today)
        articles = [
            {
                "id": a.doc_id,
                "title": a.title,
                "url": base + self.article_path(a),
                "date": int(datetime(a.published_on.year, a.published_on.month, a.published_on.day,
                                     tzinfo=_CHINA).timestamp()),
                "publish_time": f"{a.published_on.isoformat()} 00:00:00",
            }
            for a in visible[(page - 1) * size:page * size]
        ]
        return _json({"articles": articles, "total": len(visible), "page": page, "size": size})

    def old_column_url(self) -> str:
        return f"{INDEX}#{self.site.nianbao.column_id + 500000}"

    def old_column_path(self) -> str:
        return f"/gkmlpt/api/all/{self.site.nianbao.column_id + 500000}"


def _json(data: dict[str, object], status: int = 200) -> Page:
    return Page(json.dumps(data, ensure_ascii=False).encode("utf-8"), "application/json", "utf-8", status)
