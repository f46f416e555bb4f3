"""What each article says: a report's ReportDocument (printed cells, prose, label variants) and the prose of
the pages that only look like reports. render.py turns a ReportDocument into HTML or text."""

from __future__ import annotations

import random
from datetime import date

from extract.schema import ACTIVE_TABLES, REQUEST_OTHER_SUBROWS, REQUEST_ROWS, SECTIONS
from registry.units import COUNTY_GOVERNMENT, TOWNSHIP
from simulator.render import ReportDocument
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
    copied = "copy_of_last_year" in report.defects
    # A copied report keeps last year's prose too; only the year is brought up to date.
    prose_rng = rng_for(world.seed, unit.unit_id, report.year - 1 if copied else report.year, "prose")
    style_rng = rng_for(world.seed, unit.unit_id, report.year, "print")
    signed_plus = style_rng.random() < 0.3
    printed_keys = [k for k in fields if _prints(k, truth.template, report.other_as_single_row)]
    cells = {
        k: printed_text(k, fields[k], blank_zero=False, signed_plus=signed_plus)
        for k in printed_keys
        if k not in truth.blank and fields[k] is not None
    }
    quoted = narrative_numbers(truth, fields)
    return ReportDocument(
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


def _prints(key: str, template: str, other_as_single_row: bool) -> bool:
    """Whether a key has a cell of its own: a 2021 report prints （六） either as one row or as its three rows."""
    if template != "2021" or not key.startswith("requests."):
        return True
    row = key.split(".")[1]
    if row == "other":
        return other_as_single_row
    return not (row in REQUEST_OTHER_SUBROWS and other_as_single_row)


def _intro(rng: random.Random, unit: str, year: int) -> str:
    return rng.choice(
        (
            f"本报告根据《中华人民共和国政府信息公开条例》（以下简称《条例》）第五十条规定编制。全文包括总体情况、"
            f"主动公开政府信息情况、收到和处理政府信息公开申请情况、政府信息公开行政复议和行政诉讼情况、"
            f"存在的主要问题及改进情况、其他需要报告的事项。本报告中所列数据的统计期限自{year}年1月1日起至{year}年12月31日止。",
            f"根据《中华人民共和国政府信息公开条例》要求，现将{unit}{year}年度政府信息公开工作情况报告如下。"
            f"本报告所列数据统计期限为{year}年1月1日至{year}年12月31日。",
        )
    )


_OVERVIEW = (
    "{year}年，{who}认真贯彻落实《中华人民共和国政府信息公开条例》和上级关于政务公开工作的部署要求，"
    "健全工作机制，拓展公开渠道，政府信息公开工作取得新成效。",
    "一是加强组织领导。调整充实政务公开工作领导小组，明确分管领导和专人负责，形成主要领导亲自抓、分管领导具体抓的工作格局。",
    "二是抓好主动公开。围绕重点领域信息公开要求，及时公开财政预决算、重大项目建设、社会救助等信息，全年制发行政规范性文件{issued}件。",
    "三是规范依申请公开。严格按照法定时限和程序办理，{year}年共收到政府信息公开申请{received}件，均在法定期限内予以答复。",
    "四是加强平台建设。依托政府门户网站政府信息公开专栏，及时更新法定主动公开内容，利用政务新媒体扩大公开覆盖面。",
    "五是强化监督保障。将政务公开工作纳入年度绩效考核，开展政务公开培训，全年未发生因政府信息公开引发的责任追究情况。",
)
_PROBLEMS = (
    "{year}年，{who}政府信息公开工作取得了一定成效，但仍存在一些不足：一是公开内容不够全面，部分信息更新不够及时；"
    "二是工作人员业务水平有待提高；三是政策解读形式较为单一。",
    "下一步，{who}将从以下方面加以改进：一是进一步完善信息发布机制，确保信息公开及时准确；二是加强业务培训，"
    "提升工作人员能力水平；三是丰富政策解读形式，增强解读实效。",
)


def _narrative(rng: random.Random, report: AnnualReport, quoted: dict[str, int]) -> dict[str, list[str]]:
    who = "我镇" if report.unit.level == TOWNSHIP else ("我县" if report.unit.level == COUNTY_GOVERNMENT else "我局")
    values = {
        "year": report.year,
        "who": who,
        "received": quoted[NEW_RECEIVED_TOTAL],
        "issued": next(v for k, v in quoted.items() if k != NEW_RECEIVED_TOTAL),
    }
    overview = [_OVERVIEW[0], *sorted(rng.sample(_OVERVIEW[1:], 3), key=_OVERVIEW.index)]
    if _OVERVIEW[3] not in overview:  # the overview always quotes 本年新收 (the number P2 compares)
        overview.append(_OVERVIEW[3])
    table_lead = ["该部分以表格形式报告。表格如下："] if rng.random() < 0.5 else []
    other = "无。" if report.template == "2019" or rng.random() < 0.5 else "本年度未收取政府信息公开信息处理费。"
    return {
        "一": [p.format(**values) for p in overview],
        "二": table_lead,
        "三": table_lead,
        "四": table_lead,
        "五": [p.format(**values) for p in _PROBLEMS],
        "六": [other],
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
