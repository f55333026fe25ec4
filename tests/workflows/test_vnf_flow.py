"""`vnf` sessions through the API on the time-skipping server, with constraint-registering sample VNFMs."""

from __future__ import annotations

from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from demo.stack import stack
from demo.vnfm import ConstraintProfile, VnfmProject
from fenix.models.session import InstanceAction, SessionState
from tests.checks import assert_cloud_sound
from tests.workflows.test_session_flow import PROJECTS, roomy_seed


def constrained(action: InstanceAction = InstanceAction.LIVE_MIGRATE, **kw: object) -> list[VnfmProject]:
    prof = ConstraintProfile.model_validate(kw)
    return [VnfmProject(project_id=p, token="", action=action, scale_in_step=1, server_prefix=p,
                        ha_group="vnf-ha-ha" if p == "vnf-ha" else None, constraints=prof) for p in PROJECTS]


async def test_vnf_session_per_instance_notices(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with stack(ts_env, tmp_path, roomy_seed(), constrained(), skip_time=True) as st:
        before = st.cloud.snapshot()
        sid = await st.start(hosts=["c0", "c1", "c2"], workflow="vnf", max_parallel_hosts=3)
        detail = await st.result(sid)
        assert detail.state == SessionState.MAINTENANCE_DONE, (detail.reason, detail.history[-5:])
        assert_cloud_sound(st.cloud, before, detail)
        assert not st.vnfm.state.errors
        per_instance = [e for e in st.vnfm.state.events if e.state in ("PREPARE_MAINTENANCE", "PLANNED_MAINTENANCE")]
        assert per_instance and all(isinstance(e.instance_ids, list) and len(e.instance_ids) == 1
                                    for e in per_instance)
        assert all(e.reply_status == 200 for e in per_instance), [(e.reply, e.reply_status) for e in per_instance]
        assert all(i.action_source == "reply" for i in detail.instances), [(i.instance_id, i.action_source)
                                                                          for i in detail.instances]


async def test_plan_preview_changes_nothing_and_predicts_the_session(ts_env: WorkflowEnvironment,
                                                                     tmp_path: Path) -> None:
    async with stack(ts_env, tmp_path, roomy_seed(), constrained(lead_time=30, recovery_time=20, ha_recovery_time=40),
                     skip_time=True) as st:
        before = st.cloud.snapshot()
        r = await st.admin.post("/maintenance/plan", json={"hosts": ["c0", "c1", "c2"], "max_parallel_hosts": 3})
        assert r.status_code == 200, r.text
        plan = r.json()
        assert st.cloud.snapshot() == before and not st.cloud.migration_log(), "a preview must not touch the cloud"
        assert plan["feasible"] and sorted(h for b in plan["batches"] for h in b) == ["c0", "c1", "c2"]
        asked = {i["instance_id"]: i for p in plan["projects"] for i in p["asked"]}
        assert set(asked) == {s.id for s in before.servers}
        ha = [i for i in asked.values() if i["group_id"] and i["group_id"] != f"{i['project_id']}-scale"]
        assert len(ha) == 2 and all(i["action"] == "LIVE_MIGRATE" for i in ha)
        first, second = sorted(ha, key=lambda i: i["actions_at_s"])
        # The HA pair is paced: the second member acts only after the first is done and has recovered (40 s).
        assert first["start_at_s"] >= 30 and first["done_at_s"] > first["start_at_s"]
        assert second["start_at_s"] >= first["done_at_s"] + 40 - 1e-6
        assert plan["estimated_duration_s"] >= 30 + 40  # one lead time, one recovery at least
        assert plan["one_host_at_a_time_s"] >= plan["estimated_duration_s"]
        r = await st.admin.post("/maintenance/plan", json={"hosts": ["nope"]})
        assert r.status_code == 422 and "nope" in r.text
        r = await st.admin.post("/maintenance/plan", json={"max_parallel_hosts": 0})
        assert r.status_code == 422
        async with st.as_project("vnf-web") as http:
            assert (await http.post("/maintenance/plan", json={})).status_code == 403
