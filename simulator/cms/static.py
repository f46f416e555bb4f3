"""Plain static portals: numbered list pages with 上一页/下一页/尾页 links and «共N页» (portal_patterns.md §2.3);
articles under `/info/<column id>/<doc id>.htm` (博达/VSB style)."""

from __future__ import annotations

from simulator.cms.base import Cms, esc, iso
from simulator.site import Article, Column


class Static(Cms):
    family = "static"

    def folder(self, column: Column) -> str:
        return "/" + "".join(f"{c.slug}/" for c in column.lineage[1:])

    def list_path(self, column: Column, page: int) -> str:
        return self.folder(column) + ("index.htm" if page == 0 else f"{page + 1}.htm")

    def article_path(self, article: Article) -> str:
        return f"/info/{article.column.column_id}/{article.doc_id}.htm"

    def list_body(self, column: Column, page: int, articles: list[Article]) -> str:
        items = "\n".join(
            f'<li><span class="date">{iso(a.published_on)}</span>'
            f'<a href="{esc(self.article_path(a))}">{esc(a.title)}</a></li>'
            for a in articles
        )
        pages = self.list_pages(column)
        links = [f"共{pages}页 当前第{page + 1}页", f'<a href="{self.list_path(column, 0)}">首页</a>']
        if page > 0:
            links.append(f'<a href="{self.list_path(column, page - 1)}">上一页</a>')
        if page < pages - 1:
            links.append(f'<a href="{self.list_path(column, page + 1)}">下一页</a>')
        links.append(f'<a href="{self.list_path(column, pages - 1)}">尾页</a>')
        return f'<ul class="news-list">\n{items}\n</ul>\n<div class="pagination">{" ".join(links)}</div>'

    def old_column_path(self) -> str:
        return "/xxgk/xxgknb/index.htm"
