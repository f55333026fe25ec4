"""Inputs and results of a session's abort (workflows/abort.py) and of the activities it uses."""

from __future__ import annotations

from pydantic import BaseModel, Field


class AbortInput(BaseModel):
    session_id: str
    requested_by: str = ""
    # How long a cancelled session may go without a single new history event before it is taken for wedged.
    quiet_limit_s: float = 900.0
    # A session whose workflow task has failed this many times in a row cannot make progress (broken code, a
    # history it cannot replay, an input it cannot decode): it is wedged at once.
    failed_task_attempts: int = 3
    poll_s: float = 2.0


class AbortResult(BaseModel):
    session_id: str
    outcome: str  # "ended": the session ran its own cleanup; "terminated": it was wedged, Fenix cleaned up for it
    reason: str = ""
    hosts_enabled: list[str] = Field(default_factory=list)


class SessionRef(BaseModel):
    session_id: str
    reason: str = ""


class SessionProbe(BaseModel):
    """What Temporal says about a session's workflow: is it closed, is its workflow task failing, does it move."""

    closed: bool
    status: str
    task_attempt: int = 0  # of the pending workflow task (1 normally; more when it keeps failing)
    history_length: int = 0


class DisabledHosts(BaseModel):
    hosts: list[str] = Field(default_factory=list)
