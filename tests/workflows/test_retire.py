"""Retiring hosts (use case 9) in both flows, on the time-skipping server: the hosts are emptied with the usual
conversation, then left disabled for good, never upgraded, and never enabled again, also not by a later abort."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from demo.stack import Stack, stack
from fenix.cloud.simulated import SimHostSpec, SimSeed, SimServerSpec
from fenix.constants import disable_reason, host_workflow_id, retired_reason, session_workflow_id
from fenix.models.session import HostPhase, SessionState
from tests.api.helpers import LONG_WINDOWS, answer, detail, silent, wait_asked
from tests.waiting import poll
from tests.workflows.test_session_flow import roomy_seed, vnfms
from worker import WORKFLOWS

PLUGINS = [{"plugin": "dummy", "type": "host", "metadata": {"seconds": 0.01}},
           {"plugin": "dummy", "type": "compute", "metadata": {"seconds": 0.01}}]


async def assert_replays(st: Stack, sid: str, hosts: list[str]) -> None:
    """A retire session's own histories (session and host children) replay on this code."""
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    for wid in [session_workflow_id(sid), *(host_workflow_id(sid, h) for h in hosts)]:
        await replayer.replay_workflow(await st.client.get_workflow_handle(wid).fetch_history())


@pytest.mark.parametrize("flow", ["default", "vnf"])
async def test_retired_hosts_are_emptied_and_left_disabled(ts_env: WorkflowEnvironment, tmp_path: Path,
                                                           flow: str) -> None:
    async with stack(ts_env, tmp_path, roomy_seed(), vnfms()) as st:
        before = st.cloud.snapshot()
        sid = await st.start(hosts=["c0"], workflow=flow, retire=True, actions=PLUGINS)
        ended = await st.result(sid)
        assert ended.state == SessionState.MAINTENANCE_DONE, ended.reason
        record = ended.host("c0")
        assert record.retired and record.phase == HostPhase.RETIRED and not record.disabled_by_session
        after = st.cloud.snapshot()
        c0 = next(h for h in after.hosts if h.name == "c0")
        assert not c0.enabled and c0.disabled_reason == retired_reason(sid), c0
        assert "retired" in retired_reason(sid) and sid in retired_reason(sid)
        assert not after.servers_on("c0"), after.servers_on("c0")
        # Every instance that was on c0 still runs, elsewhere; nothing else was touched.
        assert {s.name for s in before.servers} == {s.name for s in after.servers}
        assert all(h.enabled for h in after.hosts if h.name != "c0")
        # Not upgraded: no host or compute plug-in ran on it.
        assert not [r for r in ended.plugin_runs if r.host == "c0"], ended.plugin_runs
        # Each project was told of the capacity gone for good, with the numbers, in the MAINTENANCE notice.
        told = {e.project_id: e.metadata for e in st.vnfm.state.events if e.state == "MAINTENANCE"}
        assert set(told) == {"vnf-ha", "vnf-web"}, told  # vnf-batch has nothing on c0
        for meta in told.values():
            assert meta["retire"] is True
            assert meta["capacity_removed"] == {"hosts": 1, "vcpus": 4, "memory_mb": 8192}, meta
        await assert_replays(st, sid, ["c0"])


def retire_then_abort_seed() -> SimSeed:
    """c0 busy, c1 empty (both retired by the session), c2 outside the session with room for c0's instances."""
    return SimSeed(hosts=[SimHostSpec(name=h, vcpus=4, memory_mb=8192) for h in ("c0", "c1", "c2")],
                   servers=[SimServerSpec(name="alpha-0", project_id="alpha", vcpus=1, memory_mb=512, host="c0"),
                            SimServerSpec(name="beta-0", project_id="beta", vcpus=1, memory_mb=512, host="c0")])


@pytest.mark.parametrize("flow", ["default", "vnf"])
async def test_an_abort_does_not_bring_a_retired_host_back(ts_env: WorkflowEnvironment, tmp_path: Path,
                                                           flow: str) -> None:
    async with stack(ts_env, tmp_path, retire_then_abort_seed(), silent("alpha", "beta")) as st:
        sid = await st.start(hosts=["c0", "c1"], workflow=flow, retire=True, reply_windows=LONG_WINDOWS)
        for pid in ("alpha", "beta"):
            await wait_asked(st, sid, pid, "MAINTENANCE", timeout=60)
            assert (await answer(st, sid, pid, "ACK_MAINTENANCE")).status_code == 200

        async def c1_retired() -> bool | None:
            d = await detail(st, sid)
            return True if next(h for h in d["hosts"] if h["name"] == "c1")["retired"] else None

        # The empty c1 is retired at once; c0's owners are asked and stay silent: the session is mid-way.
        await poll(c1_retired, "c1 retired", 60)
        assert (await st.admin.delete(f"/maintenance/{sid}")).status_code == 200
        ended = await st.result(sid, timeout=60)
        assert ended.aborted and ended.state == SessionState.MAINTENANCE_FAILED
        hosts = {h.name: h for h in st.cloud.snapshot().hosts}
        assert not hosts["c1"].enabled and hosts["c1"].disabled_reason == retired_reason(sid), hosts["c1"]
        assert hosts["c0"].enabled and hosts["c2"].enabled, hosts
        assert ended.host("c1").retired and not ended.host("c0").retired
        assert disable_reason(sid) != retired_reason(sid)
        await assert_replays(st, sid, ["c1"])


async def test_vnf_asks_to_scale_in_rather_than_move_onto_a_retiring_host(ts_env: WorkflowEnvironment,
                                                                          tmp_path: Path) -> None:
    """Room outside the session for one of two instances: the retiring hosts are never targets (their capacity goes
    for good), so the vnf flow asks the project to scale in instead of parking an instance on the next to go."""
    seed = SimSeed(hosts=[SimHostSpec(name="c0", vcpus=4, memory_mb=8192), SimHostSpec(name="c1", vcpus=4,
                                                                                        memory_mb=8192),
                          SimHostSpec(name="c2", vcpus=1, memory_mb=1024)],
                   servers=[SimServerSpec(name="vnf-web-0", project_id="vnf-web", vcpus=1, memory_mb=1024, host="c0"),
                            SimServerSpec(name="vnf-web-1", project_id="vnf-web", vcpus=1, memory_mb=1024, host="c1")])
    web = [p for p in vnfms() if p.project_id == "vnf-web"]
    async with stack(ts_env, tmp_path, seed, web) as st:
        sid = await st.start(hosts=["c0", "c1"], workflow="vnf", retire=True)
        ended = await st.result(sid)
        assert ended.state == SessionState.MAINTENANCE_DONE, ended.reason
        assert "SCALE_IN" in [e.state for e in st.vnfm.state.events], st.vnfm.state.events
        after = st.cloud.snapshot()
        assert [s.host for s in after.servers] == ["c2"], after.servers
        assert all(ended.host(h).retired for h in ("c0", "c1"))
