"""`POST /v1/capacity`: hosts were added to the cloud; every subscribed project hears CAPACITY_CHANGED with the
numbers (docs/notifications.md), so it may scale out."""

from __future__ import annotations

from uuid import uuid4

from fastapi import APIRouter, HTTPException
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError, FailureError

from api.audit import audit
from api.deps import AdminDep, ClientDep, SettingsDep
from api.errors import root_cause
from fenix.cloud.driver import NotFound
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
        cause = root_cause(err)
        message = (cause.message if isinstance(cause, FailureError) else "") or str(cause)
        if isinstance(cause, ApplicationError) and cause.type == NotFound.__name__:  # an unknown host
            raise HTTPException(422, message) from err
        raise HTTPException(503, f"the capacity could not be read: {message}") from err
    audit(admin, "capacity_added", detail=", ".join(result.hosts))
    return result
