"""`POST /v1/maintenance/plan`: a dry run of a `vnf` session. Reads the cloud and the constraints, changes nothing."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt
from temporalio.client import WorkflowFailureError

from api.deps import AdminDep, ClientDep, SettingsDep
from api.schemas import HostName
from fenix.models.limits import MAX_HOSTS
from fenix.models.plan import PlanInput, PlanPreview
from fenix.models.session import InstanceAction
from workflows.plan import PlanPreviewWorkflow

router = APIRouter(prefix="/maintenance", tags=["maintenance"])

# The simulation of a large cloud takes seconds; a preview that takes minutes means the workers are not there.
PREVIEW_TIMEOUT = timedelta(minutes=3)


class PlanRequest(BaseModel):
    """The session you would start (its `vnf` options); unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")

    hosts: list[HostName] = Field(default_factory=list, max_length=MAX_HOSTS,
                                  description="hosts to maintain; empty: every compute host")
    default_action: InstanceAction = Field(InstanceAction.LIVE_MIGRATE,
                                           description="for instances without registered constraints")
    # Strict types: `false` is not 0 seconds, `true` not 1 host (a client bug must not become a plan).
    max_parallel_hosts: Annotated[StrictInt, Field(ge=1, le=1000)] = 4
    warn_ahead: StrictBool = True
    host_maintenance_s: Annotated[StrictFloat, Field(ge=0, le=86400)] | None = Field(
        None, description="how long the plug-ins take on one host (a guess)")


@router.post("/plan", response_model=PlanPreview)
async def preview_plan(body: PlanRequest, _: AdminDep, client: ClientDep, settings: SettingsDep) -> PlanPreview:
    """Host batches and order, what each project will be asked about which instance and when, and the estimated
    duration (also one host at a time, for comparison), from the constraints and the cloud's move times."""
    try:
        result: PlanPreview = await client.execute_workflow(
            PlanPreviewWorkflow.run, PlanInput.model_validate(body.model_dump()), id=f"plan-{uuid.uuid4()}",
            task_queue=settings.task_queue, execution_timeout=PREVIEW_TIMEOUT)
        return result
    except WorkflowFailureError as err:
        cause = err.cause
        while getattr(cause, "cause", None) is not None:
            cause = getattr(cause, "cause")  # noqa: B009 (an SDK failure chain; not every level types it)
        message = getattr(cause, "message", None) or str(cause)
        if getattr(cause, "type", None) == "NotFound":
            raise HTTPException(422, message) from err
        raise HTTPException(503, f"the plan could not be made: {message}") from err
