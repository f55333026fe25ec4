"""A move is done only when the cloud says so, and an abort or a failure leaves no instance unconfirmed.

On the simulated cloud, through whole sessions: an abort that lands while the follow-up of a cold migration waits out a
cloud outage (the step activity between retries), a follow-up that runs out of retries while the server waits in
VERIFY_RESIZE, and a move that leaves the server in ERROR on its new host.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from demo.stack import Stack, stack
from fenix.cloud.simulated import SimHostSpec, SimSeed, SimServerSpec
from fenix.constants import host_workflow_id, session_workflow_id
from fenix.models.cloud import MigrationStatus, MigrationType, ServerStatus
from fenix.models.session import SessionState
from tests.checks import assert_cloud_sound
from tests.waiting import poll
from tests.workflows.test_session_flow import vnfms
from worker import WORKFLOWS
from workflows.options import MIGRATION_STEP

# Steps of one follow-up before it gives up (each confirm attempt of a step fails under a "confirm" fault).
_STEP_POLICY = MIGRATION_STEP.get("retry_policy")
assert _STEP_POLICY is not None
STEP_ATTEMPTS = _STEP_POLICY.maximum_attempts


def one_server_seed() -> SimSeed:
    """c0 with one vnf-web instance (its VNFM chooses MIGRATE, a cold migration), c1 empty and outside the session."""
    return SimSeed(hosts=[SimHostSpec(name=f"c{i}", vcpus=4, memory_mb=8192) for i in range(2)],
                   servers=[SimServerSpec(name="vnf-web-0", project_id="vnf-web", vcpus=1, memory_mb=1024,
                                          host="c0")])


async def step_retrying(st: Stack, session_id: str) -> bool:
    """The host workflow's migrate_step activity has failed at least once and waits for its next attempt."""
    desc = await st.client.get_workflow_handle(host_workflow_id(session_id, "c0")).describe()
    return any(p.activity_type.name == "migrate_step" and p.attempt >= 2
               for p in desc.raw_description.pending_activities)


async def test_abort_during_a_cold_migration_in_a_cloud_outage(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    """The acceptance run's finding: the cold migration finished while its follow-up waited out a cloud outage, the
    admin aborted, and the server stayed in VERIFY_RESIZE. The abort cancelled the step activity; its cancellation came
    back as a failed move, the fallback found the server off the host and called it done."""
    async with stack(dev_env, tmp_path, one_server_seed(), vnfms(), time_scale=1.0) as st:  # the move takes 5 s
        before = st.cloud.snapshot()
        web0 = before.servers[0]
        sid = await st.start(hosts=["c0"])
        await poll(lambda: [m for m in st.cloud.migration_log() if m.status == MigrationStatus.RUNNING],
                   "the cold migration", timeout=30)
        st.cloud.inject_fault("api", count=1000)  # the cloud's API goes down; the migration goes on
        await poll(lambda: [m for m in st.cloud.migration_log() if m.status == MigrationStatus.FINISHED],
                   "the migration to end in VERIFY_RESIZE", timeout=30)
        await poll(lambda: step_retrying(st, sid), "the follow-up step to wait for its next attempt", timeout=30)
        loop = asyncio.get_running_loop()
        asked = loop.time()
        assert (await st.admin.delete(f"/maintenance/{sid}")).status_code == 200
        await asyncio.sleep(0.5)
        st.cloud.clear_faults()  # the cloud comes back
        detail = await st.result(sid, timeout=90)
        took = loop.time() - asked
        assert detail.state == SessionState.MAINTENANCE_FAILED and detail.aborted
        server = st.cloud.snapshot().servers[0]
        assert (server.host, server.status) == ("c1", ServerStatus.ACTIVE), server
        log = st.cloud.migration_log()
        assert [(m.migration_type, m.status) for m in log] == [(MigrationType.COLD, MigrationStatus.CONFIRMED)], log
        assert server.id == web0.id
        assert_cloud_sound(st.cloud, before, detail)
        assert took < 60, f"abort took {took:.1f} s"
        # The move followed through the abort replays: the session's history and the host's.
        replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
        for wid in (session_workflow_id(sid), host_workflow_id(sid, "c0")):
            await replayer.replay_workflow(await st.client.get_workflow_handle(wid).fetch_history())


async def test_a_move_left_in_verify_resize_is_not_done(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    """The cloud moves the server but every confirmation fails, for longer than the follow-up and the fallback round
    retry: the move must fail (INSTANCE_ACTION_FAILED, MAINTENANCE_FAILED), not be declared done off the host."""
    async with stack(ts_env, tmp_path, one_server_seed(), vnfms(), skip_time=True) as st:
        web0 = st.cloud.snapshot().servers[0]
        # Two follow-ups' worth (the move, then settling it in the fallback round), and a few more for the cleanup.
        st.cloud.inject_fault("confirm", server_id=web0.id, count=2 * STEP_ATTEMPTS + 5)
        sid = await st.start(hosts=["c0"], default_action="MIGRATE", move_retry={"window_s": 0})
        detail = await st.result(sid, timeout=150)
        assert detail.state == SessionState.MAINTENANCE_FAILED, (detail.state, detail.reason)
        assert detail.reason and web0.id in detail.reason and "VERIFY_RESIZE" in detail.reason, detail.reason
        inst = next(i for i in detail.instances if i.instance_id == web0.id)
        assert not inst.action_done and inst.error, inst
        states = [e.state for e in st.vnfm.state.events if e.project_id == "vnf-web" and e.state.startswith("INSTANCE")]
        assert states == ["INSTANCE_ACTION_FAILED"], states
        assert all(h.enabled for h in st.cloud.snapshot().hosts)
        assert len(st.cloud.migration_log()) == 1  # settling never starts another move


async def test_a_move_confirmed_after_a_long_outage_is_done(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    """The follow-up runs out of retries while confirmations fail, then the cloud recovers: the fallback round
    confirms the move it finds waiting, and only then calls it done (before, it called it done in VERIFY_RESIZE)."""
    async with stack(ts_env, tmp_path, one_server_seed(), vnfms(), skip_time=True) as st:
        before = st.cloud.snapshot()
        web0 = before.servers[0]
        st.cloud.inject_fault("confirm", server_id=web0.id, count=STEP_ATTEMPTS)
        sid = await st.start(hosts=["c0"], default_action="MIGRATE", move_retry={"window_s": 0})
        detail = await st.result(sid, timeout=150)
        assert detail.state == SessionState.MAINTENANCE_DONE, detail.reason
        assert_cloud_sound(st.cloud, before, detail)  # every server ACTIVE
        log = st.cloud.migration_log()
        assert [(m.server_id, m.status) for m in log] == [(web0.id, MigrationStatus.CONFIRMED)], log
        notes = [h.detail for h in detail.history if h.kind == "action" and web0.id in h.detail]
        assert any("but the cloud finished it" in n for n in notes), notes
        done = [e for e in st.vnfm.state.events if e.state == "INSTANCE_ACTION_DONE"]
        assert [e.instance_ids for e in done] == [[web0.id]]


async def test_a_move_that_leaves_the_server_in_error_is_not_done(ts_env: WorkflowEnvironment,
                                                                  tmp_path: Path) -> None:
    """Nova's last step on the destination fails: the server is on the new host, in ERROR. Off the host, but broken."""
    async with stack(ts_env, tmp_path, one_server_seed(), vnfms(), skip_time=True) as st:
        web0 = st.cloud.snapshot().servers[0]
        st.cloud.inject_fault("error", server_id=web0.id)
        sid = await st.start(hosts=["c0"], default_action="MIGRATE")
        detail = await st.result(sid, timeout=150)
        assert detail.state == SessionState.MAINTENANCE_FAILED, (detail.state, detail.reason)
        assert detail.reason and "ERROR" in detail.reason, detail.reason
        server = st.cloud.get_server(web0.id)
        assert (server.host, server.status) == ("c1", ServerStatus.ERROR)
        states = [e.state for e in st.vnfm.state.events if e.project_id == "vnf-web" and e.state.startswith("INSTANCE")]
        assert states == ["INSTANCE_ACTION_FAILED"], states
        assert len(st.cloud.migration_log()) == 1  # no second move of a broken server
        assert all(h.enabled for h in st.cloud.snapshot().hosts)


async def test_a_failed_session_settles_what_its_move_left(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    """The move fails with the server in VERIFY_RESIZE on its new host (confirmations failed throughout the follow-up
    and the fallback); the cloud recovers; the session's cleanup confirms it before it ends."""
    async with stack(ts_env, tmp_path, one_server_seed(), vnfms(), skip_time=True) as st:
        web0 = st.cloud.snapshot().servers[0]
        st.cloud.inject_fault("confirm", server_id=web0.id, count=2 * STEP_ATTEMPTS + 3)
        sid = await st.start(hosts=["c0"], default_action="MIGRATE", move_retry={"window_s": 0})
        detail = await st.result(sid, timeout=150)
        assert detail.state == SessionState.MAINTENANCE_FAILED, detail.reason
        server = st.cloud.get_server(web0.id)
        assert (server.host, server.status) == ("c1", ServerStatus.ACTIVE), server
        assert [m.status for m in st.cloud.migration_log()] == [MigrationStatus.CONFIRMED]
        cleanup = [h.detail for h in detail.history if h.kind == "cleanup"]
        assert cleanup and "resize confirmed" in cleanup[0], cleanup
        assert all(h.enabled for h in st.cloud.snapshot().hosts)
