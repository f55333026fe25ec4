"""Admin: maintenance sessions (`/v1/maintenance`)."""

from __future__ import annotations

import logging
from typing import Annotated, Any
from uuid import uuid4

from fastapi import APIRouter, HTTPException, Query
from temporalio.client import WorkflowExecutionStatus

from api.audit import actor_of, audit, record_on_session
from api.deadline import BoundedRoute, DeadlineDep
from api.deps import AdminDep, ClientDep, HostLeasesDep, SettingsDep
from api.routes.hosts import HOST_NAME
from api.schemas import SessionCreate, SessionCreated, SessionList
from api.session_reads import describe_session, read_detail, read_status
from api.session_writes import abort_session, forget_session, session_input, start_session
from fenix.constants import SA_HOSTS, SA_STATE, SESSION_WORKFLOW_TYPE, session_id_from_workflow_id, session_workflow_id
from fenix.logs import bind
from fenix.models.limits import MAX_HOST_NAME
from fenix.models.session import SessionDetail, SessionState, SessionStatus

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


# A session whose workflow Temporal ended outside Fenix (terminated, timed out) reads as MAINTENANCE_FAILED
# (api/session_reads.py), whatever state its search attribute was last given.
_ENDED_OUTSIDE = "ExecutionStatus IN ('Terminated', 'Failed', 'TimedOut', 'Canceled')"


def sessions_query(state: SessionState | None, host: str | None) -> str:
    """The visibility query of `GET /v1/maintenance`: the search attributes the session keeps (workflows/context.py)."""
    query = f"WorkflowType = '{SESSION_WORKFLOW_TYPE}'"
    if state == SessionState.MAINTENANCE_FAILED:
        query += f" AND ({SA_STATE.name} = '{state.value}' OR {_ENDED_OUTSIDE})"
    elif state is not None:
        query += f" AND {SA_STATE.name} = '{state.value}' AND ExecutionStatus IN ('Running', 'Completed')"
    if host is not None:
        query += f" AND {SA_HOSTS.name} = '{host}'"
    return query


@router.get("", response_model=SessionList)
async def list_sessions(_: AdminDep, client: ClientDep, state: SessionState | None = None,
                        host: Annotated[str | None, Query(max_length=MAX_HOST_NAME,
                                                          json_schema_extra={"pattern": HOST_NAME.pattern})] = None
                        ) -> SessionList:
    """Ids of the known sessions, newest first (from Temporal visibility), in `state`, and holding `host` out of
    service now."""
    if host is not None and not HOST_NAME.match(host):  # also what keeps the name inside the query's quotes
        raise HTTPException(422, "invalid host name")
    ids = []
    async for execution in client.list_workflows(sessions_query(state, host)):
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
    """Hosts, projects, instances, actions, plug-in runs, the history of notices and replies, the reason; every list
    bounded (`truncated` names those cut; the rest page by page under `/detail/...`)."""
    return await read_detail(client, session_id)
