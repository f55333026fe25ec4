"""A session that cannot make progress can still be aborted: it is terminated and its hosts are re-enabled for it.

The session disables a host and waits for its projects; then the worker is replaced by one of a release that
cannot run sessions at all (its session workflow fails every workflow task, as a release that cannot replay its
history would). The admin's DELETE must still end the session, give the host back, and free it for the next
session.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path

from temporalio import workflow
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.cloud import CloudActivities
from activities.sessions import SessionControl
from demo.stack import stack, stack_settings
from fenix.cloud.clock import temporal_clock
from fenix.cloud.simulated import SimulatedCloud
from fenix.constants import SESSION_WORKFLOW_TYPE, session_workflow_id
from fenix.models.abort import AbortResult
from fenix.models.session import SessionDetail, SessionInput
from fenix.settings import Settings
from tests.api.helpers import LONG_WINDOWS, silent, two_host_seed
from tests.waiting import poll
from worker import running_worker
from workflows.abort import SessionAbortWorkflow, abort_workflow_id
from workflows.leases import HostLeasesWorkflow


@workflow.defn(name=SESSION_WORKFLOW_TYPE)
class UnrunnableSession:
    """A release whose session workflow fails on every workflow task (not a workflow failure: Temporal retries it)."""

    @workflow.run
    async def run(self, inp: SessionInput) -> SessionDetail:
        raise RuntimeError("this release cannot run maintenance sessions")


@asynccontextmanager
async def broken_worker(client: Client, settings: Settings, cloud: SimulatedCloud) -> AsyncIterator[None]:
    control, hosts = SessionControl(client, cloud), CloudActivities(cloud, poll_s=0.05)
    with ThreadPoolExecutor(max_workers=4) as pool:
        # Broken in its session workflow only: the abort and the host leases work as in every release.
        async with Worker(client, task_queue=settings.task_queue,
                          workflows=[UnrunnableSession, SessionAbortWorkflow, HostLeasesWorkflow],
                          activities=[control.cancel, control.probe, control.terminate, control.hosts_disabled_by,
                                      control.release_lease, control.liveness, hosts.enable_host],
                          activity_executor=pool, max_cached_workflows=0,
                          # The stand-in release is defined in this test module, which the sandbox cannot re-import.
                          workflow_runner=UnsandboxedWorkflowRunner()):
            yield


async def test_abort_of_a_wedged_session_terminates_it_and_gives_its_hosts_back(dev_env: WorkflowEnvironment,
                                                                               tmp_path: Path) -> None:
    queue = f"tq-{uuid.uuid4()}"
    settings = stack_settings(tmp_path, queue)
    cloud = SimulatedCloud(settings.sim_db_path, time_scale=0.01, clock=temporal_clock)
    async with running_worker(dev_env.client, settings, driver=cloud, poll_s=0.02) as healthy, \
            stack(dev_env, tmp_path, two_host_seed(), silent("alpha", "beta"), worker=False, task_queue=queue) as st:
        windows = {**LONG_WINDOWS, "maintenance": 1}
        sid = await st.start(hosts=["c0", "c1"], reply_windows=windows)
        await poll(lambda: not st.cloud.get_compute_host("c0").enabled, "the session to disable c0", timeout=30)
        await healthy.shutdown()
        async with broken_worker(dev_env.client, settings, cloud):
            r = await st.admin.delete(f"/maintenance/{sid}")
            assert r.status_code == 200 and r.json()["aborting"] is True, r.text
            abort = st.client.get_workflow_handle(abort_workflow_id(sid), result_type=AbortResult)
            result = await abort.result()
        assert result.outcome == "terminated" and result.hosts_enabled == ["c0"], result
        assert "workflow task failed" in result.reason
        desc = await st.client.get_workflow_handle(session_workflow_id(sid)).describe()
        assert desc.status == WorkflowExecutionStatus.TERMINATED
        assert all(h.enabled for h in st.cloud.snapshot().hosts)
        # The API says how it ended, although the session's code cannot replay it (the broken release still runs).
        async with broken_worker(dev_env.client, settings, cloud):
            r = await st.admin.get(f"/maintenance/{sid}/detail")
            assert r.status_code == 200, r.text
            assert r.json()["state"] == "MAINTENANCE_FAILED" and r.json()["aborted"] is True
            assert "could not make progress" in r.json()["reason"], r.json()["reason"]
        # The session no longer holds c0: the next one over it may start.
        async with running_worker(dev_env.client, settings, driver=cloud, poll_s=0.02):
            r = await st.admin.post("/maintenance", json={"hosts": ["c0"], "maintenance_at": "2020-01-01 00:00:00"})
            assert r.status_code == 200, r.text
            r = await st.admin.delete(f"/maintenance/{r.json()['session_id']}")
            assert r.status_code == 200, r.text
