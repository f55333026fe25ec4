"""Admin: maintenance sessions (`/v1/maintenance`)."""

from __future__ import annotations

import logging
from typing import Any
from uuid import uuid4

from fastapi import APIRouter
from temporalio.client import WorkflowExecutionStatus

from api.audit import actor_of, audit, record_on_session
from api.deadline import BoundedRoute, DeadlineDep
from api.deps import AdminDep, ClientDep, HostLeasesDep, SettingsDep
from api.schemas import SessionCreate, SessionCreated, SessionList
from api.session_reads import describe_session, read_detail, read_status
from api.session_writes import abort_session, forget_session, session_input, start_session
from fenix.constants import SESSION_WORKFLOW_TYPE, session_id_from_workflow_id, session_workflow_id
from fenix.logs import bind
from fenix.models.session import SessionDetail, SessionStatus

router = APIRouter(prefix="/maintenance", tags=["maintenance"], route_class=BoundedRoute)
log = logging.getLogger("fenix.api")


@router.post("", response_model=SessionCreated)
async def create_session(body: SessionCreate, admin: AdminDep, client: ClientDep, leases: HostLeasesDep,
                         settings: SettingsDep, deadline: DeadlineDep) -> SessionCreated:
    """Start a maintenance session (a durable workflow), once its hosts are leased to it (409 if a running
    session holds one of them)."""
    session = session_input(body, str(uuid4()), settings, admin.name)
    session.requested_by_actor = actor_of(admin)
    bind(session_id=session.session_id)  # every line of this request names it (api/log_context.py binds the rest)
    audit(admin, "start", session_id=session.session_id, detail=f"{body.workflow} workflow on "
                                                                f"{', '.join(body.hosts) or 'all compute hosts'}")
    await start_session(client, leases, settings, session, deadline)
    log.info("maintenance session %s started (%s workflow) on %s", session.session_id, body.workflow,
             ", ".join(body.hosts) or "all compute hosts",
             extra={"workflow_id": session_workflow_id(session.session_id)})
    return SessionCreated(session_id=session.session_id)


@router.get("", response_model=SessionList)
async def list_sessions(_: AdminDep, client: ClientDep) -> SessionList:
    """Ids of all known sessions, newest first (from Temporal visibility)."""
    ids = []
    async for execution in client.list_workflows(f"WorkflowType = '{SESSION_WORKFLOW_TYPE}'"):
        ids.append(session_id_from_workflow_id(execution.id))
    return SessionList(sessions=ids)


@router.get("/{session_id}", response_model=SessionStatus)
async def get_session(session_id: str, _: AdminDep, client: ClientDep) -> SessionStatus:
    """Fenix's `{"session_id", "state"}`, plus the reason, what happens now and host progress."""
    return await read_status(client, session_id)


@router.delete("/{session_id}")
async def delete_session(session_id: str, admin: AdminDep, client: ClientDep, leases: HostLeasesDep,
                         settings: SettingsDep) -> dict[str, Any]:
    """Abort a running session (hosts are re-enabled, projects told), or forget an ended one."""
    handle, status = await describe_session(client, session_id)
    if status == WorkflowExecutionStatus.RUNNING:
        await record_on_session(handle, admin, "abort")
        await abort_session(client, settings, handle, session_id, admin.name)
        log.info("maintenance session %s aborting, asked by %s", session_id, admin.name)
        return {"session_id": session_id, "aborting": True}
    audit(admin, "delete", session_id=session_id)
    await forget_session(client, leases, settings, handle, session_id)
    return {}


@router.get("/{session_id}/detail", response_model=SessionDetail)
async def session_detail(session_id: str, _: AdminDep, client: ClientDep) -> SessionDetail:
    """Hosts, projects, instances, actions, plug-in runs, the history of notices and replies, the reason."""
    return await read_detail(client, session_id)
