"""Serving a world from tests and tools: `with serve_world(build_world(12, seed=7)) as running: …`.

The server runs on its own event loop in a background thread, so synchronous tests and other event loops
(a crawler's) can talk to it over real HTTP. Leaving the block stops it and frees every address.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any

from registry.units import Unit
from simulator.server import HostStats, WorldServer
from simulator.truth import ground_truth, registry_units
from simulator.world import Fault, Portal, World


class RunningWorld:
    """A world being served. `units` and `truth` describe it as of `world.today`; `advance()` moves it on."""

    def __init__(self, server: WorldServer, loop: asyncio.AbstractEventLoop) -> None:
        self.server = server
        self.world = server.world
        self._loop = loop

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def hosts(self) -> list[str]:
        return [p.host for p in self.world.portals]

    def base_url(self, portal: Portal | str) -> str:
        host = portal.host if isinstance(portal, Portal) else portal
        return f"http://{host}:{self.port}"

    @cached_property
    def units(self) -> list[Unit]:
        """The target list in the units-file format (save it with registry.units.save_units)."""
        return registry_units(self.world, self.server.cms_of, self.port)

    @property
    def truth(self) -> dict[str, Any]:
        """The ground truth as of today (computed on each call; the world may have advanced)."""
        return self._call(lambda: ground_truth(self.world, self.server.cms_of, self.port))

    def stats(self) -> dict[str, HostStats]:
        """Per host: requests, bytes, most connections at once, smallest gap between requests, …"""
        return self._call(lambda: {host: s.snapshot() for host, s in self.server.stats.items()})

    def reset_stats(self) -> None:
        """Zero the stats and the fault counters (a fault's first requests misbehave again)."""
        self._call(self.server.reset_stats)

    def advance(self, nights: int = 1) -> None:
        """A night passes: scheduled publications and edits appear on the portals."""
        self._call(lambda: self.world.advance(nights))

    def add_fault(self, portal: Portal, fault: Fault) -> None:
        """From now on `portal` misbehaves as `fault` says (its counter starts at the first request after this)."""
        self._call(lambda: self.server.add_fault(portal, fault))

    def _call(self, function: Any) -> Any:
        # Run on the server's loop, so the world never changes under a request being answered.
        async def run() -> Any:
            return function()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result()


@contextmanager
def serve_world(world: World, port: int = 0) -> Iterator[RunningWorld]:
    """Serve `world` on every portal's loopback address until the block ends."""
    loop = asyncio.new_event_loop()
    server = WorldServer(world, port)
    started = threading.Event()
    failure: list[BaseException] = []
    stop = asyncio.Event()

    async def main() -> None:
        try:
            await server.start()
        except BaseException as exc:
            failure.append(exc)
            started.set()
            return
        started.set()
        await stop.wait()
        await server.stop()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), name="nianbao-simulator", daemon=True)
    thread.start()
    started.wait()
    if failure:
        thread.join()
        loop.close()
        raise failure[0]
    try:
        yield RunningWorld(server, loop)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
        loop.close()
