"""The `default` flow places by the registered group rules too (fenix/planning/placement.py, GROUP_PLACEMENT)."""

from __future__ import annotations

from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from demo.stack import stack
from fenix.cloud.simulated import SimHostSpec, SimSeed, SimServerSpec
from fenix.models.cloud import MigrationStatus
from fenix.models.session import SessionState
from tests.checks import assert_cloud_sound
from tests.workflows.test_session_flow import vnfms
from tests.workflows.test_vnf_flow import _register


def tempting_seed() -> SimSeed:
    """Best fit alone would put vnf-web-a next to its group peer vnf-web-b: c0 is the cheapest host to empty, and
    c1 (where the peer is) is the fullest host its member still fits on. No Nova server group: only the
    constraints registered with Fenix say the two must stay apart."""
    seed = SimSeed(hosts=[SimHostSpec(name=f"c{i}", vcpus=4, memory_mb=8192) for i in range(3)])
    seed.servers = [SimServerSpec(name="vnf-web-a", project_id="vnf-web", vcpus=1, memory_mb=1024, host="c0"),
                    SimServerSpec(name="vnf-web-b", project_id="vnf-web", vcpus=1, memory_mb=1024, host="c1"),
                    SimServerSpec(name="vnf-batch-big", project_id="vnf-batch", vcpus=1, memory_mb=5120, host="c1"),
                    SimServerSpec(name="vnf-batch-small", project_id="vnf-batch", vcpus=1, memory_mb=2048,
                                  host="c2")]
    return seed


async def test_default_session_keeps_registered_anti_affinity(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with stack(ts_env, tmp_path, tempting_seed(), vnfms()) as st:
        await _register(st, {"vnf-web-a": {"group_id": "web"}, "vnf-web-b": {"group_id": "web"}},
                        {"web": {"project_id": "vnf-web", "group_id": "web", "anti_affinity_group": True}})
        before = st.cloud.snapshot()
        members = {s.id for s in before.servers if s.name.startswith("vnf-web-")}
        sid = await st.start()
        detail = await st.result(sid)
        assert detail.state == SessionState.MAINTENANCE_DONE, detail.reason
        assert_cloud_sound(st.cloud, before, detail)

        where = {s.id: s.host for s in before.servers}
        moves = [m for m in st.cloud.migration_log()
                 if m.status in (MigrationStatus.COMPLETED, MigrationStatus.CONFIRMED)]
        assert {m.server_id for m in moves} >= members  # every host was emptied: both members moved
        for m in sorted(moves, key=lambda m: (m.finished_at or m.ends_at, m.id)):
            where[m.server_id] = m.dest_host
            hosts = [where[i] for i in sorted(members)]
            assert len(set(hosts)) == len(hosts), f"after {m.server_id} moved to {m.dest_host}: {hosts}"
