"""Label normalisation and matching (report_format.md §5.2): printed labels → the schema's labels.

Normalisation: NFKC (full-width → half-width), no whitespace or line breaks, one form of quotes,
markup noise removed, trailing parenthetical annotations dropped. Matching tries, in order: the
canonical label and its declared variants, a truncated or annotated form of them (prefix), and
last the label's distinctive keywords.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import TypeVar

from extract.limits import memoized
from extract.schema import ACTIVE_CAPTION, APPEAL_HEADINGS, REQUEST_HEADER_LABELS, Label

_SPACES = re.compile(r"[\s\u3000\u00a0\u200b\ufeff]+")
_QUOTES = str.maketrans({"“": '"', "”": '"', "＂": '"', "‘": "'", "’": "'", "「": '"', "」": '"', "『": '"', "』": '"'})
_MARKUP = re.compile(r"\[bookmark:[^\]]*\]|^#+|\*\*|<[^>]{0,40}>")
_ANNOTATION = re.compile(r"\([^()]*\)$")
# One or more leading numberings at once ("三、(一)"): stripping them one by one would copy the text each time.
_HIERARCHY = re.compile(r"^(?:[一二三四五六七八九十]+[、.]|\([一二三四五六七八九十]+\)|\d{1,2}[.、]|\(\d{1,2}\))+")

EXACT, PREFIX, KEYWORD = 3, 2, 1
T = TypeVar("T")


@memoized
def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    text = _MARKUP.sub("", _SPACES.sub("", text))
    return text.replace("【", "[").replace("】", "]")


def strip_annotation(text: str) -> str:
    """Drop a trailing parenthetical note, unless the label is nothing but that note."""
    stripped = _ANNOTATION.sub("", text)
    return stripped or text


def strip_hierarchy(text: str) -> str:
    """Remove leading numbering such as "三、", "(三)", "1." — all of it, for "三、(一)" prefixes."""
    return _HIERARCHY.sub("", text, count=1)


@memoized
def leaf(text: str) -> str:
    return strip_annotation(strip_hierarchy(normalize(text)))


@memoized
def match_score(printed: str, label: Label) -> int:
    """How well a printed label matches a schema label: EXACT, PREFIX, KEYWORD or 0."""
    text = leaf(printed)
    if not text:
        return 0
    forms = [leaf(form) for form in label.all_forms]
    if text in forms:
        return EXACT
    # Truncated headers ("本年新", "本年增/") and annotated ones ("规范性文件(指…)" already loses the
    # annotation above; "上一年项目数量指2018年事项数" does not) match by prefix either way.
    if any(len(text) >= 3 and (form.startswith(text) or text.startswith(form)) for form in forms if len(form) >= 2):
        return PREFIX
    if label.keywords and any(normalize(k) in text for k in label.keywords):
        return KEYWORD
    return 0


def best_match(printed: str, candidates: Iterable[tuple[T, Label]]) -> T | None:
    """The candidate whose label matches best; None when nothing matches or the best is a tie."""
    candidates_list = list(candidates)
    scored = [(match_score(printed, label), key) for key, label in candidates_list]
    scored = [(score, key) for score, key in scored if score]
    if not scored:
        return None
    top = max(score for score, _ in scored)
    winners = [key for score, key in scored if score == top]
    if len(winners) > 1 and top == KEYWORD:
        # A merged label such as "(六)其他处理1.申请人…逾期不补正…" names its group first and its own
        # row last: the keyword found furthest along names the row.
        labels = dict(candidates_list)
        position = {key: _keyword_position(printed, labels[key]) for key in winners}
        furthest = max(position.values())
        winners = [key for key in winners if position[key] == furthest]
    return winners[0] if len(winners) == 1 else None


def _keyword_position(printed: str, label: Label) -> int:
    text = leaf(printed)
    return max(text.rfind(normalize(k)) for k in label.keywords)


def contains_any(text: str, phrases: Sequence[str]) -> bool:
    norm = normalize(text)
    return any(normalize(p) in norm for p in phrases)


@memoized
def table_region(text: str) -> str | None:
    """The report table a caption or header text opens: 二's 第二十条 captions ("active"), 四's
    行政复议/行政诉讼 header ("appeals"), 三's header ("requests"); None for anything else."""
    if contains_any(text, ACTIVE_CAPTION.keywords):
        return "active"
    if len(text) < 30 and normalize(text).startswith(APPEAL_HEADINGS):
        return "appeals"
    if any(match_score(text, label) >= PREFIX for label in REQUEST_HEADER_LABELS):
        return "requests"
    return None
