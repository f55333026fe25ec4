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
