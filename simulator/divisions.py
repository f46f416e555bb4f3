"""Real Chinese county-level divisions and their townships, read from the curated divisions.txt beside this module."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

# NBS numbering of the 3 township digits of a 12-digit code: 街道 001…, 镇 100…, 乡 200… (民族乡 included).
_TOWNSHIP_CODE_BASE = {"街道": 1, "镇": 100, "乡": 200}


@dataclass(frozen=True)
class Township:
    name: str  # as the statistics list prints it: 沭城街道办事处, 陇集镇, 北丁集乡
    division_code: str  # 12 digits

    @property
    def kind(self) -> str:
        """街道, 镇 or 乡."""
        return "街道" if self.name.endswith("街道办事处") else self.name[-1]

    @property
    def short_name(self) -> str:
        """The name without 办事处: 沭城街道, 陇集镇."""
        return self.name.removesuffix("办事处")


@dataclass(frozen=True)
class County:
    province: str
    province_code: str
    city: str
    name: str  # 沭阳县, 新沂市
    code6: str
    townships: tuple[Township, ...]

    @property
    def division_code(self) -> str:
        return self.code6 + "000000"


def _townships(code6: str, names: list[str]) -> tuple[Township, ...]:
    seen = dict.fromkeys(_TOWNSHIP_CODE_BASE, 0)
    townships = []
    for name in names:
        kind = "街道" if name.endswith("街道办事处") else name[-1]
        code = f"{code6}{_TOWNSHIP_CODE_BASE[kind] + seen[kind]:03d}000"
        seen[kind] += 1
        townships.append(Township(name, code))
    return tuple(townships)


@cache
def counties() -> tuple[County, ...]:
    """All counties of the data file, in file order (grouped by province)."""
    text = resources.files("simulator").joinpath("divisions.txt").read_text(encoding="utf-8")
    result = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        province_code, province, city, code6, name, townships = line.split("\t")
        result.append(County(province, province_code, city, name, code6, _townships(code6, townships.split("；"))))
    return tuple(result)
