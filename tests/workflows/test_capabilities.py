"""New capabilities after the upgrade, and the scale-out figures of MAINTENANCE_COMPLETE (issue #12, use cases 7
and 8), through whole sessions: API, worker, simulated cloud and sample VNFMs over real HTTP, time-skipping server."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from demo.scenario import FLAVOR_MB, FLAVOR_VCPUS, demo_seed
from demo.stack import Stack, stack
from fenix.constants import host_workflow_id, session_workflow_id
from fenix.models.session import SessionDetail, SessionState
from tests.checks import assert_cloud_sound
from tests.workflows.test_session_flow import PROJECTS, roomy_seed, vnfms
from worker import WORKFLOWS

NEW_VERSION = 9001000
# The host plug-in: a real process that upgrades the host as the simulated cloud sees it (a real upgrade plug-in
# changes what the hypervisor reports the same way: from outside Fenix). Only the hosts named in argv[3:].
UPGRADE = """
import sys
from fenix.cloud.simulated import SimulatedCloud
host, db, upgraded = sys.argv[1], sys.argv[2], sys.argv[3:]
if host in upgraded:
    SimulatedCloud(db).upgrade_host(host, hypervisor_version=NEW_VERSION, add_traits=("COMPUTE_NEW_FEATURE",),
                                    remove_traits=("HW_CPU_X86_AVX2",), aggregates=["upgraded"])
    print(f"upgraded {host}")
""".replace("NEW_VERSION", str(NEW_VERSION))


def upgrade_action(tmp_path: Path, st: Stack, *hosts: str) -> dict[str, Any]:
    script = tmp_path / "upgrade.py"
    script.write_text(UPGRADE)
    return {"plugin": "command", "type": "host",
            "metadata": {"command": [sys.executable, str(script), "{host}", str(st.cloud.path), *hosts],
                         "timeout_s": 60}}


def completes(st: Stack) -> dict[str, dict[str, Any]]:
    """Each project's MAINTENANCE_COMPLETE metadata, as its VNFM received it."""
    got = {e.project_id: e.metadata for e in st.vnfm.state.events if e.state == "MAINTENANCE_COMPLETE"}
    assert sorted(got) == sorted(PROJECTS), got
    return got


async def assert_replays(st: Stack, sid: str, host: str) -> None:
    """The session's history and one host's (facts read by disable/enable, the end's capacity read) replay."""
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    for wid in (session_workflow_id(sid), host_workflow_id(sid, host)):
        await replayer.replay_workflow(await st.client.get_workflow_handle(wid).fetch_history())


def assert_upgraded(detail: SessionDetail, upgraded: set[str]) -> None:
    for h in detail.hosts:
        assert h.capabilities_before is not None and h.capabilities_after is not None, h
        assert h.capabilities_before.hypervisor_version == 8002000
        if h.name in upgraded:
            assert h.capabilities_after.hypervisor_version == NEW_VERSION
            assert h.changes is not None and h.changes.hypervisor_version is not None
            assert h.changes.traits_added == ["COMPUTE_NEW_FEATURE"]
            assert h.changes.traits_removed == ["HW_CPU_X86_AVX2"]
            assert h.changes.aggregates_added == ["upgraded"]
        else:
            assert h.changes is not None and h.changes.empty, h.changes


async def test_complete_names_changed_hosts_and_scale_out_figures(ts_env: WorkflowEnvironment,
                                                                  tmp_path: Path) -> None:
    # A full cloud: every project scales in by 2 instances (1 vCPU, 1024 MB each) before a host can be emptied.
    async with stack(ts_env, tmp_path, demo_seed(), vnfms()) as st:
        before = st.cloud.snapshot()
        hosts = sorted(h.name for h in before.hosts)
        upgraded = set(hosts[:2])
        sid = await st.start(actions=[upgrade_action(tmp_path, st, *upgraded)],
                             metadata={"openstack_version": "Next"})
        detail = await st.result(sid)
        assert detail.state == SessionState.MAINTENANCE_DONE, detail.reason
        assert_cloud_sound(st.cloud, before, detail)
        assert_upgraded(detail, upgraded)
        await assert_replays(st, sid, hosts[0])

        # The same records over the API.
        r = await st.admin.get(f"/maintenance/{sid}/detail")
        assert r.status_code == 200, r.text
        api_hosts = {h["name"]: h for h in r.json()["hosts"]}
        assert api_hosts[hosts[0]]["changes"]["hypervisor_version"] == {"before": 8002000, "after": NEW_VERSION}
        # Records carry no trait lists (they would not fit at 1,000 hosts), only how many.
        after = api_hosts[hosts[0]]["capabilities_after"]
        assert "traits" not in after and after["traits_count"] == 3 and after["aggregates"] == ["upgraded"]

        free = st.cloud.snapshot()
        for project, meta in completes(st).items():
            assert meta["openstack_version"] == "Next"  # the admin's metadata is kept
            caps = meta["capabilities"]
            assert sorted(caps["hosts"]) == hosts and caps["hosts_total"] == len(hosts)
            assert caps["hosts_changed"] == 2
            [change] = caps["changes"]  # both hosts changed alike: one group
            assert sorted(change["hosts"]) == sorted(upgraded) and change["hosts_total"] == 2
            assert change["hypervisor_version"] == {"before": 8002000, "after": NEW_VERSION}
            assert change["traits_added"] == ["COMPUTE_NEW_FEATURE"]
            assert change["aggregates_added"] == ["upgraded"]
            scale = meta["scale_out"]
            start = [s for s in before.servers if s.project_id == project]
            assert scale["usage_at_start"] == {"instances": len(start), "vcpus": sum(s.vcpus for s in start),
                                               "memory_mb": sum(s.memory_mb for s in start)}
            assert scale["scaled_in"] == {"instances": 2, "vcpus": 2 * FLAVOR_VCPUS, "memory_mb": 2 * FLAVOR_MB}
            # Read before the VNFMs scale back out: the room the three projects' 6 instances left.
            assert scale["free"] == {"hosts": len(hosts), "vcpus": 6 * FLAVOR_VCPUS, "memory_mb": 6 * FLAVOR_MB}
        # The VNFMs scaled back out after the notice: the cloud is as full as before.
        assert sum(h.vcpus_used for h in free.hosts) == sum(h.vcpus_used for h in before.hosts)


async def test_vnf_flow_reads_hosts_too(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with stack(ts_env, tmp_path, roomy_seed(), vnfms()) as st:
        before = st.cloud.snapshot()
        sid = await st.start(workflow="vnf", hosts=["c0", "c1", "c2"], actions=[upgrade_action(tmp_path, st, "c1")])
        detail = await st.result(sid)
        assert detail.state == SessionState.MAINTENANCE_DONE, detail.reason
        assert_cloud_sound(st.cloud, before, detail)
        assert_upgraded(detail, {"c1"})
        await assert_replays(st, sid, "c1")
        for meta in completes(st).values():
            [change] = meta["capabilities"]["changes"]
            assert change["hosts"] == ["c1"]
            assert meta["scale_out"]["scaled_in"]["instances"] == 0  # room enough: nobody scaled in
