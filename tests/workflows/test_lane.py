"""The instance lane (workflows/lane.py) in the `default` flow's host child: an OWN_ACTION nobody carries out."""

from __future__ import annotations

from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from demo.stack import stack
from fenix.constants import host_workflow_id
from fenix.models.cloud import MigrationType
from fenix.models.session import InstanceAction, SessionState
from tests.checks import assert_cloud_sound
from tests.workflows.test_session_flow import roomy_seed, vnfms


async def test_own_action_not_done_in_time_is_moved_by_the_engine(ts_env: WorkflowEnvironment,
                                                                   tmp_path: Path) -> None:
    # vnf-batch has no webhook: it gets the session's default, OWN_ACTION, and never carries it out.
    async with stack(ts_env, tmp_path, roomy_seed(), vnfms(InstanceAction.LIVE_MIGRATE),
                     subscribe=["vnf-ha", "vnf-web"]) as st:
        before = st.cloud.snapshot()
        own = next(s.id for s in before.servers if s.project_id == "vnf-batch")
        sid = await st.start(hosts=["c0", "c1", "c2"], default_action="OWN_ACTION", reply_windows={"own_action": 25},
                             move_retry={"poll_s": 2})
        detail = await st.result(sid)
        assert detail.state == SessionState.MAINTENANCE_DONE, detail.reason
        assert_cloud_sound(st.cloud, before, detail)
        # The engine moved it (same id: not re-created) with its own move once the window had run out (and again
        # later if its first host was still to be maintained).
        moves = [m for m in st.cloud.migration_log() if m.server_id == own]
        assert moves and all(m.migration_type == MigrationType.LIVE for m in moves)
        lines = [h.detail for h in detail.history if h.kind == "action" and own in h.detail]
        assert any("OWN_ACTION not done by its deadline; the engine moved it" in line for line in lines), lines
        record = next(i for i in detail.instances if i.instance_id == own)
        assert record.action == InstanceAction.LIVE_MIGRATE and record.action_done
        # One poll scheme (the lane's): a look at once, after 2 s (poll_s), then doubling up to 10 s, until the 25 s
        # window is out: at 0, 2, 6, 14, 24 and 25 s. The host child's fixed 10 s poll before ONE_LANE looked 4 times.
        polls = []
        for host in ("c0", "c1", "c2"):
            history = await st.client.get_workflow_handle(host_workflow_id(sid, host)).fetch_history()
            n = sum(1 for e in history.events
                    if e.activity_task_scheduled_event_attributes.activity_type.name == "wait_host_empty")
            if n:
                polls.append(n)
        assert polls and all(n == 6 for n in polls), polls
