"""HTTP request and response bodies (Fenix v1 compatible, with documented extensions)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from fenix import plugins
from fenix.models.limits import MAX_ACTIONS, MAX_HOST_NAME, MAX_HOSTS, FreeMetadata, check_free_json
from fenix.models.notification import FENIX_TIME_FORMAT
from fenix.models.session import ActionSpec, InstanceAction, MoveRetry, ReplyWindows, SessionState
from workflows.catalog import SESSION_WORKFLOWS

MAX_REPLY_WINDOW_S = 30 * 24 * 3600
# Non-empty (not only spaces) in the schema too, so clients and fuzzers see the rule; `_hosts` says why at runtime.
HostName = Annotated[str, Field(max_length=MAX_HOST_NAME, json_schema_extra={"minLength": 1, "pattern": r"\S"})]


def parse_time(value: object) -> datetime:
    """Fenix's 'YYYY-MM-DD HH:MM:SS' (UTC) or ISO 8601; a time without zone is UTC."""
    if isinstance(value, datetime):
        at = value
    elif isinstance(value, str):
        text = value.strip()
        try:
            at = datetime.strptime(text, FENIX_TIME_FORMAT)
        except ValueError:
            try:
                at = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(f"{value!r} is neither 'YYYY-MM-DD HH:MM:SS' (UTC) nor ISO 8601") from None
    else:
        raise ValueError("must be a time string")
    try:
        return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:00:00-05:00 is after the last representable instant
        raise ValueError(f"{value!r} is out of range in UTC") from None


class SessionCreate(BaseModel):
    """`POST /v1/maintenance`. Unknown keys are rejected so a typo never silently changes a session."""

    model_config = ConfigDict(extra="forbid")

    hosts: list[HostName] = Field(default_factory=list, max_length=MAX_HOSTS,
                                  description="hosts to maintain; empty: every compute host")
    state: str | None = Field(None, description="Fenix clients send MAINTENANCE; any other value is refused",
                              json_schema_extra={"enum": [SessionState.MAINTENANCE.value, None]})
    maintenance_at: datetime = Field(description="UTC 'YYYY-MM-DD HH:MM:SS' or ISO 8601; in the past = now")
    # Bounded in depth and size: the worker must be able to decode the session's own input (docs/security.md).
    metadata: FreeMetadata = Field(default_factory=dict, description="told to projects, e.g. new capabilities")
    workflow: str = "default"
    download: list[Annotated[str, Field(max_length=2000)]] = Field(
        default_factory=list, max_length=100, description="accepted for Fenix compatibility; unused")
    actions: list[ActionSpec] = Field(default_factory=list, max_length=MAX_ACTIONS,
                                      description="action plug-ins in the order to run")
    reply_windows: ReplyWindows = Field(default_factory=ReplyWindows, description="seconds to reply, per notice")
    default_action: InstanceAction = Field(InstanceAction.LIVE_MIGRATE,
                                           description="action for instances whose project did not choose",
                                           json_schema_extra={"enum": ["MIGRATE", "LIVE_MIGRATE", "OWN_ACTION"]})
    max_scale_in_rounds: int = Field(3, ge=0, le=20)
    move_retry: MoveRetry = Field(default_factory=MoveRetry,
                                  description="how long a refused or failed move is tried again")
    max_parallel_hosts: int = Field(4, ge=1, le=1000, description="vnf: most hosts emptied and maintained at once")
    warn_ahead: bool = Field(True, description="vnf: warn instances of the hosts likely to start next, so their "
                                               "lead time runs while the current hosts are emptied")

    @field_validator("maintenance_at", mode="before")
    @classmethod
    def _time(cls, v: object) -> datetime:
        return parse_time(v)

    @field_validator("default_action")
    @classmethod
    def _default_action(cls, v: InstanceAction) -> InstanceAction:
        if v == InstanceAction.EVICTION:
            raise ValueError("EVICTION is not an action of the default workflow; use MIGRATE, LIVE_MIGRATE "
                             "or OWN_ACTION")
        return v

    @field_validator("reply_windows")
    @classmethod
    def _windows(cls, v: ReplyWindows) -> ReplyWindows:
        # Infinity would reach the workflow as null (it could not decode its input and would hang), and
        # deadlines past year 9999 overflow inside the workflow: either way a session stuck for good.
        for name, seconds in v.model_dump().items():
            if not math.isfinite(seconds) or seconds > MAX_REPLY_WINDOW_S:
                raise ValueError(f"{name}: at most {MAX_REPLY_WINDOW_S} seconds (30 days), not {seconds!r}")
        return v

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, v: list[str]) -> list[str]:
        if any(not h.strip() for h in v):
            raise ValueError("host names must not be empty")
        dup = sorted({h for h in v if v.count(h) > 1})
        if dup:
            raise ValueError(f"duplicate host(s): {', '.join(dup)}")
        return v

    @field_validator("state")
    @classmethod
    def _state(cls, v: str | None) -> str | None:
        if v not in (None, SessionState.MAINTENANCE.value):
            raise ValueError("a session always starts in MAINTENANCE")
        return v

    @field_validator("workflow")
    @classmethod
    def _workflow(cls, v: str) -> str:
        if v not in SESSION_WORKFLOWS:
            raise ValueError(f"unknown workflow {v!r}; available: {', '.join(sorted(SESSION_WORKFLOWS))}")
        return v

    @model_validator(mode="after")
    def _actions(self) -> SessionCreate:
        known = plugins.available()
        for i, spec in enumerate(self.actions):
            check_free_json(spec.metadata, f"actions[{i}].metadata")
            if spec.plugin not in known:
                raise ValueError(f"actions[{i}]: unknown plug-in {spec.plugin!r}; available: {', '.join(known)}")
            try:
                plugins.validate_metadata(spec.plugin, spec.metadata)
            except ValueError as err:
                raise ValueError(f"actions[{i}] ({spec.plugin}): {err}") from None
        return self


class SessionCreated(BaseModel):
    session_id: str


class SessionList(BaseModel):
    sessions: list[str]


class SessionStatusOut(BaseModel):
    session_id: str
    state: SessionState
    reason: str | None = None
    current: str = ""
    hosts_total: int = 0
    hosts_maintained: int = 0


class ProjectInstancesOut(BaseModel):
    instance_ids: list[str]


class HostMaintenanceStatus(BaseModel):
    host: str
    in_maintenance: bool
    sessions: list[str] = Field(default_factory=list)
