"""`POST /v1/maintenance/plan`: a dry run of a `vnf` session. Reads the cloud and the constraints, changes nothing."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

from fastapi import APIRouter
from temporalio.client import WorkflowFailureError

from api.deps import AdminDep, ClientDep, SettingsDep
from api.errors import cloud_read_failed
from api.schemas import PlanRequest
from fenix.constants import plan_workflow_id
from fenix.models.plan import PlanPreview
from workflows.plan import PlanPreviewWorkflow

router = APIRouter(prefix="/maintenance", tags=["maintenance"])

# The simulation of a large cloud takes seconds; a preview that takes minutes means the workers are not there.
PREVIEW_TIMEOUT = timedelta(minutes=3)


@router.post("/plan", response_model=PlanPreview)
async def preview_plan(body: PlanRequest, _: AdminDep, client: ClientDep, settings: SettingsDep) -> PlanPreview:
    """Host batches and order, what each project will be asked about which instance and when, and the estimated
    duration (also one host at a time, for comparison), from the constraints and the cloud's move times."""
    try:
        # A PlanRequest is the workflow's PlanInput (with the API's stricter checks): it is handed over as it is.
        result: PlanPreview = await client.execute_workflow(
            PlanPreviewWorkflow.run, body, id=plan_workflow_id(str(uuid4())), task_queue=settings.task_queue,
            execution_timeout=PREVIEW_TIMEOUT)
        return result
    except WorkflowFailureError as err:
        raise cloud_read_failed(err, "the plan could not be made") from err
