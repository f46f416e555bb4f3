"""`nianbao simulate`: build a world from a seed, serve it on loopback, print where, run until Ctrl-C."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from registry.units import save_units
from simulator.build import build_world
from simulator.server import WorldServer
from simulator.truth import ground_truth, registry_units
from simulator.world import World

console = Console()


def _hosts_table(world: World, server: WorldServer) -> Table:
    table = Table(title=f"{len(world.portals)} portals, seed {world.seed}, world date {world.today}")
    table.add_column("portal", no_wrap=True)
    for column in ("county", "CMS", "layout", "units", "faults"):
        table.add_column(column)
    for portal in world.portals:
        faults = ", ".join(sorted({f.kind for f in portal.faults})) or "-"
        table.add_row(f"http://{portal.host}:{server.port}/", f"{portal.county.province}{portal.county.name}",
                      portal.cms, portal.layout, str(len(portal.units)), faults)
    return table


async def _serve(world: World, units_out: Path | None, truth_out: Path | None) -> None:
    server = WorldServer(world)
    started = time.perf_counter()
    await server.start()
    console.print(_hosts_table(world, server))
    console.print(f"serving on {len(world.portals)} loopback addresses, port {server.port} "
                  f"(up in {time.perf_counter() - started:.1f} s)")
    if units_out is not None:
        save_units(registry_units(world, server.cms_of, server.port), units_out)
        console.print(f"units file: {units_out}")
    if truth_out is not None:
        truth = ground_truth(world, server.cms_of, server.port)
        truth_out.write_text(json.dumps(truth, ensure_ascii=False), encoding="utf-8")
        console.print(f"ground truth: {truth_out}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    console.print("Ctrl-C stops the simulator.")
    await stop.wait()
    await server.stop()
    console.print("simulator stopped")


def simulate(portals: int, seed: int, units_out: Path | None = None, truth_out: Path | None = None) -> None:
    """Serve a world of `portals` county portals built from `seed` until interrupted."""
    started = time.perf_counter()
    world = build_world(portals, seed)
    console.print(f"world built in {time.perf_counter() - started:.1f} s")
    asyncio.run(_serve(world, units_out, truth_out))
