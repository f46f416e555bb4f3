"""The items a crawl yields: fetched documents and failed fetches. Storage happens in the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field

# Document kinds: a list page (kept so a 304 can be answered from the store), a report candidate's article page,
# and a file linked from one.
PAGE, ARTICLE, ATTACHMENT = "page", "article", "attachment"


@dataclass
class DocumentItem:
    """A document as fetched. `url` is the URL as listed, the key of its URL state; `final_url` is where
    redirects ended. `unit_id` is whose report it is when the page said so; `portal` names the units the pipeline
    may still match the extracted report against."""

    kind: str
    portal: str
    url: str
    final_url: str
    status: int
    headers: dict[str, list[str]]
    body: bytes
    fetched_at: str
    unit_id: str | None = None
    filename: str | None = None
    content_type: str | None = None
    from_store: bool = False  # the body is the stored copy: the portal answered 304 Not Modified
    # An article's files, fetched before it is handed over: the pipeline stores them first, so the article's URL
    # state (which makes it "known" and skipped on later nights) is written only once they are stored.
    attachments: list[DocumentItem] = field(default_factory=list)
    # A file it links failed tonight in a way that may pass (a timeout, a 5xx): its reports are stored, its URL state is
    # not, so the next night fetches it again and, with it, the file (a report in that file would otherwise be lost).
    incomplete: bool = False
    # A file fetched without its article page (a stored report's, on its revisit night): the date the page showed, which
    # a PDF or Word file seldom prints.
    page_published_on: str | None = None


@dataclass
class FetchErrorItem:
    """A request that failed for good (after retries): one row per unit it concerned."""

    portal: str
    units: tuple[str, ...]
    url: str
    kind: str  # dns, connection, timeout, data_loss, truncated, too_large, http_<status>, redirect, offsite_redirect,
    # bad_scheme, robots, robots_error, other (spiders/base.py describe)
    message: str
