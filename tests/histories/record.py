"""Record the histories of representative sessions, to be replayed by every later release (test_replay_releases.py).

Run from a checkout of the release to record (its own code writes the histories):

    python -m tests.histories.record tests/histories/<release>

Each scenario writes the session's history and every host child's as JSON (`temporal workflow show --output json`
format). Only what the released code itself can replay is kept: a history that does not replay on the code that
wrote it proves nothing about the next release. Keep this file runnable on older checkouts: it uses only the stack,
the seeds and the VNFMs that every release since 0.1 has.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from demo.scenario import demo_seed
from demo.stack import Stack, stack, stack_settings, worker_env
from fenix.constants import SEARCH_ATTRIBUTES, host_workflow_id, session_workflow_id
from fenix.models.session import InstanceAction, SessionDetail
from fenix.temporal import find_bin, register_search_attributes
from tests.workflows.test_session_flow import roomy_seed, vnfms
from tests.workflows.test_vnf_flow import constrained
from worker import WORKFLOWS

ROOT = Path(__file__).resolve().parents[2]


async def _histories(st: Stack, sid: str) -> list[WorkflowHistory]:
    handle = st.client.get_workflow_handle(session_workflow_id(sid), result_type=SessionDetail)
    detail = await handle.query("detail", result_type=SessionDetail)
    out = [await handle.fetch_history()]
    for h in detail.hosts:
        try:
            out.append(await st.client.get_workflow_handle(host_workflow_id(sid, h.name)).fetch_history())
        except RPCError:
            pass  # never started (the session ended first)
    return out


async def default_happy(env: WorkflowEnvironment, tmp: Path) -> list[WorkflowHistory]:
    async with stack(env, tmp, roomy_seed(), vnfms(InstanceAction.LIVE_MIGRATE)) as st:
        sid = await st.start(hosts=["c0", "c1", "c2"],
                             actions=[{"plugin": "dummy", "type": "host", "metadata": {"seconds": 0}}])
        await st.result(sid)
        return await _histories(st, sid)


async def default_scale_in(env: WorkflowEnvironment, tmp: Path) -> list[WorkflowHistory]:
    async with stack(env, tmp, demo_seed(), vnfms()) as st:
        sid = await st.start()
        await st.result(sid)
        return await _histories(st, sid)


async def default_own_action(env: WorkflowEnvironment, tmp: Path) -> list[WorkflowHistory]:
    """An owner that never carries out its OWN_ACTION (the session's default for a project without a webhook): the
    host waits out the window, then the engine moves the instance."""
    async with stack(env, tmp, roomy_seed(), vnfms(InstanceAction.LIVE_MIGRATE),
                     subscribe=["vnf-ha", "vnf-web"]) as st:
        sid = await st.start(hosts=["c0", "c1", "c2"], default_action="OWN_ACTION", reply_windows={"own_action": 25})
        await st.result(sid)
        return await _histories(st, sid)


async def default_steered(env: WorkflowEnvironment, tmp: Path) -> list[WorkflowHistory]:
    """Rescheduled while it waits for its window, paused by itself after a canary host (`pause_after`), resumed
    (0.1.4 on: older checkouts skip it)."""
    async with stack(env, tmp, roomy_seed(), vnfms(InstanceAction.LIVE_MIGRATE)) as st:
        sid = await st.start(hosts=["c0", "c1", "c2"], maintenance_at="2099-01-01 00:00:00", pause_after=1)
        while True:
            r = await st.admin.put(f"/maintenance/{sid}", json={"maintenance_at": "2020-01-01 00:00:00"})
            if r.status_code == 200:
                break
            assert r.status_code in (409, 503), r.text  # still telling projects about the first time
            await asyncio.sleep(0.2)
        while not (await st.admin.get(f"/maintenance/{sid}/detail")).json()["steering"]["paused"]:
            await asyncio.sleep(0.1)
        r = await st.admin.post(f"/maintenance/{sid}/resume")
        assert r.status_code == 200, r.text
        await st.result(sid)
        return await _histories(st, sid)


async def default_retire(env: WorkflowEnvironment, tmp: Path) -> list[WorkflowHistory]:
    """A host emptied and left disabled for good (0.1.4 on)."""
    async with stack(env, tmp, roomy_seed(), vnfms(InstanceAction.LIVE_MIGRATE)) as st:
        sid = await st.start(hosts=["c0"], retire=True)
        await st.result(sid)
        return await _histories(st, sid)


async def vnf_parallel(env: WorkflowEnvironment, tmp: Path) -> list[WorkflowHistory]:
    async with stack(env, tmp, roomy_seed(), constrained(lead_time=10, recovery_time=5), skip_time=True) as st:
        sid = await st.start(workflow="vnf", max_parallel_hosts=2)
        await st.result(sid)
        return await _histories(st, sid)


async def abort_mid_move(env: WorkflowEnvironment, tmp: Path) -> list[WorkflowHistory]:
    async with stack(env, tmp, roomy_seed(), vnfms(InstanceAction.MIGRATE), time_scale=0.5) as st:
        sid = await st.start(hosts=["c0", "c1", "c2"])
        while not any(not m.status.terminal for m in st.cloud.migration_log()):
            await asyncio.sleep(0.05)
        r = await st.admin.delete(f"/maintenance/{sid}")
        assert r.status_code == 200, r.text
        await st.result(sid)
        return await _histories(st, sid)


async def worker_killed_mid_move(env: WorkflowEnvironment, tmp: Path) -> list[WorkflowHistory]:
    queue = f"tq-{uuid.uuid4()}"
    wenv = {**os.environ, **worker_env(stack_settings(tmp, queue), env.client.service_client.config.target_host,
                                       sim_time_scale=0.5)}
    log = (tmp / "worker.log").open("ab")
    first = subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=wenv, stdout=log, stderr=log)
    second: subprocess.Popen[bytes] | None = None
    try:
        async with stack(env, tmp, roomy_seed(), vnfms(InstanceAction.LIVE_MIGRATE), worker=False,
                         task_queue=queue) as st:
            sid = await st.start(hosts=["c0", "c1", "c2"])
            while not any(not m.status.terminal for m in st.cloud.migration_log()):
                await asyncio.sleep(0.05)
            first.kill()
            first.wait()
            second = subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=wenv, stdout=log, stderr=log)
            await st.result(sid, timeout=150)
            return await _histories(st, sid)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait()


Scenario = Callable[[WorkflowEnvironment, Path], Awaitable[list[WorkflowHistory]]]
ON_DEV_SERVER: dict[str, Scenario] = {"default-happy": default_happy, "default-scale-in": default_scale_in,
                                      "abort-mid-move": abort_mid_move,
                                      "worker-killed-mid-move": worker_killed_mid_move,
                                      "default-own-action": default_own_action,
                                      "default-steered": default_steered, "default-retire": default_retire}
ON_TIME_SKIPPING: dict[str, Scenario] = {"vnf-parallel": vnf_parallel}


async def main(out: Path) -> None:
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)

    def scratch(tmp: str, name: str) -> Path:
        path = Path(tmp) / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    async def keep(name: str, histories: list[WorkflowHistory]) -> None:
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        for h in histories:
            result = await replayer.replay_workflow(h, raise_on_replay_failure=False)
            if result.replay_failure is not None:
                print(f"{name}: {h.workflow_id} does not replay on its own code; not kept", flush=True)  # noqa: T201
                continue
            kind = "session" if "/host/" not in h.workflow_id else "host-" + h.workflow_id.rsplit("/", 1)[-1]
            (folder / f"{kind}.json").write_text(h.to_json())
        print(f"{name}: {len(histories)} histories", flush=True)  # noqa: T201

    with tempfile.TemporaryDirectory() as tmp:
        async with await WorkflowEnvironment.start_local(
                data_converter=pydantic_data_converter, dev_server_existing_path=find_bin("temporal"),
                search_attributes=SEARCH_ATTRIBUTES) as env:
            for name, scenario in ON_DEV_SERVER.items():
                await keep(name, await scenario(env, scratch(tmp, name)))
        async with await WorkflowEnvironment.start_time_skipping(
                data_converter=pydantic_data_converter,
                test_server_existing_path=find_bin("temporal-test-server")) as env:
            await register_search_attributes(env.client)
            for name, scenario in ON_TIME_SKIPPING.items():
                await keep(name, await scenario(env, scratch(tmp, name)))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
