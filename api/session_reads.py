"""Reading a session from Temporal: a query while it runs, its result once it has ended, and what Temporal alone
knows of a session whose workflow was terminated."""

from __future__ import annotations

from fastapi import HTTPException
from pydantic import ValidationError
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from api.errors import SessionNotFound, is_not_found
from fenix.constants import session_workflow_id
from fenix.models.abort import AbortResult
from fenix.models.session import ProjectInstancesQuery, SessionDetail, SessionState, SessionStatus
from fenix.models.session_pages import (
    HistoryPage,
    HistoryPageQuery,
    HostPage,
    HostPageQuery,
    InstancePage,
    InstancePageQuery,
    page_history,
    page_hosts,
    page_instances,
    summarize,
)
from workflows.abort import abort_workflow_id
from workflows.session import MaintenanceSessionWorkflow

SessionHandle = WorkflowHandle[MaintenanceSessionWorkflow, SessionDetail]


async def describe_session(client: Client, session_id: str) -> tuple[SessionHandle, WorkflowExecutionStatus | None]:
    """The session's workflow handle and Temporal status; SessionNotFound (404) if there is no such session."""
    handle = client.get_workflow_handle_for(MaintenanceSessionWorkflow.run, session_workflow_id(session_id))
    try:
        description = await handle.describe()
    except RPCError as err:
        if is_not_found(err):
            raise SessionNotFound(session_id) from err
        raise
    return handle, description.status


async def _summary(handle: SessionHandle) -> SessionDetail:
    try:
        return await handle.query(MaintenanceSessionWorkflow.summary)
    except WorkflowQueryFailedError as err:
        # A worker of a release before the bounded reads (an upgrade in progress): its whole detail, bounded here.
        if "unknown queryType" not in str(err):
            raise
        return summarize(await handle.query(MaintenanceSessionWorkflow.detail))


async def _result(handle: SessionHandle) -> SessionDetail:
    """An ended session's result. One that is not a session's detail (a workflow of another program registered under
    the session's type on the same namespace) is the upstream's fault, told as such: a 502 naming it, not a 500."""
    try:
        return await handle.result()
    except ValidationError as err:
        raise HTTPException(502, f"workflow {handle.id} ended with a result that is not a Fenix session's "
                                 f"({err.error_count()} error(s), e.g. {err.errors()[0]['msg']})") from None


async def read_detail(client: Client, session_id: str) -> SessionDetail:
    """The session's detail, bounded (fenix/models/session_pages.py `summarize`; docs/api.md#session-detail)."""
    handle, status = await describe_session(client, session_id)
    if status == WorkflowExecutionStatus.RUNNING:
        return await _summary(handle)
    if status == WorkflowExecutionStatus.COMPLETED:
        # Sessions that ended before the bounded result returned their whole detail.
        return summarize(await _result(handle))
    # Terminated: by the abort of a wedged session (its result says why), or outside Fenix (an operator used the
    # Temporal CLI). The last known state is what a query on the closed workflow replays, if its code still can.
    abort = await abort_result(client, session_id)
    wedged = abort is not None and abort.outcome == "terminated"
    try:
        last = await _summary(handle)
    except (WorkflowQueryFailedError, RPCError) as err:
        if isinstance(err, RPCError) and err.status != RPCStatusCode.FAILED_PRECONDITION:
            raise  # unreachable or slow: the usual 503
        # The session's code cannot replay it (why it was wedged), or Temporal refuses to query a workflow whose
        # last task failed: what Temporal itself knows.
        description = await handle.describe()
        last = SessionDetail(session_id=session_id, workflow="unknown", maintenance_at=description.start_time,
                             current="the session's workflow could not be replayed to show its last state")
    last.state = SessionState.MAINTENANCE_FAILED
    if wedged and abort is not None:
        last.reason, last.aborted = abort.reason, True
    else:
        last.reason = last.reason or f"workflow {status.name.lower() if status else 'ended'} outside Fenix"
    return last


async def abort_result(client: Client, session_id: str) -> AbortResult | None:
    """The result of the session's abort workflow, if one ran to its end."""
    handle = client.get_workflow_handle(abort_workflow_id(session_id), result_type=AbortResult)
    try:
        if (await handle.describe()).status != WorkflowExecutionStatus.COMPLETED:
            return None
        result: AbortResult = await handle.result()
        return result
    except RPCError as err:
        if is_not_found(err):
            return None
        raise


async def read_status(client: Client, session_id: str) -> SessionStatus:
    handle, status = await describe_session(client, session_id)
    if status == WorkflowExecutionStatus.RUNNING:
        return await handle.query(MaintenanceSessionWorkflow.status)
    if status != WorkflowExecutionStatus.COMPLETED:
        # Terminated or failed outside the session's code: its last state needs a worker to replay it (the detail
        # view does that); the status answers from Temporal alone, so a list of sessions never waits on one.
        abort = await abort_result(client, session_id)
        how = status.name.lower() if status else "ended"
        reason = abort.reason if abort is not None and abort.outcome == "terminated" else \
            f"workflow {how} outside Fenix"
        return SessionStatus(session_id=session_id, state=SessionState.MAINTENANCE_FAILED, reason=reason,
                             current=f"workflow {how}; GET .../detail for its last known state")
    detail = await read_detail(client, session_id)
    return SessionStatus(session_id=detail.session_id, state=detail.state, reason=detail.reason,
                         current=detail.current, hosts_total=detail.hosts_total or len(detail.hosts),
                         hosts_maintained=detail.hosts_maintained or sum(host.maintained for host in detail.hosts))


async def read_project_instances(client: Client, session_id: str, project_id: str) -> list[str] | None:
    """The project's instances the session asks about now (all of them in the session once it has ended); None
    for a project that is not in the session."""
    handle, status = await describe_session(client, session_id)
    detail = None if status == WorkflowExecutionStatus.RUNNING else await read_detail(client, session_id)
    if detail is None or {"projects", "instances"} & set(detail.truncated):
        # Running, or ended with a summary that lacks some: the workflow answers (replayed by a worker if ended).
        found = await handle.query(MaintenanceSessionWorkflow.project_instances,
                                   ProjectInstancesQuery(project_id=project_id))
        return found.instance_ids if found.known else None
    if not any(project.project_id == project_id for project in detail.projects):
        return None
    return [instance.instance_id for instance in detail.instances if instance.project_id == project_id]


async def _ended_result(handle: SessionHandle, status: WorkflowExecutionStatus | None,
                        part: str) -> SessionDetail | None:
    """An ended session's result, if it holds all of `part` (a result is a summary: a large session's is cut)."""
    if status != WorkflowExecutionStatus.COMPLETED:
        return None
    result = await _result(handle)
    return None if part in result.truncated else result


# A page is read from the result of an ended session when it holds the whole list (no worker needed), else with a
# query: on a running session, or on an ended one whose result was cut (a worker replays its history to answer).
async def read_hosts(client: Client, session_id: str, q: HostPageQuery) -> HostPage:
    handle, status = await describe_session(client, session_id)
    result = await _ended_result(handle, status, "hosts")
    return page_hosts(result, q) if result else await handle.query(MaintenanceSessionWorkflow.hosts_page, q)


async def read_instances(client: Client, session_id: str, q: InstancePageQuery) -> InstancePage:
    handle, status = await describe_session(client, session_id)
    result = await _ended_result(handle, status, "instances")
    return page_instances(result, q) if result else \
        await handle.query(MaintenanceSessionWorkflow.instances_page, q)


async def read_history(client: Client, session_id: str, q: HistoryPageQuery) -> HistoryPage:
    handle, status = await describe_session(client, session_id)
    result = await _ended_result(handle, status, "history")
    return page_history(result, q) if result else await handle.query(MaintenanceSessionWorkflow.history_page, q)
