"""`nianbao serve`: Datasette on the crawl's database, read-only, with titles, Chinese column labels, source links,
facets and the canned queries researchers start from.

The metadata is built from the database itself (its tables and columns) and from the export's column declaration,
so a column the storage adds later still shows up, labelled when its name is known. The plugin hooks below render
links and labels; `serve` registers this module as the plugin.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import sqlite3
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

from datasette import hookimpl
from markupsafe import Markup

from checks import RULES
from exports.columns import COLUMNS_BY_NAME
from extract.schema import FIELDS_BY_KEY
from nianbao.status import http_url
from registry.units import LEVELS

PLUGIN = "nianbao"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8001
HISTORY_KEYS = ("requests.new_received.total", "requests.total_closed.total", "requests.carried_forward.total")

# Labels of database columns that are not export columns (or mean something else in one table).
LABELS = {
    "name": "名称",
    "portal_url": "门户网站",
    "column_urls": "年报栏目",
    "cms": "网站系统 CMS",
    "deadline": "发布截止日期（次年 月-日）",
    "aliases": "别名",
    "run_id": "抓取批次",
    "night": "抓取日期",
    "started_at": "开始时间",
    "finished_at": "结束时间",
    "status": "状态",
    "stats": "统计",
    "sha256": "文件指纹 SHA-256",
    "size": "大小（字节）",
    "content_type": "内容类型",
    "kind": "类型",
    "first_seen_at": "首次获取时间",
    "url": "网址",
    "etag": "ETag",
    "last_modified": "Last-Modified",
    "changed_at": "变化时间",
    "changed_run": "变化批次",
    "current_version": "当前版本",
    "current": "当前版本",
    "document_sha256": "文件指纹 SHA-256",
    "narrative": "正文",
    "warnings": "提取警告",
    "missing_tables": "缺失表格",
    "image_only_sections": "仅有图片的部分",
    "source": "来源文件",
    "content_hash": "内容指纹",
    "extracted_at": "提取时间",
    "position": "序号",
    "value": "数值",
    "error_id": "错误编号",
    "message": "信息",
    "recorded_at": "记录时间",
    "fingerprint": "问题指纹",
    "rule": "规则",
    "severity": "严重程度",
    "message_zh": "问题说明",
    "message_en": "说明（英文）",
    "cells": "相关单元格",
    "first_seen_run": "首次发现批次",
    "last_seen_run": "最近发现批次",
    "resolved_run": "解决批次",
    "cycle_id": "调度周期",
    "outcome": "结果",
    "open_findings": "未解决问题",
    "applied_at": "应用时间",
}
TABLE_LABELS = {
    "report_versions": {"unit_name": "年报所署单位（原文）"},
    "url_state": {"status": "HTTP 状态码"},
}

# name: (title, description, facets)
TABLES: dict[str, tuple[str, str, list[str]]] = {
    "units": ("单位 units", "Every unit that must publish an annual report, and where its portal keeps them.",
              ["province", "parent_county", "level"]),
    "reports": ("年报 reports", "One row per unit and report year; the versions hold what each report said.", ["year"]),
    "report_versions": ("年报版本 report versions",
                        "Every version of every report: a changed report gets a new version, the old ones stay.",
                        ["template"]),
    "fields": ("字段 fields", "Every value of every report version, with its raw text and where it was read.", ["key"]),
    "findings": ("问题 findings", "What the checks found: missing or late reports, numbers that do not add up, …",
                 ["rule", "severity", "status", "year"]),
    "crawl_runs": ("抓取批次 crawl runs", "One row per nightly crawl.", ["status"]),
    "fetch_errors": ("抓取错误 fetch errors", "Pages and portals that failed during a crawl.", ["kind"]),
    "documents": ("文件 documents", "Every document fetched, by its SHA-256 (the bytes are in the file store).", ["kind"]),
    "url_state": ("网址状态 URL state", "The last response of every URL, for conditional re-fetching.", ["status"]),
    "scheduler_runs": ("调度记录 scheduler runs", "The nightly scheduler's cycles.", ["outcome"]),
}
HIDDEN_TABLES = ("schema_version",)

_OPEN = "f.status != 'resolved'"
QUERIES: dict[str, dict[str, str]] = {
    "not_published": {
        "title": "未发布年报的单位 units without a report for a year",
        "description": "Units with no report stored for the year (default: the latest year with any report). "
                       "Optional: level, province, parent_county.",
        "sql": """WITH wanted AS (SELECT CAST(coalesce(nullif(:year, ''), (SELECT max(year) FROM reports)) AS INTEGER) AS year)
SELECT u.unit_id, u.name AS unit_name, w.year, u.level, u.province, u.parent_county, u.portal_url
FROM units u, wanted w
WHERE NOT EXISTS (SELECT 1 FROM reports r WHERE r.unit_id = u.unit_id AND r.year = w.year)
  AND (:level = '' OR u.level = :level)
  AND (:province = '' OR u.province = :province)
  AND (:parent_county = '' OR u.parent_county = :parent_county)
ORDER BY u.province, u.parent_county, u.unit_id""",
    },
    "rule_breaking": {
        "title": "违反规则的年报 reports breaking a rule",
        "description": "Open findings about stored reports (not about missing ones), by unit and year. "
                       "Optional: rule (e.g. H1), level, province, parent_county.",
        "sql": f"""SELECT f.rule, f.severity, f.status, f.unit_id, u.name AS unit_name, f.year, u.level, u.province,
  u.parent_county, f.message_zh, f.message_en, f.source_url
FROM findings f JOIN units u ON u.unit_id = f.unit_id
WHERE {_OPEN}
  AND EXISTS (SELECT 1 FROM reports r WHERE r.unit_id = f.unit_id AND r.year = f.year)
  AND (:rule = '' OR f.rule = :rule)
  AND (:level = '' OR u.level = :level)
  AND (:province = '' OR u.province = :province)
  AND (:parent_county = '' OR u.parent_county = :parent_county)
ORDER BY u.province, u.parent_county, f.unit_id, f.year, f.rule""",
    },
    "unit_history": {
        "title": "单位历年年报 one unit's reports across years",
        "description": "Every version of every report of one unit (give its unit_id or its name), oldest first, "
                       "with its main numbers and open findings.",
        "sql": """SELECT r.year, v.version, v.version = r.current_version AS current, u.unit_id, u.name AS unit_name,
  v.template, v.title, v.published_on, v.source_url,
"""
        + "".join(
            f"  (SELECT value FROM fields x WHERE x.report_id = r.report_id AND x.version = v.version AND x.key = '{key}')"
            f' AS "{key}",\n'
            for key in HISTORY_KEYS
        )
        + f"""  (SELECT count(*) FROM findings f WHERE f.unit_id = r.unit_id AND f.year = r.year AND {_OPEN}) AS open_findings
FROM reports r JOIN report_versions v ON v.report_id = r.report_id JOIN units u ON u.unit_id = r.unit_id
WHERE u.unit_id = :unit OR u.name = :unit
ORDER BY r.year, v.version""",
    },
}


def label(table: str | None, column: str) -> str | None:
    """The Chinese label of a column of `table` (or of a query's result when `table` is None)."""
    override = TABLE_LABELS.get(table or "", {}).get(column)
    if override:
        return override
    known = COLUMNS_BY_NAME.get(column)
    return known.label_zh if known else LABELS.get(column)


def _tables(db_path: Path) -> dict[str, list[str]]:
    with closing(sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True)) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {name: [r[0] for r in conn.execute("SELECT name FROM pragma_table_info(?)", [name])] for name in names}


def metadata(db_path: Path) -> dict[str, Any]:
    """Datasette metadata for the database file: titles, descriptions, column labels, facets, canned queries."""
    tables: dict[str, dict[str, Any]] = {}
    for name, cols in _tables(db_path).items():
        title, description, facets = TABLES.get(name, (name, "", []))
        described = {c: text for c in cols if (text := label(name, c))}
        tables[name] = {"title": title, "description": description, "columns": described, "hidden": name in HIDDEN_TABLES}
        if facets:
            tables[name]["facets"] = facets
    tables.get("units", {})["label_column"] = "name"
    return {
        "title": "nianbao 年报 — 政府信息公开工作年度报告",
        "description": "Annual information-disclosure reports crawled from government portals: units, reports, every "
                       "value with its source, and the checks' findings. 只读 read-only.",
        "databases": {db_path.stem: {"tables": tables, "queries": QUERIES}},
    }


# ---------------------------------------------------------------------------------------------- plugin hooks


def _link(url: str) -> Markup:
    shown = url.split("://", 1)[1]
    shown = shown if len(shown) <= 60 else shown[:59] + "…"
    return Markup('<a href="{}" title="{}" rel="noopener noreferrer nofollow">{}</a>').format(url, url, shown)


def _with_label(value: str, text: str) -> Markup:
    return Markup('{}<br><small class="label-zh">{}</small>').format(value, text)


@hookimpl
def render_cell(row: Any, value: Any, column: str, table: str | None, database: str, datasette: Any) -> Markup | None:
    """Source links shortened and safe (only http(s) is linked), and field keys, levels and rules with their
    Chinese names."""
    if not isinstance(value, str):
        return None
    if column in ("source_url", "portal_url", "url") and (url := http_url(value)):
        return _link(url)
    if column == "column_urls" and value.startswith("["):
        urls = [u for u in json.loads(value) if isinstance(u, str) and http_url(u)]
        return Markup("<br>").join(_link(u) for u in urls) if urls else None
    if column == "key" and value in FIELDS_BY_KEY:
        return _with_label(value, FIELDS_BY_KEY[value].label_zh)
    if column == "level" and value in LEVELS:
        return _with_label(value, LEVELS[value])
    if column == "rule" and value in RULES:
        return _with_label(value, RULES[value].title_zh)
    return None


_HEADER_SCRIPT = """
(() => {
  const labels = %s;
  for (const th of document.querySelectorAll("table.rows-and-columns thead th")) {
    const label = labels[th.dataset.column || th.textContent.trim()];
    if (!label) continue;
    const small = document.createElement("small");
    small.className = "label-zh";
    small.textContent = label;
    th.append(document.createElement("br"), small);
  }
})();
"""


@hookimpl
def extra_body_script(template: str, database: str | None, table: str | None, columns: Any, view_name: str,
                      request: Any, datasette: Any) -> str | None:
    """The Chinese label under each column heading of a table or query page."""
    names = [c if isinstance(c, str) else c.get("name", "") for c in columns or ()]
    labels = {name: text for name in names if (text := label(table, name))}
    if not labels:
        return None
    # "<" escaped: the JSON sits inside a <script> element.
    return _HEADER_SCRIPT % json.dumps(labels, ensure_ascii=False).replace("<", "\\u003c")


# ---------------------------------------------------------------------------------------------- serving


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(db_path: Path, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Serve the database read-only until interrupted."""
    import uvicorn
    from datasette.app import Datasette
    from datasette.plugins import pm

    if not pm.has_plugin(PLUGIN):
        pm.register(sys.modules[__name__], name=PLUGIN)
    ds = Datasette([str(db_path)], metadata=metadata(db_path))
    asyncio.run(ds.invoke_startup())
    uvicorn.run(ds.app(), host=host, port=port, log_level="warning", lifespan="on", workers=1)
