"""What a running session tells the metrics census (its `gauges` query): small, unlike its `detail`."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from fenix.models.session import HostPhase, SessionState


class HostWait(BaseModel):
    """One thing a host waits for (the figure behind one kind of `held_by` line), since when."""

    reason: str  # reply, own_action, notice_delivery, group_budget, moving, eviction, move_retry, capacity, ...
    project_id: str = ""  # the project it waits on; "" when it waits on Fenix or the cloud
    since: datetime


class HostGauges(BaseModel):
    host: str
    phase: HostPhase
    disabled_at: datetime | None = None  # when this session disabled it; None: not disabled by it now
    plan_s: float | None = None  # how long the session planned it to stay disabled at most
    waits: list[HostWait] = Field(default_factory=list)


class SessionGauges(BaseModel):
    session_id: str
    workflow: str
    state: SessionState
    last_progress_at: datetime  # the last history entry (or the start)
    waiting_until: datetime | None = None  # the latest deadline it is waiting for (a reply, maintenance_at, ...)
    hosts: list[HostGauges] = Field(default_factory=list)
