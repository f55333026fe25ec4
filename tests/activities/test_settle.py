"""settle_instances (the activity) and settle_moves (its workflow side): confirm, follow to the end, report.

The simulated cloud runs on the wall clock here, so a migration in flight really takes its simulated time.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Worker

from activities.cloud import CloudActivities
from fenix.cloud.driver import Rejected
from fenix.cloud.simulated import SimHostSpec, SimSeed, SimServerSpec, SimulatedCloud
from fenix.models.cloud import MigrationStatus, ServerStatus, SettleState, Settling
from fenix.models.cloud_ops import SettleRequest, SettleResult
from workflows.settle import settle_moves

SCALE = 0.1  # a cold migration of 1 GiB takes 0.5 s, a live one 0.25 s


def cloud(tmp_path: Path, servers: int = 3) -> tuple[SimulatedCloud, list[str]]:
    sim = SimulatedCloud(tmp_path / "c.sqlite", time_scale=SCALE)
    snap = sim.seed(SimSeed(hosts=[SimHostSpec(name=f"h{i}", vcpus=8, memory_mb=16384) for i in range(2)],
                            servers=[SimServerSpec(name=f"vm{i}", project_id="p", vcpus=1, memory_mb=1024, host="h0")
                                     for i in range(servers)]))
    return sim, sorted(s.id for s in snap.servers)


def test_confirms_follows_and_reports(tmp_path: Path) -> None:
    sim, (waiting, moving, live) = cloud(tmp_path)
    sim.cold_migrate(waiting, "h1")
    time.sleep(0.6)
    assert sim.get_server(waiting).status == ServerStatus.VERIFY_RESIZE
    sim.cold_migrate(moving, "h1")
    sim.live_migrate(live, "h1")
    beats: list[object] = []
    env = ActivityEnvironment()
    env.on_heartbeat = beats.append
    began = time.monotonic()
    res = env.run(CloudActivities(sim, poll_s=0.05).settle,
                  SettleRequest(server_ids=[waiting, moving, live, moving, "gone-server"]))
    took = time.monotonic() - began
    assert 0.4 <= took < 3, took  # it waited for the cold migration in flight (0.5 s), not longer
    by_id = {s.server_id: s for s in res.servers}
    assert sorted(by_id) == sorted([waiting, moving, live])  # a gone server needs nothing
    assert all(s.state == SettleState.SETTLED and s.host == "h1" and s.status == ServerStatus.ACTIVE
               for s in res.servers), res.servers
    assert by_id[waiting].confirmed and by_id[moving].confirmed and not by_id[live].confirmed
    assert [m.status for m in sim.migration_log()] == [MigrationStatus.CONFIRMED, MigrationStatus.CONFIRMED,
                                                       MigrationStatus.COMPLETED]
    assert beats, "it heartbeats while it waits"
    assert res.unsettled == [] and "resize confirmed" in res.summary()
    # Idempotent: everything is at rest now, so a retry finds nothing to do.
    assert env.run(CloudActivities(sim, poll_s=0.05).settle, SettleRequest(server_ids=[waiting, moving])).servers == []


def test_reports_broken_and_still_moving(tmp_path: Path) -> None:
    sim, (broken, slow, _) = cloud(tmp_path)
    sim.inject_fault("error", server_id=broken)
    sim.live_migrate(broken, "h1")
    time.sleep(0.4)
    sim.cold_migrate(slow, "h1")
    res = ActivityEnvironment().run(CloudActivities(sim, poll_s=0.05).settle,
                                    SettleRequest(server_ids=[broken, slow], wait_s=0.1))
    states = {s.server_id: s.state for s in res.servers}
    assert states == {broken: SettleState.ERROR, slow: SettleState.MOVING}
    assert {s.server_id for s in res.unsettled} == {broken, slow}
    assert "needs an operator" in res.summary() and "still moving" in res.summary()


def test_a_cloud_that_is_down_is_retried(tmp_path: Path) -> None:
    sim, (server, _, _) = cloud(tmp_path)
    sim.cold_migrate(server, "h1")
    time.sleep(0.6)
    sim.inject_fault("confirm", server_id=server)
    acts = CloudActivities(sim, poll_s=0.05)
    with pytest.raises(ApplicationError) as err:
        ActivityEnvironment().run(acts.settle, SettleRequest(server_ids=[server]))
    assert err.value.type == "Unavailable" and not err.value.non_retryable
    assert sim.get_server(server).status == ServerStatus.VERIFY_RESIZE
    res = ActivityEnvironment().run(acts.settle, SettleRequest(server_ids=[server]))  # Temporal's retry
    assert [(s.state, s.confirmed) for s in res.servers] == [(SettleState.SETTLED, True)]


class RefusingCloud(SimulatedCloud):
    """A cloud whose policy refuses to confirm another project's resize."""

    def settle_server(self, server_id: str) -> Settling:
        raise Rejected(f"confirmResize of {server_id}: 403 Policy doesn't allow it")


@workflow.defn(sandboxed=False)
class SettleOnly:
    @workflow.run
    async def run(self, ids: list[str]) -> SettleResult:
        return await settle_moves(ids)


async def test_settle_moves_reports_instead_of_raising(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    sim, (waiting, _, _) = cloud(tmp_path)
    sim.cold_migrate(waiting, "h1")
    time.sleep(0.6)
    refusing = RefusingCloud(tmp_path / "c.sqlite", time_scale=SCALE)
    for driver, expect_error in ((refusing, True), (sim, False)):
        queue = f"tq-{uuid.uuid4()}"
        with ThreadPoolExecutor(max_workers=2) as pool:
            async with Worker(ts_env.client, task_queue=queue, workflows=[SettleOnly],
                              activities=[CloudActivities(driver, poll_s=0.05).settle], activity_executor=pool):
                res = await ts_env.client.execute_workflow(SettleOnly.run, [waiting, waiting], id=f"settle-{queue}",
                                                           task_queue=queue)
        if expect_error:
            assert res.error and "Policy doesn't allow" in res.error and res.servers == []
        else:
            assert res.error is None and [(s.server_id, s.confirmed) for s in res.servers] == [(waiting, True)]
    assert sim.get_server(waiting).status == ServerStatus.ACTIVE
