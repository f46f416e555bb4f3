"""Every report the simulator renders as HTML or text extracts, over HTTP, to its ground-truth fields."""

from __future__ import annotations

import http.client
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from extract import extract_document
from simulator import RunningWorld, build_world, serve_world

# Attachments and pictures are placeholders behind simulator/attachments.py until real files are rendered there.
EXTRACTABLE_FORMS = ("html_clean", "html_word", "text")


@pytest.fixture(scope="module")
def small_world() -> Iterator[RunningWorld]:
    with serve_world(build_world(3, seed=11)) as running:
        yield running


def _get(url: str) -> tuple[bytes, str | None]:
    """The page, retried through the transient faults (resets, truncation, stalls, bursts)."""
    for _ in range(3):
        try:
            with urllib.request.urlopen(url, timeout=3) as response:
                return response.read(), response.headers.get("Content-Type")
        except (OSError, http.client.HTTPException):
            continue
    raise AssertionError(f"{url} cannot be read")


def _same(expected: Any, found: Any) -> bool:
    if expected is None or found is None:
        return expected is found
    return abs(float(expected) - float(found)) < 5e-5


def test_every_rendered_report_extracts_to_its_truth(small_world: RunningWorld) -> None:
    truth = small_world.truth
    checked, problems = 0, []
    for unit in truth["units"]:
        for report in unit["reports"]:
            if not report["published"] or report["form"] not in EXTRACTABLE_FORMS:
                continue
            live = [u for u in report["urls"] if u not in report["dead_urls"]]
            if not live:  # its only link is dead (a not_found fault): nothing to extract
                continue
            url = live[0]
            data, content_type = _get(url)
            found = extract_document(data, url=url, content_type=content_type)
            checked += 1
            where = f"{unit['name']} {report['year']} ({report['form']}, {url})"
            if len(found) != 1:
                problems.append(f"{where}: {len(found)} reports extracted")
                continue
            extracted = found[0]
            if (extracted.year, extracted.template) != (report["year"], report["template"]):
                problems.append(f"{where}: year/template {extracted.year}/{extracted.template}")
            wrong = [k for k, v in report["fields"].items() if not _same(v, extracted.value(k))]
            if wrong:
                problems.append(f"{where}: {len(wrong)} fields differ, e.g. {wrong[0]}: "
                                f"{report['fields'][wrong[0]]} ≠ {extracted.value(wrong[0])}")
    assert checked > 100
    assert not problems, f"{len(problems)} of {checked} reports:\n" + "\n".join(problems[:20])
