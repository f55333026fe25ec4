"""Changing a session through Temporal: start it (once its hosts are leased), hand it a project's reply, abort it,
forget it once it has ended."""

from __future__ import annotations

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import (
    Client,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.service import RPCError, RPCStatusCode

from api.deadline import Deadline
from api.host_leases import MEMO_HOSTS, release_hosts, take_hosts
from api.registries import Registry
from api.reply_batch import ReplyLanes
from api.schemas import SessionCreate
from api.session_reads import SessionHandle
from fenix.constants import SA_SESSION_ID, SA_STATE, session_workflow_id
from fenix.models.abort import AbortInput
from fenix.models.reply import ProjectReply, ReplyResult
from fenix.models.session import MoveRetry, SessionInput, SessionState
from fenix.settings import Settings
from workflows.abort import SessionAbortWorkflow, abort_workflow_id
from workflows.catalog import SESSION_WORKFLOWS
from workflows.leases import HostLeasesWorkflow


def session_input(body: SessionCreate, session_id: str, settings: Settings, requested_by: str) -> SessionInput:
    """The session's workflow input: the request, and what the operator's settings fix."""
    return SessionInput(session_id=session_id, workflow=body.workflow, hosts=body.hosts,
                        maintenance_at=body.maintenance_at, metadata=body.metadata, actions=body.actions,
                        windows=body.reply_windows, default_action=body.default_action,
                        max_scale_in_rounds=body.max_scale_in_rounds,
                        move_retry=_move_retry(body.move_retry, settings),
                        max_parallel_hosts=body.max_parallel_hosts, warn_ahead=body.warn_ahead,
                        pause_after=body.pause_after, on_failure=body.on_failure, retire=body.retire,
                        api_url=settings.api_url, admin_project_id=settings.admin_project_id,
                        requested_by=requested_by, delivery_grace_s=settings.delivery_grace_s,
                        drain_limit_s=settings.notice_drain_limit_s)


def _move_retry(asked: MoveRetry, settings: Settings) -> MoveRetry:
    """The operator's cloud poll interval unless the request names its own."""
    if "poll_s" in asked.model_fields_set:
        return asked
    return asked.model_copy(update={"poll_s": settings.cloud_poll_s})


async def start_session(client: Client, leases: Registry[HostLeasesWorkflow], settings: Settings,
                        session: SessionInput, deadline: Deadline) -> None:
    """Lease the session's hosts (409 if a running session holds one of them), then start its workflow."""
    await take_hosts(leases, session.session_id, session.hosts, deadline)
    workflow_class = SESSION_WORKFLOWS[session.workflow]
    hosts = session.hosts
    try:
        await client.start_workflow(
            workflow_class.run, session, id=session_workflow_id(session.session_id), task_queue=settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=TypedSearchAttributes([
                SearchAttributePair(SA_SESSION_ID, session.session_id),
                SearchAttributePair(SA_STATE, SessionState.MAINTENANCE.value)]),
            static_summary=f"maintenance of {', '.join(hosts) if hosts else 'all compute hosts'}",
            memo={"requested_by": session.requested_by, MEMO_HOSTS: hosts})
    except RPCError as err:
        # Refused: the session does not exist, so its lease goes. A start that timed out may still have been
        # recorded: its lease stays, and lapses at a later grant if the session never appears.
        if err.status not in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
            await release_hosts(leases, session.session_id)
        raise


async def abort_session(client: Client, settings: Settings, handle: SessionHandle, session_id: str,
                        requested_by: str) -> None:
    """Cancel a running session. The cancel is recorded at once, worker or not; the abort workflow makes sure the
    session ends (workflows/abort.py). A second abort joins the first one's workflow."""
    await handle.cancel()
    await client.start_workflow(
        SessionAbortWorkflow.run, AbortInput(session_id=session_id, requested_by=requested_by,
                                             quiet_limit_s=settings.abort_quiet_limit_s),
        id=abort_workflow_id(session_id), task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        static_summary=f"abort of maintenance session {session_id}")


async def forget_session(client: Client, leases: Registry[HostLeasesWorkflow], settings: Settings,
                         handle: SessionHandle, session_id: str) -> None:
    """Delete an ended session's workflow from Temporal."""
    await release_hosts(leases, session_id)  # ended: its lease (if still recorded) holds nothing
    await client.workflow_service.delete_workflow_execution(DeleteWorkflowExecutionRequest(
        namespace=settings.temporal_namespace, workflow_execution=WorkflowExecution(workflow_id=handle.id)))


async def send_reply(client: Client, session_id: str, body: ProjectReply) -> ReplyResult:
    """Hand a project's reply to the running session: in the session's next batch of replies (api/reply_batch.py),
    where the workflow checks it as a single reply (a refusal answers 4xx, an ended session 409).

    `body.not_after` is the request's deadline: the route's deadline (api/deadline.py) bounds the wait, and the
    session refuses the reply if a worker takes it only after that."""
    return await ReplyLanes.of(client).send(session_id, body)
