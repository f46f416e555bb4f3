"""`scrapy crawl portals -a units=FILE [-a limit=N]`: every portal of a units file (registry/units.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from registry.units import Unit, load_units
from spiders.base import PortalSpider


class PortalsSpider(PortalSpider):
    name = "portals"

    def __init__(self, units: str | None = None, limit: str | int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not units:
            raise ValueError("give the units file: scrapy crawl portals -a units=FILE")
        self.units_file = Path(units)
        self.limit = int(limit) if limit not in (None, "") else None
        self._units = load_units(self.units_file)[: self.limit]

    def units(self) -> list[Unit]:
        return self._units
