"""The simulator's attachments: every format shows the ground truth's values, reads the same in other software,
is the same bytes every time, and breaks the way a world's damage says."""

from __future__ import annotations

import io
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from extract import UnreadableDocument, extract_document
from extract.attachments import read_attachment
from extract.msdoc import read_word97
from extract.word import libreoffice_convert, read_docx
from simulator import World, build_world
from simulator.attachments import RENDERERS, attachment_bytes, table_image_bytes
from simulator.documents import report_document, version_fields
from simulator.render import ReportDocument, section_layout
from simulator.world import ATTACHMENT_DAMAGES, ATTACHMENT_FORMS, AnnualReport

DEFECTS_TO_SHOW = ("tables_missing", "missing_section", "wrong_template", "copy_of_last_year", "h1_broken", "late")


def sample(world: World) -> list[AnnualReport]:
    """A report of each content defect, a 2021 report printing （六） as one row, and plain reports of both
    templates: what makes the printed tables differ."""
    visible = [r for u in world.units for r in u.reports.values() if r.visible(world.today)]
    picked = [next(r for r in visible if defect in r.defects) for defect in DEFECTS_TO_SHOW]
    picked.append(next(r for r in visible if r.other_as_single_row))
    picked += [next(r for r in visible if not r.defects and r.template == template) for template in ("2019", "2021")]
    return picked


@pytest.fixture(scope="module")
def reports(sim_world: World) -> list[tuple[AnnualReport, ReportDocument]]:
    return [(r, report_document(sim_world, r)) for r in sample(sim_world)]


@pytest.mark.parametrize("form", ATTACHMENT_FORMS)
def test_every_format_extracts_to_the_truth(form: str, reports: list[tuple[AnnualReport, ReportDocument]],
                                            sim_world: World) -> None:
    problems = []
    for report, doc in reports:
        (found,) = extract_document(attachment_bytes(doc, form), filename=f"report.{form}")
        truth = sim_world.truth_of(report)
        template = truth.template if report.tables_printed else None
        fields = version_fields(sim_world, report) if report.tables_printed else {}
        wrong = {k: (found.value(k), v) for k, v in fields.items() if found.value(k) != v}
        if (found.year, found.template, found.title) != (report.year, template, doc.title_line) or wrong:
            problems.append(f"{report.unit.name} {report.year} {report.defects}: {found.year} {found.template} "
                            f"{found.title} {list(wrong.items())[:3]}")
    assert not problems, "\n".join(problems)


def test_doc_reads_the_same_in_libreoffice(reports: list[tuple[AnnualReport, ReportDocument]]) -> None:
    """The .doc writer is checked by other software: LibreOffice's conversion holds the same tables, cell by cell,
    merged cells included, as the native reader reads (~2 s)."""
    doc = next(d for r, d in reports if not r.defects and d.template == "2021")
    data = attachment_bytes(doc, "doc")
    native, converted = read_word97(data), read_docx(libreoffice_convert(data, "doc", "docx"))

    def cells(grid: object) -> list[list[list[tuple[str, tuple[int, int] | None]]]]:
        return [[[(c.text, c.span_of) for c in row] for row in t.rows] for t in grid.tables]  # type: ignore[attr-defined]

    assert cells(native) == cells(converted)
    assert [len(t.rows) for t in native.tables] == [len(section_layout(doc, n).rows) for n in "二三四"]


def test_pdf_embeds_a_font_that_renders(reports: list[tuple[AnnualReport, ReportDocument]], tmp_path: Path) -> None:
    doc = reports[-1][1]
    path = tmp_path / "report.pdf"
    path.write_bytes(attachment_bytes(doc, "pdf"))
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout.splitlines()[2:]
    assert [line.split()[1:6] for line in fonts] == [["CID", "TrueType", "Identity-H", "yes", "yes"]]
    subprocess.run(["pdftoppm", "-r", "50", "-gray", "-png", "-f", "1", "-l", "1", "-singlefile", str(path),
                    str(tmp_path / "page")], check=True, capture_output=True)
    ink = np.asarray(Image.open(tmp_path / "page.png")) < 128
    title_band = ink[40:75]  # 72 pt from the top at 50 dpi: the title line, drawn from the embedded glyphs
    assert title_band.sum() > 300 and title_band.any(axis=0).sum() > 100


def test_the_same_document_renders_to_the_same_bytes(reports: list[tuple[AnnualReport, ReportDocument]],
                                                     sim_world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Also a day later, past the server's cache: a file rendered again must not look like a file edited."""
    report, _ = reports[0]
    first, again = report_document(sim_world, report), report_document(sim_world, report)
    made = {form: RENDERERS[form](first) for form in ATTACHMENT_FORMS}
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 86_400)
    assert {form: RENDERERS[form](again) == made[form] for form in ATTACHMENT_FORMS} == dict.fromkeys(ATTACHMENT_FORMS, True)
    assert table_image_bytes(first, "四") == table_image_bytes(again, "四")


@pytest.mark.parametrize(("damage", "form", "says"), [
    ("truncated", "pdf", "PDF is damaged"),
    ("truncated", "docx", "DOCX is not a valid zip container"),
    ("truncated", "doc", "DOC"),
    ("truncated", "xls", "XLS"),
    ("encrypted", "pdf", "PDF is encrypted"),
    ("oversized", "pdf", "exceeds"),
    ("zip_bomb", "docx", "zip bomb"),
])
def test_damaged_files_are_refused_as_unreadable(damage: str, form: str, says: str,
                                                 reports: list[tuple[AnnualReport, ReportDocument]]) -> None:
    assert form in ATTACHMENT_DAMAGES[damage]
    doc = reports[-1][1]
    data = attachment_bytes(doc, form, damage)
    with pytest.raises(UnreadableDocument, match=says) as refused:
        extract_document(data, filename=f"P0123.{form}", content_type="application/octet-stream")
    assert "\n" not in str(refused.value)


def test_a_world_with_unreadable_attachments_has_one_of_each_damage() -> None:
    world = build_world(3, seed=11, unreadable_attachments=True)
    damaged = [r for u in world.units for r in u.reports.values() if r.damage]
    assert sorted(r.damage for r in damaged) == sorted(ATTACHMENT_DAMAGES)  # type: ignore[type-var]
    for report in damaged:
        assert report.form in ATTACHMENT_DAMAGES[report.damage]  # type: ignore[index]
        assert report.defects == ["unreadable_attachment"] and report.visible(world.today)
    assert not [r for u in build_world(3, seed=11).units for r in u.reports.values() if r.damage]


def test_a_table_picture_is_a_scan_of_the_printed_table(reports: list[tuple[AnnualReport, ReportDocument]]) -> None:
    """~3 s of OCR: the picture of section 四 is a 1-bit 200 dpi scan whose ruled grid reads back as the table."""
    doc = next(d for r, d in reports if not r.defects)
    picture = table_image_bytes(doc, "四")
    image = Image.open(io.BytesIO(picture))
    assert image.mode == "1" and round(image.info["dpi"][0]) == 200
    (table,) = read_attachment(picture, "png").tables
    assert (len(table.rows), len(table.rows[0])) == (4, 15)
    assert [c.text for c in table.rows[0]] == ["行政复议"] * 5 + ["行政诉讼"] * 10
    assert [c.span_of for c in table.rows[1][5:10]] == [None, (1, 5), (1, 5), (1, 5), (1, 5)]
