"""The Fenix worker: runs the session, host and registry workflows and all activities.

Run as many as you like on one task queue; they share nothing but Temporal.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from activities.cloud import CloudActivities
from activities.constraints import ConstraintActivities
from activities.notify import WebhookActivities
from activities.planning import simulate_plan
from activities.plugins import run_action_plugin
from activities.subscriptions import SubscriberActivities
from fenix.cloud.driver import CloudDriver
from fenix.cloud.factory import make_driver
from fenix.settings import Settings, get_settings
from fenix.temporal import connect
from workflows.constraints import ConstraintsRegistryWorkflow
from workflows.host import HostMaintenanceWorkflow
from workflows.plan import PlanPreviewWorkflow
from workflows.registry import SubscriptionRegistryWorkflow
from workflows.session import MaintenanceSessionWorkflow

HEARTBEAT_THROTTLE = timedelta(seconds=3)
WORKFLOWS = [MaintenanceSessionWorkflow, HostMaintenanceWorkflow, SubscriptionRegistryWorkflow, PlanPreviewWorkflow,
             ConstraintsRegistryWorkflow]


@asynccontextmanager
async def running_worker(client: Client, settings: Settings, *, driver: CloudDriver | None = None,
                         task_queue: str | None = None, poll_s: float | None = None) -> AsyncIterator[Worker]:
    """A started worker; stops (gracefully) when the context exits."""
    cloud = CloudActivities(driver or make_driver(settings), poll_s=settings.cloud_poll_s if poll_s is None else poll_s,
                            inline_s=settings.move_inline_s)
    webhooks = WebhookActivities(timeout_s=settings.webhook_timeout_s)
    subscribers = SubscriberActivities(client, settings.registry_workflow_id)
    constraints = ConstraintActivities(client, settings.constraints_workflow_id)
    threads = settings.worker_max_concurrent_activities
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="fenix-activity") as pool:
        worker = Worker(
            client,
            task_queue=task_queue or settings.task_queue,
            workflows=WORKFLOWS,
            activities=[cloud.snapshot, cloud.disable_host, cloud.enable_host, cloud.migrate_step, cloud.wait_empty,
                        cloud.estimates, cloud.evict, constraints.read, simulate_plan,
                        webhooks.deliver, subscribers.find, run_action_plugin],
            activity_executor=pool,
            max_concurrent_activities=threads,
            # A cancel (abort) reaches an activity only in the answer to a heartbeat the SDK actually sends;
            # by default that is at most every 60 s. Send one at least every few seconds so an abort stops
            # plug-ins and webhook deliveries promptly.
            max_heartbeat_throttle_interval=HEARTBEAT_THROTTLE,
            default_heartbeat_throttle_interval=HEARTBEAT_THROTTLE,
        )
        try:
            async with worker:
                yield worker
        finally:
            await webhooks.aclose()


async def serve(settings: Settings) -> None:
    client = await connect(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with running_worker(client, settings):
        logging.getLogger("fenix.worker").info("worker polling task queue %s at %s", settings.task_queue,
                                               settings.temporal_address)
        await stop.wait()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(get_settings()))


if __name__ == "__main__":
    main()
