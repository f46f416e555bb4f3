"""Cell text → value, per report_format.md §5.1: what was printed, or null with the reason — never a guess."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from extract.limits import memoized
from extract.schema import AMOUNT, AMOUNT_WAN, COUNT

# Characters that mean "nothing to report" when they are all a cell holds.
_DASHES = {"-", "--", "—", "——", "–", "/", "\\", "无", "－", "―", "─", "×", "x"}
_SPACES = re.compile(r"[\s\u3000\u00a0\u200b\ufeff]+")
_COUNT_UNITS = ("件", "个", "条", "项", "次", "人")
_NUMBER = re.compile(r"^([+-]?)(\d+(?:\.\d+)?)$")
_PAIR = re.compile(r"^(\d+)/(\d+)$")
_SPLIT_DIGITS = re.compile(r"\d[\s\u3000\u00a0]+\d")  # two numbers run together, not one
# No report counts or spends 10**15 of anything; longer digit runs are not read (their int could not even be printed
# past 4,300 digits, and converting a million digits takes minutes) but still fill a value's place, not a label's.
MAX_DIGITS = 15
_TOO_MANY_DIGITS = re.compile(rf"^[+-]?\d{{{MAX_DIGITS + 1}}}")


@dataclass(frozen=True)
class ParsedValue:
    value: int | float | None
    note: str | None = None  # the unit printed, or why the value is null

    @property
    def is_number(self) -> bool:
        return self.value is not None


@memoized  # cells repeat ("0" most of all): read each distinct text once
def clean_cell_text(text: str) -> str:
    """NFKC (full-width digits and signs become ASCII) and no spaces of any kind."""
    return _SPACES.sub("", unicodedata.normalize("NFKC", text))


@memoized
def looks_numeric(text: str) -> bool:
    """True when a cell holds a value (or an explicit 'nothing'), as opposed to a label."""
    cleaned = clean_cell_text(text)
    return bool(cleaned) and (cleaned in _DASHES or parse_value(text, AMOUNT).is_number or _money(cleaned)
                              or bool(_PAIR.match(cleaned)) or bool(_TOO_MANY_DIGITS.match(cleaned.replace(",", ""))))


def _money(cleaned: str) -> bool:
    return cleaned.endswith("元") and bool(_NUMBER.match(cleaned.removesuffix("万元").removesuffix("元").replace(",", "")))


@memoized
def parse_value(text: str, value_type: str) -> ParsedValue:
    if _SPLIT_DIGITS.search(unicodedata.normalize("NFKC", text)):
        return ParsedValue(None, f"unreadable {text.strip()!r}: digits separated by spaces")
    cleaned = clean_cell_text(text)
    if not cleaned:
        return ParsedValue(None, "blank")
    if cleaned in _DASHES:
        return ParsedValue(None, f"printed {cleaned!r}: nothing reported")
    pair = _PAIR.match(cleaned)
    if pair:
        # "0/0" in 本年增/减 means neither increase nor decrease; any other pair is ambiguous.
        if pair.group(1) == pair.group(2) == "0":
            return ParsedValue(0, "printed '0/0'")
        return ParsedValue(None, f"printed {cleaned!r}: increase/decrease pair, not one number")
    if _TOO_MANY_DIGITS.match(cleaned.replace(",", "")):
        return ParsedValue(None, f"unreadable {cleaned[: MAX_DIGITS + 1] + '…'!r}: more than {MAX_DIGITS} digits")
    if value_type in (AMOUNT, AMOUNT_WAN):
        return _parse_money(cleaned, value_type)
    return _parse_count(cleaned, value_type)


def _parse_count(cleaned: str, value_type: str) -> ParsedValue:
    for unit in _COUNT_UNITS:
        cleaned = cleaned.removesuffix(unit)
    cleaned = cleaned.replace(",", "")
    match = _NUMBER.match(cleaned)
    if not match:
        return ParsedValue(None, f"unreadable {cleaned!r}")
    sign, digits = match.groups()
    number = Decimal(digits)
    if number != number.to_integral_value():
        return ParsedValue(None, f"printed {cleaned!r}: not a whole number")
    value = int(number)
    if sign == "-":
        value = -value
    note = None
    if value_type == COUNT and sign:
        note = f"printed sign {sign!r}"
    return ParsedValue(value, note)


def _parse_money(cleaned: str, value_type: str) -> ParsedValue:
    unit = None
    if cleaned.endswith("万元"):
        unit, cleaned = "万元", cleaned.removesuffix("万元")
    elif cleaned.endswith("元"):
        unit, cleaned = "元", cleaned.removesuffix("元")
    cleaned = cleaned.replace(",", "")
    match = _NUMBER.match(cleaned)
    if not match:
        return ParsedValue(None, f"unreadable {cleaned!r}")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        return ParsedValue(None, f"unreadable {cleaned!r}")
    if value_type == AMOUNT_WAN and unit == "元":
        return ParsedValue(float(amount / 10000), "printed in 元, converted to 万元")
    return ParsedValue(float(amount), f"unit {unit}" if unit else None)


