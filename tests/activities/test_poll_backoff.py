"""The cloud activities look less often at a cloud that stands still, and at the old pace again once it moves.

The simulated cloud runs on the wall clock here, so a migration in flight really takes its simulated time.
"""

from __future__ import annotations

import time
from pathlib import Path

from temporalio.testing import ActivityEnvironment

from activities.cloud import Backoff, CloudActivities
from fenix.cloud.simulated import SimHostSpec, SimSeed, SimServerSpec, SimulatedCloud
from fenix.models.cloud import ServerStatus, SettleState, Settling
from fenix.models.cloud_ops import SettleRequest

SCALE = 0.6  # a cold migration of 1 GiB takes 3 s


class Looks(SimulatedCloud):
    """The simulated cloud, counting how often a server is looked at."""

    looks = 0

    def settle_server(self, server_id: str) -> Settling:
        self.looks += 1
        return super().settle_server(server_id)


def moving_server(tmp_path: Path) -> tuple[Looks, str]:
    tmp_path.mkdir()
    sim = Looks(tmp_path / "c.sqlite", time_scale=SCALE)
    snap = sim.seed(SimSeed(hosts=[SimHostSpec(name=f"h{i}", vcpus=8, memory_mb=16384) for i in range(2)],
                            servers=[SimServerSpec(name="vm", project_id="p", vcpus=1, memory_mb=1024, host="h0")]))
    sid = snap.servers[0].id
    sim.cold_migrate(sid, "h1")
    return sim, sid


def settle(sim: Looks, sid: str, poll_max_s: float) -> tuple[int, float]:
    began = time.monotonic()
    res = ActivityEnvironment().run(CloudActivities(sim, poll_s=0.02, poll_max_s=poll_max_s).settle,
                                    SettleRequest(server_ids=[sid], wait_s=30))
    assert [(s.state, s.host, s.status) for s in res.servers] == [(SettleState.SETTLED, "h1", ServerStatus.ACTIVE)]
    return sim.looks, time.monotonic() - began


def test_a_long_move_is_looked_at_less_and_less_often(tmp_path: Path) -> None:
    looks, took = settle(*moving_server(tmp_path / "backoff"), poll_max_s=2.0)
    steady, took_steady = settle(*moving_server(tmp_path / "steady"), poll_max_s=0.02)
    # Every 20 ms for 3 s is over a hundred looks; backing off, a few dozen, and the end is seen at most a quarter
    # of the wait later.
    assert steady > 80, steady
    assert looks < 35, looks
    assert took < took_steady * 1.25 + 0.3, (took, took_steady)


def test_the_pace_comes_back_at_the_first_change() -> None:
    backoff = Backoff(poll_s=0.01, max_s=10)
    assert backoff.after("moving") == 0.01
    time.sleep(0.2)
    pauses = [backoff.after("moving") for _ in range(4)]
    assert pauses == sorted(pauses) and pauses[-1] > 0.04 and max(pauses) <= 0.25, pauses  # a quarter of the wait
    assert backoff.after("moved") == 0.01
    assert Backoff(poll_s=1, max_s=0.5).max_s == 1  # never faster than the configured poll
