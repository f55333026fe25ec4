"""Projects (VNFMs): the instance list and the reply (`/v1/maintenance/{session}/{project}`)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status

from api.audit import actor_of, audit
from api.auth import Principal
from api.deadline import BoundedRoute, DeadlineDep
from api.deps import ClientDep, PrincipalDep
from api.schemas import ProjectInstancesOut
from api.session_reads import read_project_instances
from api.session_writes import send_reply
from fenix.models.reply import ProjectReply

router = APIRouter(prefix="/maintenance", tags=["projects"], route_class=BoundedRoute)
log = logging.getLogger("fenix.api")

# A reply travels into the session's history (and a refusal may quote it): an oversized one would exceed
# Temporal's payload limit, fail the session's workflow task and leave the caller waiting ~20 s for a 5xx.
MAX_REPLY_BYTES = 256 * 1024


def _only_own_project(who: Principal, project_id: str) -> None:
    if not who.may_act_for(project_id):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "a project can only see and answer for itself")


@router.get("/{session_id}/{project_id}", response_model=ProjectInstancesOut)
async def project_instances(session_id: str, project_id: str, who: PrincipalDep,
                            client: ClientDep) -> ProjectInstancesOut:
    """The project's instances the session asks about now (all of them in the session otherwise)."""
    _only_own_project(who, project_id)
    ids = await read_project_instances(client, session_id, project_id)
    if ids is None:
        raise HTTPException(404, f"project {project_id} has no instances in session {session_id}")
    return ProjectInstancesOut(instance_ids=ids)


@router.put("/{session_id}/{project_id}")
async def project_reply(session_id: str, project_id: str, body: ProjectReply, who: PrincipalDep,
                        client: ClientDep, request: Request, deadline: DeadlineDep) -> dict[str, Any]:
    """ACK/NACK a notice, with per-instance actions. Stale replies get 409, invalid ones 422; 503 when no worker
    takes the reply in time (it is then never applied)."""
    _only_own_project(who, project_id)
    if len(await request.body()) > MAX_REPLY_BYTES:
        raise HTTPException(413, f"reply larger than {MAX_REPLY_BYTES} bytes")
    if body.project_id and body.project_id != project_id:
        raise HTTPException(422, f"body project_id {body.project_id!r} does not match the URL")
    audit(who, "reply", session_id=session_id, project_id=project_id, detail=body.state)
    await send_reply(client, session_id, body.model_copy(update={"project_id": project_id, "actor": actor_of(who),
                                                                 "not_after": deadline.not_after}))
    log.info("reply %s from project %s taken by session %s", body.state, project_id, session_id,
             extra={"reply_state": body.state})
    return body.model_dump(mode="json", exclude_none=True, exclude={"project_id", "not_after", "actor"})
