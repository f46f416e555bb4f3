"""Scanned pages (PNG/JPEG, PDFs without a text layer) → Grid with Tesseract chi_sim, cell by cell.

Tesseract reads ruled tables badly as a whole page (the rules become characters and cells run together),
so: find the ruling lines, lay the cells on the grid they form (merged cells included), erase the lines,
deskew each table, and read every cell as its own small image. All cells of a page go to one Tesseract
process as an image list (loading chi_sim costs ~0.5 s, a cell ~20 ms).

Numbers are read twice — chi_sim as a whole, and `eng` restricted to digits — and kept only when both
readings agree. A numeric cell where they differ comes out with text "" and a confidence below
`MIN_CONFIDENCE`, so the builder leaves the value null and flags it instead of storing a wrong number.
An empty cell has text "" and confidence 1.0.
"""

from __future__ import annotations

import dataclasses
import difflib
import io
import itertools
import os
import re
import tempfile
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

from extract import schema
from extract.attachments import (
    MAX_OCR_PAGES,
    MAX_PIXELS,
    Box,
    Line,
    Page,
    join_pieces,
    make_grid,
    place_table,
    run_tool,
)
from extract.model import ExtractionError, Grid
from extract.schema import Label

MIN_CONFIDENCE = 0.90  # below this a cell is unsure: extract.builder trusts a value from 0.9 up
PDF_DPI = 200
_A4_INCHES = 8.27
_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?(/\d+)?$")
_UNIT = re.compile(r"(万元|元|件|个|条|次|项)$")
_LOOKALIKE = str.maketrans({"o": "0", "O": "0", "〇": "0", "l": "1", "I": "1", "|": "1", "—": "-", "一": "-"})


def read_image(data: bytes) -> Grid:
    try:
        image = Image.open(io.BytesIO(data))
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise ExtractionError(f"image is too large: {width}×{height} pixels (> {MAX_PIXELS // 10**6} M)")
        gray = np.asarray(image.convert("L"))
    except (OSError, Image.DecompressionBombError) as exc:
        raise ExtractionError(f"image is damaged or not an image: {exc}") from exc
    dpi = image.info.get("dpi", (0, 0))[0] or width / _A4_INCHES  # scans rarely record their resolution
    return make_grid([ocr_page(gray, 0, float(dpi))])


def ocr_pdf_pages(data: bytes, numbers: list[int]) -> list[Page]:
    """OCR the given (0-based) pages of a PDF, rendered by pdftoppm."""
    if len(numbers) > MAX_OCR_PAGES:
        raise ExtractionError(f"PDF has {len(numbers)} pages to OCR (> {MAX_OCR_PAGES})")
    pages = []
    with tempfile.TemporaryDirectory(prefix="nianbao-ocr-") as tmp:
        src = Path(tmp) / "in.pdf"
        src.write_bytes(data)
        for n in numbers:
            out = Path(tmp) / f"p{n}"
            args = ["pdftoppm", "-r", str(PDF_DPI), "-gray", "-png", "-singlefile", "-f", str(n + 1), "-l", str(n + 1)]
            result = run_tool([*args, str(src), str(out)], what="PDF page rendering (pdftoppm)")
            if result.returncode != 0 or not out.with_suffix(".png").exists():
                raise ExtractionError(f"PDF page {n + 1} could not be rendered: {result.error_line}")
            gray = np.asarray(Image.open(out.with_suffix(".png")).convert("L"))
            pages.append(ocr_page(gray, n, PDF_DPI))
    return pages


# ---------------------------------------------------------------------------------------------------
# Ruling lines and cells


def _binarize(gray: np.ndarray) -> np.ndarray:
    """Ink mask by Otsu's threshold."""
    hist = np.bincount(gray.ravel(), minlength=256).astype(np.float64)
    total = hist.sum()
    cum, cum_mean = np.cumsum(hist), np.cumsum(hist * np.arange(256))
    w0, w1 = cum, total - cum
    with np.errstate(divide="ignore", invalid="ignore"):
        between = np.nan_to_num((cum_mean[-1] * w0 - cum_mean * total) ** 2 / (w0 * w1))
    if not between.any():  # a single shade: a blank page has no ink
        return np.zeros(gray.shape, dtype=bool)
    return gray <= int(np.argmax(between))


def _runs(mask: np.ndarray, length: int, axis: int) -> np.ndarray:
    """Pixels on a run of ≥ `length` ink pixels along `axis` (1: horizontal rules, 0: vertical ones).

    Thin rules come out of scanners dotted and a pixel off: the mask is first thickened by one pixel
    across the run and gaps of up to 3 pixels along it are closed; text strokes stay far shorter.
    """
    m = mask if axis == 1 else mask.T
    thick = m.copy()
    thick[1:] |= m[:-1]
    thick[:-1] |= m[1:]
    for gap in (1, 2, 3):
        thick[:, gap:-gap] |= thick[:, : -2 * gap] & thick[:, 2 * gap :]
    n = thick.shape[1]
    if n < length:
        return np.zeros_like(mask)
    c = np.zeros((thick.shape[0], n + 1), dtype=np.int32)
    np.cumsum(thick, axis=1, out=c[:, 1:])
    starts = (c[:, length:] - c[:, : n - length + 1]) == length  # window [i, i+length) all ink
    # a pixel is on a run when some full window covers it: spread the window starts over `length`
    s = np.zeros((thick.shape[0], n + 1), dtype=np.int32)
    np.cumsum(np.pad(starts, ((0, 0), (0, length - 1))), axis=1, out=s[:, 1:])
    idx = np.arange(n)
    covered = (s[:, idx + 1] - s[:, np.maximum(idx - length + 1, 0)]) > 0
    covered &= thick  # the rule with its gaps closed
    return covered if axis == 1 else covered.T


def _clusters(positions: np.ndarray, gap: int = 3) -> list[int]:
    """Centres of runs of consecutive positions (a rule several pixels thick is one line)."""
    out: list[int] = []
    start = prev = None
    for p in positions.tolist():
        if prev is not None and p - prev > gap:
            out.append((start + prev) // 2)
            start = p
        elif start is None:
            start = p
        prev = p
    if start is not None:
        out.append((start + prev) // 2)
    return out


def _rules(profile: np.ndarray, minimum: float, spacing: int) -> list[int]:
    """Positions of rules from a profile of rule pixels; of rules closer than `spacing` (no text fits
    between them) the strongest stays."""
    out: list[int] = []
    for pos in _clusters(np.flatnonzero(profile >= minimum)):
        if out and pos - out[-1] < spacing:
            if profile[pos] > profile[out[-1]]:
                out[-1] = pos
            continue
        out.append(pos)
    return out


def _tables(h: np.ndarray, v: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Table regions (x0, y0, x1, y1): runs of horizontal rules that some vertical rule joins."""
    tables: list[list[int]] = []
    for y in _clusters(np.flatnonzero(h.any(axis=1))):
        xs = np.flatnonzero(h[max(y - 2, 0) : y + 3].any(axis=0))
        x0, x1 = int(xs.min()), int(xs.max())
        last = tables[-1] if tables else None
        if last is not None and y - last[3] > 6:
            between = v[last[3] + 3 : y - 2, min(x0, last[0]) : max(x1, last[2]) + 1]
            # a skewed scan moves a vertical rule sideways along its length: allow ±3 pixels
            if between.shape[1] > 7 and np.lib.stride_tricks.sliding_window_view(between, 7, axis=1).any(axis=2).all(axis=0).any():
                last[0], last[2], last[3] = min(x0, last[0]), max(x1, last[2]), y
                continue
        tables.append([x0, y, x1, y])
    return [(x0, y0, x1, y1) for x0, y0, x1, y1 in tables if y1 > y0 and x1 > x0]


def _grow(ink: np.ndarray, rows: tuple[int, int], x: int, step: int, gap: int = 10) -> int:
    """How far the table's top and bottom rules really run from `x` towards `step`: a scanned rule breaks into
    dashes whose pieces are too short to be found as rules, but a rule it is while ink follows within `gap`."""
    reach = []
    for y in rows:
        start = np.flatnonzero(ink[max(y - 5, 0) : y + 6, x])
        # the rule's height where it was last seen: scans are a little skewed
        end, missing, level = x, 0, max(y - 5, 0) + float(start.mean()) if start.size else float(y)
        while 0 <= end + step < ink.shape[1] and missing <= gap:
            end += step
            top = max(round(level) - 2, 0)
            hits = np.flatnonzero(ink[top : top + 5, end])
            missing = missing + 1 if hits.size == 0 else 0
            level = level if hits.size == 0 else 0.8 * level + 0.2 * (top + hits.mean())
        reach.append(end - step * missing)
    return min(reach) if step < 0 else max(reach)


def _frame(h: np.ndarray, ys: list[int], xs: list[int], spacing: int) -> list[int]:
    """The column edges with the table's outer ones where its rules end, when a faint border was not found as a
    vertical rule (the first or last column would be lost)."""
    rows = np.flatnonzero(np.any([h[max(y - 2, 0) : y + 3].any(axis=0) for y in (ys[0], ys[-1])], axis=0))
    if rows.size == 0 or not xs:
        return xs
    left, right = int(rows[0]), int(rows[-1])
    return ([left] if xs[0] - left > spacing else []) + xs + ([right] if right - xs[-1] > spacing else [])


def _rules_a_cell(h: np.ndarray, y: int, xs: list[int]) -> bool:
    """Whether the horizontal rule candidate at `y` runs (nearly) all along at least one cell: a row of bold
    characters whose strokes line up makes long runs too, but broken ones."""
    band = h[max(y - 2, 0) : y + 3].any(axis=0)
    return any(band[x0 + 4 : x1 - 3].size and band[x0 + 4 : x1 - 3].mean() >= 0.9 for x0, x1 in itertools.pairwise(xs))


def _present(band: np.ndarray, axis: int) -> bool:
    """Whether a rule runs along this strip of rule pixels (only long runs: text strokes are not in it)."""
    return band.size > 0 and float(band.any(axis=axis).mean()) >= 0.5


def _cells(rules: np.ndarray, ink: np.ndarray, xs: list[int], ys: list[int]) -> list[tuple[int, int, int, int]]:
    """Merged cells (x0, y0, x1, y1) of the grid xs × ys: neighbours with no rule between them are one cell."""

    def ruled(span: slice, strip: slice, axis: int) -> bool:
        """Whether a rule runs along `span` within the narrow `strip` (axis 1: a vertical rule, 0: a horizontal one)."""
        found = rules[span, strip] if axis else rules[strip, span]
        if _present(found, axis):
            return True
        # A rule the scanner dashed: pieces too short to be found as rules, but ink all along the line.
        raw = ink[span, strip] if axis else ink[strip, span]
        return raw.size > 0 and float(found.any(axis=axis).mean()) >= 0.15 and float(raw.any(axis=axis).mean()) >= 0.7

    nr, nc = len(ys) - 1, len(xs) - 1
    parent = list(range(nr * nc))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for r in range(nr):
        for c in range(nc):
            inset_y, inset_x = (ys[r + 1] - ys[r]) // 5, (xs[c + 1] - xs[c]) // 5
            rows, cols = slice(ys[r] + inset_y, ys[r + 1] - inset_y), slice(xs[c] + inset_x, xs[c + 1] - inset_x)
            if c + 1 < nc and not ruled(rows, slice(xs[c + 1] - 2, xs[c + 1] + 3), 1):
                parent[find(r * nc + c + 1)] = find(r * nc + c)
            if r + 1 < nr and not ruled(cols, slice(ys[r + 1] - 2, ys[r + 1] + 3), 0):
                parent[find((r + 1) * nc + c)] = find(r * nc + c)
    groups: dict[int, list[int]] = {}
    for i in range(nr * nc):
        groups.setdefault(find(i), []).append(i)
    boxes = []
    for members in groups.values():
        rs, cs = [i // nc for i in members], [i % nc for i in members]
        boxes.append((xs[min(cs)], ys[min(rs)], xs[max(cs) + 1], ys[max(rs) + 1]))
    return boxes


def _deskew(gray: np.ndarray, ink: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotate a table crop so its rules are level: the angle that makes the rows' ink most peaked."""
    small = Image.fromarray((ink[::2, ::2] * 255).astype(np.uint8))
    best, best_score = 0.0, -1.0
    for angle in np.arange(-1.5, 1.51, 0.1):
        profile = np.asarray(small.rotate(float(angle), resample=Image.NEAREST)).sum(axis=1, dtype=np.int64)
        score = float(np.sort(profile)[-8:].sum())
        if score > best_score:
            best, best_score = float(angle), score
    if abs(best) < 0.05:
        return gray, ink
    rotated = np.asarray(Image.fromarray(gray).rotate(best, resample=Image.BICUBIC, fillcolor=255))
    return rotated, _binarize(rotated) if rotated.size else ink


# ---------------------------------------------------------------------------------------------------
# Reading


@dataclass
class _Crop:
    """One image for Tesseract and where its text goes."""

    image: Image.Image
    cell: Box | None  # None: prose
    box: tuple[int, int, int, int]  # page coordinates
    text: str = ""
    confidence: float = 0.0
    digits: str | None = None
    digits_confidence: float = 0.0
    lines: list[tuple[str, tuple[int, int, int, int], float]] | None = None
    rereadings: list[str] = dataclasses.field(default_factory=list)  # eng digits as one line and as one character
    glyph_match: str | None = None  # the digit this page's own confidently read digits say a lone glyph is


def _despeckle(ink: np.ndarray) -> np.ndarray:
    """Drop isolated ink pixels (dust, noise) that have fewer than two ink neighbours."""
    p = np.pad(ink, 1).astype(np.uint8)
    neighbours = sum(p[1 + dy : p.shape[0] - 1 + dy, 1 + dx : p.shape[1] - 1 + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx)
    return ink & (neighbours >= 2)


def _text_image(gray: np.ndarray, ink: np.ndarray, scale: float) -> Image.Image | None:
    """The crop's text on white, trimmed to its ink plus a margin, scaled to ~300 dpi; None if blank."""
    clean = _despeckle(ink)
    if clean.sum() < max(12, 0.003 * clean.size):
        return None
    ys, xs = np.flatnonzero(clean.any(axis=1)), np.flatnonzero(clean.any(axis=0))
    y0, y1, x0, x1 = ys[0], ys[-1] + 1, xs[0], xs[-1] + 1
    pixels = np.where(ink[y0:y1, x0:x1], gray[y0:y1, x0:x1], 255).astype(np.uint8)
    image = Image.fromarray(np.pad(pixels, 12, constant_values=255))
    if scale > 1.05:
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.BICUBIC)
    return image


def ocr_page(gray: np.ndarray, number: int, dpi: float) -> Page:
    ink = _binarize(gray)
    unit = max(dpi / 150.0, 0.5)
    h = _runs(ink, int(100 * unit), axis=1)
    v = _runs(ink, int(60 * unit), axis=0)
    scale = min(max(300.0 / dpi, 1.0), 3.0)
    crops: list[_Crop] = []
    regions: list[tuple[int, int]] = []
    placed_boxes: list[list[Box]] = []
    for tx0, ty0, tx1, ty1 in _tables(h, v):
        tx0, tx1 = _grow(ink, (ty0, ty1), tx0, -1), _grow(ink, (ty0, ty1), tx1, 1)
        # Room for the deskew to turn the table without its borders leaving the crop: tan 1.5° of half its size.
        pad_x, pad_y = 8 + int(0.014 * (ty1 - ty0)), 8 + int(0.014 * (tx1 - tx0))
        y0, y1 = max(ty0 - pad_y, 0), min(ty1 + pad_y + 1, gray.shape[0])
        x0, x1 = max(tx0 - pad_x, 0), min(tx1 + pad_x + 1, gray.shape[1])
        tg, ti = _deskew(gray[y0:y1, x0:x1], ink[y0:y1, x0:x1])
        th, tv = _runs(ti, int(60 * unit), axis=1), _runs(ti, int(40 * unit), axis=0)
        # Rules run across a good part of the table; bold text strokes chained into a run do not.
        ys = _rules(th.sum(axis=1), max(60 * unit, 0.2 * ti.shape[1]), int(12 * unit))
        xs = _rules(tv.sum(axis=0), max(40 * unit, 0.15 * ti.shape[0]), int(12 * unit))
        ys = [y for i, y in enumerate(ys) if i in (0, len(ys) - 1) or _rules_a_cell(th, y, xs)]
        xs = _frame(th, ys, xs, int(12 * unit))
        if len(ys) < 2 or len(xs) < 2:
            continue
        regions.append((max(ty0 - 6, 0), min(ty1 + 7, gray.shape[0])))
        lines = th | tv
        lines[1:] |= lines[:-1].copy()
        lines[:-1] |= lines[1:].copy()
        lines[:, 1:] |= lines[:, :-1].copy()
        lines[:, :-1] |= lines[:, 1:].copy()
        text_ink = ti & ~lines
        boxes = []
        for bx0, by0, bx1, by1 in _cells(th | tv, ti, xs, ys):
            box = Box(bx0 + x0, by0 + y0, bx1 + x0, by1 + y0, "", 1.0)
            boxes.append(box)
            image = _text_image(tg[by0 + 2 : by1 - 1, bx0 + 2 : bx1 - 1], text_ink[by0 + 2 : by1 - 1, bx0 + 2 : bx1 - 1], scale)
            if image is not None:
                crops.append(_Crop(image, box, (box.x0, box.top, box.x1, box.bottom)))
        placed_boxes.append(boxes)
    # Prose: the bands between tables, read as blocks of lines.
    top = 0
    for y0, y1 in [*sorted(regions), (gray.shape[0], gray.shape[0])]:
        if y0 - top > 8:
            band_ink = ink[top:y0]
            image = _text_image(gray[top:y0], band_ink, scale)
            if image is not None:
                crops.append(_Crop(image, None, (0, top, gray.shape[1], y0)))
        top = max(top, y1)
    _recognise(crops)
    cells = [c for c in crops if c.cell is not None]
    unsure = [c for c in cells if _numeric(c) and _cell_value(c)[1] < MIN_CONFIDENCE]
    _reread(unsure)
    _match_glyphs(unsure, [c for c in cells if c not in unsure])

    page = Page(number, float(gray.shape[1]))
    for crop in cells:
        crop.cell.text, crop.cell.confidence = _cell_value(crop)  # type: ignore[union-attr]
    for boxes in placed_boxes:
        placed = place_table(number, boxes, tol=4.0)
        if placed is not None:
            page.items.append(placed)
    for crop in crops:
        if crop.cell is None:
            page.items.extend(_prose_lines(crop, number, scale))
    page.items.sort(key=lambda i: i.top)
    return page


def _prose_lines(crop: _Crop, number: int, scale: float) -> list[Line]:
    out = []
    bx0, btop, _, _ = crop.box
    for text, (x0, y0, x1, y1), _conf in crop.lines or []:
        # back from the scaled, trimmed crop to page pixels (only relative positions matter downstream)
        out.append(Line(number, text, bx0 + x0 / scale, bx0 + x1 / scale, btop + y0 / scale, btop + y1 / scale, (y1 - y0) / scale))
    return out


def _numeric(crop: _Crop) -> bool:
    """Whether a cell holds a number: a label has words; a number misread by chi_sim may carry one stray
    character ("21" → "2工", "0" → "G") or the rest of a rule ("0一-一")."""
    text = unicodedata.normalize("NFKC", crop.text).replace(" ", "")
    cjk = re.findall(r"[\u4e00-\u9fff]", _UNIT.sub("", text).replace("一", ""))
    if len(cjk) > 1:
        return False
    return bool(re.search(r"\d", text + (crop.digits or "") + "".join(crop.rereadings))) or (len(text) <= 2 and not cjk)


def _cell_value(crop: _Crop) -> tuple[str, float]:
    if not _numeric(crop):
        return snap_label(crop.text), crop.confidence
    text = unicodedata.normalize("NFKC", crop.text).replace(" ", "")
    reading = _UNIT.sub("", text).translate(_LOOKALIKE).rstrip("-")  # a dash after a number is the rule beside it
    eng = [d.replace(" ", "") for d in (crop.digits or "", *crop.rereadings)]
    numbers = {r for r in (reading, *eng) if _NUMBER.match(r)}
    unit = _UNIT.search(text)
    sure = max(crop.confidence, crop.digits_confidence, MIN_CONFIDENCE)
    # Trusted when chi_sim and an eng reading agree, or all three eng readings do (a cell chi_sim cannot read),
    # and no reading says another number: agreement of independent readings is what makes a number trustworthy.
    number = next(iter(numbers)) if len(numbers) == 1 else None
    if number is not None and ((reading == number and number in eng) or eng.count(number) == 3):
        return number + (unit.group(0) if unit else ""), sure
    # A lone digit the readings dispute: the page's own digits decide, when they match it closely and two
    # Tesseract readings say the same.
    if crop.glyph_match is not None and sum(r == crop.glyph_match for r in (reading, *eng)) >= 2:
        return crop.glyph_match, sure
    return "", min(crop.confidence, crop.digits_confidence, MIN_CONFIDENCE - 0.01)


def _plain(text: str) -> str:
    return unicodedata.normalize("NFKC", text).replace(" ", "").replace("\n", "")


@cache
def lexicon() -> dict[str, tuple[str, str]]:
    """Every label the templates print, in every form the schema declares, captions of each 第二十条 item
    included: plain form → (the form as printed, its label's canonical form)."""
    forms: dict[str, str] = {}

    def walk(value: object) -> None:
        if isinstance(value, Label):
            forms.update({form: value.canonical for form in value.all_forms})
        elif isinstance(value, tuple | list):
            for item in value:
                walk(item)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            for f in dataclasses.fields(value):
                walk(getattr(value, f.name))

    for name in dir(schema):
        if name.isupper():
            walk(getattr(schema, name))
    for table in schema.ACTIVE_TABLES:
        caption = schema.ACTIVE_CAPTION.canonical.replace("（一）", f"（{table.item}）")
        forms[caption] = caption
    # Labels of several words print as their words in merged header cells (行政诉讼 over 未经复议直接起诉).
    forms |= {word: word for form in list(forms) for word in form.split() if word != form}
    return {_plain(form): (form, label) for form, label in forms.items() if len(_plain(form)) >= 2}


SNAP_RATIO = 0.7  # how alike an OCR'd label and a template label must be
SNAP_MARGIN = 0.15  # and how much less alike the next closest label


def snap_label(text: str) -> str:
    """An OCR'd label cell read as the template label it nearly is ("2.其他法律行政法规荣止公开" → "…禁止公开"),
    when one label is clearly the closest; else the text as read. Labels are printed from a known list, so a
    misread character must not cost a row (extract.builder matches labels, not OCR guesses)."""
    plain = _plain(text)
    if len(plain) < 2 or plain in lexicon():
        return text
    forms = lexicon()
    scored = sorted(((difflib.SequenceMatcher(None, plain, form, autojunk=False).ratio(), form) for form in forms), reverse=True)
    best, form = scored[0]
    # Forms of one label ("2.其他法律行政法规禁止公开", "2.其他法律法规禁止公开"), or a label and its longer or
    # shorter form ("规范性文件", "行政规范性文件"), name the same row: they are not rivals.
    rivals = (score for score, other in scored[1:] if forms[other][1] != forms[form][1] and other not in form and form not in other)
    second = next(rivals, 0.0)
    return forms[form][0] if best >= SNAP_RATIO and best - second >= SNAP_MARGIN else text


def _tesseract(paths: list[Path], args: list[str], listing: Path) -> dict[int, list[tuple[str, tuple[int, int, int, int], float]]]:
    listing.write_text("\n".join(map(str, paths)) + "\n")
    # One thread per process: Tesseract's OpenMP threads make small images ~3× slower, not faster.
    result = run_tool(["tesseract", str(listing), "stdout", *args, "tsv"], what="OCR (tesseract)", env={"OMP_THREAD_LIMIT": "1"})
    if result.returncode != 0:
        raise ExtractionError(f"OCR failed: {result.error_line}")
    return _tsv(result.stdout)


def _recognise(crops: list[_Crop]) -> None:
    """chi_sim over every crop, eng-digits over the table cells: batches in parallel, one per core."""
    if not crops:
        return
    chi = ["-l", "chi_sim", "--psm", "6"]
    digits = ["-l", "eng", "--psm", "8", "-c", "tessedit_char_whitelist=0123456789.+-/"]
    workers = max(os.cpu_count() or 1, 1)
    with tempfile.TemporaryDirectory(prefix="nianbao-ocr-") as tmp:
        paths = []
        for i, crop in enumerate(crops):
            paths.append(Path(tmp) / f"{i:05d}.png")
            crop.image.save(paths[-1])
        cells = [i for i, c in enumerate(crops) if c.cell is not None]
        chunk = -(-len(crops) // workers)
        jobs = [(list(range(k, min(k + chunk, len(crops)))), chi) for k in range(0, len(crops), chunk)]
        jobs.append((cells, digits))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [
                pool.submit(_tesseract, [paths[i] for i in idx], args, Path(tmp) / f"list{n}.txt")
                for n, (idx, args) in enumerate(jobs)
                if idx
            ]
            outputs = [f.result() for f in futures]
    for (idx, args), output in zip([j for j in jobs if j[0]], outputs, strict=True):
        for k, lines in output.items():
            crop = crops[idx[k]]
            if args is chi:
                crop.lines = lines
                crop.text = join_pieces([t for t, _, _ in lines])
                crop.confidence = min((c for _, _, c in lines), default=0.0)
            else:
                crop.digits = "".join(t for t, _, _ in lines)
                crop.digits_confidence = min((c for _, _, c in lines), default=0.0)


GLYPH_SIZE = (20, 28)
GLYPH_MATCH = 0.7  # ink overlap (intersection over union) with the closest reference: same digit 0.7–0.9, others < 0.3
GLYPH_MARGIN = 0.2  # and how much better than the closest glyph of another digit


def _glyph(image: Image.Image) -> np.ndarray | None:
    """A crop's ink as one glyph, scaled to GLYPH_SIZE: the run of columns holding nearly all the ink (what is left
    of a rule beside it holds little); None for a blank crop or several glyphs side by side."""
    ink = np.asarray(image.convert("L")) < 128
    cols = np.flatnonzero(ink.any(axis=0))
    if cols.size == 0:
        return None
    runs = np.split(cols, np.flatnonzero(np.diff(cols) > 2) + 1)
    weights = [int(ink[:, run].sum()) for run in runs]
    main = runs[int(np.argmax(weights))]
    if max(weights) < 0.85 * sum(weights):
        return None
    glyph = ink[:, main[0] : main[-1] + 1]
    rows = np.flatnonzero(glyph.any(axis=1))
    box = glyph[rows[0] : rows[-1] + 1]
    return np.asarray(Image.fromarray(box.astype(np.uint8) * 255).resize(GLYPH_SIZE, Image.BILINEAR)) >= 128


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two glyphs' ink: the white around them says nothing about which digit it is."""
    return float((a & b).sum() / max((a | b).sum(), 1))


def _match_glyphs(unsure: list[_Crop], cells: list[_Crop]) -> None:
    """For each unsure cell holding a lone glyph, the digit it is among this page's confidently read single-digit
    cells (same font, same scan): the closest reference, if close enough and clearly closer than any other digit."""
    references: dict[str, list[np.ndarray]] = {}
    for crop in cells:
        value, confidence = _cell_value(crop)
        if len(value) == 1 and value.isdigit() and confidence >= MIN_CONFIDENCE and (glyph := _glyph(crop.image)) is not None:
            references.setdefault(value, []).append(glyph)
    for crop in unsure:
        glyph = _glyph(crop.image)
        if glyph is None or not references:
            continue
        scores = sorted(((max(_overlap(glyph, ref) for ref in refs), digit) for digit, refs in references.items()), reverse=True)
        best, digit = scores[0]
        second = scores[1][0] if len(scores) > 1 else 0.0
        if best >= GLYPH_MATCH and best - second >= GLYPH_MARGIN:
            crop.glyph_match = digit


def _reread(crops: list[_Crop]) -> None:
    """Read the numbers the first pass was unsure of again with eng digits, as one line and as one character
    (a lone "0" often defeats the one-word reading); _cell_value weighs the readings."""
    if not crops:
        return
    with tempfile.TemporaryDirectory(prefix="nianbao-ocr-") as tmp:
        paths = []
        for i, crop in enumerate(crops):
            paths.append(Path(tmp) / f"{i:05d}.png")
            crop.image.save(paths[-1])
        for n, psm in enumerate(("7", "10")):
            args = ["-l", "eng", "--psm", psm, "-c", "tessedit_char_whitelist=0123456789.+-/"]
            output = _tesseract(paths, args, Path(tmp) / f"list{n}.txt")
            for k, crop in enumerate(crops):
                crop.rereadings.append("".join(t for t, _, _ in output.get(k, [])))


def _tsv(data: bytes) -> dict[int, list[tuple[str, tuple[int, int, int, int], float]]]:
    """Tesseract TSV → per image (0-based): its lines as (text, box, min word confidence in [0, 1])."""
    words: dict[tuple[int, int, int, int], list[tuple[str, int, int, int, int, float]]] = {}
    for row in data.decode("utf-8", "replace").splitlines()[1:]:
        f = row.split("\t")
        if len(f) < 12 or f[0] != "5" or not f[11].strip():
            continue
        key = (int(f[1]) - 1, int(f[2]), int(f[3]), int(f[4]))
        left, top, width, height = (int(x) for x in f[6:10])
        words.setdefault(key, []).append((f[11].strip(), left, top, left + width, top + height, float(f[10]) / 100))
    out: dict[int, list[tuple[str, tuple[int, int, int, int], float]]] = {}
    for (page, *_), ws in sorted(words.items()):
        box = (min(w[1] for w in ws), min(w[2] for w in ws), max(w[3] for w in ws), max(w[4] for w in ws))
        out.setdefault(page, []).append((join_pieces([w[0] for w in ws]), box, min(w[5] for w in ws)))
    return out
