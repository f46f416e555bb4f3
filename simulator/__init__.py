"""The portal simulator: a world of county portals on loopback addresses, built from a seed, with ground truth.

    world = build_world(portals=12, seed=7)
    with serve_world(world) as running:
        running.units    # the target list (registry.units.Unit)
        running.truth    # what is published where, with which values, defects and faults
        running.stats()  # per host: requests, bytes, most connections at once, smallest request gap
        running.advance()  # a night passes: scheduled publications and edits appear
"""

from simulator.build import build_world
from simulator.testing import RunningWorld, serve_world
from simulator.world import World

__all__ = ["RunningWorld", "World", "build_world", "serve_world"]
