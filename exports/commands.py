"""What `nianbao export`, `nianbao codebook` and `nianbao serve` do; nianbao/cli.py holds only their options.

Each returns the exit code: 0 done, 1 the export or server could not be made as asked (one clear line says why).
"""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from exports import codebook
from exports.columns import ExportError


def _missing_database(db: Path, errors: Console) -> bool:
    # Opening a missing file would create an empty database: say so instead of exporting nothing.
    if db.is_file():
        return False
    errors.print(f"[red]error[/red] {db}: no database there (crawl first, or give --db)", highlight=False)
    return True


def export_command(
    db: Path, store_dir: Path, *, fmt: str, shape: str, year: int | None, level: str | None, output: Path | None, bom: bool,
    console: Console, errors: Console,
) -> int:
    from exports.write import default_path, export
    from storage import StorageError, Store

    if _missing_database(db, errors):
        return 1
    path = output or default_path(fmt, shape, year, level)
    columns = (TextColumn("导出 exporting {task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("年报 reports"),
               TimeRemainingColumn())
    try:
        with Store.open(db, store_dir) as store, Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task(f"{shape} {fmt}", total=None)
            result = export(store, path, fmt=fmt, shape=shape, year=year, level=level, bom=bom,
                            progress=lambda done, total: progress.update(task, completed=done, total=total))
    except (ExportError, StorageError, OSError) as exc:
        errors.print(f"[red]error[/red] export to {path}: {exc}", highlight=False)
        return 1
    console.print(f"[green]{result.reports} 年报 reports, {result.rows} 行 rows[/green] → {result.path}", highlight=False)
    console.print("codebook 字段说明: " + ", ".join(str(p) for p in result.codebook), highlight=False)
    return 0


def codebook_command(fmt: str, output: Path | None, errors: Console) -> int:
    try:
        text = codebook.render(fmt)
    except ValueError as exc:
        errors.print(f"[red]error[/red] {exc}", highlight=False)
        return 1
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
    return 0


def serve_command(db: Path, host: str, port: int, console: Console, errors: Console) -> int:
    from exports.datasette import is_loopback, serve

    if _missing_database(db, errors):
        return 1
    if not is_loopback(host):
        errors.print(f"[yellow]warning[/yellow] {host} is not a loopback address: anyone who can reach it can read "
                     "the whole database", highlight=False)
    console.print(f"Datasette on {db}: http://{host}:{port}/ (Ctrl-C to stop)", highlight=False)
    serve(db, host=host, port=port)
    return 0
