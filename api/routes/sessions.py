"""Admin: maintenance sessions (`/v1/maintenance`)."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import APIRouter, Request
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.service import RPCError, RPCStatusCode

from api import views
from api.deadline import BoundedRoute, DeadlineDep
from api.deps import AdminDep, ClientDep, SettingsDep
from api.guards import MEMO_HOSTS, release_hosts, take_hosts
from api.schemas import SessionCreate, SessionCreated, SessionList, SessionStatusOut
from fenix.constants import (
    SA_SESSION_ID,
    SA_STATE,
    SESSION_WORKFLOW_TYPE,
    session_id_from_workflow_id,
    session_workflow_id,
)
from fenix.logs import bind
from fenix.models.abort import AbortInput
from fenix.models.session import MoveRetry, SessionDetail, SessionInput, SessionState
from fenix.settings import Settings
from workflows.abort import SessionAbortWorkflow, abort_workflow_id
from workflows.catalog import SESSION_WORKFLOWS
from workflows.session import MaintenanceSessionWorkflow

router = APIRouter(prefix="/maintenance", tags=["maintenance"], route_class=BoundedRoute)
log = logging.getLogger("fenix.api")


@router.post("", response_model=SessionCreated)
async def create_session(body: SessionCreate, admin: AdminDep, client: ClientDep,
                         settings: SettingsDep, deadline: DeadlineDep) -> SessionCreated:
    """Start a maintenance session (a durable workflow), once its hosts are leased to it (409 if a running
    session holds one of them)."""
    session_id = str(uuid.uuid4())
    bind(session_id=session_id)  # every line of this request names it (api/log_context.py binds the rest)
    await take_hosts(client, settings, session_id, body.hosts, deadline)
    inp = SessionInput(session_id=session_id, workflow=body.workflow, hosts=body.hosts,
                       maintenance_at=body.maintenance_at, metadata=body.metadata, actions=body.actions,
                       windows=body.reply_windows, default_action=body.default_action,
                       max_scale_in_rounds=body.max_scale_in_rounds, move_retry=_move_retry(body.move_retry, settings),
                       max_parallel_hosts=body.max_parallel_hosts, warn_ahead=body.warn_ahead,
                       api_url=settings.api_url,
                       admin_project_id=settings.admin_project_id, requested_by=admin.name,
                       delivery_grace_s=settings.delivery_grace_s, drain_limit_s=settings.notice_drain_limit_s)
    workflow_cls = SESSION_WORKFLOWS[body.workflow]
    try:
        await _start(client, settings, workflow_cls, inp, body.hosts, admin.name)
    except RPCError as err:
        # Refused: the session does not exist, so its lease goes. A start that timed out may still have been
        # recorded: its lease stays, and lapses at a later grant if the session never appears.
        if err.status not in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
            await release_hosts(client, settings, session_id)
        raise
    log.info("maintenance session %s started (%s workflow) on %s", session_id, body.workflow,
             ", ".join(body.hosts) or "all compute hosts", extra={"workflow_id": session_workflow_id(session_id)})
    return SessionCreated(session_id=session_id)


async def _start(client: Client, settings: Settings, workflow_cls: type[MaintenanceSessionWorkflow],
                 inp: SessionInput, hosts: list[str], requested_by: str) -> None:
    session_id = inp.session_id
    await client.start_workflow(
        workflow_cls.run, inp, id=session_workflow_id(session_id), task_queue=settings.task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        search_attributes=TypedSearchAttributes([SearchAttributePair(SA_SESSION_ID, session_id),
                                                 SearchAttributePair(SA_STATE, SessionState.MAINTENANCE.value)]),
        static_summary=f"maintenance of {', '.join(hosts) if hosts else 'all compute hosts'}",
        memo={"requested_by": requested_by, MEMO_HOSTS: hosts})


@router.get("", response_model=SessionList)
async def list_sessions(_: AdminDep, client: ClientDep) -> SessionList:
    """Ids of all known sessions, newest first (from Temporal visibility)."""
    ids = []
    async for wf in client.list_workflows(f"WorkflowType = '{SESSION_WORKFLOW_TYPE}'"):
        ids.append(session_id_from_workflow_id(wf.id))
    return SessionList(sessions=ids)


@router.get("/{session_id}", response_model=SessionStatusOut)
async def get_session(session_id: str, _: AdminDep, client: ClientDep) -> SessionStatusOut:
    """Fenix's `{"session_id", "state"}`, plus the reason, what happens now and host progress."""
    st = await views.status(client, session_id)
    return SessionStatusOut.model_validate(st.model_dump())


@router.put("/{session_id}")
async def update_session(session_id: str, request: Request, _: AdminDep, client: ClientDep) -> dict[str, Any]:
    """Kept for Fenix compatibility (a no-op there too); answers where the session lives."""
    await views.describe(client, session_id)
    return {"maintenance": str(request.url), "session_id": session_id}


@router.delete("/{session_id}")
async def delete_session(session_id: str, admin: AdminDep, client: ClientDep,
                         settings: SettingsDep) -> dict[str, Any]:
    """Abort a running session (hosts are re-enabled, projects told), or forget an ended one."""
    handle, status = await views.describe(client, session_id)
    if status == WorkflowExecutionStatus.RUNNING:
        # The cancel is recorded at once, worker or not; the abort workflow makes sure it ends (workflows/abort.py).
        await handle.cancel()
        await client.start_workflow(
            SessionAbortWorkflow.run, AbortInput(session_id=session_id, requested_by=admin.name,
                                                 quiet_limit_s=settings.abort_quiet_limit_s),
            id=abort_workflow_id(session_id), task_queue=settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            static_summary=f"abort of maintenance session {session_id}")
        log.info("maintenance session %s aborting, asked by %s", session_id, admin.name)
        return {"session_id": session_id, "aborting": True}
    from temporalio.api.common.v1 import WorkflowExecution
    from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest

    await release_hosts(client, settings, session_id)  # ended: its lease (if still recorded) holds nothing
    await client.workflow_service.delete_workflow_execution(DeleteWorkflowExecutionRequest(
        namespace=settings.temporal_namespace, workflow_execution=WorkflowExecution(workflow_id=handle.id)))
    return {}


@router.get("/{session_id}/detail", response_model=SessionDetail)
async def session_detail(session_id: str, _: AdminDep, client: ClientDep) -> SessionDetail:
    """Hosts, projects, instances, actions, plug-in runs, the history of notices and replies, the reason."""
    return await views.detail(client, session_id)


def _move_retry(asked: MoveRetry, settings: Settings) -> MoveRetry:
    """The operator's cloud poll interval unless the request names its own."""
    if "poll_s" in asked.model_fields_set:
        return asked
    return asked.model_copy(update={"poll_s": settings.cloud_poll_s})
