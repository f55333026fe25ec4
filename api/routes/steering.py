"""Admin: steering a running session (`/v1/maintenance/{id}`: pause, resume, retry, skip; `PUT` reschedules).

Each is a Temporal Update on the session (workflows/session.py): its validator refuses what the session cannot
do now (409 with the reason, api/errors.py), and nothing of a refused request is written to the history. Who asked
(`actor`) is taken from the authenticated caller, never from the body.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body, HTTPException
from pydantic import BaseModel, ConfigDict, Field, field_validator
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError

from api.audit import audit
from api.auth import Principal
from api.deadline import BoundedRoute, DeadlineDep
from api.deps import AdminDep, ClientDep
from api.errors import update_met_workflow_end
from api.schemas import parse_time
from api.session_reads import describe_session
from fenix.models.session import ReplyWindows
from fenix.models.steering import RescheduleInput, RescheduleResult, SteerInput, SteerResult
from workflows.session import MaintenanceSessionWorkflow

router = APIRouter(prefix="/maintenance", tags=["maintenance"], route_class=BoundedRoute)


class SteerRequest(BaseModel):
    """Body of pause, resume, retry and skip (optional)."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field("", max_length=500, description="shown in the detail and the history")


class RescheduleRequest(BaseModel):
    """`PUT /v1/maintenance/{id}`: the new window of a session that has not started work."""

    model_config = ConfigDict(extra="forbid")  # a Fenix-era body with other keys is refused, never ignored

    maintenance_at: datetime = Field(description="UTC 'YYYY-MM-DD HH:MM:SS' or ISO 8601; in the past = now")
    reply_windows: ReplyWindows | None = Field(None, description="new reply windows; omitted: unchanged")

    @field_validator("maintenance_at", mode="before")
    @classmethod
    def _time(cls, v: object) -> datetime:
        return parse_time(v)


async def _update(client: Client, session_id: str, update: Any, arg: BaseModel) -> Any:
    """Run the session's Update `name`; 409 if the session has ended (also while the request was on its way)."""
    handle, status = await describe_session(client, session_id)
    if status != WorkflowExecutionStatus.RUNNING:
        raise HTTPException(409, f"session {session_id} has ended; it cannot be steered")
    try:
        return await handle.execute_update(update, arg)
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise  # the request's deadline: answered 503
        await _ended_meanwhile(client, session_id)
        raise
    except (RPCError, WorkflowUpdateFailedError) as err:
        if not update_met_workflow_end(err):
            raise
        await _ended_meanwhile(client, session_id)
        raise


async def _ended_meanwhile(client: Client, session_id: str) -> None:
    _, status = await describe_session(client, session_id)
    if status != WorkflowExecutionStatus.RUNNING:
        raise HTTPException(409, f"session {session_id} ended before it took the request") from None


async def _steer(client: Client, session_id: str, update: Any, who: Principal, body: SteerRequest | None,
                 deadline: DeadlineDep) -> SteerResult:
    reason = body.reason if body else ""
    # The audit log line; the session's own record gets its `steer` entry from the Update itself.
    audit(who, update.__name__, detail=reason, session_id=session_id)
    req = SteerInput(actor=who.name, reason=reason, not_after=deadline.not_after)
    result: SteerResult = await _update(client, session_id, update, req)
    return result


@router.post("/{session_id}/pause", response_model=SteerResult)
async def pause_session(session_id: str, admin: AdminDep, client: ClientDep, deadline: DeadlineDep,
                        body: SteerRequest | None = Body(None)) -> SteerResult:
    """Pause: no new host and no new instance action starts; running ones finish; replies are still taken, and
    reply deadlines are extended by the paused time. 409 if already paused or ending."""
    return await _steer(client, session_id, MaintenanceSessionWorkflow.pause, admin, body, deadline)


@router.post("/{session_id}/resume", response_model=SteerResult)
async def resume_session(session_id: str, admin: AdminDep, client: ClientDep, deadline: DeadlineDep,
                         body: SteerRequest | None = Body(None)) -> SteerResult:
    """Resume a paused session. 409 if not paused, or parked on a failure (choose retry or skip)."""
    return await _steer(client, session_id, MaintenanceSessionWorkflow.resume, admin, body, deadline)


@router.post("/{session_id}/retry", response_model=SteerResult)
async def retry_failed_host(session_id: str, admin: AdminDep, client: ClientDep, deadline: DeadlineDep,
                            body: SteerRequest | None = Body(None)) -> SteerResult:
    """A session parked on a failed host (`on_failure: pause`): maintain that host again. 409 if not parked."""
    return await _steer(client, session_id, MaintenanceSessionWorkflow.retry, admin, body, deadline)


@router.post("/{session_id}/skip", response_model=SteerResult)
async def skip_failed_host(session_id: str, admin: AdminDep, client: ClientDep, deadline: DeadlineDep,
                           body: SteerRequest | None = Body(None)) -> SteerResult:
    """A session parked on a failed host: leave it disabled and go on with the others. 409 if not parked."""
    return await _steer(client, session_id, MaintenanceSessionWorkflow.skip, admin, body, deadline)


@router.put("/{session_id}", response_model=RescheduleResult)
async def reschedule_session(session_id: str, body: RescheduleRequest, admin: AdminDep, client: ClientDep,
                             deadline: DeadlineDep) -> RescheduleResult:
    """Move `maintenance_at` (and the reply windows) of a session still waiting for its window; the projects are
    sent MAINTENANCE again with the new time. 409 once the session has started work, 422 for a bad body."""
    audit(admin, "reschedule", detail=f"maintenance_at {body.maintenance_at.isoformat()}", session_id=session_id)
    req = RescheduleInput(actor=admin.name, maintenance_at=body.maintenance_at, windows=body.reply_windows,
                          not_after=deadline.not_after)
    result: RescheduleResult = await _update(client, session_id, MaintenanceSessionWorkflow.reschedule, req)
    return result
