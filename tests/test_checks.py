"""The findings engine (checks/): every rule on small synthetic reports, then on the seeds."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from checks import (
    RULES,
    DeadlinePolicy,
    Finding,
    Version,
    check_history,
    check_publication,
    check_reachability,
    check_report,
    check_reports,
    check_versions,
    level_from_name,
    narrative_claims,
    narrative_similarity,
)
from extract.model import FieldValue, Report
from extract.schema import template_keys
from registry.units import COUNTY_DEPARTMENT, COUNTY_GOVERNMENT, TOWNSHIP, Unit

SEEDS = Path(__file__).parent / "fixtures" / "seeds"
REAL = Path(__file__).parent / "fixtures" / "real"

# A clean section 三 (both templates): 一 4 + 二 1 = （七） 4 + 四 1, per column; the results add up.
REQUESTS = {
    "requests.new_received.natural_person": 3,
    "requests.new_received.commercial": 1,
    "requests.new_received.total": 4,
    "requests.carried_over.natural_person": 1,
    "requests.carried_over.total": 1,
    "requests.granted.natural_person": 2,
    "requests.granted.total": 2,
    "requests.partially_granted.commercial": 1,
    "requests.partially_granted.total": 1,
    "requests.unable_not_held.natural_person": 1,
    "requests.unable_not_held.total": 1,
    "requests.total_closed.natural_person": 3,
    "requests.total_closed.commercial": 1,
    "requests.total_closed.total": 4,
    "requests.carried_forward.natural_person": 1,
    "requests.carried_forward.total": 1,
    "review.upheld": 1,
    "review.pending": 1,
    "review.total": 2,
}
ACTIVE = {
    "2021": {
        "active.normative_docs.issued": 3,
        "active.normative_docs.repealed": 1,
        "active.normative_docs.in_force": 12,
        "active.licensing.decisions": 40,
        "active.fees.amount_wan": 0.5,
    },
    "2019": {
        "active.normative_docs.made": 3,
        "active.normative_docs.published": 3,
        "active.normative_docs.total_published": 20,
        "active.licensing.prev_items": 10,
        "active.licensing.change": -2,  # 本年增/减 may be negative
        "active.licensing.decisions": 5,
        "active.procurement.projects": 2,
        "active.procurement.amount": 12.5,
    },
}
NARRATIVE = "本年度共收到政府信息公开申请4件，均已按期答复。制发行政规范性文件3件。"


def make_report(
    template: str = "2021",
    year: int | None = None,
    values: dict[str, int | float | None] | None = None,
    *,
    inferred: tuple[str, ...] = (),
    unit: str = "测试镇人民政府",
    narrative: str = NARRATIVE,
    **kwargs: object,
) -> Report:
    """A clean report of `template`: every key 0 but the consistent numbers above, then `values` on top."""
    year = year if year is not None else (2022 if template == "2021" else 2020)
    fields = {key: FieldValue(0) for key in template_keys(template)}
    for key, value in {**REQUESTS, **ACTIVE[template], **(values or {})}.items():
        fields[key] = FieldValue(value, inferred=key in inferred)
    if template == "2021":  # the extractor lists （六） as the inferred sum of its three sub-rows
        for key in [k for k in fields if k.startswith("requests.other.")]:
            fields[key] = FieldValue(fields[key].value, inferred=True)
    kwargs.setdefault("sections", list("一二三四五六"))
    return Report(unit=unit, year=year, template=template, title=f"{unit}{year}年政府信息公开工作年度报告",
                  fields=fields, narrative={"一": narrative}, **kwargs)


def found(findings: list[Finding]) -> set[tuple[str, str]]:
    return {(f.rule, f.location) for f in findings}


def only(findings: list[Finding], rule: str) -> Finding:
    matching = [f for f in findings if f.rule == rule]
    assert len(matching) == 1, findings
    return matching[0]


# ---------------------------------------------------------------- clean reports


@pytest.mark.parametrize("template", ["2019", "2021"])
def test_clean_report_has_no_finding(template: str) -> None:
    assert check_report(make_report(template)) == []


# ---------------------------------------------------------------- arithmetic H1–H5


def test_h1_names_the_column_and_the_numbers() -> None:
    # 四 raised in 自然人 and 总计 (the row itself still adds up, so H2 stays quiet).
    report = make_report(values={"requests.carried_forward.natural_person": 2, "requests.carried_forward.total": 2})
    findings = check_report(report)
    assert found(findings) == {("H1", "column:natural_person"), ("H1", "column:total")}
    h1 = next(f for f in findings if f.location == "column:natural_person")
    assert h1.severity == "error"
    assert h1.message_zh == "勾稽关系不符（一+二=（七）+四）：三、自然人列：一+二=3+1=4 ≠ （七）+四=3+2=5"
    assert h1.message_en.endswith("column natural_person: 一+二=3+1=4 ≠ （七）+四=3+2=5")
    assert h1.cells == (
        ("requests.new_received.natural_person", 3),
        ("requests.carried_over.natural_person", 1),
        ("requests.total_closed.natural_person", 3),
        ("requests.carried_forward.natural_person", 2),
    )


def test_h1_checks_the_total_column_when_only_totals_are_filled() -> None:
    # Seed 003's layout: the six applicant columns blank (NULL) in every row, only 总计 printed.
    blanks = {k: None for k in template_keys("2019") if k.startswith("requests.") and not k.endswith(".total")}
    report = make_report("2019", values={**blanks, "requests.carried_forward.total": 3})
    assert found(check_report(report)) == {("H1", "column:total")}
    assert "一+二=4+1=5 ≠ （七）+四=4+3=7" in only(check_report(report), "H1").message_zh


def test_h2_row_total_and_its_column_consequence() -> None:
    report = make_report(values={"requests.granted.total": 3})
    findings = check_report(report)
    # 予以公开 总计 3 but 2+0+…: H2 on the row, and the 总计 column no longer adds up to （七） (H3).
    assert found(findings) == {("H2", "row:granted"), ("H3", "column:total")}
    h2 = only(findings, "H2")
    assert h2.message_zh == (
        "行合计不符：三、（一）予以公开行：总计=3 ≠ 自然人+商业企业+科研机构+社会公益组织+法律服务机构+其他=2+0+0+0+0+0=2"
    )
    assert ("requests.granted.total", 3) in h2.cells


def test_blank_cells_count_as_zero_in_a_row_with_values() -> None:
    # 予以公开: 商业企业 blank (an HTML &nbsp;), 总计 3. The blank is read as 0, so the row is checked and fails
    # (3 ≠ 2), and the 商业企业 column still adds up (（七） 1 = 0 + 部分公开 1); the 总计 column does not.
    report = make_report(values={"requests.granted.commercial": None, "requests.granted.total": 3})
    findings = check_report(report)
    assert found(findings) == {("H2", "row:granted"), ("H3", "column:total")}
    assert ("requests.granted.commercial", None) in only(findings, "H2").cells


def test_h2_skips_rows_with_only_the_total_and_inferred_rows() -> None:
    only_total = {f"requests.granted.{c}": None for c in
                  ("natural_person", "commercial", "research", "nonprofit", "legal_service", "other_org")}
    assert check_report(make_report(values=only_total)) == []
    # A 6-number row: the extractor inferred the lost legal-person column; its numbers cannot fail H2 or H3.
    report = make_report(values={"requests.granted.research": 1}, inferred=("requests.granted.research",))
    assert check_report(report) == []


def test_h3_uses_the_2021_sub_rows_and_not_their_inferred_sum() -> None:
    # （六）3.其他 holds one application; （六） itself is the inferred sum 1. Counting both would give 5 ≠ 4.
    values = {
        "requests.unable_not_held.natural_person": 0, "requests.unable_not_held.total": 0,
        "requests.other_misc.natural_person": 1, "requests.other_misc.total": 1,
        "requests.other.natural_person": 1, "requests.other.total": 1,
    }
    assert check_report(make_report("2021", values=values)) == []
    report = make_report("2021", values={**values, "requests.other_misc.natural_person": 2,
                                         "requests.other_misc.total": 2})
    findings = check_report(report)
    assert found(findings) == {("H3", "column:natural_person"), ("H3", "column:total")}
    h3 = next(f for f in findings if f.location == "column:total")
    assert h3.message_zh == "办理结果合计不符：三、总计列：（七）=4 ≠ （一）…（六）3之和=2+1+2=5"
    assert ("requests.other_misc.total", 2) in h3.cells
    assert all(key != "requests.other.total" for key, _ in h3.cells)


def test_h3_uses_the_single_other_row_when_a_2021_report_prints_one() -> None:
    subrows = {f"requests.{r}.{c}": None for r in ("other_no_correction", "other_unpaid_fee", "other_misc")
               for c in ("natural_person", "commercial", "research", "nonprofit", "legal_service", "other_org",
                         "total")}
    printed_other = {"requests.unable_not_held.natural_person": 0, "requests.unable_not_held.total": 0,
                     "requests.other.natural_person": 1, "requests.other.total": 1}
    report = make_report("2021", values={**subrows, **printed_other})
    for key in [k for k in report.fields if k.startswith("requests.other.")]:  # printed, not inferred
        report.fields[key] = FieldValue(report.fields[key].value)
    assert check_report(report) == []
    # Without （六） the 自然人 column would be 2 ≠ 3: the printed row is counted.
    report.fields["requests.other.natural_person"] = FieldValue(0)
    report.fields["requests.other.total"] = FieldValue(0)
    assert found(check_report(report)) == {("H3", "column:natural_person"), ("H3", "column:total")}


def test_h3_in_the_2019_template() -> None:
    report = make_report("2019", values={"requests.granted.natural_person": 1, "requests.granted.total": 1})
    assert found(check_report(report)) == {("H3", "column:natural_person"), ("H3", "column:total")}
    assert "（七）=3 ≠ （一）…（六）之和=1+1=2" in check_report(report)[0].message_zh


def test_h4_per_group() -> None:
    findings = check_report(make_report(values={"litigation_direct.corrected": 1}))
    assert found(findings) == {("H4", "group:litigation_direct")}
    assert only(findings, "H4").message_zh == (
        "复议诉讼合计不符：四、行政诉讼 未经复议直接起诉：总计=0 ≠ 结果维持+结果纠正+其他结果+尚未审结=0+1+0+0=1"
    )


def test_h5_negative_counts_and_money_but_not_change() -> None:
    findings = check_report(make_report(values={"active.licensing.decisions": -5, "active.fees.amount_wan": -0.5}))
    assert found(findings) == {("H5", "active.licensing.decisions"), ("H5", "active.fees.amount_wan")}
    assert {f.cells for f in findings} == {(("active.licensing.decisions", -5),), (("active.fees.amount_wan", -0.5),)}
    # 本年增/减 −2 in the clean 2019 report is legitimate.
    assert check_report(make_report("2019", values={"active.penalty.change": -7})) == []


# ---------------------------------------------------------------- structure


def test_h6_template_must_match_the_year() -> None:
    assert found(check_report(make_report("2019", year=2022))) == {("H6", "")}
    h6 = only(check_report(make_report("2021", year=2020)), "H6")
    assert h6.cells == (("template", "2021"), ("expected_template", "2019"))
    assert check_report(make_report("2021", year=2021)) == []
    assert check_report(make_report("2019", year=2018)) == []  # before the templates: nothing to compare


def test_sections_missing() -> None:
    finding = only(check_report(make_report(sections=list("一二三五六"))), "sections_missing")
    assert finding.severity == "warning"
    assert finding.cells == (("missing_sections", "四"),)
    assert "四、政府信息公开行政复议、行政诉讼情况" in finding.message_zh


def test_tables_missing_and_image_only_are_reported_once_each() -> None:
    report = make_report(missing_tables=["三", "四"], image_only_sections=["三"])
    findings = check_report(report)
    assert found(findings) == {("tables_missing", ""), ("image_only", "")}
    assert only(findings, "tables_missing").cells == (("missing_tables", "四"),)
    assert only(findings, "image_only").cells == (("image_only_sections", "三"),)
    assert only(findings, "image_only").severity == "info"


def test_a_missing_section_is_not_also_a_missing_table() -> None:
    # Section 四 left out altogether: its heading and its table are gone, which is one finding, not two.
    report = make_report(sections=list("一二三五六"), missing_tables=["四"])
    assert found(check_report(report)) == {("sections_missing", "")}
    # Headings 二/三/四 there, their tables not: tables_missing (P6), and for a section that is gone, only that.
    report = make_report(sections=list("一二三五六"), missing_tables=["二", "四"])
    assert only(check_report(report), "tables_missing").cells == (("missing_tables", "二"),)


# ---------------------------------------------------------------- plausibility


def test_p1_rules_row_at_county_and_township_level() -> None:
    finding = only(check_report(make_report(values={"active.rules.issued": 2, "active.rules.in_force": 2})), "P1")
    assert finding.severity == "warning"
    assert finding.cells == (("active.rules.issued", 2), ("active.rules.repealed", 0), ("active.rules.in_force", 2))


def test_p2_narrative_contradicts_the_tables() -> None:
    narrative = "全年收到政府信息公开申请6件。制发行政规范性文件5件。全年未发生政府信息公开行政复议案件。"
    findings = check_report(make_report(narrative=narrative))
    assert found(findings) == {("P2", "narrative:requests_received"), ("P2", "narrative:normative_docs"),
                               ("P2", "narrative:review")}
    received = next(f for f in findings if f.location == "narrative:requests_received")
    assert received.cells == (("requests.new_received.total", 4), ("requests.carried_over.total", 1),
                              ("narrative.一", "全年收到政府信息公开申请6件"))
    review = next(f for f in findings if f.location == "narrative:review")
    assert ("review.total", 2) in review.cells


@pytest.mark.parametrize(
    "phrase",
    [
        "主动公开政策文件、规范性文件等共120条",  # a joint count
        "公开规章和规范性文件15件",  # a joint count with 规章
        "清理规范性文件9件",  # another verb
        "全年督促和协助县政府其他部门办理依申请公开事项6起",  # seed 003: not about its own applications
        "收到上年结转申请7件",
        "未发生行政复议被纠错的情况",
        "未收到法人或其他组织的申请",  # says nothing about natural persons
    ],
)
def test_p2_reads_no_claim_from_ambiguous_prose(phrase: str) -> None:
    report = make_report(narrative=phrase)
    assert narrative_claims(report) == []
    assert check_report(report) == []


@pytest.mark.parametrize(
    ("phrase", "claim"),
    [
        ("收到政府信息公开申请5件。", ("requests_received", 5)),  # 一 4 + 二 1: prose counting carried-over ones
        ("共收到依申请公开4件，其中自然人3件。", ("requests_received", 4)),
        ("其中规范性文件12条。", ("normative_docs", 12)),  # 现行有效件数
    ],
)
def test_p2_agreeing_claims_make_no_finding(phrase: str, claim: tuple[str, int]) -> None:
    report = make_report(narrative=phrase)
    assert [(c.pattern, c.value) for c in narrative_claims(report)] == [claim]
    assert check_report(report) == []


def test_p5_seed_000_pattern_and_the_order_of_the_three_columns() -> None:
    finding = only(check_report(make_report("2019", values={"active.normative_docs.made": 26,
                                                            "active.normative_docs.published": 0,
                                                            "active.normative_docs.total_published": 26})), "P5")
    assert finding.location == "row:normative_docs"
    assert finding.cells == (("active.normative_docs.made", 26), ("active.normative_docs.published", 0),
                             ("active.normative_docs.total_published", 26))
    assert finding.message_zh.endswith("本年新制作的文件一件也未公开")
    # 新公开 8 > 对外公开总数量 5 and > 新制作 3.
    finding = only(check_report(make_report("2019", values={"active.normative_docs.published": 8,
                                                            "active.normative_docs.total_published": 5})), "P5")
    assert finding.message_en.endswith("published > total_published; published > made")


# ---------------------------------------------------------------- cross-year


def pair(template: str = "2021") -> tuple[Report, Report]:
    """Two consistent consecutive years of one unit (different numbers, different prose)."""
    if template == "2021":
        prev = make_report("2021", 2021, narrative="二〇二一年的总体情况。")
        cur = make_report("2021", 2022, {"active.normative_docs.in_force": 14, "requests.new_received.commercial": 2,
                                         "requests.new_received.total": 5, "requests.carried_forward.commercial": 1,
                                         "requests.carried_forward.total": 2}, narrative="今年的总体情况不同。")
    else:
        prev = make_report("2019", 2019, narrative="二〇一九年的总体情况。")
        cur = make_report("2019", 2020, {"active.licensing.prev_items": 8, "requests.new_received.commercial": 2,
                                         "requests.new_received.total": 5, "requests.carried_forward.commercial": 1,
                                         "requests.carried_forward.total": 2}, narrative="今年的总体情况不同。")
    return prev, cur


@pytest.mark.parametrize("template", ["2019", "2021"])
def test_consistent_years_have_no_finding(template: str) -> None:
    prev, cur = pair(template)
    assert check_report(prev) == [] and check_report(cur) == []
    assert check_history({prev.year: prev, cur.year: cur}) == []


def test_x1_carry_over_is_an_error_and_spans_the_template_switch() -> None:
    prev = make_report("2019", 2020)
    cur = make_report("2021", 2021, {"requests.carried_over.natural_person": 3, "requests.carried_over.total": 3,
                                     "requests.new_received.natural_person": 1, "requests.new_received.total": 2},
                      narrative="")
    assert check_report(cur) == []
    findings = check_history({2020: prev, 2021: cur})
    assert found(findings) == {("X1", "column:natural_person"), ("X1", "column:total")}
    x1 = next(f for f in findings if f.location == "column:total")
    assert x1.severity == "error" and x1.year == 2021
    assert x1.cells == (("requests.carried_over.total@2021", 3), ("requests.carried_forward.total@2020", 1))
    assert "二=3 ≠ 四=1" in x1.message_zh


def test_x2_documents_in_force_warning() -> None:
    prev, cur = pair("2021")
    cur.fields["active.normative_docs.in_force"] = FieldValue(20)
    x2 = only(check_history({2021: prev, 2022: cur}), "X2")
    assert x2.severity == "warning" and x2.location == "row:normative_docs"
    assert "现行有效件数(2022)=20 ≠ 现行有效件数(2021)+本年制发件数(2022)−本年废止件数(2022)=12+3−1=14" in x2.message_zh


def test_x3_previous_year_items_warning() -> None:
    prev, cur = pair("2019")
    cur.fields["active.licensing.prev_items"] = FieldValue(10)
    x3 = only(check_history({2019: prev, 2020: cur}), "X3")
    assert x3.severity == "warning" and x3.location == "row:licensing"
    assert "上一年项目数量(2020)=10 ≠ 上一年项目数量(2019)+本年增/减(2019)=10+(-2)=8" in x3.message_zh


PROSE = (
    "{y}年，我镇认真贯彻落实《中华人民共和国政府信息公开条例》，紧紧围绕镇党委、政府中心工作，不断创新信息公开形式、"
    "扩大公开范围、细化公开内容，进一步提升政府工作透明度，切实满足社会公众获取和利用政府信息的需求。全年通过政府网站"
    "主动公开政府信息{n}条，及时更新机构职能、工作动态、通知公告等栏目。加强政务公开队伍建设，组织开展业务培训，"
    "提升工作人员业务能力。健全政府信息公开工作制度，严格落实保密审查，确保公开信息准确、规范、及时。下一步，我镇将"
    "进一步加强组织领导，细化工作职责，切实解决工作推进过程中的困难和问题，确保政务公开工作有序开展，取得实效。"
)


def test_copy_of_last_year_by_prose_and_by_tables() -> None:
    prev, cur = pair("2021")
    prev.narrative = {"一": PROSE.format(y=2021, n=120)}
    cur.narrative = {"一": PROSE.format(y=2022, n=135)}  # dates and counts typed over last year's text
    assert narrative_similarity(prev, cur) == 1.0
    finding = only(check_history({2021: prev, 2022: cur}), "copy_of_last_year")
    assert finding.location == "narrative" and finding.cells == (("narrative_similarity", 1.0),)
    # Identical non-trivial tables, different prose.
    prev, cur = pair("2021")
    cur.fields = dict(prev.fields)
    findings = check_history({2021: prev, 2022: cur})
    # The copied 现行有效件数 12 also ignores last year's 12 + 3 − 1 (X2).
    assert found(findings) == {("copy_of_last_year", "tables"), ("X2", "row:normative_docs")}
    assert ("requests.new_received.total", 4) in only(findings, "copy_of_last_year").cells


def test_copy_needs_enough_prose_and_non_trivial_numbers() -> None:
    prev, cur = make_report(year=2021, narrative="无。"), make_report(year=2022, narrative="无。")
    assert narrative_similarity(prev, cur) is None
    zeros = {k: 0 for k in template_keys("2021")}  # a township with nothing to report, two years running
    assert check_history({2021: make_report(year=2021, values=zeros, narrative="甲"),
                          2022: make_report(year=2022, values=zeros, narrative="乙")}) == []


def test_history_compares_consecutive_years_only() -> None:
    prev, cur = pair("2021")
    cur.fields["requests.carried_over.total"] = FieldValue(9)
    assert check_history({2020: prev, 2022: cur}) == []


# ---------------------------------------------------------------- publication


def unit(level: str, province: str = "江苏省", deadline: str | None = None) -> Unit:
    return Unit(unit_id=f"321322000000-{level}", name=f"测试{level}", division_code="321322000000", level=level,
                province=province, parent_county="沭阳县", portal_url="http://www.example.gov.cn/", deadline=deadline)


@pytest.mark.parametrize(("level", "due"), [(COUNTY_DEPARTMENT, date(2024, 1, 31)),
                                            (COUNTY_GOVERNMENT, date(2024, 3, 31)),
                                            (TOWNSHIP, date(2024, 1, 31))])
def test_deadline_per_level(level: str, due: date) -> None:
    assert DeadlinePolicy().deadline(unit(level), 2023) == due
    assert check_publication(unit(level), 2023, due, as_of=date(2024, 6, 1)) == []  # on the day is on time
    published = due + timedelta(days=3)
    late = check_publication(unit(level), 2023, published, as_of=date(2024, 6, 1))
    assert [(f.rule, f.severity, f.year, f.cells) for f in late] == [
        ("late", "warning", 2023, (("published_on", published.isoformat()), ("deadline", due.isoformat())))]
    assert "3 days after" in late[0].message_en


def test_province_and_unit_overrides() -> None:
    policy = DeadlinePolicy(provinces={"湖南省": {TOWNSHIP: "02-20"}})
    assert policy.deadline(unit(TOWNSHIP, "湖南省"), 2021) == date(2022, 2, 20)
    assert policy.deadline(unit(COUNTY_DEPARTMENT, "湖南省"), 2021) == date(2022, 1, 31)  # other levels untouched
    assert policy.deadline(unit(TOWNSHIP, "江苏省"), 2021) == date(2022, 1, 31)
    assert policy.deadline(unit(TOWNSHIP, "湖南省", deadline="03-15"), 2021) == date(2022, 3, 15)  # unit wins
    assert policy.deadline(unit(TOWNSHIP, deadline="02-29"), 2022) == date(2023, 2, 28)
    with pytest.raises(ValueError):
        DeadlinePolicy(provinces={"湖南省": {"village": "02-20"}})


def test_not_published_only_after_the_deadline() -> None:
    township = unit(TOWNSHIP)
    assert check_publication(township, 2023, None, as_of=date(2024, 1, 31)) == []
    findings = check_publication(township, 2023, None, as_of="2024-02-10")
    assert [(f.rule, f.severity, f.unit, f.cells) for f in findings] == [
        ("not_published", "error", township.unit_id, (("deadline", "2024-01-31"), ("as_of", "2024-02-10")))]
    assert "逾期10天" in findings[0].message_zh
    assert check_publication(unit(COUNTY_GOVERNMENT), 2023, None, as_of="2024-02-10") == []


def test_unreachable_after_n_failed_nights_reset_on_success() -> None:
    township = unit(TOWNSHIP)
    assert check_reachability(township, [True, False, False]) == []
    assert check_reachability(township, [False, False, False, True, False, False]) == []
    finding = only(check_reachability(township, [True, False, False, False, False]), "unreachable")
    assert finding.cells[0] == ("consecutive_failures", 4) and finding.year is None
    assert check_reachability(township, [True, False, False], threshold=2) != []


def test_changed_after_publication() -> None:
    township = unit(TOWNSHIP)
    versions = [
        Version("2024-01-10", "b", "2024-02-01"),  # same date as the first version, new content: silent change
        Version("2024-01-10", "a", "2024-01-11"),
        Version("2024-01-10", "b", "2024-02-02"),  # unchanged content seen again
        Version("2024-01-20", "c", "2024-02-05"),  # new content with a new date: an announced update
    ]
    findings = check_versions(township, 2023, versions)
    assert [(f.rule, f.location, f.cells[:2]) for f in findings] == [
        ("changed_after_publication", "version:2024-02-01", (("published_on", "2024-01-10"),
                                                            ("first_seen", "2024-02-01")))]
    assert check_versions(township, 2023, [(None, "a", "2024-01-11"), (None, "b", "2024-02-01")]) == []


# ---------------------------------------------------------------- findings themselves


def test_fingerprint_ignores_values_and_tracks_location() -> None:
    def h1(values: dict) -> dict[str, Finding]:
        return {f.location: f for f in check_report(make_report(values=values)) if f.rule == "H1"}

    a = h1({"requests.carried_forward.natural_person": 2, "requests.carried_forward.total": 2})
    b = h1({"requests.carried_forward.natural_person": 5, "requests.carried_forward.total": 5})
    assert a["column:total"].message_zh != b["column:total"].message_zh
    assert a["column:total"].fingerprint == b["column:total"].fingerprint
    assert a["column:total"].fingerprint != a["column:natural_person"].fingerprint
    other_year = check_report(make_report(year=2023, values={"requests.carried_forward.natural_person": 2,
                                                             "requests.carried_forward.total": 2}))
    assert a["column:total"].fingerprint not in {f.fingerprint for f in other_year}


def test_finding_json_round_trip() -> None:
    findings = check_report(make_report(values={"requests.granted.total": 3}))
    for finding in findings:
        data = json.loads(json.dumps(finding.to_json(), ensure_ascii=False))
        assert Finding.from_json(data) == finding
    with pytest.raises(ValueError):
        Finding("H9", "error", "u", "u", 2020, "", "")


def test_catalogue_covers_every_rule_with_a_valid_severity() -> None:
    assert {"not_published", "late", "unreachable", "sections_missing", "tables_missing", "image_only",
            "unreadable_document", "H1", "H2", "H3", "H4", "H5", "H6", "X1", "X2", "X3", "copy_of_last_year",
            "changed_after_publication", "P1", "P2", "P5"} == set(RULES)
    assert (RULES["X1"].severity, RULES["X2"].severity, RULES["X3"].severity) == ("error", "warning", "warning")


# ---------------------------------------------------------------- check_reports


def test_check_reports_groups_units_runs_cross_year_and_lateness() -> None:
    prev, cur = pair("2021")
    cur.fields["requests.carried_over.total"] = FieldValue(5)  # X1 against 2021, plus H1/H2 on 2022 itself
    cur.published_on = "2023-02-15"
    other = make_report(year=2021, unit="另一镇人民政府")
    other.published_on = "2022-01-20"
    findings = check_reports([prev, cur, other])
    assert {(f.unit, f.rule, f.location) for f in findings} == {
        ("测试镇人民政府", "H1", "column:total"),
        ("测试镇人民政府", "H2", "row:carried_over"),
        ("测试镇人民政府", "X1", "column:total"),
    }
    late = [f for f in check_reports([prev, cur, other], as_of="2023-06-01") if f.rule == "late"]
    assert [(f.unit, f.year, f.cells[1]) for f in late] == [("测试镇人民政府", 2022, ("deadline", "2023-01-31"))]
    # With the registry the unit is named by its id and its own deadline applies.
    registered = Unit(unit_id="321322100000", name="测试镇人民政府", division_code="321322100000", level=TOWNSHIP,
                      province="江苏省", parent_county="沭阳县", portal_url="http://www.example.gov.cn/",
                      deadline="02-20")
    findings = check_reports([prev, cur], as_of="2023-06-01", units=[registered])
    assert {(f.unit, f.rule) for f in findings} == {("321322100000", "H1"), ("321322100000", "H2"),
                                                    ("321322100000", "X1")}


def test_level_from_name() -> None:
    assert level_from_name("大新镇人民政府") == TOWNSHIP
    assert level_from_name("驼峰路街道办事处") == TOWNSHIP
    assert level_from_name("兴国县人民政府") == COUNTY_GOVERNMENT
    assert level_from_name("兴国县政府办") == COUNTY_DEPARTMENT
    assert level_from_name("沭阳县发展和改革局") == COUNTY_DEPARTMENT


# ---------------------------------------------------------------- seeds and the real fixture

# What each seed's tables really produce, with the reason (tests/fixtures/seeds/NNN.expected.json).
SEED_FINDINGS: dict[str, set[tuple[str, str]]] = {
    # 规范性文件 新制作 26 / 新公开 0 / 对外公开总数量 26 (report_format.md §6); 一+二 4+0 = （七）+四 4+0;
    # the 6-number result rows are inferred, so their legal-person columns are not checked.
    "000": {("P5", "row:normative_docs")},
    # 2022 on the 2021 template, every count 0, （六） printed as three sub-rows.
    "001": set(),
    # 2020 on the 试行 template; 上一年项目数量 2/1/109 with 本年增/减 0 is consistent within one year.
    "002": set(),
    # County office; only 总计 filled in 三 (all 0), "0/0" read as 0 in 本年增/减.
    "003": set(),
    # Clean 2021 layout, all zero.
    "004": set(),
}


def seed_report(name: str) -> Report:
    data = json.loads((SEEDS / f"{name}.expected.json").read_text(encoding="utf-8"))
    return Report.from_json(data)


@pytest.mark.parametrize("name", sorted(SEED_FINDINGS))
def test_seed_findings(name: str) -> None:
    assert found(check_report(seed_report(name))) == SEED_FINDINGS[name]


def test_seed_000_p5_numbers() -> None:
    finding = only(check_report(seed_report("000")), "P5")
    assert finding.unit == "大新镇人民政府" and finding.year == 2020
    assert finding.message_zh == (
        "规范性文件数量可疑：规范性文件：本年新制作数量 26，本年新公开数量 0，对外公开总数量 26——本年新制作的文件一件也未公开"
    )


def test_real_report_with_blank_legal_person_columns() -> None:
    # 沭阳县发改局 2023: legal-person columns blank (NULL) in most rows; 复议 尚未审结 1 = 总计 1; published on
    # 2024-01-17, inside a county department's 01-31 deadline.
    report = Report.from_json(json.loads((REAL / "shuyang_fgj_2023.expected.json").read_text(encoding="utf-8")))
    report.sections = list("一二三四五六")  # the fixture records the fields, not the sections
    assert check_reports([report], as_of="2024-06-01") == []
    report.fields["requests.granted.total"] = FieldValue(25)
    assert found(check_report(report)) == {("H2", "row:granted"), ("H3", "column:total")}


# What section 一 of the seeds says, as read from the extracted narrative.
SEED_CLAIMS = {
    "000": {("normative_docs", 26), ("requests_received", 4)},  # "其中规范性文件26条", "收到过依申请公开的相关信息4条"
    "001": {("requests_received", 0), ("review", 0)},  # "未收到…申请", "未发生…行政复议案件"
    "003": set(),  # "办理依申请公开事项6起" is about other departments' requests
}


def extracted_seed(name: str) -> Report:
    from extract import extract_document  # the extractor is written alongside; these tests wait for it

    path = SEEDS / f"{name}.txt"
    reports = extract_document(path.read_bytes(), filename=path.name)
    assert len(reports) == 1
    return reports[0]


@pytest.mark.parametrize("name", sorted(SEED_CLAIMS))
def test_p2_reads_the_seed_narratives(name: str) -> None:
    report = extracted_seed(name)
    assert {(c.pattern, c.value) for c in narrative_claims(report)} == SEED_CLAIMS[name]
    # The seeds' prose agrees with their tables, so the extracted reports find what the expected ones do.
    assert found(check_report(report)) == SEED_FINDINGS[name]


def test_p2_on_seed_000_with_a_changed_table() -> None:
    report = extracted_seed("000")
    for key in ("requests.new_received.total", "requests.new_received.natural_person"):
        report.fields[key] = FieldValue(5)  # now "收到…4条" contradicts 一 = 5 (and H1 fails)
    p2 = [f for f in check_report(report) if f.rule == "P2"]
    assert [(f.location, f.cells[0]) for f in p2] == [("narrative:requests_received",
                                                       ("requests.new_received.total", 5))]
