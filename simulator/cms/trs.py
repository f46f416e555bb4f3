"""TRS-WCM style portals: static, date-stamped pages (portal_patterns.md §2.1).

A column is a folder (`/zwgk/zfxxgk/zfxxgknb/`) whose list pages are `index.html`, `index_1.html`, … and
whose pager is only the script call `createPageHTML(pages, current, "index", "html")`; articles sit in
month folders of their column: `./202101/t20210120_80576.html`, with DocId/ChnlId metas in their head.
"""

from __future__ import annotations

from simulator.cms.base import Cms, Route, esc, iso
from simulator.site import Article, Column


class Trs(Cms):
    family = "trs"

    def folder(self, column: Column) -> str:
        return "/" + "".join(f"{c.slug}/" for c in column.lineage[1:])

    def list_path(self, column: Column, page: int) -> str:
        return self.folder(column) + ("index.html" if page == 0 else f"index_{page}.html")

    def column_path(self, column: Column) -> str:
        return self.folder(column)

    def column_routes(self, column: Column) -> dict[str, Route]:
        table = super().column_routes(column)
        table[self.folder(column)] = table[self.list_path(column, 0)]  # the folder is its index.html
        return table

    def article_path(self, article: Article) -> str:
        day = article.published_on
        return f"{self.folder(article.column)}{day:%Y%m}/t{day:%Y%m%d}_{article.doc_id}.html"

    def list_body(self, column: Column, page: int, articles: list[Article]) -> str:
        items = "\n".join(
            f'<li><a href="./{a.published_on:%Y%m}/t{a.published_on:%Y%m%d}_{a.doc_id}.html" target="_blank" '
            f'title="{esc(a.title)}">{esc(a.title)}</a><span>{iso(a.published_on)}</span></li>'
            for a in articles
        )
        pager = f'<script type="text/javascript">createPageHTML({self.list_pages(column)}, {page}, "index", "html");</script>'
        return f'<ul class="list">\n{items}\n</ul>\n<div class="page">{pager}</div>'

    def article_metas(self, article: Article) -> dict[str, str]:
        return {
            **super().article_metas(article),
            "DocId": str(article.doc_id),
            "ChnlId": str(article.column.column_id),
            "Url": self.article_path(article),
        }

    def old_column_path(self) -> str:
        return "/zfxxgk/nb/"
