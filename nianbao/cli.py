"""The `nianbao` command line: every stage works on plain files as well as on the crawl's database."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console

from checks import check_reports
from extract import ExtractionError, Report, extract_document
from nianbao.config import Config, ConfigError, load
from nianbao.display import print_findings, print_report

if TYPE_CHECKING:
    from crawler.run import CrawlSummary

app = typer.Typer(help="nianbao 年报 — watch government portals for their annual information-disclosure reports.",
                  no_args_is_help=True, add_completion=False)
console = Console()
errors = Console(stderr=True, soft_wrap=True)


@app.callback()
def main(
    ctx: typer.Context,
    config_file: Path | None = typer.Option(None, "--config", help="Settings file (TOML; default $NIANBAO_CONFIG, else ./nianbao.toml)."),
    overrides: list[str] = typer.Option([], "--set", help="Override a setting: --set crawl.download_delay=5 (see `nianbao config show`)."),
) -> None:
    ctx.obj = (config_file, overrides)


def settings(ctx: typer.Context, flags: dict[str, object] | None = None) -> Config:
    """The effective settings, with this command's own options (None: not given) on top. A setting nianbao cannot
    use ends the command with one clear line."""
    config_file, overrides = ctx.find_root().obj or (None, [])
    try:
        return load(config_file, overrides).with_flags(flags or {})
    except ConfigError as exc:
        errors.print(f"[red]error[/red] settings: {exc}", highlight=False)
        raise typer.Exit(2) from None


def _extract_files(files: list[Path]) -> tuple[list[tuple[Path, Report]], int]:
    """Reports from each file; one clear line on stderr for each file that fails, the rest go on."""
    reports: list[tuple[Path, Report]] = []
    failures = 0
    for path in files:
        try:
            data = path.read_bytes()
            found = extract_document(data, filename=path.name)
        except OSError as exc:
            errors.print(f"[red]error[/red] {path}: cannot read: {exc.strerror or exc}", highlight=False)
            failures += 1
            continue
        except ExtractionError as exc:
            errors.print(f"[red]error[/red] {path}: {exc}", highlight=False)
            failures += 1
            continue
        except Exception as exc:  # a bug must not hide the other files' results; the fuzz tests hunt these
            errors.print(f"[red]error[/red] {path}: internal error {type(exc).__name__}: {exc}", highlight=False)
            failures += 1
            continue
        for report in found:
            if not report.is_complete:
                missing = [f"table {t} missing" for t in report.missing_tables]
                missing += [f"row {r} missing" for r in report.missing_rows]
                errors.print(f"[red]error[/red] {path}: incomplete report: {'; '.join(missing)}", highlight=False)
                failures += 1
            reports.append((path, report))
    return reports, failures


@app.command()
def extract(
    files: list[Path] = typer.Argument(..., help="Report documents: HTML, text, PDF, DOCX, DOC, XLS/XLSX, images."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per report (schema.md contract)."),
) -> None:
    """Extract reports from files into the common schema. Exit code 1 when any file failed."""
    reports, failures = _extract_files(files)
    for path, report in reports:
        if as_json:
            sys.stdout.write(json.dumps(report.to_json(), ensure_ascii=False) + "\n")
        else:
            print_report(console, report, str(path))
    raise typer.Exit(1 if failures else 0)


@app.command()
def check(
    files: list[Path] = typer.Argument(..., help="Report documents; several years of one unit give the cross-year rules."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per finding."),
) -> None:
    """Findings for the given reports. Exit code 1 when a file failed or an error finding was found."""
    reports, failures = _extract_files(files)
    findings = check_reports([report for _, report in reports])
    if as_json:
        for finding in findings:
            sys.stdout.write(json.dumps(finding.to_json(), ensure_ascii=False) + "\n")
    else:
        print_findings(console, findings)
    raise typer.Exit(1 if failures or any(f.severity == "error" for f in findings) else 0)


units_app = typer.Typer(help="The target registry: units that must publish, and their portals.", no_args_is_help=True)
app.add_typer(units_app, name="units")
DB_OPTION = typer.Option(None, "--db", help="The database (default: the storage.db setting, nianbao.db).")
STORE_OPTION = typer.Option(None, "--store", help="The document file store (default: the storage.store setting, store/).")


def storage_flags(db: Path | None, store_dir: Path | None) -> dict[str, object]:
    return {"storage.db": db, "storage.store": store_dir}


@units_app.command("import")
def units_import(ctx: typer.Context, file: Path = typer.Argument(..., help="A units file (CSV or YAML)."),
                 db: Path | None = DB_OPTION, store_dir: Path | None = STORE_OPTION) -> None:
    """Load a units file into the database (updates units already there)."""
    from registry.units import UnitsFileError, load_units
    from storage import Store

    config = settings(ctx, storage_flags(db, store_dir))
    db, store_dir = config["storage.db"], config["storage.store"]
    try:
        units = load_units(file)
    except (OSError, UnitsFileError) as exc:
        errors.print(f"[red]error[/red] {file}: {exc}", highlight=False)
        raise typer.Exit(1) from None
    with Store.open(db, store_dir) as store:
        store.upsert_units(units)
    console.print(f"{len(units)} units imported into {db}")


@units_app.command("list")
def units_list(ctx: typer.Context, db: Path | None = DB_OPTION, store_dir: Path | None = STORE_OPTION) -> None:
    """The units in the database."""
    from rich.table import Table

    from registry.units import LEVELS
    from storage import Store

    config = settings(ctx, storage_flags(db, store_dir))
    with Store.open(config["storage.db"], config["storage.store"]) as store:
        units = store.units()
    table = Table(title=f"单位 units: {len(units)}", title_justify="left")
    for column in ("unit_id", "名称 name", "级别 level", "县 county", "CMS", "年报栏目 column"):
        table.add_column(column)
    for unit in units:
        table.add_row(unit.unit_id, unit.name, LEVELS[unit.level], unit.parent_county, unit.cms,
                      " ".join(unit.column_urls) or "（从首页发现 discovered from the home page）")
    console.print(table)


@app.command()
def crawl(
    ctx: typer.Context,
    units: Path | None = typer.Option(None, "--units", help="The units file (CSV or YAML; default: the registry.units setting)."),
    limit: int | None = typer.Option(None, "--limit", help="Crawl only the first N units."),
    db: Path | None = DB_OPTION,
    store_dir: Path | None = STORE_OPTION,
    distributed: str | None = typer.Option(None, "--distributed", help="Be a worker of the night `nianbao ingest` "
                                           "published in this Redis (redis://HOST:PORT/DB); --store, if readable here, "
                                           "answers conditional GETs (docs/distributed.md)."),
) -> None:
    """Crawl the units' portals into the database: politely, incrementally, losing nothing."""
    from crawler.distributed import work
    from crawler.run import crawl as run_crawl

    config = settings(ctx, {**storage_flags(db, store_dir), "registry.units": units, "crawl.limit": limit})
    if distributed:
        _night(lambda: work(distributed, config["storage.store"], settings_overrides=config.scrapy_overrides(), console=console))
    else:
        _night(lambda: run_crawl(config["registry.units"], config["storage.db"], config["storage.store"],
                                 limit=config["crawl.limit"] or None, settings_overrides=config.scrapy_overrides(),
                                 console=console))


@app.command()
def ingest(
    ctx: typer.Context,
    redis_url: str = typer.Argument(..., help="The Redis workers share: redis://HOST:PORT/DB."),
    units: Path | None = typer.Option(None, "--units", help="The units file (CSV or YAML; default: the registry.units setting)."),
    db: Path | None = DB_OPTION,
    store_dir: Path | None = STORE_OPTION,
) -> None:
    """Publish tonight's crawl in Redis for `nianbao crawl --distributed` workers, and store what they fetch into the
    database (its only writer) until the night is complete."""
    from crawler.distributed import ingest as run_ingest

    config = settings(ctx, {**storage_flags(db, store_dir), "registry.units": units})
    _night(lambda: run_ingest(redis_url, config["registry.units"], config["storage.db"], config["storage.store"],
                              settings_overrides=config.scrapy_overrides(), console=console))


def _night(run: Callable[[], CrawlSummary]) -> NoReturn:
    """Run a crawl, a distributed worker's share or an ingest; exit 0 when its night finished, 1 when not or when it
    could not start (NightError: its one-line reason, no traceback)."""
    from crawler.distributed import NightError

    try:
        summary = run()
    except NightError as exc:
        errors.print(f"[red]error[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    raise typer.Exit(0 if summary.finish_reason == "finished" else 1)


@app.command()
def status(
    ctx: typer.Context,
    year: int | None = typer.Option(None, "--year", help="Report year (default: every year whose deadline has passed)."),
    fmt: str = typer.Option("table", "--format", help="table | html | csv | json"),
    output: Path | None = typer.Option(None, "--output", help="Write to this file instead of the terminal."),
    db: Path | None = DB_OPTION,
    store_dir: Path | None = STORE_OPTION,
    as_of: str | None = typer.Option(None, "--as-of", help="Evaluate as of this date (YYYY-MM-DD; default: status.today, else today)."),
) -> None:
    """The morning status report: not published, late, inconsistent, unreachable. Exit 1 on error findings."""
    from nianbao.status import status_command

    config = settings(ctx, {**storage_flags(db, store_dir), "status.today": as_of})
    raise typer.Exit(status_command(config["storage.db"], config["storage.store"], year, fmt, output, config.today))


@app.command()
def simulate(
    portals: int = typer.Option(50, "--portals", help="County portals in the world."),
    seed: int = typer.Option(7, "--seed", help="The world is the same for the same seed."),
    units_out: Path | None = typer.Option(None, "--units-out", help="Write the world's units file (CSV/YAML)."),
    truth_out: Path | None = typer.Option(None, "--truth-out", help="Write the ground truth JSON."),
) -> None:
    """Serve an offline world of county portals on loopback until Ctrl-C."""
    from simulator.cli import simulate as serve

    serve(portals, seed, units_out, truth_out)


@app.command("run-once")
def run_once(ctx: typer.Context, db: Path | None = DB_OPTION, store_dir: Path | None = STORE_OPTION) -> None:
    """Run one nightly cycle now: crawl → extract → checks → status report → alerts. Exit 1 unless it finished."""
    from scheduler import configure_logging, run_cycle

    config = settings(ctx, storage_flags(db, store_dir))
    configure_logging(config)
    result = run_cycle(config)
    colour = "green" if result.ok else "red"
    console.print(f"[{colour}]cycle {result.cycle_id} {result.outcome}[/{colour}]: {result.message}", highlight=False)
    raise typer.Exit(0 if result.ok else 1)


@app.command()
def schedule(ctx: typer.Context, db: Path | None = DB_OPTION, store_dir: Path | None = STORE_OPTION) -> None:
    """Run the nightly cycle on the schedule.cron trigger until SIGTERM or Ctrl-C."""
    from scheduler import serve

    raise typer.Exit(serve(settings(ctx, storage_flags(db, store_dir)), console))


config_app = typer.Typer(help="nianbao's settings: file, environment, flags.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("show")
def config_show(ctx: typer.Context, as_toml: bool = typer.Option(False, "--toml", help="Print a settings file instead.")) -> None:
    """The effective value of every setting and where it came from."""
    from rich.table import Table

    from nianbao.config import to_toml

    config = settings(ctx)
    if as_toml:
        sys.stdout.write(to_toml(config))
        return
    table = Table(title=f"settings (file: {config.file or 'none'})", title_justify="left")
    for column in ("setting", "value", "from", "what it is"):
        table.add_column(column, overflow="fold")
    for row in config.shown():
        table.add_row(*row)
    console.print(table)


@app.command()
def demo(
    directory: Path = typer.Option(Path("demo"), "--dir", help="Where the demo writes its database, status report and log."),
    portals: int = typer.Option(12, "--portals", help="County portals in the simulated world."),
    seed: int = typer.Option(7, "--seed", help="The world is the same for the same seed."),
) -> None:
    """The main job on a simulated world: serve it on loopback, run one nightly cycle, print the status report."""
    from nianbao.demo import run_demo

    raise typer.Exit(run_demo(directory, portals, seed, console))



@app.command()
def export(
    ctx: typer.Context,
    fmt: str = typer.Option("csv", "--format", help="csv | jsonl | parquet | xlsx"),
    shape: str = typer.Option("wide", "--shape", help="wide (one row per report) | long (one row per field)"),
    year: int | None = typer.Option(None, "--year", help="Only reports of this year."),
    level: str | None = typer.Option(None, "--level", help="Only units of this level: county_government | county_department | township."),
    output: Path | None = typer.Option(None, "--output", help="The export file (default: nianbao-<shape>[-<year>][-<level>].<format>)."),
    bom: bool = typer.Option(False, "--bom", help="CSV with a UTF-8 byte-order mark, for Excel."),
    db: Path | None = DB_OPTION,
    store_dir: Path | None = STORE_OPTION,
) -> None:
    """Export the current version of every report for research, with its codebook beside it."""
    from exports.commands import export_command

    config = settings(ctx, storage_flags(db, store_dir))
    raise typer.Exit(export_command(config["storage.db"], config["storage.store"], fmt=fmt, shape=shape, year=year, level=level,
                                    output=output, bom=bom, console=console, errors=errors))


@app.command()
def codebook(
    fmt: str = typer.Option("md", "--format", help="md | csv"),
    output: Path | None = typer.Option(None, "--output", help="Write to this file instead of the terminal."),
) -> None:
    """The codebook of the exports: every column, its 中文 label, section, templates, type and unit."""
    from exports.commands import codebook_command

    raise typer.Exit(codebook_command(fmt, output, errors))


@app.command()
def serve(
    ctx: typer.Context,
    db: Path | None = DB_OPTION,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (loopback unless you mean to share it)."),
    port: int = typer.Option(8001, "--port", help="Port to listen on."),
) -> None:
    """Browse the database in Datasette (read-only): labels, source links, facets and canned queries."""
    from exports.commands import serve_command

    config = settings(ctx, storage_flags(db, None))
    raise typer.Exit(serve_command(config["storage.db"], host, port, console, errors))


if __name__ == "__main__":
    app()
