"""The figures move as a session does: a real worker process (its metrics endpoint, as `fenix-worker` serves it) and
the API, scraped over HTTP before, during and after a session on the simulated cloud and the real dev server.

One project answers nothing, so the session also applies defaults, and its host visibly waits on that project."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
from temporalio.testing import WorkflowEnvironment

from demo.stack import free_port, stack, stack_settings, worker_env
from demo.vnfm import VnfmProject
from fenix.models.cloud import MigrationStatus
from fenix.models.session import InstanceAction, SessionState
from tests.drill import worker_process
from tests.metrics.scrape import Samples, scrape, series, total
from tests.waiting import poll
from tests.workflows.test_session_flow import roomy_seed

WINDOW_S = 2  # the silent project's every question ends by default after this long
WINDOWS = dict.fromkeys(("maintenance", "scale_in", "prepare", "complete", "own_action"), WINDOW_S)


def projects() -> list[VnfmProject]:
    answering = [VnfmProject(project_id=p, token="", action=InstanceAction.LIVE_MIGRATE, server_prefix=p,
                             ha_group="vnf-ha-ha" if p == "vnf-ha" else None) for p in ("vnf-ha", "vnf-web")]
    return [*answering, VnfmProject(project_id="vnf-batch", token="", behaviour="silent", server_prefix="vnf-batch")]


async def test_figures_follow_a_session(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    queue, port = f"tq-{uuid.uuid4()}", free_port()
    env = {**worker_env(stack_settings(tmp_path, queue), dev_env.client.service_client.config.target_host,
                        sim_time_scale=0.05),
           "FENIX_WORKER_METRICS_PORT": str(port), "FENIX_WORKER_METRICS_HOST": "127.0.0.1",
           "FENIX_METRICS_CENSUS_S": "0.2", "FENIX_CLOUD_POLL_S": "0.05"}
    worker_url = f"http://127.0.0.1:{port}/metrics"
    with worker_process(env, tmp_path / "worker.log"):
        async with httpx.AsyncClient(timeout=10) as http:

            async def worker_now() -> Samples | None:
                try:
                    return await scrape(http, worker_url)
                except httpx.TransportError:
                    return None  # not listening yet

            before: Samples = await poll(worker_now, f"the worker's metrics at {worker_url}", timeout=30, every=0.2)
            assert total(before, "fenix_replies_total") == 0
            async with stack(dev_env, tmp_path, roomy_seed(), projects(), worker=False, task_queue=queue) as st:
                api_url = st.api_url.removesuffix("/v1") + "/metrics"
                sid = await st.start(hosts=["c0", "c1", "c2"], reply_windows=WINDOWS)

                # While it runs: the census counts it, and sees a host wait on the silent project's reply.
                async def running() -> Samples | None:
                    now = await scrape(http, worker_url)
                    # Its hosts are known once it has read the cloud.
                    return now if total(now, "fenix_sessions", workflow="default") == 1 and \
                        total(now, "fenix_hosts") == 3 else None

                await poll(running, "the census to count the running session and its hosts", timeout=20)

                async def waiting_on_batch() -> list[tuple[dict[str, str], float]]:
                    now = await scrape(http, worker_url)
                    return [(labels, v) for labels, v in series(now, "fenix_host_waiting_seconds", reason="reply",
                                                                project="vnf-batch") if v > 0]

                await poll(waiting_on_batch, "a host waiting on vnf-batch's reply", timeout=30)
                disabled = series(await scrape(http, worker_url), "fenix_host_disabled_plan_seconds")
                assert any(v > 0 for _, v in disabled), disabled

                detail = await st.result(sid, timeout=60)
                assert detail.state == SessionState.MAINTENANCE_DONE, detail.reason

                async def ended() -> Samples | None:
                    now = await scrape(http, worker_url)
                    return now if total(now, "fenix_sessions") == 0 and total(now, "fenix_hosts") == 0 else None

                after = await poll(ended, "the census to see the session end", timeout=20)
                api = await scrape(http, api_url)

    # Replies: every answer counted, with its latency; the silent project's questions ended by default.
    acks = total(after, "fenix_replies_total", outcome="ack")
    assert acks >= 2 * 2 + 2  # MAINTENANCE and MAINTENANCE_COMPLETE of both answering projects, and the hosts
    assert total(after, "fenix_replies_total", outcome="ack", state="MAINTENANCE") == 2
    assert total(after, "fenix_replies_total", outcome="default_timeout", state="MAINTENANCE") == 1
    assert total(after, "fenix_reply_latency_seconds_count") == acks
    assert total(after, "fenix_reply_latency_seconds_count", project="vnf-web") >= 2
    # Instance actions: one done per migration the cloud ran, with its duration.
    moves = [m for m in st.cloud.migration_log() if m.status in (MigrationStatus.COMPLETED, MigrationStatus.CONFIRMED)]
    assert moves
    assert total(after, "fenix_instance_actions_total", action="LIVE_MIGRATE", outcome="done") == len(moves)
    assert total(after, "fenix_instance_action_duration_seconds_count", outcome="done") == len(moves)
    # Notices: reached the VNFMs, POST by POST.
    delivered = total(after, "fenix_notices_total", outcome="delivered")
    assert delivered >= 3 * 2  # MAINTENANCE and MAINTENANCE_COMPLETE to each project, at least
    assert total(after, "fenix_webhook_attempts_total", outcome="ok") >= delivered
    assert total(after, "fenix_sessions_ended_total", state="MAINTENANCE_DONE", aborted="false") == 1
    assert total(after, "fenix_session_transitions_total", state="MAINTENANCE_COMPLETE") == 1
    assert total(after, "fenix_census_runs_total", outcome="ok") > 0
    # The SDK's own figures come out of the same endpoint.
    assert total(after, "temporal_workflow_completed_total") >= 1
    # The API: requests by route template and status, timed; the replies went through it.
    replies = total(api, "fenix_api_requests_total", method="PUT", route="/v1/maintenance/{session_id}/{project_id}",
                    status="200")
    assert replies >= acks
    assert total(api, "fenix_api_requests_total", method="POST", route="/v1/maintenance", status="200") == 1
    assert total(api, "fenix_api_request_duration_seconds_count", route="/v1/maintenance/{session_id}/{project_id}") \
        == total(api, "fenix_api_requests_total", route="/v1/maintenance/{session_id}/{project_id}")
