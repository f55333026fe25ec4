"""Capacity grew (use case 8): tell every subscribed project, so it may scale out (`POST /v1/capacity`).

Two workflows: `CapacityChanged` answers the API (it reads the hosts, unknown ones fail it, and finds who is
subscribed), then hands the deliveries to a `CapacityNotices` child that it abandons. So the API answers as soon as
the notice is decided, while a dead endpoint is retried by the child for its own budget (WEBHOOK_INFO), the way a
session sends notices nobody answers (workflows/outbox.py).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.cloud import CloudActivities
    from fenix.models.capacity import (
        CAPACITY_CHANGED,
        CapacityInput,
        CapacityNotice,
        CapacityNotices,
        HostsCapacity,
        HostsRequest,
    )
    from fenix.models.notification import EVENT_PROJECT, ProjectNotice
    from fenix.models.subscription import SubscriptionFilter, SubscriptionList
    from workflows.options import CLOUD_CALL, REGISTRY_QUERY
    from workflows.outbox import Outbox

# The API waits for the answer; a worker that cannot read the cloud within this is reported as 503.
READ_TIMEOUT = timedelta(minutes=2)


def capacity_workflow_id(notice_id: str) -> str:
    return f"capacity-{notice_id}"


@workflow.defn(name="CapacityChanged")
class CapacityChangedWorkflow:
    @workflow.run
    async def run(self, inp: CapacityInput) -> CapacityNotice:
        read: HostsCapacity = await workflow.execute_activity_method(
            CloudActivities.hosts_capacity, HostsRequest(hosts=inp.hosts), **CLOUD_CALL)
        subs: SubscriptionList = await workflow.execute_activity(
            "find_subscribers", SubscriptionFilter(event_type=EVENT_PROJECT), result_type=SubscriptionList,
            **REGISTRY_QUERY)
        projects = sorted({s.project_id for s in subs.subscriptions})
        usable = [h for h in read.hosts if h.enabled and h.up]
        notice = CapacityNotice(notice_id=inp.notice_id, hosts=[h.name for h in read.hosts],
                                vcpus=sum(h.vcpus for h in read.hosts), memory_mb=sum(h.memory_mb for h in read.hosts),
                                vcpus_free=sum(max(0, h.vcpus_free) for h in usable),
                                memory_mb_free=sum(max(0, h.memory_mb_free) for h in usable), projects=len(projects))
        if projects:
            metadata: dict[str, object] = {"hosts_added": notice.hosts, "vcpus": notice.vcpus,
                                           "memory_mb": notice.memory_mb, "vcpus_free": notice.vcpus_free,
                                           "memory_mb_free": notice.memory_mb_free}
            await workflow.start_child_workflow(
                CapacityNoticesWorkflow.run, CapacityNotices(notice_id=inp.notice_id, projects=projects,
                                                             metadata=metadata),
                id=f"{workflow.info().workflow_id}/notices", parent_close_policy=ParentClosePolicy.ABANDON)
        return notice


@workflow.defn(name="CapacityNotices")
class CapacityNoticesWorkflow:
    @workflow.run
    async def run(self, inp: CapacityNotices) -> CapacityNotices:
        outbox = Outbox(lambda message, _project: workflow.logger.warning(message))
        for pid in inp.projects:
            # No session and no reply: `session_id` carries the notice's id, `reply_url` is empty.
            notice = ProjectNotice(project_id=pid, session_id=inp.notice_id, state=CAPACITY_CHANGED,
                                   instance_ids=[], reply_url="", metadata=inp.metadata)
            outbox.send(EVENT_PROJECT, pid, notice.model_dump(), informational=True)
        await outbox.drain()
        return inp
