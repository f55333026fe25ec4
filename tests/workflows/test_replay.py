"""Determinism: the histories of real sessions replay on the workflow code without a mismatch."""

from __future__ import annotations

from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from demo.scenario import demo_seed
from demo.stack import stack
from fenix.constants import host_workflow_id, session_workflow_id
from fenix.models.session import SessionState
from tests.workflows.test_session_flow import vnfms
from worker import WORKFLOWS
from workflows.project_constraints import project_constraints_id


async def test_session_and_host_histories_replay(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with stack(ts_env, tmp_path, demo_seed(), vnfms()) as st:
        sid = await st.start(actions=[{"plugin": "dummy", "type": "host", "metadata": {"seconds": 0}}])
        detail = await st.result(sid)
        assert detail.state == SessionState.MAINTENANCE_DONE, detail.reason
        ids = [session_workflow_id(sid), st.settings.registry_workflow_id,
               *(host_workflow_id(sid, h.name) for h in detail.hosts)]
        histories: list[WorkflowHistory] = [await st.client.get_workflow_handle(i).fetch_history() for i in ids]
    kinds = {h.events[0].workflow_execution_started_event_attributes.workflow_type.name for h in histories}
    assert {"MaintenanceSession", "HostMaintenance", "SubscriptionRegistry"} <= kinds, kinds
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    for history in histories:
        await replayer.replay_workflow(history)


async def test_vnf_session_and_plan_preview_histories_replay(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    """The vnf flow runs its planner in workflow code at every event: its decisions must replay exactly."""
    from tests.workflows.test_session_flow import roomy_seed
    from tests.workflows.test_vnf_flow import constrained

    async with stack(ts_env, tmp_path, roomy_seed(), constrained(lead_time=10, recovery_time=5), skip_time=True) as st:
        r = await st.admin.post("/maintenance/plan", json={"max_parallel_hosts": 2})
        assert r.status_code == 200, r.text
        sid = await st.start(workflow="vnf", max_parallel_hosts=2)
        detail = await st.result(sid)
        assert detail.state == SessionState.MAINTENANCE_DONE, detail.reason
        # Each project's constraints registry too (its Updates run an ownership check: an activity).
        base = st.settings.constraints_workflow_id
        registries = [project_constraints_id(base, p.project_id) for p in detail.projects]
        ids = [session_workflow_id(sid), *registries, *(host_workflow_id(sid, h.name) for h in detail.hosts)]
        histories: list[WorkflowHistory] = [await st.client.get_workflow_handle(i).fetch_history() for i in ids]
        plan_ids = []
        from temporalio.api.workflowservice.v1 import ListClosedWorkflowExecutionsRequest

        closed = await st.client.workflow_service.list_closed_workflow_executions(
            ListClosedWorkflowExecutionsRequest(namespace="default", maximum_page_size=1000))
        plan_ids = [e.execution.workflow_id for e in closed.executions if e.type.name == "PlanPreview"]
        assert plan_ids
        histories.append(await st.client.get_workflow_handle(plan_ids[0]).fetch_history())
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    for history in histories:
        await replayer.replay_workflow(history)
