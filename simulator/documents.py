"""What each article says: a report's ReportDocument (printed cells, prose, label variants) and the prose of
the pages that only look like reports. render.py turns a ReportDocument into HTML or text."""

from __future__ import annotations

import random
from datetime import date

from extract.schema import ACTIVE_TABLES, REQUEST_OTHER_SUBROWS, REQUEST_ROWS, SECTIONS
from registry.units import COUNTY_GOVERNMENT, TOWNSHIP
from simulator.render import CAPTION, HEADER, LABEL, TABLE_SECTIONS, ReportDocument, section_layout
from simulator.values import Values, printed_text
from simulator.world import AnnualReport, World, YearTruth, rng_for

NEW_RECEIVED_TOTAL = "requests.new_received.total"


def version_fields(world: World, report: AnnualReport) -> Values:
    """The numbers the report shows today: the first version until an edit has been applied."""
    truth = world.truth_of(report)
    if truth.original_fields is not None and not report.edited(world.today):
        return truth.original_fields
    return truth.fields


def narrative_numbers(truth: YearTruth, fields: Values) -> dict[str, int]:
    """The table numbers the overview quotes, as the prose prints them."""
    issued = "active.normative_docs.issued" if truth.template == "2021" else "active.normative_docs.made"
    return {
        NEW_RECEIVED_TOTAL: int(fields.get(NEW_RECEIVED_TOTAL) or 0) + truth.narrative_offset,
        issued: int(fields.get(issued) or 0),
    }


def document_identity(report: AnnualReport) -> ReportDocument:
    """The report without its content: enough for what render.py derives from who printed it (image names)."""
    return ReportDocument(unit=report.unit.name, year=report.year, template=report.template, title=report.title,
                          cells={})


def report_document(world: World, report: AnnualReport) -> ReportDocument:
    truth = world.truth_of(report)
    fields = version_fields(world, report)
    unit = report.unit
    # A copied report repeats the text and the print of the report it copies (through a copy of a copy, the
    # last one written anew); only the year is brought up to date.
    source = report.copied_from
    prose_rng = rng_for(world.seed, unit.unit_id, source.year, "prose")
    style_rng = rng_for(world.seed, unit.unit_id, source.year, "print")
    signed_plus = style_rng.random() < 0.3
    printed_keys = [k for k in fields if _prints(k, truth.template, report.other_as_single_row)]
    cells = {
        k: printed_text(k, fields[k], blank_zero=False, signed_plus=signed_plus)
        for k in printed_keys
        if k not in truth.blank and fields[k] is not None
    }
    quoted = narrative_numbers(truth, fields)
    doc = ReportDocument(
        unit=unit.name,
        year=report.year,
        template=truth.template,
        title=report.title,
        cells=cells,
        intro=[_intro(prose_rng, unit.name, report.year)],
        narrative=_narrative(prose_rng, report, quoted),
        section_titles=_section_titles(style_rng),
        omit_sections=set(report.omit_sections),
        label_variants=_label_variants(style_rng, truth.template),
        extra_active_lines=_extra_lines(style_rng, report, quoted),
        other_as_single_row=report.other_as_single_row,
    )
    if not report.tables_printed:
        _empty_tables(doc)
    return doc


def _empty_tables(doc: ReportDocument) -> None:
    """Tables missing (report_format.md §3.3 P6; 青龙镇 2019, 民意乡 2021): the headings 二/三/四 and their lead
    sentence are there, the tables are not. What the page keeps is the empty grid of a table whose content was
    lost on the way to the portal: no label, no number, no text at all."""
    labels = {
        cell.key
        for numeral in TABLE_SECTIONS
        for row in section_layout(doc, numeral).rows
        for cell in row
        if cell.kind in (CAPTION, HEADER, LABEL)
    }
    doc.cells = {}
    doc.extra_active_lines = []
    doc.label_variants = dict.fromkeys(labels, "")


def _prints(key: str, template: str, other_as_single_row: bool) -> bool:
    """Whether a key has a cell of its own: a 2021 report prints （六） either as one row or as its three rows."""
    if template != "2021" or not key.startswith("requests."):
        return True
    row = key.split(".")[1]
    if row == "other":
        return other_as_single_row
    return not (row in REQUEST_OTHER_SUBROWS and other_as_single_row)


# ---------------------------------------------------------------- the prose of a report
#
# Each year's prose is drawn anew from these banks (which paragraphs, in which order, in which wording, with
# which numbers), so two honest reports of one unit are far from 90 % alike (copy detection, report_format.md
# §3.2 X4). The numbers the findings engine reads in 一 (P2: 收到…申请 N 件, 规范性文件 N 件, 未发生复议/诉讼)
# appear only where the tables back them; the other paragraphs quote counts no table has (培训, 信息条数 …).

_INTROS = (
    "本报告根据《中华人民共和国政府信息公开条例》（以下简称《条例》）第五十条规定编制。全文包括总体情况、"
    "主动公开政府信息情况、收到和处理政府信息公开申请情况、政府信息公开行政复议和行政诉讼情况、"
    "存在的主要问题及改进情况、其他需要报告的事项。本报告中所列数据的统计期限自{year}年1月1日起至{year}年12月31日止。",
    "根据《中华人民共和国政府信息公开条例》要求，现将{unit}{year}年度政府信息公开工作情况报告如下。"
    "本报告所列数据统计期限为{year}年1月1日至{year}年12月31日。",
    "按照《中华人民共和国政府信息公开条例》和上级政务公开工作部署，{unit}编制了{year}年度政府信息公开工作年度报告，"
    "统计时限为{year}年1月1日至{year}年12月31日。本报告电子版可在政府门户网站查阅，如对本报告有疑问，请与{unit}办公室联系。",
    "本年度报告由{unit}依据《中华人民共和国政府信息公开条例》和《中华人民共和国政府信息公开工作年度报告格式》编制，"
    "报告中所列数据的统计时间为{year}年1月1日至{year}年12月31日。",
    "为全面反映{year}年度政府信息公开工作情况，{unit}根据《中华人民共和国政府信息公开条例》第四十九条、第五十条，"
    "结合工作实际编制本报告，报告内容分为六个部分，统计期自{year}年1月1日至{year}年12月31日。",
)
_LEADS = (
    "{year}年，{who}认真贯彻落实《中华人民共和国政府信息公开条例》和上级关于政务公开工作的部署要求，"
    "健全工作机制，拓展公开渠道，政府信息公开工作取得新成效。",
    "{year}年，在上级政务公开主管部门的指导下，{who}坚持以公开为常态、不公开为例外，紧紧围绕中心工作，"
    "扎实推进决策、执行、管理、服务、结果公开。",
    "{who}高度重视政府信息公开工作，{year}年以提升政务公开质量为目标，不断完善工作制度，规范公开流程，"
    "切实保障人民群众的知情权、参与权、表达权和监督权。",
    "今年以来，{who}全面贯彻党中央、国务院关于全面推进政务公开的决策部署，对照年度政务公开工作要点，"
    "逐项分解任务、压实责任，各项工作有序推进。",
    "{year}年度，{who}把政务公开作为建设法治政府、服务型政府的重要抓手，坚持统筹谋划、突出重点、注重实效。",
)
# The work paragraphs of 一: a heading phrase and the wordings it comes in.
_WORK = (
    ("加强组织领导", (
        "调整充实政务公开工作领导小组，明确分管领导和专人负责，形成主要领导亲自抓、分管领导具体抓的工作格局。",
        "将政务公开工作列入重要议事日程，全年{meetings}次专题研究部署政务公开工作，落实专人专岗。",
    )),
    ("加强平台建设", (
        "依托政府门户网站政府信息公开专栏，及时更新法定主动公开内容，利用政务新媒体扩大公开覆盖面。",
        "全年通过门户网站发布各类政务信息{posts}条，通过政务微信公众号推送信息{wechat}条，网站专栏栏目设置更加规范。",
    )),
    ("推进重点领域信息公开", (
        "围绕财政预决算、重大建设项目、公共资源配置、社会公益事业建设等领域，全年公开相关信息{key_info}条。",
        "及时公开财政预决算、重大项目建设、社会救助等信息，确保群众关注的事项及时公开到位。",
    )),
    ("做好政策解读", (
        "坚持政策文件与解读材料同步组织、同步审签、同步发布，全年发布政策解读{interp}篇，其中图文解读{graphic}篇。",
        "对涉及群众切身利益的政策及时开展解读，通过简明问答、图表图解、短视频等形式提高解读的针对性和实效性。",
    )),
    ("强化监督保障", (
        "将政务公开工作纳入年度绩效考核，开展政务公开业务培训{training}次，参训人员{trainees}人次。",
        "组织政务公开工作人员参加上级业务培训，不断提高工作人员的业务素质，定期对栏目内容进行自查整改。",
    )),
    ("推进基层政务公开标准化规范化", (
        "对照基层政务公开标准目录，梳理公开事项{items}项，编制完善政务公开事项清单。",
        "按照国务院部门制定的二十六个领域基层政务公开标准指引，细化公开内容和公开时限，推动公开事项落地落实。",
    )),
    ("加强政民互动", (
        "通过领导信箱、便民服务热线等渠道回应群众关切，全年办理群众留言{messages}条，办结率达到百分之百。",
        "畅通群众诉求表达渠道，对群众反映的热点难点问题做到件件有回音、事事有着落。",
    )),
    ("扩大公众参与", (
        "在重大决策出台前通过门户网站公开征求意见{consult}次，邀请利益相关方和群众代表参与讨论。",
        "健全利益相关方、公众代表、专家、媒体等列席会议制度，全年邀请群众代表列席会议{guests}人次。",
    )),
    ("严格保密审查", (
        "坚持“先审查、后公开”和“一事一审”原则，确保公开信息不涉及国家秘密、工作秘密和个人隐私。",
        "严格落实信息发布保密审查制度，明确审查程序和责任，杜绝泄密事件发生。",
    )),
    ("加强政府信息管理", (
        "建立健全政府信息动态更新机制，对已公开信息进行全面排查，及时更新过时信息和失效链接。",
        "规范政府信息公开属性源头认定，在公文办理环节明确公开属性，提高主动公开比例。",
    )),
    ("深化政务服务公开", (
        "在政务服务大厅设置政务公开专区，公开办事指南{guides}项，方便群众查阅和办事。",
        "推动政务服务事项网上可办，统一公开事项名称、办理依据、申请材料和办理时限。",
    )),
    ("做好新闻发布工作", (
        "全年召开新闻发布会{press}场，及时发布政策信息、回应社会关切。",
        "围绕群众关心关注的热点问题，通过新闻发布、媒体访谈等形式主动发声，正面引导社会预期。",
    )),
    ("更新政府信息公开指南", (
        "根据机构职能变化，对政府信息公开指南和主动公开目录进行了修订完善，并在网站显著位置发布。",
        "按照《条例》要求重新编制政府信息公开指南，明确申请渠道、办理流程和联系方式。",
    )),
    ("推进会议开放", (
        "邀请人大代表、政协委员和群众代表列席政府常务会议，会议议题及审议情况及时向社会公开。",
        "对涉及群众切身利益的重要会议实行开放，全年开放会议{open_meetings}次。",
    )),
)
# The paragraph quoting 本年新收 (always printed: the number P2 compares), and one quoting the 规范性文件
# made this year (试行 本年新制作, 2021 本年制发).
_RECEIVED = (
    "规范依申请公开。严格按照法定时限和程序办理，{year}年共收到政府信息公开申请{received}件，均在法定期限内予以答复。",
    "依申请公开工作规范有序。{year}年度{who}共收到政府信息公开申请{received}件，均按规定时限答复申请人。",
    "做好依申请公开。全年共收到政府信息公开申请{received}件，严格依照《条例》规定的时限和程序办理答复。",
    "依法办理政府信息公开申请。全年共收到政府信息公开申请{received}件，进一步规范受理、登记、办理、答复各环节流程。",
)
_ISSUED = (
    "抓好主动公开。围绕重点领域信息公开要求，及时公开各类政府信息，全年制发行政规范性文件{issued}件。",
    "规范行政规范性文件发布。全年制发行政规范性文件{issued}件，均按规定在政府门户网站统一公开。",
    "做好主动公开。{year}年主动公开政府信息{posts}条，其中行政规范性文件{issued}件。",
)
_TABLE_LEADS = ("该部分以表格形式报告。表格如下：", "该部分以表格形式报告。", "具体情况见下表：")
_ORDINALS = ("一", "二", "三", "四", "五", "六", "七", "八")
_PROBLEM_LEADS = (
    "{year}年，{who}政府信息公开工作取得了一定成效，但仍存在一些不足：",
    "对照上级要求和群众期盼，{who}政府信息公开工作还存在一些问题：",
    "{who}政府信息公开工作虽然取得了一定进展，但与新形势新要求相比仍有差距：",
    "存在的主要问题：",
)
_PROBLEMS = (
    "公开内容不够全面，部分信息更新不够及时",
    "工作人员业务水平有待提高",
    "政策解读形式较为单一",
    "政务新媒体发布内容与群众需求结合不够紧密",
    "基层政务公开标准化规范化工作推进不够平衡",
    "依申请公开办理的规范化水平还需提升",
    "公众参与的广度和深度有待拓展",
    "政府信息公开专栏栏目设置还不够科学",
)
_IMPROVEMENT_LEADS = (
    "下一步，{who}将从以下方面加以改进：",
    "针对上述问题，{who}将采取以下措施：",
    "{next_year}年，{who}将重点做好以下工作：",
    "改进措施：",
)
_IMPROVEMENTS = (
    "进一步完善信息发布机制，确保信息公开及时准确",
    "加强业务培训，提升工作人员能力水平",
    "丰富政策解读形式，增强解读实效",
    "加强政务新媒体管理，提升信息发布质量",
    "持续推进基层政务公开标准化规范化建设",
    "严格依法办理政府信息公开申请，提高答复质量",
    "拓宽公众参与渠道，增强政民互动实效",
    "优化政府信息公开专栏，方便群众查找信息",
)
_OTHER = (
    "本年度未收取政府信息公开信息处理费。",
    "{year}年度{who}未收取信息处理费，无其他需要报告的事项。",
    "本年度办理人大代表建议{proposals}件、政协委员提案{motions}件，均已按期办结。",
)
# The counts the prose quotes that no table has, with the range a county-level unit's year puts them in.
_COUNTS = {
    "meetings": (1, 6), "posts": (60, 3000), "wechat": (20, 800), "key_info": (20, 600), "interp": (2, 40),
    "graphic": (1, 15), "training": (1, 12), "trainees": (10, 400), "items": (30, 300), "messages": (5, 500),
    "consult": (1, 15), "guests": (2, 60), "guides": (20, 400), "press": (1, 12), "open_meetings": (1, 10),
    "proposals": (1, 40), "motions": (1, 40),
}


def _intro(rng: random.Random, unit: str, year: int) -> str:
    return rng.choice(_INTROS).format(unit=unit, year=year)


def _numbered(rng: random.Random, items: list[str]) -> list[str]:
    """Items numbered 一是…二是…, （一）…（二）… or 第一，…第二，…"""
    form = rng.choice(("{}是", "（{}）", "第{}，"))
    return [form.format(_ORDINALS[i]) + item for i, item in enumerate(items)]


def _narrative(rng: random.Random, report: AnnualReport, quoted: dict[str, int]) -> dict[str, list[str]]:
    who = "我镇" if report.unit.level == TOWNSHIP else ("我县" if report.unit.level == COUNTY_GOVERNMENT else "我局")
    values: dict[str, object] = {
        "year": report.year,
        "next_year": report.year + 1,
        "who": who,
        "received": quoted[NEW_RECEIVED_TOTAL],
        "issued": next(v for k, v in quoted.items() if k != NEW_RECEIVED_TOTAL),
    }
    values |= {name: rng.randint(low, high) for name, (low, high) in _COUNTS.items()}
    values["graphic"] = min(values["graphic"], values["interp"])  # 其中图文解读: part of the 政策解读
    work = [f"{title}。{rng.choice(wordings)}" for title, wordings in rng.sample(_WORK, rng.randint(3, 5))]
    work.insert(rng.randint(0, len(work)), rng.choice(_RECEIVED))
    if rng.random() < 0.6:
        work.insert(rng.randint(0, len(work)), rng.choice(_ISSUED))
    problems = [
        rng.choice(_PROBLEM_LEADS) + "；".join(_numbered(rng, rng.sample(_PROBLEMS, rng.randint(2, 4)))) + "。",
        rng.choice(_IMPROVEMENT_LEADS) + "；".join(_numbered(rng, rng.sample(_IMPROVEMENTS, rng.randint(2, 4)))) + "。",
    ]
    lead = rng.choice(_TABLE_LEADS) if rng.random() < 0.5 else None  # one wording, printed above each table
    other = "无。" if report.template == "2019" or rng.random() < 0.4 else rng.choice(_OTHER)
    return {
        "一": [p.format(**values) for p in (rng.choice(_LEADS), *_numbered(rng, work))],
        "二": [lead] if lead else [],
        "三": [lead] if lead else [],
        "四": [lead] if lead else [],
        "五": [p.format(**values) for p in problems],
        "六": [other.format(**values)],
    }


def _section_titles(rng: random.Random) -> dict[str, str]:
    """Some reports retitle a section as real ones do (schema variants)."""
    titles = {}
    for section in SECTIONS:
        if section.label.variants and rng.random() < 0.08:
            titles[section.numeral] = f"{section.numeral}、{rng.choice(section.label.variants)}"
    return titles


def _label_variants(rng: random.Random, template: str) -> dict[str, str]:
    """A few printed labels in a variant real reports use (schema variants), most labels canonical."""
    choices: dict[str, tuple[str, ...]] = {}
    for row in REQUEST_ROWS:
        if template in row.templates and row.label.variants:
            choices[f"row:{row.key}"] = row.label.variants
    for table in ACTIVE_TABLES:
        if table.template != template:
            continue
        for column in table.columns:
            # 本年新 abbreviates two columns at once; print it on a whole table or not at all.
            variants = tuple(v for v in column.label.variants if v != "本年新")
            if variants:
                choices[f"col:{table.item}.{column.key}"] = variants
        for active_row in table.rows:
            if active_row.label.variants:
                choices[f"row:{active_row.key}"] = active_row.label.variants
    picked = rng.sample(sorted(choices), min(len(choices), rng.choice((0, 0, 1, 2, 3))))
    return {key: rng.choice(choices[key]) for key in picked}


def _extra_lines(rng: random.Random, report: AnnualReport, quoted: dict[str, int]) -> list[str]:
    # A province's own line after the tables of 二 (吉林, seed 002): a number that is no field.
    if report.template == "2019" and rng.random() < 0.05:
        total = rng.randint(50, 900) + sum(quoted.values())
        return [f"{report.year}年本行政区域（或本部门）政府信息公开发布总数量（非新闻类、消息类）：{total}条"]
    return []


# ---------------------------------------------------------------- pages that look like reports


def lookalike_paragraphs(kind: str, county: str, year: int | None, day: date) -> list[str]:
    """The prose of a page that a crawler must not take for a report."""
    if kind == "notice":
        return [
            "各乡镇人民政府、街道办事处，县直各单位：",
            f"根据《中华人民共和国政府信息公开条例》规定，现就做好{year}年政府信息公开工作年度报告编制发布工作通知如下：",
            "一、严格按照国务院办公厅政府信息与政务公开办公室印发的《中华人民共和国政府信息公开工作年度报告格式》编制年度报告，"
            "不得擅自删减报告事项，确保数据准确。",
            f"二、县直各部门须于{year + 1 if year else ''}年1月31日前，各乡镇人民政府、街道办事处须于{year + 1 if year else ''}年"
            "2月20日前，在县政府门户网站政府信息公开年报栏目发布本机关年度报告。",
            f"{county}人民政府办公室",
            f"{day.year}年{day.month}月{day.day}日",
        ]
    if kind == "interpretation":
        return [
            f"{county}人民政府近日发布了《{county}{year}年政府信息公开工作年度报告》，现将报告主要内容解读如下。",
            "一、主动公开情况：全县各级各部门围绕重点领域持续加大信息公开力度。",
            "二、依申请公开情况：严格依法办理政府信息公开申请，答复规范及时。",
            "三、下一步工作：持续深化政务公开，提升公开质量和实效。",
        ]
    if kind == "old_report":
        return [
            f"根据《中华人民共和国政府信息公开条例》（以下简称《条例》）规定，现公布{county}人民政府{year}年度政府信息公开工作年度报告。",
            "一、概述",
            f"{year}年，我县认真贯彻落实《条例》，不断完善政府信息公开工作机制。",
            "二、主动公开政府信息情况",
            "三、依申请公开政府信息情况",
            "四、政府信息公开的收费及减免情况",
            "五、因政府信息公开申请行政复议、提起行政诉讼的情况",
            "六、政府信息公开工作存在的主要问题及改进措施",
        ]
    if kind == "letter":
        return [
            f"县政务公开办：现将我县{year}年政府信息公开工作要点落实情况函告如下。",
            "一、重点领域信息公开工作有序推进。二、政策解读与回应关切进一步加强。",
        ]
    if kind == "guide":
        return [
            "为了更好地提供政府信息公开服务，根据《中华人民共和国政府信息公开条例》，编制本指南。",
            "一、主动公开：公开的主要内容、公开方式和时限。二、依申请公开：申请的提出、受理机构、办理程序。",
        ]
    return [f"{county}近日召开会议，安排部署相关工作。", "会议要求，各部门要提高认识，压实责任，确保各项任务落到实处。"]


def format_document() -> ReportDocument:
    """The 年度报告格式 as the notice that issued it prints it: the tables with no numbers."""
    return ReportDocument(
        unit="",
        year=2021,
        template="2021",
        title="中华人民共和国政府信息公开工作年度报告格式",
        cells={},
        intro=["（此格式适用于各级行政机关编制年度报告）"],
        narrative={
            "一": ["（总体情况。这一项报告本机关政府信息公开工作总体情况。）"],
            "二": ["（该部分以表格形式报告。）"],
            "三": ["（该部分以表格形式报告。）"],
            "四": ["（该部分以表格形式报告。）"],
            "五": ["（报告本机关政府信息公开工作存在的主要问题及改进情况。）"],
            "六": ["（报告其他需要报告的事项。）"],
        },
    )
