"""Reading a session from Temporal: a query while it runs, its result once it has ended."""

from __future__ import annotations

from datetime import timedelta

from fastapi import HTTPException
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.client import WorkflowExecutionStatus as Status
from temporalio.service import RPCError, RPCStatusCode

from api.errors import SessionNotFound
from fenix.constants import session_workflow_id
from fenix.models.reply import ProjectReply, ReplyResult
from fenix.models.session import SessionDetail, SessionState, SessionStatus
from workflows.session import MaintenanceSessionWorkflow

SessionHandle = WorkflowHandle[MaintenanceSessionWorkflow, SessionDetail]

# An Update long-polls until the workflow has run its handler. Bound each poll so an HTTP request never hangs:
# with no worker, or a session that ends while the reply is in flight, the client gets an answer it can act on.
UPDATE_RPC_TIMEOUT = timedelta(seconds=30)


async def describe(client: Client, session_id: str) -> tuple[SessionHandle, Status | None]:
    handle = client.get_workflow_handle_for(MaintenanceSessionWorkflow.run, session_workflow_id(session_id))
    try:
        desc = await handle.describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise SessionNotFound(session_id) from err
        raise
    return handle, desc.status


async def detail(client: Client, session_id: str) -> SessionDetail:
    handle, status = await describe(client, session_id)
    if status == Status.RUNNING:
        return await handle.query(MaintenanceSessionWorkflow.detail)
    if status == Status.COMPLETED:
        return await handle.result()
    # Terminated or failed outside the session's own control (an operator used the Temporal CLI):
    # the last known state is what a query on the closed workflow replays.
    last = await handle.query(MaintenanceSessionWorkflow.detail)
    last.state = SessionState.MAINTENANCE_FAILED
    last.reason = last.reason or f"workflow {status.name.lower() if status else 'ended'} outside Fenix"
    return last


async def status(client: Client, session_id: str) -> SessionStatus:
    handle, wf_status = await describe(client, session_id)
    if wf_status == Status.RUNNING:
        return await handle.query(MaintenanceSessionWorkflow.status)
    d = await detail(client, session_id)
    return SessionStatus(session_id=d.session_id, state=d.state, reason=d.reason, current=d.current,
                         hosts_total=len(d.hosts), hosts_maintained=sum(h.maintained for h in d.hosts))


async def reply(client: Client, session_id: str, body: ProjectReply) -> ReplyResult:
    """Hand a project's reply to the running session as an Update (its validator answers 4xx)."""
    handle, wf_status = await describe(client, session_id)
    if wf_status != Status.RUNNING:
        raise HTTPException(409, f"session {session_id} has ended; it takes no more replies")
    try:
        return await handle.execute_update(MaintenanceSessionWorkflow.reply, body, rpc_timeout=UPDATE_RPC_TIMEOUT)
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        _, wf_status = await describe(client, session_id)
        if wf_status != Status.RUNNING:
            raise HTTPException(409, f"session {session_id} ended before it took the reply") from None
        raise
