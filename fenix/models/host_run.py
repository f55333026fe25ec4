"""Messages between the session workflow and its per-host child workflow."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from fenix.models.session import ActionSpec, HostPhase, InstanceAction, MoveRetry, PluginRunRecord


class HostMaintenanceInput(BaseModel):
    session_id: str
    host: str
    parent_workflow_id: str
    disable_reason: str = ""  # what the session wrote on the host; only a host carrying it is enabled again
    plan: dict[str, InstanceAction] = Field(default_factory=dict)  # instance id -> chosen action
    owners: dict[str, str] = Field(default_factory=dict)  # instance id -> project id
    default_action: InstanceAction = InstanceAction.LIVE_MIGRATE
    own_action_timeout_s: float = 600
    move_retry: MoveRetry = Field(default_factory=MoveRetry)
    preferred_hosts: list[str] = Field(default_factory=list)  # maintained: move instances there first
    avoid_hosts: list[str] = Field(default_factory=list)  # still to be maintained: last resort
    actions: list[ActionSpec] = Field(default_factory=list)  # host and compute plug-ins, in order
    session_metadata: dict[str, Any] = Field(default_factory=dict)
    api_url: str
    admin_project_id: str


class InstanceOutcome(BaseModel):
    instance_id: str
    project_id: str
    action: InstanceAction
    done: bool
    host: str | None = None
    fallback: str | None = None  # why a different action than asked was used
    error: str | None = None
    seconds: float = 0.0


class ForwardedNotice(BaseModel):
    """An informational notice a host workflow asks its session to send (the session's outbox keeps each
    project's notices in one order, and its deliveries do not hold back the host)."""

    event_type: str
    project_id: str | None
    payload: dict[str, Any]


class HostProgress(BaseModel):
    """Signal from a host workflow to its session, so the session's detail shows live progress."""

    host: str
    phase: HostPhase | None = None
    instance: InstanceOutcome | None = None
    plugin_run: PluginRunRecord | None = None
    note: str = ""
    notice: ForwardedNotice | None = None


class HostMaintenanceResult(BaseModel):
    host: str
    instances: list[InstanceOutcome] = Field(default_factory=list)
    plugin_runs: list[PluginRunRecord] = Field(default_factory=list)
    enabled: bool = False
