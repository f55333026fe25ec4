"""Reading a session from Temporal: a query while it runs, its result once it has ended."""

from __future__ import annotations

import asyncio

from fastapi import HTTPException
from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.client import WorkflowExecutionStatus as Status
from temporalio.service import RPCError, RPCStatusCode

from api.errors import SessionNotFound
from fenix.constants import session_workflow_id
from fenix.models.abort import AbortResult
from fenix.models.reply import ProjectReply, ReplyResult
from fenix.models.session import SessionDetail, SessionState, SessionStatus
from workflows.abort import abort_workflow_id
from workflows.session import MaintenanceSessionWorkflow

SessionHandle = WorkflowHandle[MaintenanceSessionWorkflow, SessionDetail]


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
    # Terminated: by the abort of a wedged session (its result says why), or outside Fenix (an operator used the
    # Temporal CLI). The last known state is what a query on the closed workflow replays, if its code still can.
    abort = await _abort_of(client, session_id)
    wedged = abort is not None and abort.outcome == "terminated"
    try:
        last = await handle.query(MaintenanceSessionWorkflow.detail)
    except (WorkflowQueryFailedError, RPCError) as err:
        if isinstance(err, RPCError) and err.status != RPCStatusCode.FAILED_PRECONDITION:
            raise  # unreachable or slow: the usual 503
        # The session's code cannot replay it (why it was wedged), or Temporal refuses to query a workflow whose
        # last task failed: what Temporal itself knows.
        desc = await handle.describe()
        last = SessionDetail(session_id=session_id, workflow="unknown", maintenance_at=desc.start_time,
                             current="the session's workflow could not be replayed to show its last state")
    last.state = SessionState.MAINTENANCE_FAILED
    if wedged and abort is not None:
        last.reason, last.aborted = abort.reason, True
    else:
        last.reason = last.reason or f"workflow {status.name.lower() if status else 'ended'} outside Fenix"
    return last


async def _abort_of(client: Client, session_id: str) -> AbortResult | None:
    """The result of the session's abort workflow, if one ran to its end."""
    handle = client.get_workflow_handle(abort_workflow_id(session_id), result_type=AbortResult)
    try:
        if (await handle.describe()).status != Status.COMPLETED:
            return None
        result: AbortResult = await handle.result()
        return result
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


async def status(client: Client, session_id: str) -> SessionStatus:
    handle, wf_status = await describe(client, session_id)
    if wf_status == Status.RUNNING:
        return await handle.query(MaintenanceSessionWorkflow.status)
    if wf_status != Status.COMPLETED:
        # Terminated or failed outside the session's code: its last state needs a worker to replay it (the detail
        # view does that); the status answers from Temporal alone, so a list of sessions never waits on one.
        abort = await _abort_of(client, session_id)
        how = wf_status.name.lower() if wf_status else "ended"
        reason = abort.reason if abort is not None and abort.outcome == "terminated" else \
            f"workflow {how} outside Fenix"
        return SessionStatus(session_id=session_id, state=SessionState.MAINTENANCE_FAILED, reason=reason,
                             current=f"workflow {how}; GET .../detail for its last known state")
    d = await detail(client, session_id)
    return SessionStatus(session_id=d.session_id, state=d.state, reason=d.reason, current=d.current,
                         hosts_total=len(d.hosts), hosts_maintained=sum(h.maintained for h in d.hosts))


async def reply(client: Client, session_id: str, body: ProjectReply) -> ReplyResult:
    """Hand a project's reply to the running session as an Update (its validator answers 4xx).

    `body.not_after` is the request's deadline: the route's deadline (api/deadline.py) bounds the wait, and the
    session refuses the reply if a worker takes it only after that."""
    handle, wf_status = await describe(client, session_id)
    if wf_status != Status.RUNNING:
        raise HTTPException(409, f"session {session_id} has ended; it takes no more replies")
    try:
        return await handle.execute_update(MaintenanceSessionWorkflow.reply, body)
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise  # the request's deadline: answered 503, no further call
        # Temporal gave up on the Update itself: tell an ended session (409) from a busy one (503).
        _, wf_status = await describe(client, session_id)
        if wf_status != Status.RUNNING:
            raise HTTPException(409, f"session {session_id} ended before it took the reply") from None
        raise
    except (RPCError, WorkflowUpdateFailedError) as err:
        # The session ended while the reply was on its way: Temporal aborts the Update ("workflow update was
        # aborted by closing workflow", a NOT_FOUND), which is the documented 409 of an ended session, not a 404.
        if isinstance(err, RPCError) and err.status != RPCStatusCode.NOT_FOUND:
            raise
        if isinstance(err, WorkflowUpdateFailedError) and "closing workflow" not in str(err.cause or err):
            raise
        _, wf_status = await describe(client, session_id)  # 404 if the session itself is gone
        if wf_status != Status.RUNNING:
            raise HTTPException(409, f"session {session_id} ended before it took the reply") from None
        raise
