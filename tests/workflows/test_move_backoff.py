"""A long move is looked at less and less often (MOVE_POLL_BACKOFF): tens of steps, not one per poll interval.

On the time-skipping server, with the simulated cloud on Temporal's clock: a 10-minute live migration takes no real
time, and its steps are counted in the history.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from activities.cloud import CloudActivities
from fenix.cloud.clock import temporal_clock
from fenix.cloud.simulated import SimHostSpec, SimSeed, SimServerSpec, SimulatedCloud
from fenix.models.cloud import ServerStatus
from fenix.models.cloud_ops import MigrateRequest, MigrateResult
from fenix.models.session import InstanceAction
from workflows.moves import MOVE_POLL_MAX_S, follow_move

POLL_S = 2.0


@workflow.defn(sandboxed=False)
class FollowOne:
    @workflow.run
    async def run(self, req: MigrateRequest) -> MigrateResult:
        return await follow_move(req, POLL_S)


async def test_a_long_move_costs_tens_of_steps(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    sim = SimulatedCloud(tmp_path / "c.sqlite", time_scale=240, clock=temporal_clock)  # live, 1 GiB: 600 s
    snap = sim.seed(SimSeed(hosts=[SimHostSpec(name=f"h{i}", vcpus=8, memory_mb=16384) for i in range(2)],
                            servers=[SimServerSpec(name="vm", project_id="p", vcpus=1, memory_mb=1024, host="h0")]))
    server = snap.servers[0].id
    queue = f"tq-{uuid.uuid4()}"
    with ThreadPoolExecutor(max_workers=2) as pool:
        async with Worker(ts_env.client, task_queue=queue, workflows=[FollowOne],
                          activities=[CloudActivities(sim, poll_s=0.05, inline_s=0).migrate_step],
                          activity_executor=pool):
            handle = await ts_env.client.start_workflow(
                FollowOne.run, MigrateRequest(server_id=server, source_host="h0", target_host="h1",
                                              action=InstanceAction.LIVE_MIGRATE), id=f"follow-{queue}",
                task_queue=queue)
            res = await handle.result()
    assert res.done and res.host == "h1"
    assert sim.get_server(server).status == ServerStatus.ACTIVE
    history = await handle.fetch_history()
    events = history.events
    steps = sum(1 for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
    took = events[-1].event_time.ToDatetime() - events[0].event_time.ToDatetime()
    # One look every 2 s would be 300 steps; backing off, the pause reaches 30 s after two minutes.
    assert steps < 40, steps
    # The end is seen at most one longest pause after the move ended.
    assert 600 <= took.total_seconds() <= 600 + MOVE_POLL_MAX_S + 5, took
    await Replayer(workflows=[FollowOne], data_converter=pydantic_data_converter).replay_workflow(history)
