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

import io
import os
import re
import tempfile
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

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


def _present(band: np.ndarray, axis: int) -> bool:
    """Whether a rule runs along this strip of rule pixels (only long runs: text strokes are not in it)."""
    return band.size > 0 and float(band.any(axis=axis).mean()) >= 0.5


def _cells(rules: np.ndarray, xs: list[int], ys: list[int]) -> list[tuple[int, int, int, int]]:
    """Merged cells (x0, y0, x1, y1) of the grid xs × ys: neighbours with no rule between them are one cell."""
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
            if c + 1 < nc and not _present(rules[ys[r] + inset_y : ys[r + 1] - inset_y, xs[c + 1] - 2 : xs[c + 1] + 3], 1):
                parent[find(r * nc + c + 1)] = find(r * nc + c)
            if r + 1 < nr and not _present(rules[ys[r + 1] - 2 : ys[r + 1] + 3, xs[c] + inset_x : xs[c + 1] - inset_x], 0):
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
        y0, y1 = max(ty0 - 6, 0), min(ty1 + 7, gray.shape[0])
        x0, x1 = max(tx0 - 6, 0), min(tx1 + 7, gray.shape[1])
        tg, ti = _deskew(gray[y0:y1, x0:x1], ink[y0:y1, x0:x1])
        th, tv = _runs(ti, int(60 * unit), axis=1), _runs(ti, int(40 * unit), axis=0)
        # Rules run across a good part of the table; bold text strokes chained into a run do not.
        ys = _rules(th.sum(axis=1), max(60 * unit, 0.2 * ti.shape[1]), int(12 * unit))
        xs = _rules(tv.sum(axis=0), max(40 * unit, 0.15 * ti.shape[0]), int(12 * unit))
        if len(ys) < 2 or len(xs) < 2:
            continue
        regions.append((y0, y1))
        lines = th | tv
        lines[1:] |= lines[:-1].copy()
        lines[:-1] |= lines[1:].copy()
        lines[:, 1:] |= lines[:, :-1].copy()
        lines[:, :-1] |= lines[:, 1:].copy()
        text_ink = ti & ~lines
        boxes = []
        for bx0, by0, bx1, by1 in _cells(th | tv, xs, ys):
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

    page = Page(number, float(gray.shape[1]))
    for crop in crops:
        if crop.cell is not None:
            crop.cell.text, crop.cell.confidence = _cell_value(crop)
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


def _cell_value(crop: _Crop) -> tuple[str, float]:
    text = unicodedata.normalize("NFKC", crop.text).replace(" ", "")
    # A label has words; a number misread by chi_sim may carry one stray character ("21" → "2工").
    if len(re.findall(r"[\u4e00-\u9fff]", _UNIT.sub("", text))) > 1 or not re.search(r"\d", text + (crop.digits or "")):
        return crop.text, crop.confidence  # fuzzy label matching downstream tolerates a wrong character
    reading = _UNIT.sub("", text).translate(_LOOKALIKE)
    digits = (crop.digits or "").replace(" ", "")
    if _NUMBER.match(reading) and reading == digits:
        # Two independent readings agree: that agreement is what makes the number trustworthy.
        unit = _UNIT.search(text)
        return reading + (unit.group(0) if unit else ""), max(crop.confidence, crop.digits_confidence, MIN_CONFIDENCE)
    return "", min(crop.confidence, crop.digits_confidence, MIN_CONFIDENCE - 0.01)


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
