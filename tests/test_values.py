"""Every value-parsing case of report_format.md §5.1."""

import pytest

from extract.schema import AMOUNT, AMOUNT_WAN, COUNT, SIGNED_COUNT
from extract.values import looks_numeric, parse_value


@pytest.mark.parametrize(
    ("text", "value_type", "expected"),
    [
        ("0", COUNT, 0),
        (" 0", COUNT, 0),  # seeds 002: leading space
        ("0 ", COUNT, 0),  # seed 004: trailing space
        ("\u00a00", COUNT, 0),  # NBSP from &nbsp;
        ("0\u00a0", COUNT, 0),
        ("　12　", COUNT, 12),  # full-width spaces
        ("１２", COUNT, 12),  # full-width digits
        ("26", COUNT, 26),
        ("4件", COUNT, 4),
        ("1,234", COUNT, 1234),
        ("0/0", SIGNED_COUNT, 0),  # seed 003's 本年增/减
        ("+19", SIGNED_COUNT, 19),  # 南源街道
        ("-11", SIGNED_COUNT, -11),  # 胡市镇
        ("－8", SIGNED_COUNT, -8),  # full-width minus
        ("477.35", AMOUNT_WAN, 477.35),
        ("0.0321", AMOUNT_WAN, 0.0321),
        ("251000元", AMOUNT_WAN, 25.1),  # 元 in a 万元 column: converted
        ("251000元", AMOUNT, 251000.0),  # 采购总金额 keeps the unit printed
        ("12.5万元", AMOUNT, 12.5),
        ("0", AMOUNT_WAN, 0.0),
    ],
)
def test_values_that_parse(text: str, value_type: str, expected: float) -> None:
    parsed = parse_value(text, value_type)
    assert parsed.value == expected
    assert type(parsed.value) is type(expected)


@pytest.mark.parametrize(
    "text",
    ["", "   ", "\u00a0", "—", "——", "-", "/", "无", "－", "3/1", "约5", "1 2", "abc", "2.5", "第一"],
)
def test_values_that_are_null(text: str) -> None:
    parsed = parse_value(text, COUNT)
    assert parsed.value is None
    assert parsed.note  # the reason is kept


def test_notes_record_units_and_signs() -> None:
    assert parse_value("251000元", AMOUNT_WAN).note == "printed in 元, converted to 万元"
    assert parse_value("251000元", AMOUNT).note == "unit 元"
    assert parse_value("0/0", SIGNED_COUNT).note == "printed '0/0'"
    assert parse_value("+3", COUNT).note == "printed sign '+'"
    assert parse_value("", COUNT).note == "blank"


@pytest.mark.parametrize(("text", "numeric"), [("0", True), (" 0", True), ("—", True), ("0/0", True),
                                                ("12.5万元", True), ("规章", False), ("", False), ("总计", False)])
def test_numeric_cells_are_told_from_labels(text: str, numeric: bool) -> None:
    assert looks_numeric(text) is numeric
