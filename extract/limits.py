"""What the extraction core accepts from strangers: sizes, depth, cells, time and cache memory.

Portals serve whatever they like; a document beyond these limits is refused with an `UnreadableDocument` (an
`ExtractionError` a crawl records) saying which limit, never read half-way. A real report page is ~10–250 KiB with
~3,000 tags, 4–6 tables and ~300 cells, so every limit leaves two orders of magnitude of room. Attachment readers keep their
own limits (extract/attachments.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import lru_cache, wraps
from typing import TypeVar

from extract.model import UnreadableDocument

MAX_DOCUMENT_BYTES = 50 * 2**20  # any document handed to extract_document
MAX_PAGE_BYTES = 20 * 2**20  # an HTML page or a text document
MAX_HTML_TAGS = 250_000  # bounds the parsed tree to ~100 MB; a Word-exported report has ~5,000
MAX_HTML_DEPTH = 255  # libxml2's own limit: deeper pages would be cut short, so they are refused
MAX_TEXT_LINES = 250_000
MAX_CELLS = 200_000  # table cells of one document after rowspan/colspan expansion
MAX_SPAN = 200  # a rowspan/colspan beyond it is read as this (the template's widest merge is 22)
MAX_SECONDS = 30.0  # one document; a report takes milliseconds, the limits above keep the worst case to seconds

# Memoised functions of a text keep short texts (labels, values) across documents, which repeat them in every
# report, and longer ones (prose) only for the document at hand, which reads each several times; so their memory
# stays bounded: a few MB per function at most.
MEMO_ENTRIES = 8192
MEMO_TEXT_CHARS = 100
MEMO_LONG_ENTRIES = 64
MEMO_LONG_TEXT_CHARS = 10_000

R = TypeVar("R")


def memoized(function: Callable[..., R]) -> Callable[..., R]:
    """`function(text, *args)` computed once per distinct text (and arguments), within the bounds above."""
    short = lru_cache(maxsize=MEMO_ENTRIES)(function)
    long = lru_cache(maxsize=MEMO_LONG_ENTRIES)(function)

    @wraps(function)
    def call(text: str, *args: object) -> R:
        size = len(text)
        if size <= MEMO_TEXT_CHARS:
            return short(text, *args)
        if size <= MEMO_LONG_TEXT_CHARS:
            return long(text, *args)
        return function(text, *args)

    return call


class Deadline:
    """The time one document may take; checked between rows and blocks, so a refusal names where it stopped."""

    def __init__(self, seconds: float = MAX_SECONDS) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def check(self, doing: str) -> None:
        if time.monotonic() > self.end:
            raise UnreadableDocument(f"extraction took longer than {self.seconds:g} s (while {doing})")
