"""What every CMS family shares: the portal page around the content, the article pages, robots.txt, and the
table of paths a portal serves. A family (trs.py, hanweb.py, gkmlpt.py, static.py) decides its URLs and how a
column lists its articles."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from posixpath import dirname

from simulator import attachments
from simulator.documents import document_identity, format_document, lookalike_paragraphs, report_document
from simulator.render import TABLE_SECTIONS, ReportDocument, render_html, render_text, table_image_src
from simulator.site import Article, Column
from simulator.world import ATTACHMENT_FORMS, AnnualReport, Portal, World

_OTHER_CHARSET = {"utf-8": "gbk", "gbk": "utf-8"}
ROBOTS_ALWAYS_DISALLOWED = "/search/"


@dataclass
class Page:
    """One answer of the portal, before faults are applied."""

    body: bytes
    content_type: str = "text/html"
    charset: str | None = None  # as the Content-Type header declares it (it may lie or be missing)
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


Route = Callable[[], Page]


def esc(text: str) -> str:
    return html.escape(text, quote=True)


def iso(day: date) -> str:
    return day.isoformat()


class Cms:
    """Base of the CMS families. Subclasses set `family` and implement the four URL/list methods."""

    family = ""

    def __init__(self, world: World, portal: Portal) -> None:
        self.world = world
        self.portal = portal
        self.site = portal.site

    # ------------------------------------------------------------ URLs (per family)

    def list_path(self, column: Column, page: int) -> str:
        """The path of list page `page` (0 = the column's own page)."""
        raise NotImplementedError

    def article_path(self, article: Article) -> str:
        raise NotImplementedError

    def list_body(self, column: Column, page: int, articles: list[Article]) -> str:
        """The HTML of a column's list page: the articles of that page and the family's pager."""
        raise NotImplementedError

    def list_pages(self, column: Column) -> int:
        """How many list pages the column has today (at least 1)."""
        count = len(column.visible_articles(self.world.today))
        return max(1, -(-count // self.portal.page_size))

    def column_path(self, column: Column) -> str:
        return self.list_path(column, 0)

    def column_url(self, column: Column) -> str:
        """The column as the units file records it."""
        return self.column_path(column)

    def dynamic(self, method: str, path: str, query: Mapping[str, str], form: Mapping[str, str], base: str) -> Page | None:
        """Answers computed from the request (list APIs); None when the path is not one of them."""
        return None

    # ------------------------------------------------------------ links that faults reroute

    def href(self, column: Column) -> str:
        """The link a page prints to a column: a redirect chain or loop when a fault reroutes it."""
        path = self.column_path(column)
        for fault in self.portal.faults:
            if fault.kind in ("redirect_chain", "redirect_loop") and fault.target == path:
                return fault.path
        return path

    # ------------------------------------------------------------ pages

    def routes(self) -> dict[str, Route]:
        """Every GET path the portal serves today, with how to build its answer."""
        table: dict[str, Route] = {
            "/": self._home,
            "/index.html": self._home,
            "/robots.txt": self._robots,
            "/css/common.css": lambda: Page(b"body{font-size:14px}", "text/css"),
            f"{ROBOTS_ALWAYS_DISALLOWED}index.html": self._search,
        }
        today = self.world.today
        for column in self.site.columns[1:]:
            table.update(self.column_routes(column))
        for article in self.site.articles:
            if article.published_on > today:
                continue
            path = self.article_path(article)
            table[path] = self._article_route(article)
            if article.report is not None:
                table.update(self._report_files(article))
        return table

    def column_routes(self, column: Column) -> dict[str, Route]:
        """The list pages a column serves as pages of their own."""
        return {self.list_path(column, page): self._list_route(column, page) for page in range(self.list_pages(column))}

    def is_page(self, column: Column) -> bool:
        """Whether the column's URL is a page the server answers (not a fragment of a script-built page)."""
        return True

    def old_column_url(self) -> str:
        """Where the 年报 column used to be, as a units file written before the move records it."""
        return self.old_column_path()

    def old_column_path(self) -> str:
        """The path a crawler requests for the old 年报 column URL."""
        raise NotImplementedError

    def _list_route(self, column: Column, page: int) -> Route:
        return lambda: self.html(self._list_page(column, page))

    def _article_route(self, article: Article) -> Route:
        return lambda: self._article(article)

    def page_html(self, title: str, lineage: list[Column], body: str, metas: dict[str, str] | None = None,
                  charset: str | None = None) -> str:
        """A portal page: header and nav, breadcrumb, the content, footer."""
        site = esc(self.portal.site_name)
        crumbs = " &gt; ".join(
            f'<a href="{esc(self.href(c) if c.parent else "/")}">{esc(c.name)}</a>' for c in lineage
        )
        head_metas = "\n".join(f'<meta name="{esc(k)}" content="{esc(v)}">' for k, v in (metas or {}).items())
        top = self.site.home.children
        nav = "".join(f'<li><a href="{esc(self.href(c))}">{esc(c.name)}</a></li>' for c in top)
        return "\n".join(
            [
                "<!DOCTYPE html>",
                "<html>",
                "<head>",
                f'<meta charset="{charset}">' if charset else "",
                f"<title>{esc(title)}_{site}</title>" if title != self.portal.site_name else f"<title>{site}</title>",
                f'<meta name="SiteName" content="{site}">',
                head_metas,
                '<link rel="stylesheet" href="/css/common.css">',
                "</head>",
                "<body>",
                f'<div class="header"><div class="logo">{site}</div>'
                f'<a href="{ROBOTS_ALWAYS_DISALLOWED}index.html">站内搜索</a></div>',
                f'<ul class="nav"><li><a href="/">首页</a></li>{nav}</ul>',
                f'<div class="position">当前位置：{crumbs}</div>',
                '<div class="main">',
                body,
                "</div>",
                f'<div class="footer"><p>主办：{site}办公室</p><p>网站标识码：{self.portal.county.code6}0001</p></div>',
                "</body>",
                "</html>",
            ]
        )

    def html(self, text: str, encoding: str | None = None, header: str | None = "right") -> Page:
        """Encode a page; `header` says whether the Content-Type charset is right, missing or wrong."""
        encoding = encoding or self.portal.encoding
        if self.portal.faults_of("malformed_html"):
            text = malform(text)
        declared = {"right": encoding, "missing": None, "wrong": _OTHER_CHARSET[encoding]}[header or "missing"]
        return Page(text.encode(encoding, errors="xmlcharrefreplace"), charset=declared)

    def _home(self) -> Page:
        today = self.world.today
        blocks = []
        for column in self.site.home.children:
            items = "".join(
                f'<li><a href="{esc(self.article_path(a))}">{esc(a.title)}</a><span>{iso(a.published_on)}</span></li>'
                for a in column.visible_articles(today)[:6]
            )
            blocks.append(f'<div class="block"><h3><a href="{esc(self.href(column))}">{esc(column.name)}</a></h3>'
                          f"<ul>{items}</ul></div>")
        page = self.page_html(self.portal.site_name, [], "\n".join(blocks), self.home_metas(),
                              charset=self.portal.encoding)
        return self.html(page)

    def home_metas(self) -> dict[str, str]:
        return {"SiteDomain": "/", "SiteIDCode": f"{self.portal.county.code6}0001"}

    def _list_page(self, column: Column, page: int) -> str:
        articles = column.visible_articles(self.world.today)
        size = self.portal.page_size
        body = self.sub_column_links(column) + self.list_body(column, page, articles[page * size:(page + 1) * size])
        metas = {"ColumnName": column.name, "ColumnType": column.name}
        return self.page_html(column.name, column.lineage[1:], body, metas, charset=self.portal.encoding)

    def sub_column_links(self, column: Column) -> str:
        if not column.children:
            return ""
        links = "".join(f'<li><a href="{esc(self.href(c))}">{esc(c.name)}</a></li>' for c in column.children)
        return f'<ul class="sub-columns">{links}</ul>\n'

    def robots_disallowed(self) -> list[str]:
        return [ROBOTS_ALWAYS_DISALLOWED, *(f.path for f in self.portal.faults_of("robots_disallow"))]

    def _robots(self) -> Page:
        lines = ["User-agent: *", *(f"Disallow: {p}" for p in self.robots_disallowed()), ""]
        return Page("\n".join(lines).encode(), "text/plain", "utf-8")

    def _search(self) -> Page:
        return self.html(self.page_html("站内搜索", [], "<p>请输入关键词。</p>", charset=self.portal.encoding))

    # ------------------------------------------------------------ articles

    def article_metas(self, article: Article) -> dict[str, str]:
        return {
            "ColumnName": article.column.name,
            "ArticleTitle": article.title,
            "PubDate": f"{iso(article.published_on)} {9 + article.doc_id % 9:02d}:{article.doc_id % 60:02d}",
            "ContentSource": self._publisher(article),
        }

    def _publisher(self, article: Article) -> str:
        return article.report.unit.name if article.report else f"{self.portal.county.name}人民政府办公室"

    def _metadata_table(self, article: Article) -> str:
        """The 索引号/发布机构/公开日期 table above an article (portal_patterns.md §5)."""
        year = article.published_on.year
        index_no = f"{self.portal.county.code6}00{article.doc_id % 10**8:08d}/{year}-{article.doc_id % 100000:05d}"
        return (
            '<table class="table_content">'
            f"<tr><td>索引号：</td><td>{index_no}</td><td>分类：</td><td>{esc(article.column.name)}</td></tr>"
            f"<tr><td>发布机构：</td><td>{esc(self._publisher(article))}</td>"
            f"<td>公开日期：</td><td>{iso(article.published_on)}</td></tr>"
            f'<tr><td>名称：</td><td colspan="3">{esc(article.title)}</td></tr></table>'
        )

    def _article(self, article: Article) -> Page:
        report = article.report
        if report is None:
            return self.html(self._article_page(article, self._lookalike_body(article), self.portal.encoding))
        doc = report_document(self.world, report)
        content = self._report_body(article, report, doc)
        charset = {"right": report.encoding, "missing": None, "wrong": _OTHER_CHARSET[report.encoding]}
        page = self._article_page(article, content, charset[report.meta_charset])
        return self.html(page, report.encoding, report.charset_header)

    def _article_page(self, article: Article, content: str, charset: str | None) -> str:
        body = "\n".join(
            [
                self._metadata_table(article),
                f'<h1 class="title">{esc(article.title)}</h1>',
                f'<div class="info">发布时间：{iso(article.published_on)}　来源：{esc(self._publisher(article))}</div>',
                f'<div class="content" id="zoom">{content}</div>',
            ]
        )
        return self.page_html(article.title, article.column.lineage[1:], body, self.article_metas(article), charset)

    def _lookalike_body(self, article: Article) -> str:
        if article.kind == "format":
            return _body_of(render_html(format_document(), page_chrome=False, meta_charset=None))
        paragraphs = lookalike_paragraphs(article.kind, self.portal.county.name, article.year, article.published_on)
        return "\n".join(f"<p>{esc(p)}</p>" for p in paragraphs)

    def _report_body(self, article: Article, report: AnnualReport, doc: ReportDocument) -> str:
        form = report.form
        if form in ("html_clean", "html_word", "image_only"):
            style = "word" if form == "html_word" else "clean"
            rendered = render_html(doc, style=style, meta_charset=None, page_chrome=False,
                                   tables_as_images=form == "image_only", image_base=self._files_base(article))
            return _body_of(rendered)
        if form == "text":
            lines = render_text(doc, style=report.text_style).splitlines()
            return "\n".join(f"<p>{esc(line) if line.strip() else '&nbsp;'}</p>" for line in lines)
        name = f"{doc.title_line}.{form}"
        return (
            f"<p>{esc(report.unit.name)}{report.year}年政府信息公开工作年度报告详见附件。</p>"
            f'<p>相关附件：<a href="{esc(self._attachment_path(article, form))}">{esc(name)}</a></p>'
        )

    def _files_base(self, article: Article) -> str:
        return dirname(self.article_path(article)) + "/"

    def _attachment_path(self, article: Article, form: str) -> str:
        return f"{self._files_base(article)}P0{article.published_on:%Y%m%d}{article.doc_id}.{form}"

    def _report_files(self, article: Article) -> dict[str, Route]:
        """The attachment or table pictures an article links to."""
        report = article.report
        assert report is not None
        if report.form in ATTACHMENT_FORMS:
            form = report.form

            def attachment() -> Page:
                doc = report_document(self.world, report)
                return Page(attachments.attachment_bytes(doc, form, report.damage), attachments.CONTENT_TYPES[form],
                            headers={"Content-Disposition": f'attachment; filename="P0{article.doc_id}.{form}"'})

            return {self._attachment_path(article, form): attachment}
        if report.form != "image_only":
            return {}
        doc = document_identity(report)
        files: dict[str, Route] = {}
        for numeral in TABLE_SECTIONS:
            def picture(numeral: str = numeral) -> Page:
                current = report_document(self.world, report)
                return Page(attachments.table_image_bytes(current, numeral), attachments.CONTENT_TYPES["png"])

            files[table_image_src(doc, numeral, self._files_base(article))] = picture
        return files


def _body_of(page: bytes) -> str:
    """The content of a page render.py wrote without chrome (UTF-8), to sit inside the portal's page."""
    text = page.decode("utf-8")
    start = text.index(">", text.index("<body")) + 1
    return text[start:text.rindex("</body>")].strip()


_CLOSING = re.compile(r"</(li|td|p|tr)>")


def malform(text: str) -> str:
    """Break a page as hand-edited CMS templates do: closing tags dropped, a stray </div>, no </body></html>."""
    dropped = _CLOSING.sub(lambda m: "" if m.start() % 3 == 0 else m.group(), text)
    return dropped.replace('<div class="main">', '<div class="main"></div></span>', 1).replace("</body>\n</html>", "")
