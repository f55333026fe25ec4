"""An abort during a long host plug-in: the plug-in is stopped promptly, then the host is re-enabled."""

from __future__ import annotations

import asyncio
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from demo.stack import stack
from fenix.models.session import SessionState
from tests.checks import assert_cloud_sound
from tests.waiting import poll
from tests.workflows.test_session_flow import roomy_seed, vnfms


async def test_abort_stops_a_running_plugin_before_reenabling(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with stack(dev_env, tmp_path, roomy_seed(), vnfms()) as st:
        before = st.cloud.snapshot()
        sid = await st.start(hosts=["c0", "c1", "c2"],
                             actions=[{"plugin": "dummy", "type": "host", "metadata": {"seconds": 600}}])

        async def in_maintenance() -> bool:
            d = (await st.admin.get(f"/maintenance/{sid}/detail")).json()
            return any(h["phase"] == "IN_MAINTENANCE" for h in d["hosts"])

        await poll(in_maintenance, "a host IN_MAINTENANCE", timeout=30)
        loop = asyncio.get_running_loop()
        asked = loop.time()
        assert (await st.admin.delete(f"/maintenance/{sid}")).status_code == 200
        detail = await st.result(sid, timeout=60)
        took = loop.time() - asked
        assert detail.state == SessionState.MAINTENANCE_FAILED and detail.aborted
        assert took < 20, f"abort took {took:.1f} s with a plug-in running"
        assert_cloud_sound(st.cloud, before, detail)
        cancelled = [r for r in detail.plugin_runs if r.host and r.state != "DONE"]
        assert len(cancelled) <= 1


async def test_abort_during_a_migration_stops_before_the_next_step(dev_env: WorkflowEnvironment,
                                                                   tmp_path: Path) -> None:
    """The move in flight ends (it is never cut), and then nothing else starts: no 10-minute plug-in."""
    async with stack(dev_env, tmp_path, roomy_seed(), vnfms(), time_scale=1.0) as st:  # a move takes ~2.5-5 s
        before = st.cloud.snapshot()
        sid = await st.start(hosts=["c0", "c1", "c2"],
                             actions=[{"plugin": "dummy", "type": "host", "metadata": {"seconds": 600}}])
        await poll(lambda: any(not m.status.terminal for m in st.cloud.migration_log()), "a migration", timeout=30)
        loop = asyncio.get_running_loop()
        asked = loop.time()
        assert (await st.admin.delete(f"/maintenance/{sid}")).status_code == 200
        detail = await st.result(sid, timeout=60)
        took = loop.time() - asked
        assert detail.state == SessionState.MAINTENANCE_FAILED and detail.aborted
        assert took < 20, f"abort took {took:.1f} s"
        assert not [r for r in detail.plugin_runs if r.state == "DONE"]
        assert all(m.status.terminal for m in st.cloud.migration_log())  # the move in flight was finished
        assert_cloud_sound(st.cloud, before, detail)
