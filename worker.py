"""The Fenix worker: runs the session, host and registry workflows and all activities.

Run as many as you like on one task queue; they share nothing but Temporal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import timedelta

from temporalio.client import Client
from temporalio.common import MetricMeter
from temporalio.worker import Worker

from activities.clock import read_clock
from activities.cloud import CloudActivities
from activities.constraints import ConstraintActivities
from activities.notify import WebhookActivities
from activities.planning import simulate_plan
from activities.plugins import run_action_plugin
from activities.sessions import SessionControl
from activities.subscriptions import SubscriberActivities
from fenix.census import run_census
from fenix.cloud.driver import CloudDriver
from fenix.cloud.factory import make_driver
from fenix.egress import EgressPolicy
from fenix.health import CheckResult, CheckStatus, Readiness, merge, temporal_checks
from fenix.health_server import HealthServer
from fenix.log_context import LogContextInterceptor
from fenix.logs import configure_logging
from fenix.metrics import PROJECT_LABELS, MetricsUnavailable, prometheus_address, worker_runtime
from fenix.settings import Settings, get_settings
from fenix.signing import WebhookSecrets
from fenix.temporal import TemporalUnreachable, connect_with_retry
from fenix.temporal_security import TemporalSettingsError
from fenix.tracing import WORKER_SERVICE, setup_tracing, temporal_interceptors
from workflows.abort import SessionAbortWorkflow
from workflows.capacity import CapacityChangedWorkflow, CapacityNoticesWorkflow
from workflows.constraints import ConstraintsRegistryWorkflow
from workflows.host import HostMaintenanceWorkflow
from workflows.leases import HostLeasesWorkflow
from workflows.plan import PlanPreviewWorkflow
from workflows.project_constraints import ProjectConstraintsWorkflow
from workflows.registry import SubscriptionRegistryWorkflow
from workflows.session import MaintenanceSessionWorkflow

HEARTBEAT_THROTTLE = timedelta(seconds=3)
FLUSH_SPANS_MS = 2000
WORKFLOWS = [MaintenanceSessionWorkflow, HostMaintenanceWorkflow, SubscriptionRegistryWorkflow, PlanPreviewWorkflow,
             ConstraintsRegistryWorkflow, ProjectConstraintsWorkflow, SessionAbortWorkflow, HostLeasesWorkflow,
             CapacityChangedWorkflow, CapacityNoticesWorkflow]


@asynccontextmanager
async def running_worker(client: Client, settings: Settings, *, driver: CloudDriver | None = None,
                         task_queue: str | None = None, poll_s: float | None = None,
                         census: MetricMeter | None = None) -> AsyncIterator[Worker]:
    """A started worker; stops (gracefully) when the context exits.

    `census`: the meter of the worker's metrics endpoint (its runtime's); the gauges of running sessions are set on
    it every FENIX_METRICS_CENSUS_S (fenix/census.py). None: no such gauges (workflow and activity figures still go
    to the client's runtime, a no-op one without an endpoint).
    """
    PROJECT_LABELS.limit = settings.metrics_project_labels
    driver = driver or make_driver(settings)
    cloud = CloudActivities(driver, poll_s=settings.cloud_poll_s if poll_s is None else poll_s,
                            inline_s=settings.move_inline_s, poll_max_s=settings.cloud_poll_max_s)
    sessions = SessionControl(client, driver)
    webhooks = WebhookActivities(timeout_s=settings.webhook_timeout_s, egress=EgressPolicy.from_settings(settings),
                                 secrets=WebhookSecrets.from_settings(settings))
    subscribers = SubscriberActivities(client, settings.registry_workflow_id)
    constraints = ConstraintActivities(client, settings.constraints_workflow_id, driver)
    threads = settings.worker_max_concurrent_activities
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="fenix-activity") as pool:
        worker = Worker(
            client,
            task_queue=task_queue or settings.task_queue,
            workflows=WORKFLOWS,
            activities=[cloud.snapshot, cloud.disable_host, cloud.enable_host, cloud.capacity, cloud.hosts_capacity,
                        cloud.migrate_step, cloud.settle, cloud.wait_empty, cloud.estimates, cloud.evict,
                        constraints.read, constraints.owner,
                        simulate_plan, webhooks.deliver, subscribers.find, run_action_plugin, read_clock,
                        sessions.cancel, sessions.probe, sessions.terminate, sessions.hosts_disabled_by,
                        sessions.liveness, sessions.release_lease],
            activity_executor=pool,
            # Every line an activity causes carries its ids (the client's tracing interceptor, when on, comes first).
            interceptors=[LogContextInterceptor()],
            max_concurrent_activities=threads,
            max_cached_workflows=settings.worker_max_cached_workflows,
            # A cancel (abort) reaches an activity only in the answer to a heartbeat the SDK actually sends;
            # by default that is at most every 60 s. Send one at least every few seconds so an abort stops
            # plug-ins and webhook deliveries promptly.
            max_heartbeat_throttle_interval=HEARTBEAT_THROTTLE,
            default_heartbeat_throttle_interval=HEARTBEAT_THROTTLE,
        )
        gauges = None
        if census is not None and settings.metrics_census_s > 0:
            gauges = asyncio.create_task(run_census(client, task_queue or settings.task_queue, census,
                                                    settings.metrics_census_s))
        try:
            async with worker:
                yield worker
        finally:
            if gauges is not None:
                gauges.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await gauges
            await webhooks.aclose()


class WorkerReadiness:
    """What the worker's /readyz reports: connected to Temporal, which answers, with the namespace and Fenix's
    search attributes (fenix/health.py), and the worker polling its task queue."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client: Client | None = None
        self.worker: Worker | None = None

    async def __call__(self) -> Readiness:
        not_connected = f"not connected to Temporal at {self.settings.temporal_address} yet (the worker is starting)"
        temporal = await temporal_checks(self.client, self.settings, not_connected)
        queue, worker = self.settings.task_queue, self.worker
        if worker is not None and worker.is_running:
            polling = CheckResult(status=CheckStatus.OK, detail=f"polling task queue {queue}")
        else:
            why = "stopped" if worker is not None and worker.is_shutdown else "not started yet"
            polling = CheckResult(status=CheckStatus.FAILED, detail=f"not polling task queue {queue}: {why}")
        return merge(temporal, {"polling": polling})


async def start_health_server(settings: Settings, readiness: WorkerReadiness) -> HealthServer:
    health = HealthServer(readiness, settings.worker_health_host, settings.worker_health_port)
    if settings.worker_health_port:
        try:
            await health.start()
        except OSError as err:
            # Not fatal: several workers may share a host (and the default port). Polling matters more.
            logging.getLogger("fenix.worker").error(
                "no health endpoints: cannot listen on %s:%d (%s); give each worker on this host its own "
                "FENIX_WORKER_HEALTH_PORT, or 0 for none", settings.worker_health_host, settings.worker_health_port,
                err.strerror or err)
    return health


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run a worker until SIGINT or SIGTERM (or `stop`, for tests), with its health endpoints."""
    log = logging.getLogger("fenix.worker")
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    readiness = WorkerReadiness(settings)
    # Up before Temporal is reached: a probe sees a live process that is not ready yet, and why.
    health = await start_health_server(settings, readiness)
    try:
        # The metrics endpoint comes up first too (the SDK's and Fenix's figures, docs/operations.md): a worker
        # still waiting for Temporal can be scraped, and its failed tries are counted there.
        runtime = worker_runtime(settings)
        if runtime is not None:
            log.info("worker metrics at http://%s/metrics", prometheus_address(settings))
        provider = setup_tracing(settings, WORKER_SERVICE)
        # Started before Temporal, the worker waits for it (bounded, see connect_with_retry); a stop meanwhile ends
        # the wait at once.
        connecting = asyncio.create_task(connect_with_retry(settings, "worker", runtime,
                                                            temporal_interceptors(provider)))
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not connecting.done():
            connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await connecting
            log.info("worker stopped before Temporal at %s was reachable", settings.temporal_address)
            return
        client = readiness.client = connecting.result()  # TemporalUnreachable once the wait is over
        async with running_worker(client, settings,
                                  census=runtime.metric_meter if runtime is not None else None) as worker:
            readiness.worker = worker
            log.info("worker polling task queue %s at %s", settings.task_queue, settings.temporal_address)
            await stop.wait()
        if provider is not None:
            provider.force_flush(FLUSH_SPANS_MS)
    finally:
        await health.close()


def main(settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    configure_logging(settings.log_format, settings.log_level)
    try:
        asyncio.run(serve(settings))
    except (TemporalUnreachable, TemporalSettingsError, MetricsUnavailable) as err:
        # Exit non-zero so a supervisor (compose, systemd) restarts it; the log says why, without a traceback.
        logging.getLogger("fenix.worker").error("%s", err)
        logging.shutdown()
        # Not SystemExit: after failed connects the SDK's core threads can still call into Python while the
        # interpreter finalizes, which aborts it ("PyGILState_Release ... finalizing", exit -6, seen in tests).
        os._exit(1)


if __name__ == "__main__":
    main()
