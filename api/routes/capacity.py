"""`POST /v1/capacity`: hosts were added to the cloud; every subscribed project hears CAPACITY_CHANGED with the
numbers (docs/notifications.md), so it may scale out."""

from __future__ import annotations

from uuid import uuid4

from fastapi import APIRouter
from temporalio.client import WorkflowFailureError

from api.audit import audit
from api.deps import AdminDep, ClientDep, SettingsDep
from api.errors import cloud_read_failed
from fenix.models.capacity import CapacityAdded, CapacityInput, CapacityNotice
from workflows.capacity import READ_TIMEOUT, CapacityChangedWorkflow, capacity_workflow_id

router = APIRouter(prefix="/capacity", tags=["capacity"])


@router.post("", response_model=CapacityNotice, status_code=202)
async def capacity_added(body: CapacityAdded, admin: AdminDep, client: ClientDep,
                         settings: SettingsDep) -> CapacityNotice:
    """Read the added hosts from the cloud (422 for a host it does not know) and send CAPACITY_CHANGED to every
    subscribed project. 202: the notices are on their way (their delivery is retried in the background)."""
    notice_id = str(uuid4())
    try:
        result: CapacityNotice = await client.execute_workflow(
            CapacityChangedWorkflow.run, CapacityInput(hosts=body.hosts, notice_id=notice_id),
            id=capacity_workflow_id(notice_id), task_queue=settings.task_queue, execution_timeout=READ_TIMEOUT)
    except WorkflowFailureError as err:
        raise cloud_read_failed(err, "the capacity could not be read") from err
    audit(admin, "capacity_added", detail=", ".join(result.hosts))
    return result
