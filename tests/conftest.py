"""Shared fixtures: simulated worlds served on loopback addresses for the duration of a test or a session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from simulator import RunningWorld, World, build_world, serve_world

SIM_PORTALS = 8  # two portals of each CMS family; every layout, defect and fault kind occurs
SIM_SEED = 7


@pytest.fixture(scope="session")
def sim_world() -> World:
    """The session's world (not served): read it, do not advance it."""
    return build_world(SIM_PORTALS, SIM_SEED)


@pytest.fixture(scope="session")
def running_world(sim_world: World) -> Iterator[RunningWorld]:
    """The session's world served on loopback. Tests that count fault hits call reset_stats() first."""
    with serve_world(sim_world) as running:
        yield running


@pytest.fixture
def fresh_running_world() -> Iterator[RunningWorld]:
    """A small world of its own, for tests that advance the calendar or measure politeness from zero."""
    with serve_world(build_world(4, seed=23)) as running:
        yield running
