"""Steering a running session: pause, resume, the operator's choice after a parked failure, reschedule.

The Update inputs carry `actor`, who asked (the API fills it from the authenticated caller, never from the body),
so the detail and the audit log can name them.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from fenix.models.deadline import Deadlined
from fenix.models.session import OnFailure, PauseAfter, ReplyWindows, SteeringState

__all__ = ["Choice", "OnFailure", "PauseAfter", "RescheduleInput", "RescheduleResult", "SteerInput", "SteerResult"]


class SteerInput(Deadlined):
    """`pause`, `resume`, `retry`, `skip`: who asks, and why (free text shown in the detail)."""

    model_config = ConfigDict(extra="forbid")

    actor: str = ""
    reason: str = Field("", max_length=500)


class Choice(StrEnum):
    """What the operator chose for a parked failure."""

    RETRY = "retry"
    SKIP = "skip"


class SteerResult(BaseModel):
    session_id: str
    steering: SteeringState
    detail: str = ""


class RescheduleInput(Deadlined):
    """`PUT /v1/maintenance/{id}`: a new `maintenance_at` (and reply windows) for a session still waiting for it."""

    model_config = ConfigDict(extra="forbid")

    actor: str = ""
    maintenance_at: AwareDatetime
    windows: ReplyWindows | None = None


class RescheduleResult(BaseModel):
    session_id: str
    maintenance_at: datetime
    windows: ReplyWindows
    projects_notified: list[str] = Field(default_factory=list)
