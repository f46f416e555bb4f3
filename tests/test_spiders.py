"""The CMS adapters and the portal spider against saved pages of each family (tests/fixtures/portal_pages, written
after portal_patterns.md): exact article URLs, next-page requests, sub-columns, rejected look-alikes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import CannotResolveHostError, DownloadTimeoutError, IgnoreRequest, ResponseDataLossError
from scrapy.http import HtmlResponse, Response, TextResponse, XmlResponse
from scrapy.settings import Settings
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.utils.reactor import install_reactor, is_reactor_installed
from scrapy.utils.test import get_crawler
from test_status import seed
from twisted.internet import error as tx
from twisted.python.failure import Failure

from crawler.context import CrawlContext
from crawler.items import ARTICLE, PAGE, DocumentItem
from crawler.middlewares import CONDITIONAL, STORED, ConditionalGetMiddleware, EncodingMiddleware
from registry.units import COUNTY_DEPARTMENT, COUNTY_GOVERNMENT, TOWNSHIP, Unit
from spiders.article import file_links, page_title, publisher
from spiders.base import ARTICLE_ITEM, DEPTH, LIST_TITLE, OWNER, PENDING, PORTAL, TRACKED, UNITS, describe
from spiders.cms import adapter_for
from spiders.cms.gkmlpt import FRAGMENTS, Gkmlpt
from spiders.cms.hanweb import META, Hanweb
from spiders.cms.static import Static
from spiders.cms.trs import Trs
from spiders.portals import PortalsSpider
from spiders.recognize import UnitNames, judge_title, resolve_unit, title_prefix
from storage import Store

PAGES = Path(__file__).parent / "fixtures" / "portal_pages"


def page(name: str, url: str, cls: type[TextResponse] = HtmlResponse, meta: dict[str, Any] | None = None,
         headers: dict[str, str] | None = None) -> TextResponse:
    return cls(url=url, body=(PAGES / name).read_bytes(), request=Request(url, meta=meta or {}), headers=headers)


def urls(requests: list[Any]) -> list[str]:
    return [r.url for r in requests if isinstance(r, Request)]


# ---------------------------------------------------------------------------------------------------- TRS

TRS_COLUMN = "http://www.shuyang.gov.cn/zwgk/zfxxgk/zfxxgknb/"


def test_trs_entries_are_the_listed_articles_in_order() -> None:
    response = page("trs_list.html", TRS_COLUMN)
    assert adapter_for(response).name == "trs"
    entries = Trs().entries(response)
    assert [e.url for e in entries] == [
        TRS_COLUMN + "202401/t20240115_4743388.html",
        TRS_COLUMN + "202401/t20240112_4741002.html",
        TRS_COLUMN + "202312/t20231205_4700101.html",
        TRS_COLUMN + "202303/t20230329_4600222.html",
        TRS_COLUMN + "202303/t20230328_4600201.html",
        TRS_COLUMN + "202110/t20211008_4400001.html",
        TRS_COLUMN + "202111/t20211110_4400501.html",
        TRS_COLUMN + "201803/t20180320_2100033.html",
        TRS_COLUMN + "202102/t20210203_4300777.html",
        TRS_COLUMN + "202101/t20210116_4290003.html",
    ]
    # The title attribute, not the truncated link text.
    assert entries[0].title == "沭阳县人民政府2023年政府信息公开工作年度报告"


def test_trs_look_alikes_are_rejected_by_title() -> None:
    entries = Trs().entries(page("trs_list.html", TRS_COLUMN))
    kept = [e.url.rsplit("/", 1)[1] for e in entries if judge_title(e.title).fetch]
    assert kept == [
        "t20240115_4743388.html",
        "t20240112_4741002.html",
        "t20230328_4600201.html",  # 2022年政府信息公开年度工作报告: no unit in the title, the page decides
        "t20210203_4300777.html",  # a unit not on the list: fetched, the pipeline does not keep it
        "t20210116_4290003.html",  # no year in the title: the content decides
    ]


def test_trs_pager_script_gives_the_next_static_page() -> None:
    first = Trs().next_page(page("trs_list.html", TRS_COLUMN))
    assert first is not None and first.url == TRS_COLUMN + "index_1.html" and first.method == "GET"
    second = Trs().next_page(page("trs_list.html", TRS_COLUMN + "index_1.html"))
    assert second is not None and second.url == TRS_COLUMN + "index_2.html"
    assert Trs().next_page(page("trs_list.html", TRS_COLUMN + "index_2.html")) is None  # createPageHTML(3, …)


def test_trs_count_page_variable_and_shtml() -> None:
    base = "http://www.wuhan.gov.cn/zwgk/xxgk/zfxxgknb/"
    response = page("trs_countpage.html", base + "index_1.shtml")
    assert [e.url for e in Trs().entries(response)] == [
        base + "202202/t20220214_2730572.shtml",
        base + "202201/t20220120_2730001_wap.shtml",
    ]
    following = Trs().next_page(response)
    assert following is not None and following.url == base + "index_2.shtml"
    assert Trs().next_page(page("trs_countpage.html", base + "index_3.shtml")) is None


def test_trs_three_number_pager_form() -> None:
    base = "http://www.example.gov.cn/zfxxgk/nb/"
    # createPageHTML(57 records, 3 pages, current 2, …): index_2 is the last page.
    assert Trs().next_page(page("trs_last_page.html", base + "index_2.html")) is None
    following = Trs().next_page(page("trs_last_page.html", base + "index_1.html"))
    assert following is not None and following.url == base + "index_2.html"


def test_trs_sub_columns_are_the_year_and_level_folders() -> None:
    names = UnitNames([_unit("321322000000", "沭阳县人民政府", COUNTY_GOVERNMENT, ("沭阳县",))])
    found = Trs().sub_columns(page("trs_list.html", TRS_COLUMN), names)
    assert [link.url for link in found] == [TRS_COLUMN + "2023n/", TRS_COLUMN + "2022n/", TRS_COLUMN + "zj/"]


# ------------------------------------------------------------------------------------------------- Hanweb

HANWEB_COLUMN = "http://www.songyang.gov.cn/col/col1229358718/index.html"
PROXY = "http://www.songyang.gov.cn/module/web/jpage/dataproxy.jsp"


def test_hanweb_column_page_records_are_read_from_the_datastore_cdata() -> None:
    response = page("hanweb_col.html", HANWEB_COLUMN)
    assert adapter_for(response).name == "hanweb"
    assert [e.url for e in Hanweb().entries(response)] == [
        "http://www.songyang.gov.cn/art/2024/1/18/art_1229358718_4900001.html",
        "http://www.songyang.gov.cn/art/2024/1/9/art_1229358718_4899870.html",
        "http://www.songyang.gov.cn/art/2023/12/1/art_1229358718_4888002.html",
    ]


def test_hanweb_next_page_posts_to_the_data_proxy_with_ids_from_the_script() -> None:
    following = Hanweb().next_page(page("hanweb_col.html", HANWEB_COLUMN))
    assert following is not None and following.method == "POST"
    assert following.url.split("?")[0] == PROXY
    assert parse_qs(urlsplit(following.url).query) == {
        "startrecord": ["4"], "endrecord": ["6"], "perpage": ["3"],
        "columnid": ["1229358718"], "unitid": ["4721"], "webid": ["3102"],
    }
    form = parse_qs(following.body.decode())
    assert form["columnid"] == ["1229358718"] and form["unitid"] == ["4721"] and form["webid"] == ["3102"]
    assert form["webname"] == ["松阳县人民政府"]
    assert following.meta[META]["start"] == "4"


def test_hanweb_data_proxy_xml_pages_until_the_total() -> None:
    params = {"columnid": "1229358718", "unitid": "4721", "webid": "3102", "perpage": "3", "webname": "", "start": "4"}
    response = page("hanweb_dataproxy.xml", PROXY + "?startrecord=4&endrecord=6", XmlResponse, {META: params})
    assert adapter_for(response).name == "hanweb"
    assert [e.url for e in Hanweb().entries(response)] == [
        "http://www.songyang.gov.cn/art/2023/1/11/art_1229358718_4858173.html",
        "http://www.songyang.gov.cn/art/2022/3/30/art_1229358718_4700003.html",
        "http://www.songyang.gov.cn/col/col1229358718/art/2022/art_6a1f0e22b9c84f7d8f4b2e0c1d3a5b7e.html",
    ]
    following = Hanweb().next_page(response)
    assert following is not None
    assert parse_qs(urlsplit(following.url).query)["startrecord"] == ["7"]
    last = page("hanweb_dataproxy_last.xml", following.url, XmlResponse, {META: following.meta[META]})
    assert Hanweb().next_page(last) is None  # records 7–8 of 8


def test_hanweb_sub_columns_by_year_and_unit_name_not_the_menu() -> None:
    names = UnitNames([_unit("331124102000", "大东坝镇人民政府", TOWNSHIP, ("大东坝镇",))])
    found = Hanweb().sub_columns(page("hanweb_col.html", HANWEB_COLUMN), names)
    assert [link.text for link in found] == ["2023年度", "2022年度", "大东坝镇"]


# ------------------------------------------------------------------------------------------------- gkmlpt

GKMLPT = "http://nync.zs.gov.cn/gkmlpt/"


def test_gkmlpt_index_lists_the_api_of_the_nianbao_branch_and_named_categories() -> None:
    response = page("gkmlpt_index.html", GKMLPT + "index", meta={FRAGMENTS: ["2010"]})
    assert adapter_for(response).name == "json_api"
    found = Gkmlpt().sub_columns(response, UnitNames(()))
    assert [link.url for link in found] == [
        GKMLPT + "api/all/2010?page=1&sid=755033",  # named by the column URL …/gkmlpt/index#2010
        GKMLPT + "api/all/2059?page=1&sid=755033",
        GKMLPT + "api/all/2060?page=1&sid=755033",
        GKMLPT + "api/all/2061?page=1&sid=755033",
    ]
    assert Gkmlpt().entries(response) == [] and Gkmlpt().next_page(response) is None
    # Found from the home page, the index page is the 年报 column: only its TREE names the categories below.
    assert [(link.url, link.text) for link in Gkmlpt().nianbao_columns(response)] == [(GKMLPT + "index", "政府信息公开年报")]


def test_gkmlpt_json_api_entries_and_pages() -> None:
    url = GKMLPT + "api/all/2059?page=1&sid=755033"
    response = page("gkmlpt_api_page1.json", url, TextResponse, headers={"Content-Type": "application/json"})
    assert adapter_for(response).name == "json_api"
    assert [(e.url, judge_title(e.title).fetch) for e in Gkmlpt().entries(response)] == [
        ("http://nync.zs.gov.cn/gkmlpt/content/2/2059/post_2059902.html", True),
        ("http://nync.zs.gov.cn/gkmlpt/content/2/2059/post_2059101.html", True),
        ("http://nync.zs.gov.cn/gkmlpt/content/2/2058/post_2058001.html", False),  # the 通知
        # the article on another host is not this portal's
    ]
    following = Gkmlpt().next_page(response)
    assert following is not None and following.url == GKMLPT + "api/all/2059?page=2&sid=755033"
    last = page("gkmlpt_api_last.json", GKMLPT + "api/all/2059?page=3&sid=755033", TextResponse)
    assert [e.url for e in Gkmlpt().entries(last)] == [GKMLPT + "content/1/1500/post_1500001.html"]
    assert Gkmlpt().next_page(last) is None


# ------------------------------------------------------------------------------------------------- static


def test_static_next_page_follows_the_next_link() -> None:
    url = "https://hrss.yn.gov.cn/InfoPublic.aspx?cid=1019&pid=971&page=1&kw="
    response = page("static_list.html", url)
    assert adapter_for(response).name == "static"
    assert [e.url for e in Static().entries(response)] == [
        "https://hrss.yn.gov.cn/Pages_183_59307.aspx",  # a dated report title, whatever the URL's shape
        "https://hrss.yn.gov.cn/xxgk-show-136188.html",
        "https://hrss.yn.gov.cn/info/1677/56001.htm",
        "https://hrss.yn.gov.cn/news/show/4b9d0f6ad1e64c2a9f0e77a1c2d3e4f5.html",
    ]
    following = Static().next_page(response)
    assert following is not None and following.url == "https://hrss.yn.gov.cn/InfoPublic.aspx?cid=1019&pid=971&page=2&kw="


def test_static_next_page_from_the_last_page_link_when_next_is_a_script() -> None:
    base = "http://www.yanan.gov.cn/zfxxgk/zfxxgknb/"
    following = Static().next_page(page("static_numbered.html", base + "2.html"))
    assert following is not None and following.url == base + "3.html"
    assert Static().next_page(page("static_numbered.html", base + "5.html")) is None


# -------------------------------------------------------------------------------------- titles and units


@pytest.mark.parametrize(
    ("title", "fetch"),
    [
        ("沭阳县人民政府2023年政府信息公开工作年度报告", True),
        ("沭阳县财政局2023年政府信息公开年度报告", True),
        ("2021年政府信息公开年度工作报告", True),
        ("沭阳县人民政府2021年度政府信息公开工作年度报告", True),
        ("陇集镇人民政府关于2022年政府信息公开工作年度报告", True),
        ("中村乡2020年政务信息公开年报", True),
        ("沭阳县人民政府政府信息公开工作年度报告", True),
        ("关于做好2023年政府信息公开工作年度报告编制发布工作的通知", False),
        ("图解：沭阳县2022年政府信息公开工作年度报告", False),
        ("文字解读：沭阳县2022年政府信息公开工作年度报告", False),
        ("一图读懂沭阳县2022年政府信息公开工作年度报告", False),
        ("中华人民共和国政府信息公开工作年度报告格式", False),
        ("关于2021年政府信息公开工作要点落实情况的函", False),
        ("沭阳县人民政府2017年政府信息公开工作年度报告", False),
        ("沭阳县召开2024年政务公开工作推进会", False),
        ("沭阳县人民政府信息公开指南", False),
    ],
)
def test_report_titles_and_look_alikes(title: str, fetch: bool) -> None:
    assert judge_title(title).fetch is fetch


def _unit(unit_id: str, name: str, level: str, aliases: tuple[str, ...], columns: tuple[str, ...] = ()) -> Unit:
    return Unit(unit_id=unit_id, name=name, division_code=unit_id[:12].ljust(12, "0"), level=level, province="江苏省",
                parent_county="泗洪县", portal_url="http://www.sihong.gov.cn/", column_urls=columns, aliases=aliases)


SIHONG = [
    _unit("321324000000", "泗洪县人民政府", COUNTY_GOVERNMENT, ("泗洪县政府", "泗洪县", "泗洪县人民政府办公室")),
    _unit("321324000000-fgj", "泗洪县发展和改革局", COUNTY_DEPARTMENT, ("泗洪县发改局", "发改局", "发展和改革局")),
    _unit("321324102000", "双沟镇人民政府", TOWNSHIP, ("双沟镇", "泗洪县双沟镇人民政府", "双沟镇政府")),
    _unit("321324001000", "青阳街道办事处", TOWNSHIP, ("青阳街道", "泗洪县青阳街道办事处", "青阳街道政府")),
]


@pytest.mark.parametrize(
    ("title", "publisher", "owner", "unit"),
    [
        ("泗洪县发展和改革局2023年政府信息公开工作年度报告", None, None, "321324000000-fgj"),
        ("发改局2023年政府信息公开工作年度报告", None, None, "321324000000-fgj"),
        ("泗洪县人民政府2023年政府信息公开工作年度报告", None, None, "321324000000"),
        ("泗洪县人民政府办公室关于2023年政府信息公开工作年度报告", None, None, "321324000000"),
        ("泗洪县双沟镇人民政府2023年度政府信息公开工作年度报告", None, None, "321324102000"),
        ("2023年政府信息公开年度工作报告", "青阳街道办事处", None, "321324001000"),
        ("2023年政府信息公开年度工作报告", None, "321324102000", "321324102000"),
        # A unit not on the list is nobody's here, even in a column one unit owns.
        ("泗洪县地方税务局2020年政府信息公开工作年度报告", "泗洪县地方税务局", "321324000000", None),
    ],
)
def test_whose_report(title: str, publisher: str | None, owner: str | None, unit: str | None) -> None:
    assert resolve_unit(UnitNames(SIHONG), titles=[title], publisher=publisher, owner=owner) == unit


def test_title_prefix() -> None:
    assert title_prefix("泗洪县人民政府办公室关于2023年政府信息公开工作年度报告") == "泗洪县人民政府办公室"
    assert title_prefix("2021年政府信息公开年度工作报告") == ""
    assert title_prefix("沭阳县人民政府政府信息公开工作年度报告") == "沭阳县人民政府"


# ----------------------------------------------------------------------------------------- the spider

HOME = "http://www.sihong.gov.cn/"


def portals_crawler(tmp_path: Path, **settings: Any) -> Crawler:
    """A crawler of the project's settings (and `settings`), its database and file store under `tmp_path`."""
    project = Settings()
    project.setmodule("crawler.settings")
    if not is_reactor_installed():
        install_reactor(project["TWISTED_REACTOR"] or "twisted.internet.asyncioreactor.AsyncioSelectorReactor")
    return get_crawler(PortalsSpider, {**project.copy_to_dict(), "NIANBAO_DB": str(tmp_path / "db.sqlite"),
                                       "NIANBAO_STORE_DIR": str(tmp_path / "store"), **settings})


@pytest.fixture
def crawler(tmp_path: Path) -> Iterator[Crawler]:
    crawler = portals_crawler(tmp_path)
    units_file = tmp_path / "units.csv"
    units_file.write_text("unit_id\n")  # the spider reads it only in start()
    crawler.spider = PortalsSpider.from_crawler(crawler, units=str(units_file))
    CrawlContext.of(crawler).register(SIHONG)
    yield crawler
    CrawlContext.of(crawler).store.close()


def spider_output(crawler: Crawler, callback: str, response: Response) -> list[Any]:
    return list(getattr(crawler.spider, callback)(response))


def nav(name: str, url: str, depth: int, owner: str | None = None) -> HtmlResponse:
    meta = {PORTAL: "www.sihong.gov.cn", UNITS: ("321324102000",), DEPTH: depth, OWNER: owner}
    return page(name, url, meta=meta)


def test_discovery_follows_the_navigation_to_the_nianbao_column(crawler: Crawler) -> None:
    home = spider_output(crawler, "parse_nav", nav("home.html", HOME, 0))
    # 政务公开 on this host; not 宿迁市政务公开 (another host), not the news or the search.
    assert urls(home) == [HOME + "zwgk/"]
    zwgk = spider_output(crawler, "parse_nav", nav("zwgk.html", HOME + "zwgk/", 1))
    assert urls(zwgk) == [HOME + "zwgk/zfxxgk/", HOME + "zwgk/xzxxgk/"]  # not 通知公告, 政策解读
    zfxxgk = spider_output(crawler, "parse_nav", nav("zfxxgk.html", HOME + "zwgk/zfxxgk/", 2))
    # The 年报 link goes through a redirecting script: its text says what it is.
    nianbao = [r for r in zfxxgk if r.callback == crawler.spider.parse_list]
    assert urls(nianbao) == [HOME + "zwgk/go20931.jsp"]
    assert urls(zfxxgk) == [HOME + "zwgk/go20931.jsp"]
    towns = spider_output(crawler, "parse_nav", nav("xzxxgk.html", HOME + "zwgk/xzxxgk/", 2))
    # Township sub-sites named after units on the list, each owned by its unit.
    assert [(r.url, r.meta[OWNER]) for r in towns] == [
        (HOME + "zwgk/xzxxgk/x101/", "321324001000"),
        (HOME + "zwgk/xzxxgk/x102/", "321324102000"),
    ]


def test_discovery_stops_at_its_depth(crawler: Crawler) -> None:
    depth = crawler.settings.getint("NIANBAO_DISCOVERY_DEPTH")
    assert spider_output(crawler, "parse_nav", nav("zwgk.html", HOME + "zwgk/", depth)) == []


def test_list_page_yields_the_page_candidates_sub_columns_and_next_page(crawler: Crawler) -> None:
    url = HOME + "zwgk/zfxxgk/zfxxgknb/"
    output = spider_output(crawler, "parse_list", page("trs_list.html", url, meta={PORTAL: "www.sihong.gov.cn", UNITS: ()}))
    documents = [o for o in output if isinstance(o, DocumentItem)]
    assert [(d.kind, d.url) for d in documents] == [(PAGE, url)]
    requests = [o for o in output if isinstance(o, Request)]
    articles = [r for r in requests if r.callback == crawler.spider.parse_article]
    assert [r.meta[LIST_TITLE] for r in articles] == [
        "沭阳县人民政府2023年政府信息公开工作年度报告",
        "沭阳县发展和改革局2023年政府信息公开年度报告",
        "2022年政府信息公开年度工作报告",
        "沭阳县地方税务局2020年政府信息公开工作年度报告",
        "沭阳县人民政府政府信息公开工作年度报告",
    ]
    lists = [r.url for r in requests if r.callback == crawler.spider.parse_list]
    assert lists == [url + "2023n/", url + "2022n/", url + "zj/", url + "index_1.html"]


def test_gbk_page_under_a_utf8_header_is_decoded_and_its_attachments_fetched_one_by_one(crawler: Crawler) -> None:
    base = HOME + "zwgk/xzxxgk/x102/zwxxgknb/202401/"
    raw = page("gbk_article.html", base + "t20240122_3312345.html",
               headers={"Content-Type": "text/html; charset=utf-8"},
               meta={PORTAL: "www.sihong.gov.cn", UNITS: ("321324102000",), LIST_TITLE: "双沟镇2023年政府信息公开工作年度报告"})
    assert "双沟镇" not in raw.text  # what Scrapy makes of it, trusting the header
    response = EncodingMiddleware().process_response(raw.request, raw)
    assert isinstance(response, TextResponse) and response.encoding == "gb18030"
    assert "双沟镇人民政府2023年政府信息公开工作年度报告" in response.text
    output = spider_output(crawler, "parse_article", response)
    assert urls(output) == [base + "P020240122512345678901.pdf"]
    first = output[0]
    assert first.meta[PENDING] == [base + "P020240122512345678902.docx", base + "P020240122512345678903.XLS"]
    article = first.meta[ARTICLE_ITEM]
    assert article.kind == ARTICLE and article.unit_id == "321324102000" and article.body == raw.body


def test_article_page_that_turns_out_a_look_alike_is_not_a_report(crawler: Crawler) -> None:
    body = ('<html><head><meta charset="utf-8"><meta name="ArticleTitle" content="关于2023年政府信息公开工作年度报告的解读">'
            "</head><body><p>解读</p></body></html>").encode()
    url = HOME + "zwgk/zcjd/202401/t20240130_3319999.html"
    response = HtmlResponse(url, body=body, request=Request(url, meta={PORTAL: "www.sihong.gov.cn", UNITS: ()}))
    output = spider_output(crawler, "parse_article", response)
    assert [(o.kind, o.url) for o in output] == [(PAGE, url)]


def test_article_title_and_publisher_without_metas() -> None:
    body = ("<html><head><title>2023年政府信息公开年度工作报告_泗洪县人民政府</title></head><body>"
            "<table class='table_content'><tr><td>发布机构：</td><td><span>泗洪县发展和改革局</span></td></tr></table>"
            "<h1 class='title'>2023年政府信息公开年度<br>工作报告</h1>"
            "<p><a href='../files/report.PDF'>附件</a> <a href='javascript:void(0)'>打印</a></p></body></html>").encode()
    url = HOME + "zwgk/zfxxgk/zfxxgknb/202401/t20240125_3312000.html"
    response = HtmlResponse(url, body=body, encoding="utf-8")
    assert page_title(response) == "2023年政府信息公开年度工作报告"
    assert publisher(response) == "泗洪县发展和改革局"
    assert file_links(response) == [HOME + "zwgk/zfxxgk/zfxxgknb/files/report.PDF"]
    assert resolve_unit(UnitNames(SIHONG), titles=[page_title(response)], publisher=publisher(response),
                        owner=None) == "321324000000-fgj"


@pytest.mark.parametrize(
    ("exception", "kind"),
    [
        (HttpError(HtmlResponse("http://www.sihong.gov.cn/x", status=404)), "http_404"),
        (IgnoreRequest("Forbidden by robots.txt"), "robots"),
        (IgnoreRequest("max redirections reached"), "redirect"),
        (tx.DNSLookupError("www.sihong.gov.cn"), "dns"),
        (CannotResolveHostError("www.sihong.gov.cn"), "dns"),
        (tx.TimeoutError(), "timeout"),
        (DownloadTimeoutError(), "timeout"),
        (tx.ConnectionRefusedError(), "connection"),
        (ResponseDataLossError(), "data_loss"),
        (ValueError("odd"), "other"),
    ],
)
def test_failures_are_named_by_kind(exception: Exception, kind: str) -> None:
    assert describe(Failure(exception))[0] == kind


def test_a_redirect_loop_is_recorded_for_its_units(crawler: Crawler) -> None:
    url = HOME + "zwgk/go30211.jsp"
    looped = Request(url, meta={PORTAL: "www.sihong.gov.cn", UNITS: ("321324000000",), TRACKED: True,
                                "redirect_urls": [url, url + "?loop=1"]})
    crawler.spider._dropped(looped, crawler.spider)
    context = CrawlContext.of(crawler)
    [error] = context.store.errors_for_run(context.run_id)
    assert (error.unit_id, error.url, error.kind) == ("321324000000", url, "redirect")


def test_conditional_get_sends_the_stored_validators_and_answers_a_304_from_the_store(crawler: Crawler) -> None:
    url = HOME + "zwgk/zfxxgk/zfxxgknb/"
    context = CrawlContext.of(crawler)
    body = (PAGES / "trs_list.html").read_bytes()
    sha256 = context.store.save_document(body, "text/html")
    context.store.record_fetch(url, 200, {"ETag": '"5f1-abc"', "Last-Modified": "Tue, 21 Jan 2025 02:00:00 GMT"},
                               sha256, context.run_id)
    middleware = ConditionalGetMiddleware(crawler)
    request = Request(url, meta={CONDITIONAL: True, PORTAL: "www.sihong.gov.cn"})
    middleware.process_request(request)
    assert request.headers[b"If-None-Match"] == b'"5f1-abc"'
    assert request.headers[b"If-Modified-Since"] == b"Tue, 21 Jan 2025 02:00:00 GMT"
    answer = middleware.process_response(request, Response(url, status=304, request=request))
    assert isinstance(answer, HtmlResponse) and answer.status == 200 and answer.body == body and STORED in answer.flags
    # Stored as the 304 it was: a 304 need not repeat the validators, and those kept must not be wiped.
    item = crawler.spider.document(answer, ARTICLE)
    assert (item.status, item.from_store) == (304, True)
    context.store.record_fetch(item.url, item.status, item.headers, sha256, context.run_id)
    assert context.store.conditional_headers(url) == {"If-None-Match": '"5f1-abc"',
                                                      "If-Modified-Since": "Tue, 21 Jan 2025 02:00:00 GMT"}
    # Without validators kept for it, a URL is fetched plainly.
    fresh = Request(HOME + "zwgk/", meta={CONDITIONAL: True})
    middleware.process_request(fresh)
    assert b"If-None-Match" not in fresh.headers


def test_a_report_keeps_its_revisit_night_whichever_of_its_copies_is_current(tmp_path: Path) -> None:
    """A report published as an article and as its file: which copy is current depends on the order the two were read
    in. Its revisit night does not, so a night's revisits are the same whatever that order was."""
    nights, first_night = 5, date(2026, 2, 1)
    article, file = HOME + "art/2026/1/20/art_1_1.html", HOME + "art/2026/1/20/P020260120001.pdf"

    def revisits() -> list[tuple[int, str]]:
        """(night, URL) of every revisit over `nights` nights."""
        due = []
        for night in range(nights):
            context = CrawlContext.of(portals_crawler(tmp_path, NIANBAO_REVISIT_NIGHTS=nights,
                                                      NIANBAO_NIGHT=(first_night + timedelta(night)).isoformat()))
            context.register(SIHONG)
            due += [(night, report.source_url) for report in context.reports_due("www.sihong.gov.cn")]
            context.store.finish_run(context.run_id)  # so the next night's crawl is incremental
            context.store.close()
        return due

    with Store.open(tmp_path / "db.sqlite", tmp_path / "store") as store:
        store.upsert_units(SIHONG)
        store.finish_run(store.start_run(first_night.isoformat()))
        report = seed("002", "2021-01-20")
        for url, copy in ((article, report), (file, seed("002", "2021-01-20", {"requests.carried_over.total": 1}))):
            store.save_report(SIHONG[0].unit_id, copy, store.save_document(url.encode(), "text/html"), url)
            if url == article:
                with_article_current = revisits()
    with_file_current = revisits()
    assert [url for _, url in with_article_current] == [article]
    assert [url for _, url in with_file_current] == [file]
    assert [night for night, _ in with_article_current] == [night for night, _ in with_file_current]
