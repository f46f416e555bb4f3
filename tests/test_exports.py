"""Research exports: a database built from the real seed reports, exported in every format and shape, read back by
pandas and pyarrow with the codebook's types and compared value by value with the database; the codebook against
schema.md; formula neutralisation in CSV and XLSX."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import sqlite3
import zipfile
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from exports import codebook
from exports.columns import ExportError
from exports.spreadsheet import spreadsheet_safe
from exports.write import export
from extract import extract_document
from extract.model import Report
from extract.schema import FIELDS, FIELDS_BY_KEY
from nianbao.cli import app
from nianbao.status import evaluate, record
from registry.units import COUNTY_DEPARTMENT, COUNTY_GOVERNMENT, TOWNSHIP, Unit
from storage import Store

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"

HYPERLINK = '=HYPERLINK("http://x","点我")'
PLUS_CMD = "+cmd|' /C calc'!A0"
SQL_NAME = """O'Brien "镇"; DROP TABLE units;-- <script>document.title='pwned'</script>"""


@dataclass(frozen=True)
class ResearchDb:
    db: Path
    store: Path
    units: dict[str, Unit]  # by the name the tests use


def _unit(unit_id: str, name: str, level: str, province: str, county: str) -> Unit:
    return Unit(unit_id=unit_id, name=name, division_code=unit_id[:12], level=level, province=province,
                parent_county=county, portal_url=f"http://u{unit_id.replace('-', '')}.example.gov.cn/")


def _document(name: str) -> tuple[bytes, Report]:
    data = (FIXTURES / name).read_bytes()
    (report,) = extract_document(data, filename=Path(name).name)
    return data, report


def _changed(report: Report, changes: dict[str, int]) -> Report:
    fields = dict(report.fields)
    for key, value in changes.items():
        fields[key] = replace(fields[key], value=value, raw=str(value))
    return replace(report, fields=fields)


def build_research_db(directory: Path) -> ResearchDb:
    """Six real reports (seeds 000–004 and 沭阳县发改局 2023) under seven units, three of them named to break
    spreadsheets, SQL or HTML; one unit with two years, one report with two versions; the findings the status
    report records for 2020–2023."""
    units = {
        "dx": _unit("321322100000", "大新镇人民政府", TOWNSHIP, "江苏省", "沭阳县"),
        "hyperlink": _unit("321322101000", HYPERLINK, TOWNSHIP, "江苏省", "沭阳县"),
        "lx": _unit("321322102000", "鹿乡镇", TOWNSHIP, "江苏省", "沭阳县"),
        "zfb": _unit("360732000000-zfb", "兴国县政府办", COUNTY_DEPARTMENT, "江西省", "兴国县"),
        "plus": _unit("321322103000", PLUS_CMD, TOWNSHIP, "江苏省", "沭阳县"),
        "fgj": _unit("321322000000-fgj", "沭阳县发展和改革局", COUNTY_DEPARTMENT, "江苏省", "沭阳县"),
        "sql": _unit("360732000000", SQL_NAME, COUNTY_GOVERNMENT, "江西省", "兴国县"),
    }
    db, files = directory / "nianbao.db", directory / "store"
    with Store.open(db, files) as store:
        store.upsert_units(units.values())
        run = store.start_run("2024-06-01")

        def save(key: str, data: bytes, report: Report) -> None:
            sha = store.save_document(data, "text/html")
            store.save_report(units[key].unit_id, report, sha, f"{units[key].portal_url}ndbg/{report.year}.html", run_id=run)

        data, report = _document("seeds/000.clean.html")
        save("dx", data, replace(report, published_on="2021-01-20"))
        save("hyperlink", *_document("seeds/001.clean.html"))
        save("sql", *_document("seeds/001.clean.html"))
        data, report = _document("seeds/002.clean.html")
        save("lx", data, report)
        # The same report again for 2021, 本年增/减 negative: still the 试行 tables (H6), a copy of last year.
        save("lx", data + b"<!-- 2021 -->", replace(_changed(report, {"active.licensing.change": -2}), year=2021))
        save("zfb", *_document("seeds/003.clean.html"))
        data, report = _document("seeds/004.clean.html")
        save("plus", data, report)
        new = report.value("requests.new_received.natural_person")
        total = report.value("requests.new_received.total")
        assert isinstance(new, int) and isinstance(total, int)
        save("plus", data + b"<!-- v2 -->", _changed(report, {"requests.new_received.natural_person": new + 1,
                                                               "requests.new_received.total": total + 1}))
        save("fgj", *_document("real/shuyang_fgj_2023.html"))
        record(store, run, evaluate(store, as_of=date(2024, 6, 1), years=[2020, 2021, 2022, 2023]))
        store.finish_run(run)
    return ResearchDb(db, files, units)


@pytest.fixture(scope="module")
def research(tmp_path_factory: pytest.TempPathFactory) -> ResearchDb:
    return build_research_db(tmp_path_factory.mktemp("research"))


# ---------------------------------------------------------------------------------------------- the database's own view


def db_reports(research: ResearchDb, year: int | None = None, level: str | None = None) -> list[dict[str, Any]]:
    """The current version of each report as SQLite holds it, independently of the export code."""
    conn = sqlite3.connect(research.db)
    conn.row_factory = sqlite3.Row
    rows = conn.execute(
        "SELECT r.report_id, r.current_version AS version, u.unit_id, u.name AS unit_name, u.division_code, u.level,"
        " u.province, u.parent_county, v.unit_name AS unit, r.year, v.template, v.title, v.source_url, v.published_on,"
        " v.sections FROM reports r JOIN report_versions v ON v.report_id = r.report_id AND v.version = r.current_version"
        " JOIN units u ON u.unit_id = r.unit_id WHERE (? IS NULL OR r.year = ?) AND (? IS NULL OR u.level = ?)"
        " ORDER BY u.unit_id, r.year",
        [year, year, level, level],
    ).fetchall()
    reports = []
    for row in rows:
        report = {**dict(row), "sections": " ".join(json.loads(row["sections"]))}
        report["fields"] = [
            dict(f) for f in conn.execute(
                "SELECT key, value, raw, inferred, provenance, note FROM fields WHERE report_id = ? AND version = ?"
                " ORDER BY position", [row["report_id"], row["version"]])
        ]
        reports.append(report)
    conn.close()
    return reports


WIDE_META = ("report_id", "version", "unit_id", "unit_name", "division_code", "level", "province", "parent_county", "unit",
             "year", "template", "title", "source_url", "published_on", "sections")
LONG_META = ("report_id", "version", "unit_id", "unit_name", "year")


def expected_rows(reports: list[dict[str, Any]], shape: str) -> list[dict[str, Any]]:
    if shape == "wide":
        return [
            {**{k: r[k] for k in WIDE_META}, **{f.key: None for f in FIELDS}, **{f["key"]: f["value"] for f in r["fields"]}}
            for r in reports
        ]
    rows = []
    for r in reports:
        for f in r["fields"]:
            is_count = FIELDS_BY_KEY[f["key"]].value_type in ("count", "signed_count")
            rows.append({**{k: r[k] for k in LONG_META}, "key": f["key"], "count": f["value"] if is_count else None,
                         "amount": None if is_count else f["value"], "raw": f["raw"], "inferred": bool(f["inferred"]),
                         "provenance": f["provenance"], "note": f["note"]})
    return rows


def as_spreadsheet_text(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What CSV and XLSX promise: formula-like text guarded, and (no null in those formats) empty text as null."""
    return [{k: (spreadsheet_safe(v) or None) if isinstance(v, str) else v for k, v in row.items()} for row in rows]


# ---------------------------------------------------------------------------------------------- reading back


PANDAS = {"integer": "Int64", "decimal": "Float64", "text": "string", "boolean": "boolean"}
ARROW = {"integer": pa.int64(), "decimal": pa.float64(), "text": pa.string(), "boolean": pa.bool_()}


def codebook_types(path: Path) -> dict[str, str]:
    """The column types the codebook written beside an export declares."""
    with path.with_name(f"{path.stem}.codebook.csv").open(encoding="utf-8-sig", newline="") as f:
        return {row["key"]: row["type"] for row in csv.DictReader(f)}


def python_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Plain Python values: pandas' NA as None, numpy scalars as int/float/bool."""
    return [{k: None if v is pd.NA or v is None else (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
            for row in frame.astype(object).to_dict("records")]


def read_with_pandas(path: Path, fmt: str) -> pd.DataFrame:
    types = codebook_types(path)
    header = pd.read_csv(path, nrows=0).columns if fmt == "csv" else None
    dtypes = {k: PANDAS[t] for k, t in types.items()}
    if fmt == "csv":  # only an empty cell is null: a unit or raw text "NA" is text
        return pd.read_csv(path, dtype={k: dtypes[k] for k in header}, keep_default_na=False, na_values=[""])
    if fmt == "jsonl":
        frame = pd.read_json(path, lines=True, dtype=False)
        return frame.astype({k: dtypes[k] for k in frame.columns})
    if fmt == "xlsx":
        return pd.read_excel(path, dtype={k: dtypes[k] for k in pd.read_excel(path, nrows=0).columns})
    return pd.read_parquet(path)  # the file's own types, no codebook needed


def read_with_pyarrow(path: Path, fmt: str) -> pa.Table:
    types = codebook_types(path)
    if fmt == "csv":
        header = next(csv.reader(path.open(encoding="utf-8-sig")))
        options = pa_csv.ConvertOptions(column_types={k: ARROW[types[k]] for k in header}, null_values=[""],
                                        strings_can_be_null=True)
        return pa_csv.read_csv(path, convert_options=options)
    if fmt == "jsonl":
        first = json.loads(path.open(encoding="utf-8").readline())
        schema = pa.schema([(k, ARROW[types[k]]) for k in first])
        return pa_json.read_json(path, parse_options=pa_json.ParseOptions(explicit_schema=schema))
    return pq.read_table(path)


def export_file(research: ResearchDb, directory: Path, fmt: str, shape: str, **options: Any) -> Path:
    path = directory / f"export-{shape}.{fmt}"
    with Store.open(research.db, research.store) as store:
        export(store, path, fmt=fmt, shape=shape, **options)
    return path


FORMATS = ("csv", "jsonl", "parquet", "xlsx")


@pytest.mark.parametrize("shape", ["wide", "long"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_export_round_trips_with_types_and_values(research: ResearchDb, tmp_path: Path, fmt: str, shape: str) -> None:
    path = export_file(research, tmp_path, fmt, shape)
    expected = expected_rows(db_reports(research), shape)
    if fmt in ("csv", "xlsx"):
        expected = as_spreadsheet_text(expected)
    types = codebook_types(path)

    frame = read_with_pandas(path, fmt)
    assert list(frame.columns) == list(expected[0])
    assert {k: str(t) for k, t in frame.dtypes.items()} == {k: PANDAS[types[k]] for k in frame.columns}
    assert python_rows(frame) == expected
    if shape == "wide":
        assert len(frame) == 8 and frame["requests.new_received.total"].isna().sum() == 0
        assert frame["active.rules.made"].isna().sum() == 4  # the 2021-template reports have no 试行 columns
    else:
        assert len(frame) == 4 * 198 + 4 * 207

    if fmt != "xlsx":
        table = read_with_pyarrow(path, fmt)
        text = pa.large_string() if fmt == "parquet" else pa.string()
        assert {f.name: f.type for f in table.schema} == {k: text if types[k] == "text" else ARROW[types[k]]
                                                          for k in table.column_names}
        assert table.to_pylist() == expected


def test_jsonl_holds_ints_as_ints_and_money_as_floats(research: ResearchDb, tmp_path: Path) -> None:
    path = export_file(research, tmp_path, "jsonl", "wide")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    for row in rows:
        for f in FIELDS:
            value = row[f.key]
            kind = float if f.value_type.startswith("amount") else int
            assert value is None or type(value) is kind, (row["unit_id"], f.key, value)
    lx_2021 = next(r for r in rows if r["unit_name"] == "鹿乡镇" and r["year"] == 2021)
    assert lx_2021["active.licensing.change"] == -2 and lx_2021["requests.other_misc.total"] is None
    assert next(r for r in rows if r["unit_id"] == "360732000000-zfb")["requests.granted.commercial"] is None


@pytest.mark.parametrize(("options", "units"), [
    ({"year": 2020}, ["大新镇人民政府", "鹿乡镇", "兴国县政府办"]),
    ({"level": COUNTY_DEPARTMENT}, ["沭阳县发展和改革局", "兴国县政府办"]),
    ({"year": 2021, "level": TOWNSHIP}, ["鹿乡镇", PLUS_CMD]),
    ({"year": 2019}, []),
])
def test_year_and_level_choose_the_reports(research: ResearchDb, tmp_path: Path, options: dict, units: list[str]) -> None:
    for shape in ("wide", "long"):
        path = export_file(research, tmp_path, "parquet", shape, **options)
        table = pq.read_table(path)
        assert table.to_pylist() == expected_rows(db_reports(research, options.get("year"), options.get("level")), shape)
        assert sorted(set(table.column("unit_name").to_pylist())) == sorted(units)


def test_export_is_the_current_version(research: ResearchDb, tmp_path: Path) -> None:
    frame = pd.read_parquet(export_file(research, tmp_path, "parquet", "wide"))
    plus = frame[frame["unit_name"] == PLUS_CMD].iloc[0]
    (_, v1) = _document("seeds/004.clean.html")
    assert plus["version"] == 2
    assert plus["requests.new_received.total"] == v1.value("requests.new_received.total") + 1


# ---------------------------------------------------------------------------------------------- spreadsheets


def test_formula_names_come_back_as_text_in_csv(research: ResearchDb, tmp_path: Path) -> None:
    path = export_file(research, tmp_path, "csv", "wide", bom=True)
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    names = {row["unit_id"]: row["unit_name"] for row in rows}
    assert names["321322101000"] == "'" + HYPERLINK
    assert names["321322103000"] == "'" + PLUS_CMD
    lx_2021 = next(r for r in rows if r["unit_id"] == "321322102000" and r["year"] == "2021")
    assert lx_2021["active.licensing.change"] == "-2"  # a number stays a number, unguarded
    # Not a single cell of the file starts a formula.
    assert not [cell for row in csv.reader(io.StringIO(data.decode("utf-8-sig"))) for cell in row
                if cell.startswith(("=", "+", "@")) or (cell.startswith("-") and not re.fullmatch(r"-\d+(\.\d+)?", cell))]
    assert path.with_name("export-wide.codebook.csv").read_bytes().startswith(b"\xef\xbb\xbf")


def test_formula_names_come_back_as_text_in_xlsx(research: ResearchDb, tmp_path: Path) -> None:
    path = export_file(research, tmp_path, "xlsx", "wide")
    with zipfile.ZipFile(path) as book:
        sheet_xml = book.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet_xml and "<f " not in sheet_xml
    sheet = openpyxl.load_workbook(path).active
    header = [c.value for c in sheet[1]]
    rows = [dict(zip(header, row, strict=True)) for row in sheet.iter_rows(min_row=2)]
    by_id = {(r["unit_id"].value, r["year"].value): r for r in rows}
    hyperlink = by_id[("321322101000", 2022)]["unit_name"]
    assert (hyperlink.data_type, hyperlink.value) == ("s", "'" + HYPERLINK)
    assert by_id[("321322103000", 2021)]["unit_name"].value == "'" + PLUS_CMD
    change = by_id[("321322102000", 2021)]["active.licensing.change"]
    assert (change.data_type, change.value) == ("n", -2)
    zfb = by_id[("360732000000-zfb", 2020)]
    assert zfb["unit_name"].value == "兴国县政府办" and zfb["requests.granted.commercial"].value is None
    assert zfb["published_on"].value is None


def test_quotes_and_sql_in_names_export_intact(research: ResearchDb, tmp_path: Path) -> None:
    for fmt in FORMATS:
        frame = read_with_pandas(export_file(research, tmp_path, fmt, "long", level=COUNTY_GOVERNMENT), fmt)
        assert set(frame["unit_name"]) == {SQL_NAME} and len(frame) == 207, fmt


def test_a_control_character_in_raw_text_is_escaped_in_xlsx(research: ResearchDb, tmp_path: Path) -> None:
    copy = tmp_path / "copy.db"
    shutil.copy(research.db, copy)
    with closing(sqlite3.connect(copy)) as conn, conn:
        conn.execute("UPDATE fields SET raw = '第' || char(11) || '一' WHERE key = 'requests.granted.total'")
    path = tmp_path / "long.xlsx"
    with Store.open(copy, research.store) as store:  # openpyxl refuses the raw character: the export must not
        export(store, path, fmt="xlsx", shape="long", year=2023)
    frame = pd.read_excel(path)
    assert frame.loc[frame["key"] == "requests.granted.total", "raw"].tolist() == ["第_x000B_一"]  # as Office escapes it


# ---------------------------------------------------------------------------------------------- failures


def test_bad_requests_fail_clearly_and_leave_no_file(research: ResearchDb, tmp_path: Path) -> None:
    with Store.open(research.db, research.store) as store:
        with pytest.raises(ExportError, match="level 'city' is not one of"):
            export(store, tmp_path / "x.csv", fmt="csv", shape="wide", level="city")
        with pytest.raises(ExportError, match="format 'xml' is not one of"):
            export(store, tmp_path / "x.xml", fmt="xml", shape="wide")
        with pytest.raises(ExportError, match="shape 'tall' is not one of"):
            export(store, tmp_path / "x.csv", fmt="csv", shape="tall")
    assert list(tmp_path.iterdir()) == []


def test_a_value_its_column_cannot_hold_is_an_error_and_the_old_file_stays(research: ResearchDb, tmp_path: Path) -> None:
    path = export_file(research, tmp_path, "parquet", "wide")
    before = path.read_bytes()
    broken = tmp_path / "broken.db"
    shutil.copy(research.db, broken)
    with closing(sqlite3.connect(broken)) as conn, conn:
        conn.execute("UPDATE fields SET value = 2.5 WHERE key = 'requests.granted.total'")
    with Store.open(broken, research.store) as store, pytest.raises(ExportError, match=r"requests\.granted\.total = 2\.5 is not a whole"):
        export(store, path, fmt="parquet", shape="wide")
    assert path.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


def test_export_command_writes_file_and_codebook(research: ResearchDb, tmp_path: Path) -> None:
    out = tmp_path / "r.xlsx"
    done = CliRunner().invoke(app, ["export", "--db", str(research.db), "--store", str(research.store), "--format", "xlsx",
                                    "--shape", "long", "--year", "2023", "--output", str(out)])
    assert done.exit_code == 0, done.output
    assert "1 年报 reports, 207 行 rows" in done.stdout
    frame = pd.read_excel(out)
    assert set(frame["unit_name"]) == {"沭阳县发展和改革局"} and len(frame) == 207
    assert out.with_name("r.codebook.md").read_text(encoding="utf-8") == codebook.render_markdown()
    missing = CliRunner().invoke(app, ["export", "--db", str(tmp_path / "none.db")])
    assert missing.exit_code == 1 and "no database there" in missing.stderr
    assert not (tmp_path / "none.db").exists()


# ---------------------------------------------------------------------------------------------- codebook


def schema_md_keys() -> list[str]:
    """Every key schema.md names, once each: report metadata, section 二's tables (`a.b.c` / `.d` / `.e`), section 三's
    rows × columns and section 四's groups × columns."""
    text = (FIXTURES / "schema.md").read_text(encoding="utf-8")
    parts = re.findall(r"^## (.+?)\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M)

    def part(heading: str) -> str:
        return next(body for title, body in parts if title.startswith(heading))

    first_cells = re.findall(r"^\| (`.*?) \|", part("Report metadata"), flags=re.M)
    keys = re.findall(r"`(\w+)`", " ".join(first_cells))
    for cell in re.findall(r"^\| (`active\..*?) \|", part("Section 二"), flags=re.M):
        first, *more = re.findall(r"`([\w.]+)`", cell)
        keys += [first, *(first.rsplit(".", 1)[0] + suffix for suffix in more)]
    three = part("Section 三")
    columns = re.findall(r"`(\w+)`", three.split("Columns, in table order:")[1].split("Rows")[0])
    rows = re.findall(r"^\| `(\w+)` \|", three, flags=re.M)
    keys += [f"requests.{row}.{col}" for row in rows for col in columns]
    four = part("Section 四")
    groups = re.findall(r"`(\w+)`", four.split("Groups:")[1].split("\n")[0])
    columns = re.findall(r"`(\w+)`", four.split("Columns of each group:")[1].split("\n")[0])
    keys += [f"{group}.{col}" for group in groups for col in columns]
    return list(dict.fromkeys(keys))  # 行政许可/处罚/强制 · 处理决定数量 is in both templates' tables


METADATA = ["unit", "year", "template", "title", "source_url", "published_on", "sections"]


def test_codebook_lists_every_key_of_schema_md_once() -> None:
    keys = schema_md_keys()
    # metadata; 二: 10 keys in the 2021 tables, 22 in the 试行 ones, 3 shared; 三: 26 rows × 7; 四: 3 groups × 5
    assert len(keys) == 7 + (10 + 22 - 3) + 26 * 7 + 3 * 5 and keys[:7] == METADATA
    rows = list(csv.DictReader(io.StringIO(codebook.render_csv())))
    listed = Counter(row["key"] for row in rows)
    assert {k: listed[k] for k in keys} == dict.fromkeys(keys, 1)
    assert [row["key"] for row in rows if row["section"]] == keys[7:]  # and no field key schema.md lacks, in its order
    markdown = Counter(re.findall(r"^\| `([\w.]+)` \|", codebook.render_markdown(), flags=re.M))
    assert {k: markdown[k] for k in keys} == dict.fromkeys(keys, 1)


def test_codebook_rows_say_label_section_templates_type_and_unit() -> None:
    rows = {row["key"]: row for row in csv.DictReader(io.StringIO(codebook.render_csv()))}
    assert rows["active.fees.amount_wan"] == {
        "key": "active.fees.amount_wan", "label_zh": "第二十条第（八）项 行政事业性收费 · 本年收费金额（单位：万元）", "section": "二",
        "templates": "2021", "type": "decimal", "unit": "万元", "shapes": "wide",
        "description": "money in 万元 (amounts printed in 元 are converted)"}
    assert rows["requests.other.total"]["templates"] == "2019 2021"
    assert rows["active.licensing.change"]["description"].startswith("a change in a count")
    assert rows["litigation_after_review.pending"]["label_zh"] == "行政诉讼 复议后起诉 · 尚未审结"
    assert rows["year"]["type"] == "integer" and rows["year"]["shapes"] == "wide long"
    assert rows["count"]["shapes"] == "long" and rows["division_code"]["type"] == "text"


def test_codebook_command_prints_markdown_and_csv() -> None:
    for fmt, render in (("md", codebook.render_markdown), ("csv", codebook.render_csv)):
        done = CliRunner().invoke(app, ["codebook", "--format", fmt])
        assert done.exit_code == 0 and done.stdout == render()
    assert CliRunner().invoke(app, ["codebook", "--format", "pdf"]).exit_code == 1
