"""The `nianbao` command line: every stage works on plain files as well as on the crawl's database."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

import typer
from rich.console import Console

from checks import check_reports
from extract import ExtractionError, Report, extract_document
from nianbao.display import print_findings, print_report

app = typer.Typer(help="nianbao 年报 — watch government portals for their annual information-disclosure reports.",
                  no_args_is_help=True, add_completion=False)
console = Console()
errors = Console(stderr=True, soft_wrap=True)


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
DB_OPTION = typer.Option(Path("nianbao.db"), "--db", help="The crawl's database.")
STORE_OPTION = typer.Option(Path("store"), "--store", help="The document file store.")


@units_app.command("import")
def units_import(file: Path = typer.Argument(..., help="A units file (CSV or YAML)."), db: Path = DB_OPTION,
                 store_dir: Path = STORE_OPTION) -> None:
    """Load a units file into the database (updates units already there)."""
    from registry.units import UnitsFileError, load_units
    from storage import Store

    try:
        units = load_units(file)
    except (OSError, UnitsFileError) as exc:
        errors.print(f"[red]error[/red] {file}: {exc}", highlight=False)
        raise typer.Exit(1) from None
    with Store.open(db, store_dir) as store:
        store.upsert_units(units)
    console.print(f"{len(units)} units imported into {db}")


@units_app.command("list")
def units_list(db: Path = DB_OPTION, store_dir: Path = STORE_OPTION) -> None:
    """The units in the database."""
    from rich.table import Table

    from registry.units import LEVELS
    from storage import Store

    with Store.open(db, store_dir) as store:
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
    units: Path = typer.Option(Path("units.csv"), "--units", help="The units file (CSV or YAML)."),
    limit: int | None = typer.Option(None, "--limit", help="Crawl only the first N units."),
    db: Path = DB_OPTION,
    store_dir: Path = STORE_OPTION,
) -> None:
    """Crawl the units' portals into the database: politely, incrementally, losing nothing."""
    from crawler.run import crawl as run_crawl

    summary = run_crawl(units, db, store_dir, limit=limit, console=console)
    raise typer.Exit(0 if summary.finish_reason == "finished" else 1)


@app.command()
def status(
    year: int | None = typer.Option(None, "--year", help="Report year (default: every year whose deadline has passed)."),
    fmt: str = typer.Option("table", "--format", help="table | html | csv | json"),
    output: Path | None = typer.Option(None, "--output", help="Write to this file instead of the terminal."),
    db: Path = DB_OPTION,
    store_dir: Path = STORE_OPTION,
    as_of: str | None = typer.Option(None, "--as-of", help="Evaluate as of this date (YYYY-MM-DD; default today)."),
) -> None:
    """The morning status report: not published, late, inconsistent, unreachable. Exit 1 on error findings."""
    from nianbao.status import status_command

    raise typer.Exit(status_command(db, store_dir, year, fmt, output, date.fromisoformat(as_of) if as_of else None))


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


@app.command()
def demo() -> None:
    """Run the main job on bundled material (for now: extract the sample reports and print them)."""
    samples = sorted(Path(__file__).resolve().parent.parent.glob("tests/fixtures/seeds/*.txt"))
    reports, failures = _extract_files(samples)
    for path, report in reports:
        print_report(console, report, path.name)
    console.print(f"[green]{len(reports)} reports extracted[/green], {failures} failed.")
    raise typer.Exit(1 if failures else 0)


if __name__ == "__main__":
    app()
