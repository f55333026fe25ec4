"""The crash drill, bounded (the long form is `make drill`, tests/drill.py): worker processes killed with SIGKILL at
random moments of `default` and `vnf` sessions on the real dev server, and a session aborted at a random moment.
Every history each session produced must replay on today's code; after the first kill of the `vnf` session the
replacement workers keep no workflow in memory, so every task they run is a full replay."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.drill import drill_session

# Kills worker processes and replays whole histories (CPU-heavy): in parallel runs (`pytest -n`), the tests that do
# run one after the other on one runner (`--dist loadgroup`), so they do not starve each other of the two cores.
pytestmark = pytest.mark.xdist_group("worker-killers")


@pytest.mark.parametrize(("flow", "seed", "kills", "cache_zero"),
                         [("default", 11, 2, False), ("vnf", 12, 2, True)])
async def test_worker_killed_at_random_moments(dev_env: WorkflowEnvironment, tmp_path: Path, flow: str, seed: int,
                                               kills: int, cache_zero: bool) -> None:
    r = await drill_session(dev_env, tmp_path, flow, random.Random(seed), kills=kills, cache_zero=cache_zero)
    assert r.kills >= 1, "the session ended before the first kill: the drill proved nothing"
    assert r.clean, r.problems()
    assert len(r.histories) >= 2  # the session and its host children were all replayed


@pytest.mark.parametrize("flow", ["default", "vnf"])
async def test_abort_at_a_random_moment(dev_env: WorkflowEnvironment, tmp_path: Path, flow: str) -> None:
    r = await drill_session(dev_env, tmp_path, flow, random.Random(21), kills=0, abort=True)
    assert r.clean, r.problems()
