"""Text that spreadsheets show as text: shared by the status report's CSV and the research exports."""

from __future__ import annotations

import re

# Characters a spreadsheet reads as the start of a formula (or of a cell-splitting control).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Control characters XML 1.0 cannot hold, hence neither can an .xlsx cell.
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def spreadsheet_safe(text: str) -> str:
    """Text a spreadsheet will not run as a formula: report text is the portals', and a unit name such as
    "=HYPERLINK(…)" must stay a name (the usual guard: a leading apostrophe)."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def xlsx_text(text: str) -> str:
    """`spreadsheet_safe` text with XML-illegal control characters written as the _xHHHH_ escapes Office reads
    back as the character, so a stray control character in a report's raw text neither aborts nor is dropped."""
    return _XML_ILLEGAL.sub(lambda m: f"_x{ord(m.group()):04X}_", spreadsheet_safe(text))
