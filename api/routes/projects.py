"""Projects (VNFMs): the instance list and the reply (`/v1/maintenance/{session}/{project}`)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from temporalio.client import WorkflowExecutionStatus

from api import views
from api.deadline import BoundedRoute, DeadlineDep
from api.deps import ClientDep, PrincipalDep
from api.schemas import ProjectInstancesOut
from fenix.models.reply import ProjectReply
from fenix.models.session import ProjectInstancesQuery
from workflows.session import MaintenanceSessionWorkflow

router = APIRouter(prefix="/maintenance", tags=["projects"], route_class=BoundedRoute)
log = logging.getLogger("fenix.api")

# A reply travels into the session's history (and a refusal may quote it): an oversized one would exceed
# Temporal's payload limit, fail the session's workflow task and leave the caller waiting ~20 s for a 5xx.
MAX_REPLY_BYTES = 256 * 1024


def _own(principal_project: str, is_admin: bool, project_id: str) -> None:
    if not is_admin and principal_project != project_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "a project can only see and answer for itself")


@router.get("/{session_id}/{project_id}", response_model=ProjectInstancesOut)
async def project_instances(session_id: str, project_id: str, who: PrincipalDep,
                            client: ClientDep) -> ProjectInstancesOut:
    """The project's instances the session asks about now (all of them in the session otherwise)."""
    _own(who.project_id, who.is_admin, project_id)
    handle, wf_status = await views.describe(client, session_id)
    if wf_status == WorkflowExecutionStatus.RUNNING:
        found = await handle.query(MaintenanceSessionWorkflow.project_instances,
                                   ProjectInstancesQuery(project_id=project_id))
        if not found.known:
            raise HTTPException(404, f"project {project_id} has no instances in session {session_id}")
        return ProjectInstancesOut(instance_ids=found.instance_ids)
    d = await views.detail(client, session_id)
    ids = [i.instance_id for i in d.instances if i.project_id == project_id]
    if not any(p.project_id == project_id for p in d.projects):
        raise HTTPException(404, f"project {project_id} has no instances in session {session_id}")
    return ProjectInstancesOut(instance_ids=ids)


@router.put("/{session_id}/{project_id}")
async def project_reply(session_id: str, project_id: str, body: ProjectReply, who: PrincipalDep,
                        client: ClientDep, request: Request, deadline: DeadlineDep) -> dict[str, Any]:
    """ACK/NACK a notice, with per-instance actions. Stale replies get 409, invalid ones 422; 503 when no worker
    takes the reply in time (it is then never applied)."""
    _own(who.project_id, who.is_admin, project_id)
    if len(await request.body()) > MAX_REPLY_BYTES:
        raise HTTPException(413, f"reply larger than {MAX_REPLY_BYTES} bytes")
    if body.project_id and body.project_id != project_id:
        raise HTTPException(422, f"body project_id {body.project_id!r} does not match the URL")
    await views.reply(client, session_id, body.model_copy(update={"project_id": project_id,
                                                                  "not_after": deadline.not_after}))
    log.info("reply %s from project %s taken by session %s", body.state, project_id, session_id,
             extra={"reply_state": body.state})
    return body.model_dump(mode="json", exclude_none=True, exclude={"project_id", "not_after"})
