"""Messages between the session workflow and its per-host child workflow."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from fenix.models.capabilities import HostFacts
from fenix.models.session import ActionSpec, HostPhase, InstanceAction, MoveRetry, PluginRunRecord


class PlacementRule(BaseModel):
    """A registered instance group's rule for placement: at most `max_per_host` of `members` on one host
    (1 for an anti-affinity group, else its `max_instances_per_host`)."""

    group_id: str
    members: list[str]
    max_per_host: int = Field(ge=1)


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
    rules: list[PlacementRule] = Field(default_factory=list)  # registered group rules the moves respect
    actions: list[ActionSpec] = Field(default_factory=list)  # host and compute plug-ins, in order
    session_metadata: dict[str, Any] = Field(default_factory=dict)
    api_url: str
    admin_project_id: str
    read_facts: bool = False  # the enable_host activity also reads the host's facts (patch CAPABILITIES)
    # Set: a `retire` session; once empty the host gets this reason instead of plug-ins and enable.
    retire_reason: str | None = None


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
    facts: HostFacts | None = None  # read as the host was enabled again (with `read_facts`)
    retired: bool = False


# How an OWN_ACTION wait counts its time. "waits": the sum of its own timers, no clock reading (the lane's). The
# others replay sessions of earlier releases (docs/upgrading.md; remove with their patches): "host-0.1", the host
# child before ONE_LANE (workflow.now() against a deadline, a fixed poll); "recorded", the vnf flow before
# CLOCK_IN_LOOP (the recorded clock, workflows/clock.py).
OwnActionClock = Literal["waits", "host-0.1", "recorded"]


class InstanceRequest(BaseModel):
    """What the instance lane (workflows/lane.py) is to do with one instance, for either flow."""

    instance_id: str
    project_id: str
    source_host: str
    action: InstanceAction
    # Where a move goes. None: the lane places it on a fresh snapshot (the default flow); the vnf planner names it.
    target: str | None = None
    preferred_hosts: list[str] = Field(default_factory=list)  # with target None: maintained hosts, tried first
    avoid_hosts: list[str] = Field(default_factory=list)  # with target None: hosts still to do, tried last
    rules: list[PlacementRule] = Field(default_factory=list)  # with target None: registered group rules
    fallback: bool = True  # a failed move is tried once more as the other move
    rounds: bool = True  # refused moves are tried again until move_retry's window ends (False: the caller retries)
    move_retry: MoveRetry = Field(default_factory=MoveRetry)
    expected_s: float = 0.0  # the cloud's estimate of the move: the first look at it comes after that long
    own_action_window_s: float = 600
    own_action_clock: OwnActionClock = "waits"
    note: str | None = None  # why the lane does this and not what the owner chose (shown as the outcome's fallback)
