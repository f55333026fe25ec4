"""A worker process killed (SIGKILL) in the middle of a migration: a new worker finishes the session.

Real processes on the real dev server: the worker runs as `python worker.py`, the API, the sample VNFM
and the cloud's owner (this test) run here. Nothing the session needs lives in the killed process."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from demo.stack import stack, stack_settings, worker_env
from fenix.models.session import InstanceAction, SessionState
from tests.checks import assert_cloud_sound
from tests.drill import worker_process
from tests.waiting import poll
from tests.workflows.test_session_flow import roomy_seed, vnfms
from tests.workflows.test_vnf_flow import constrained

# Kills worker processes and replays whole histories (CPU-heavy): in parallel runs (`pytest -n`), the tests that do
# run one after the other on one runner (`--dist loadgroup`), so they do not starve each other of the two cores.
pytestmark = pytest.mark.xdist_group("worker-killers")


@pytest.mark.parametrize("flow", ["default", "vnf"])
async def test_worker_killed_mid_migration(dev_env: WorkflowEnvironment, tmp_path: Path, flow: str) -> None:
    queue = f"tq-{uuid.uuid4()}"
    env = worker_env(stack_settings(tmp_path, queue), dev_env.client.service_client.config.target_host,
                     sim_time_scale=0.5)  # a live migration of 1 GiB takes about 1.3 s
    with worker_process(env, tmp_path / "worker-1.log") as first:
        # vnf: the VNFMs register constraints (one-second lead and recovery times: this runs in real time).
        projects = vnfms(InstanceAction.LIVE_MIGRATE) if flow == "default" else \
            constrained(lead_time=1, recovery_time=1, ha_recovery_time=1)
        async with stack(dev_env, tmp_path, roomy_seed(), projects, worker=False, task_queue=queue) as st:
            before = st.cloud.snapshot()
            options = {"workflow": "vnf", "max_parallel_hosts": 2} if flow == "vnf" else {}
            sid = await st.start(hosts=["c0", "c1", "c2"], **options)
            await poll(lambda: any(not m.status.terminal for m in st.cloud.migration_log()),
                       "a migration (see worker-1.log)", timeout=30)
            first.kill()
            first.wait()
            killed_during = [m.server_id for m in st.cloud.migration_log() if not m.status.terminal]
            assert killed_during

            with worker_process(env, tmp_path / "worker-2.log"):
                detail = await st.result(sid, timeout=150)
            assert detail.state == SessionState.MAINTENANCE_DONE, detail.reason
            assert_cloud_sound(st.cloud, before, detail)
            # The retried activity picked up the migration already under way instead of starting another one.
            log = st.cloud.migration_log()
            moves = [(m.server_id, m.source_host) for m in log]
            assert len(moves) == len(set(moves)), moves
            assert all(m.status.terminal for m in log)
