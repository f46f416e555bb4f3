"""The target registry: which units must publish reports, and where their portals keep them.

A units file is CSV or YAML with one record per unit. The simulator exports its world in this
format; the crawler, the storage and the checks read it.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import yaml

COUNTY_GOVERNMENT = "county_government"
COUNTY_DEPARTMENT = "county_department"
TOWNSHIP = "township"
LEVELS = {
    COUNTY_GOVERNMENT: "县级人民政府",
    COUNTY_DEPARTMENT: "县级人民政府部门",
    TOWNSHIP: "乡镇人民政府、街道办事处",
}
CMS_FAMILIES = ("trs", "hanweb", "json_api", "static", "unknown")

_DIVISION_CODE = re.compile(r"^\d{12}$")
_DEADLINE = re.compile(r"^(\d{2})-(\d{2})$")


class UnitsFileError(ValueError):
    """A units file that cannot be read; the message names the record and the problem."""


@dataclass(frozen=True)
class Unit:
    """One unit that must publish an annual report.

    `unit_id` is unique: the 12-digit division code for governments and townships, the county's code
    plus a department slug for county departments (e.g. `321322000000-fgj`).
    `deadline` overrides the level's default deadline as "MM-DD" of the year after the report year.
    """

    unit_id: str
    name: str
    division_code: str
    level: str
    province: str
    parent_county: str
    portal_url: str
    column_urls: tuple[str, ...] = ()
    cms: str = "unknown"
    deadline: str | None = None
    aliases: tuple[str, ...] = field(default=())  # other names the unit prints (发改局 for 发展和改革局)

    def __post_init__(self) -> None:
        problems = []
        if not _DIVISION_CODE.match(self.division_code):
            problems.append(f"division_code {self.division_code!r} is not 12 digits")
        if self.level not in LEVELS:
            problems.append(f"level {self.level!r} is not one of {', '.join(LEVELS)}")
        if self.cms not in CMS_FAMILIES:
            problems.append(f"cms {self.cms!r} is not one of {', '.join(CMS_FAMILIES)}")
        if self.deadline is not None and not _DEADLINE.match(self.deadline):
            problems.append(f"deadline {self.deadline!r} is not MM-DD")
        if not self.portal_url.startswith(("http://", "https://")):
            problems.append(f"portal_url {self.portal_url!r} is not an http(s) URL")
        if problems:
            raise UnitsFileError(f"unit {self.unit_id or self.name!r}: " + "; ".join(problems))


_LIST_FIELDS = {"column_urls", "aliases"}
_FIELD_NAMES = [f.name for f in fields(Unit)]


def _unit_from_record(record: dict, where: str) -> Unit:
    unknown = set(record) - set(_FIELD_NAMES)
    if unknown:
        raise UnitsFileError(f"{where}: unknown columns {sorted(unknown)}")
    values = {}
    for name in _FIELD_NAMES:
        value = record.get(name)
        if name in _LIST_FIELDS:
            if isinstance(value, str):
                value = [v.strip() for v in value.split(";") if v.strip()]
            value = tuple(value or ())
        elif value is not None and not isinstance(value, str):
            value = str(value)
        if value == "" and name == "deadline":
            value = None
        if value is not None:
            values[name] = value
    try:
        return Unit(**values)
    except TypeError as exc:  # a required column missing
        raise UnitsFileError(f"{where}: {exc}") from None


def parse_units(text: str, fmt: str) -> list[Unit]:
    """Units from the text of a units file; `fmt` is "csv" or "yaml"."""
    if fmt == "yaml":
        data = yaml.safe_load(text) or []
        if isinstance(data, dict):
            data = data.get("units", [])
        records = [(r, f"record {i + 1}") for i, r in enumerate(data)]
    elif fmt == "csv":
        records = [(r, f"line {i + 2}") for i, r in enumerate(csv.DictReader(io.StringIO(text)))]
    else:
        raise UnitsFileError(f"unknown units file format {fmt!r}")
    units = [_unit_from_record(r, where) for r, where in records]
    seen: set[str] = set()
    for unit in units:
        if unit.unit_id in seen:
            raise UnitsFileError(f"unit_id {unit.unit_id!r} appears twice")
        seen.add(unit.unit_id)
    return units


def load_units(path: Path) -> list[Unit]:
    fmt = "yaml" if path.suffix.lower() in (".yaml", ".yml") else "csv"
    return parse_units(path.read_text(encoding="utf-8-sig"), fmt)


def dump_units(units: list[Unit], fmt: str) -> str:
    if fmt == "yaml":
        return yaml.safe_dump(
            {"units": [{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(u).items()} for u in units]},
            allow_unicode=True,
            sort_keys=False,
        )
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=_FIELD_NAMES, lineterminator="\n")
    writer.writeheader()
    for unit in units:
        row = asdict(unit)
        for name in _LIST_FIELDS:
            row[name] = ";".join(row[name])
        writer.writerow(row)
    return out.getvalue()


def save_units(units: list[Unit], path: Path) -> None:
    fmt = "yaml" if path.suffix.lower() in (".yaml", ".yml") else "csv"
    path.write_text(dump_units(units, fmt), encoding="utf-8")
