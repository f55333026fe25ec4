"""Messages of the host-lease registry (workflows/leases.py): which running session holds which hosts."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from fenix.models.deadline import Deadlined


class Lease(BaseModel):
    session_id: str
    hosts: list[str] = Field(default_factory=list)  # empty: every compute host
    taken_at: datetime


class LeaseRequest(Deadlined):
    """Take `hosts` (empty: all) for a session about to start; refused if a running session holds any of them."""

    session_id: str
    hosts: list[str] = Field(default_factory=list)


class LeaseGranted(BaseModel):
    session_id: str
    released_stale: list[str] = Field(default_factory=list)  # sessions whose leases were found ended and dropped


class LeaseRelease(BaseModel):
    session_id: str


class LeaseReleased(BaseModel):
    released: bool


class LeasesState(BaseModel):
    """Carried over continue-as-new."""

    leases: list[Lease] = Field(default_factory=list)


class HeldQuery(BaseModel):
    """Query `held`: the leases holding `host` (None: every lease)."""

    host: str | None = None


class SessionsQuery(BaseModel):
    session_ids: list[str] = Field(default_factory=list)


class SessionsLiveness(BaseModel):
    """What Temporal says about sessions: running, or never started (absent); the others have ended."""

    running: list[str] = Field(default_factory=list)
    absent: list[str] = Field(default_factory=list)
