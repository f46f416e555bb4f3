"""The one declaration of the common schema (../spec/schema.md) and of the template labels.

Every key, Chinese label, section, template, value type and accepted label variant lives here.
Extraction, checks, exports and the codebook read this module; no other module lists labels.
Variants come from report_format.md §5.2; `keywords` are the distinctive words a row label keeps
through typos and rewordings, used only when no variant matches exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

TEMPLATES = ("2019", "2021")
TEMPLATE_NAMES = {
    "2019": "国办公开办函〔2019〕60号 试行格式",
    "2021": "国办公开办函〔2021〕30号 格式",
}

# Value types: how a cell is parsed and stored.
COUNT = "count"  # non-negative integer, 件
SIGNED_COUNT = "signed_count"  # 本年增/减: may be negative
AMOUNT_WAN = "amount_wan"  # money in 万元 (元 amounts are converted)
AMOUNT = "amount"  # money in the unit the report states (kept in provenance)

VALUE_UNITS = {COUNT: "件", SIGNED_COUNT: "件", AMOUNT_WAN: "万元", AMOUNT: "as printed"}


@dataclass(frozen=True, eq=False)  # identity hashing: labels are module constants, looked up in hot caches
class Label:
    """A template label and the variants real reports print instead."""

    canonical: str
    variants: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()

    @property
    def all_forms(self) -> tuple[str, ...]:
        return (self.canonical, *self.variants)


@dataclass(frozen=True)
class Section:
    numeral: str
    key: str
    label: Label


SECTIONS: tuple[Section, ...] = (
    Section("一", "overview", Label("总体情况", ("工作基本情况", "总体概述", "基本情况", "概述"), ("总体", "概述", "基本情况"))),
    Section(
        "二",
        "active",
        Label(
            "主动公开政府信息情况",
            ("政府信息主动公开情况", "主动公开信息情况", "主动公开政府政府情况", "主动公开政府信息的情况"),
            ("主动公开",),
        ),
    ),
    Section(
        "三",
        "requests",
        Label("收到和处理政府信息公开申请情况", ("收到和处理政府信息公开情况",), ("申请",)),
    ),
    Section(
        "四",
        "appeals",
        Label(
            "政府信息公开行政复议、行政诉讼情况",
            ("复议、诉讼和申诉情况", "政府信息公开行政复议和行政诉讼情况"),
            ("复议", "诉讼"),
        ),
    ),
    Section(
        "五",
        "problems",
        Label(
            "存在的主要问题及改进情况",
            ("存在的主要问题及改进措施", "存在问题和改进措施", "政府信息公开工作存在的主要问题及改进情况"),
            ("问题", "改进"),
        ),
    ),
    Section("六", "other_matters", Label("其他需要报告的事项", ("其他需要报告事项", "其它需要报告事项"), ("其他", "其它"))),
)


# ---------------------------------------------------------------- section 二: 主动公开 (active.*)


@dataclass(frozen=True)
class ActiveColumn:
    key: str
    label: Label
    value_type: str


@dataclass(frozen=True)
class ActiveRow:
    key: str
    label: Label


@dataclass(frozen=True)
class ActiveTable:
    """One of the small tables of section 二, headed by a 第二十条第（N）项 caption row."""

    item: str  # the 第二十条 item numeral: 一 五 六 八 九
    template: str
    columns: tuple[ActiveColumn, ...]
    rows: tuple[ActiveRow, ...]


_RULES = ActiveRow("rules", Label("规章", keywords=("规章",)))
_PREV_ITEMS = ActiveColumn("prev_items", Label("上一年项目数量", keywords=("上一年",)), COUNT)
_CHANGE = ActiveColumn("change", Label("本年增/减", ("本年增/", "本年增减"), ("增/减", "增减", "本年增")), SIGNED_COUNT)
_DECISIONS_2019 = ActiveColumn("decisions", Label("处理决定数量", ("本年处理决定数量",), ("处理决定",)), COUNT)
_DECISIONS_2021 = ActiveColumn("decisions", Label("本年处理决定数量", ("处理决定数量",), ("处理决定",)), COUNT)
_PENALTY = ActiveRow("penalty", Label("行政处罚", keywords=("处罚",)))
_COERCION = ActiveRow("coercion", Label("行政强制", keywords=("强制",)))
_LICENSING = ActiveRow("licensing", Label("行政许可", keywords=("许可",)))
_FEES = ActiveRow("fees", Label("行政事业性收费", keywords=("收费",)))

ACTIVE_TABLES: tuple[ActiveTable, ...] = (
    ActiveTable(
        "一",
        "2019",
        (
            ActiveColumn("made", Label("本年新制作数量", ("本年新", "本年新制作"), ("新制作",)), COUNT),
            ActiveColumn("published", Label("本年新公开数量", ("本年新", "本年新公开"), ("新公开",)), COUNT),
            ActiveColumn("total_published", Label("对外公开总数量", keywords=("对外公开", "公开总数")), COUNT),
        ),
        (_RULES, ActiveRow("normative_docs", Label("规范性文件", ("行政规范性文件",), ("规范性文件",)))),
    ),
    ActiveTable(
        "五",
        "2019",
        (_PREV_ITEMS, _CHANGE, _DECISIONS_2019),
        (_LICENSING, ActiveRow("other_services", Label("其他对外管理服务事项", keywords=("对外管理服务",)))),
    ),
    ActiveTable("六", "2019", (_PREV_ITEMS, _CHANGE, _DECISIONS_2019), (_PENALTY, _COERCION)),
    ActiveTable("八", "2019", (_PREV_ITEMS, _CHANGE), (_FEES,)),
    ActiveTable(
        "九",
        "2019",
        (
            ActiveColumn("projects", Label("采购项目数量", keywords=("采购项目",)), COUNT),
            ActiveColumn("amount", Label("采购总金额", keywords=("采购总金额", "总金额")), AMOUNT),
        ),
        (ActiveRow("procurement", Label("政府集中采购", keywords=("集中采购",))),),
    ),
    ActiveTable(
        "一",
        "2021",
        (
            ActiveColumn("issued", Label("本年制发件数", ("本年制发", "制发件数"), ("制发",)), COUNT),
            ActiveColumn("repealed", Label("本年废止件数", keywords=("废止",)), COUNT),
            ActiveColumn("in_force", Label("现行有效件数", keywords=("现行有效",)), COUNT),
        ),
        (_RULES, ActiveRow("normative_docs", Label("行政规范性文件", ("规范性文件",), ("规范性文件",)))),
    ),
    ActiveTable("五", "2021", (_DECISIONS_2021,), (_LICENSING,)),
    ActiveTable("六", "2021", (_DECISIONS_2021,), (_PENALTY, _COERCION)),
    ActiveTable(
        "八",
        "2021",
        (ActiveColumn("amount_wan", Label("本年收费金额（单位：万元）", ("本年收费金额",), ("收费金额",)), AMOUNT_WAN),),
        (_FEES,),
    ),
)

ACTIVE_CAPTION = Label("第二十条第（一）项", ("第二十条第(一)项",), ("第二十条",))
ACTIVE_FIRST_HEADER = Label("信息内容")

# Column labels that tell the templates apart (report_format.md §5.3 step 3), read off the tables above.
TEMPLATE_SIGNATURE_COLUMNS: dict[str, tuple[str, ...]] = {
    "2021": ("本年制发件数", "本年废止件数", "现行有效件数", "本年收费金额"),
    "2019": ("本年新制作数量", "本年新公开数量", "对外公开总数量", "上一年项目数量", "采购项目数量", "采购总金额"),
}


# ---------------------------------------------------------------- section 三: 依申请 (requests.*)


@dataclass(frozen=True)
class RequestColumn:
    key: str
    label: Label


REQUEST_COLUMNS: tuple[RequestColumn, ...] = (
    RequestColumn("natural_person", Label("自然人")),
    RequestColumn("commercial", Label("商业企业")),
    RequestColumn("research", Label("科研机构")),
    RequestColumn("nonprofit", Label("社会公益组织")),
    RequestColumn("legal_service", Label("法律服务机构")),
    RequestColumn("other_org", Label("其他")),
    RequestColumn("total", Label("总计")),
)
REQUEST_LEGAL_PERSON_COLUMNS = tuple(c.key for c in REQUEST_COLUMNS[1:6])
REQUEST_HEADER_LABELS = (
    Label("（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）", keywords=("勾稽关系",)),
    Label("申请人情况"),
    Label("法人或其他组织"),
)


@dataclass(frozen=True)
class RequestGroup:
    key: str
    label: Label


REQUEST_GROUPS: tuple[RequestGroup, ...] = (
    RequestGroup("results", Label("三、本年度办理结果", keywords=("办理结果",))),
    RequestGroup("denied", Label("（三）不予公开", keywords=("不予公开",))),
    RequestGroup("unable", Label("（四）无法提供", keywords=("无法提供",))),
    RequestGroup("rejected", Label("（五）不予处理", keywords=("不予处理",))),
    RequestGroup("other", Label("（六）其他处理", keywords=("其他处理",))),
)


@dataclass(frozen=True)
class RequestRow:
    key: str
    label: Label
    group: str | None  # the RequestGroup the printed row sits under (None for 一、二、四 and （七）)
    templates: tuple[str, ...] = TEMPLATES
    description: str = ""


REQUEST_ROWS: tuple[RequestRow, ...] = (
    RequestRow("new_received", Label("一、本年新收政府信息公开申请数量", keywords=("新收",)), None,
               description="applications received in the year"),
    RequestRow("carried_over", Label("二、上年结转政府信息公开申请数量", keywords=("上年结转",)), None,
               description="applications pending from the previous year on Jan 1"),
    RequestRow("granted", Label("（一）予以公开", keywords=("予以公开",)), "results"),
    RequestRow(
        "partially_granted",
        Label(
            "（二）部分公开（区分处理的，只计这一情形，不计其他情形）",
            ("（二）部分公开",),
            ("部分公开",),
        ),
        "results",
    ),
    RequestRow("denied_state_secret", Label("1.属于国家秘密", keywords=("国家秘密",)), "denied"),
    RequestRow(
        "denied_prohibited_by_law",
        Label("2.其他法律行政法规禁止公开", ("2.其他法律法规禁止公开",), ("禁止公开",)),
        "denied",
    ),
    RequestRow("denied_security_stability", Label("3.危及“三安全一稳定”", keywords=("三安全一稳定", "危及")), "denied"),
    RequestRow("denied_third_party_rights", Label("4.保护第三方合法权益", keywords=("第三方",)), "denied"),
    RequestRow("denied_internal_affairs", Label("5.属于三类内部事务信息", keywords=("内部事务",)), "denied"),
    RequestRow("denied_process_info", Label("6.属于四类过程性信息", keywords=("过程性",)), "denied"),
    RequestRow("denied_enforcement_files", Label("7.属于行政执法案卷", keywords=("执法案卷",)), "denied"),
    RequestRow("denied_query_service", Label("8.属于行政查询事项", keywords=("查询事项",)), "denied"),
    RequestRow("unable_not_held", Label("1.本机关不掌握相关政府信息", ("1.机关不掌握相关政府信息",), ("不掌握",)), "unable"),
    RequestRow("unable_needs_creation", Label("2.没有现成信息需要另行制作", keywords=("另行制作", "没有现成")), "unable"),
    RequestRow("unable_unclear", Label("3.补正后申请内容仍不明确", keywords=("仍不明确", "不明确")), "unable"),
    RequestRow("rejected_petition", Label("1.信访举报投诉类申请", keywords=("信访",)), "rejected"),
    RequestRow("rejected_duplicate", Label("2.重复申请", keywords=("重复申请",)), "rejected"),
    RequestRow("rejected_publication", Label("3.要求提供公开出版物", keywords=("出版物",)), "rejected"),
    RequestRow("rejected_excessive", Label("4.无正当理由大量反复申请", keywords=("大量反复",)), "rejected"),
    RequestRow(
        "rejected_confirmation",
        Label("5.要求行政机关确认或重新出具已获取信息", ("5.要求确认或重新出具已获取信息",), ("重新出具",)),
        "rejected",
    ),
    RequestRow("other", Label("（六）其他处理", keywords=("其他处理",)), "results",
               description="2019: the printed row; 2021: the sum of the three rows below (inferred), "
                           "or the printed row when （六） is printed as one row"),
    RequestRow(
        "other_no_correction",
        Label("1.申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请", keywords=("不补正",)),
        "other",
        ("2021",),
    ),
    RequestRow(
        "other_unpaid_fee",
        Label("2.申请人逾期未按收费通知要求缴纳费用、行政机关不再处理其政府信息公开申请", keywords=("缴纳费用", "收费通知")),
        "other",
        ("2021",),
    ),
    # "其他" alone is also a column header: this row is matched only by its position under （六）.
    RequestRow("other_misc", Label("3.其他"), "other", ("2021",)),
    RequestRow("total_closed", Label("（七）总计", keywords=("总计",)), "results"),
    RequestRow("carried_forward", Label("四、结转下年度继续办理", ("四、结转下一年度继续办理",), ("结转下", "继续办理")), None,
               description="applications still pending at the end of the year"),
)
REQUEST_OTHER_SUBROWS = ("other_no_correction", "other_unpaid_fee", "other_misc")


# ---------------------------------------------------------------- section 四: 复议/诉讼


@dataclass(frozen=True)
class AppealGroup:
    key: str
    label: Label


APPEAL_GROUPS: tuple[AppealGroup, ...] = (
    AppealGroup("review", Label("行政复议")),
    AppealGroup("litigation_direct", Label("行政诉讼 未经复议直接起诉", keywords=("未经复议",))),
    AppealGroup("litigation_after_review", Label("行政诉讼 复议后起诉", keywords=("复议后起诉",))),
)
# The words section 四's header row opens with: 行政复议, 行政诉讼.
APPEAL_HEADINGS: tuple[str, ...] = tuple(dict.fromkeys(g.label.canonical.split()[0] for g in APPEAL_GROUPS))
APPEAL_COLUMNS: tuple[tuple[str, Label], ...] = (
    ("upheld", Label("结果维持")),
    ("corrected", Label("结果纠正")),
    ("other", Label("其他结果")),
    ("pending", Label("尚未审结")),
    ("total", Label("总计")),
)


# ---------------------------------------------------------------- the flat list of fields


@dataclass(frozen=True)
class Field:
    """One key of the common schema."""

    key: str
    label_zh: str
    section: str  # 二 三 四
    templates: tuple[str, ...]
    value_type: str
    description: str = field(default="", compare=False)

    @property
    def unit(self) -> str:
        return VALUE_UNITS[self.value_type]


def _active_fields() -> list[Field]:
    fields: dict[str, Field] = {}
    # schema.md order: the 2021 tables first, then the keys only the 2019 tables have.
    for table in sorted(ACTIVE_TABLES, key=lambda t: t.template != "2021"):
        for row in table.rows:
            for col in table.columns:
                key = f"active.{row.key}.{col.key}"
                previous = fields.get(key)
                templates = (*previous.templates, table.template) if previous else (table.template,)
                fields[key] = Field(
                    key,
                    f"第二十条第（{table.item}）项 {row.label.canonical} · {col.label.canonical}",
                    "二",
                    templates,
                    col.value_type,
                )
    return list(fields.values())


def _request_fields() -> list[Field]:
    return [
        Field(
            f"requests.{row.key}.{col.key}",
            f"{row.label.canonical} · {col.label.canonical}",
            "三",
            row.templates,
            COUNT,
            row.description,
        )
        for row in REQUEST_ROWS
        for col in REQUEST_COLUMNS
    ]


def _appeal_fields() -> list[Field]:
    return [
        Field(f"{group.key}.{col}", f"{group.label.canonical} · {label.canonical}", "四", TEMPLATES, COUNT)
        for group in APPEAL_GROUPS
        for col, label in APPEAL_COLUMNS
    ]


FIELDS: tuple[Field, ...] = (*_active_fields(), *_request_fields(), *_appeal_fields())
FIELDS_BY_KEY: dict[str, Field] = {f.key: f for f in FIELDS}

# Report metadata keys (schema.md "Report metadata"), in the order exports print them.
METADATA_KEYS: tuple[tuple[str, str, str], ...] = (
    ("unit", "发布单位", "issuing unit as printed"),
    ("year", "报告年度", "the year reported on (not the year published)"),
    ("template", "模板", '"2019" (试行) or "2021", detected from the tables\' labels'),
    ("title", "标题", "title as found on the portal"),
    ("source_url", "来源链接", "URL of the document the report was read from"),
    ("published_on", "发布日期", "the page's own publication date, ISO 8601"),
    ("sections", "包含部分", "which of the six sections 一…六 are present"),
)


@cache
def template_keys(template: str) -> tuple[str, ...]:
    """Every field key a report of this template carries, in the order its tables print them."""
    active = [f"active.{row.key}.{col.key}" for t in active_tables(template) for row in t.rows for col in t.columns]
    rest = [f.key for f in FIELDS if f.section != "二" and template in f.templates]
    return (*active, *rest)


def active_tables(template: str) -> tuple[ActiveTable, ...]:
    return tuple(t for t in ACTIVE_TABLES if t.template == template)


def request_rows(template: str) -> tuple[RequestRow, ...]:
    return tuple(r for r in REQUEST_ROWS if template in r.templates)
