"""Maintenance session: input, states, and the state model that queries and the API show."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from fenix.models.audit import Actor
from fenix.models.capabilities import HostChanges, HostFacts, Usage


class SessionState(StrEnum):
    """Fenix session states (compatible names), plus the engine's own sub-steps in `detail`."""

    MAINTENANCE = "MAINTENANCE"
    SCALE_IN = "SCALE_IN"
    PREPARE_MAINTENANCE = "PREPARE_MAINTENANCE"
    START_MAINTENANCE = "START_MAINTENANCE"
    PLANNED_MAINTENANCE = "PLANNED_MAINTENANCE"
    MAINTENANCE_COMPLETE = "MAINTENANCE_COMPLETE"
    MAINTENANCE_DONE = "MAINTENANCE_DONE"
    MAINTENANCE_FAILED = "MAINTENANCE_FAILED"

    @property
    def terminal(self) -> bool:
        return self in {SessionState.MAINTENANCE_DONE, SessionState.MAINTENANCE_FAILED}


# States in which the engine asks projects and waits for ACK_<state>/NACK_<state>.
REPLY_STATES = frozenset({
    SessionState.MAINTENANCE,
    SessionState.SCALE_IN,
    SessionState.PREPARE_MAINTENANCE,
    SessionState.PLANNED_MAINTENANCE,
    SessionState.MAINTENANCE_COMPLETE,
})


class InstanceAction(StrEnum):
    MIGRATE = "MIGRATE"
    LIVE_MIGRATE = "LIVE_MIGRATE"
    OWN_ACTION = "OWN_ACTION"
    EVICTION = "EVICTION"


# The engine's own moves (the others are the project's own action, or deleting the instance).
MOVE_ACTIONS = frozenset({InstanceAction.MIGRATE, InstanceAction.LIVE_MIGRATE})

DEFAULT_ALLOWED_ACTIONS = [InstanceAction.MIGRATE, InstanceAction.LIVE_MIGRATE, InstanceAction.OWN_ACTION]


class ActionType(StrEnum):
    """When an action plug-in runs: once before the hosts, on every host, on compute hosts, once after; a gate
    before each host that follows a maintained one (workflows/gate.py)."""

    PRE = "pre"
    HOST = "host"
    COMPUTE = "compute"
    POST = "post"
    GATE = "gate"


class ActionSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a typo must not silently drop a setting

    plugin: str
    type: ActionType
    metadata: dict[str, Any] = Field(default_factory=dict)


class MoveRetry(BaseModel):
    """How long a refused or failed move is tried again before the session gives up on it.

    Real Nova's scheduler may still count a server on the host it just left for up to two minutes, so it
    refuses an anti-affinity peer that Fenix (reading Placement) rightly sees room for. A later try works.
    """

    model_config = ConfigDict(extra="forbid")

    window_s: float = Field(180, ge=0, le=3600)  # 0: no retry, fail after the fallback move
    interval_s: float = Field(30, gt=0, le=600)
    poll_s: float = Field(2, gt=0, le=60)  # how often a running move is looked at (a durable timer)


class ReplyWindows(BaseModel):
    """Seconds a project has to answer each kind of notice.

    Minutes, not Fenix's 20 s: a VNFM may have to scale through an orchestrator before it can answer.
    """

    model_config = ConfigDict(extra="forbid")  # {"prepar": 5} must be an error, not the default window

    maintenance: float = Field(300, gt=0)
    scale_in: float = Field(900, gt=0)
    prepare: float = Field(300, gt=0)  # PREPARE_MAINTENANCE and PLANNED_MAINTENANCE
    complete: float = Field(600, gt=0)
    own_action: float = Field(600, gt=0)  # how long a project may take to move an OWN_ACTION instance


# `pause_after`: "never" (default), "batch" (whenever a host has been maintained and others remain), or N (once,
# when the first N hosts are maintained: a canary).
PauseAfter = Literal["never", "batch"] | Annotated[int, Field(ge=1, le=100_000)]
OnFailure = Literal["fail", "pause"]


class SessionInput(BaseModel):
    """Everything a session needs; fixed when the workflow starts."""

    session_id: str
    workflow: str = "default"
    hosts: list[str] = Field(default_factory=list)  # empty: every compute host
    maintenance_at: datetime
    metadata: dict[str, Any] = Field(default_factory=dict)
    actions: list[ActionSpec] = Field(default_factory=list)
    windows: ReplyWindows = Field(default_factory=ReplyWindows)
    default_action: InstanceAction = InstanceAction.LIVE_MIGRATE
    max_scale_in_rounds: int = 3
    move_retry: MoveRetry = Field(default_factory=MoveRetry)
    # `vnf` only: hosts emptied and maintained at once (an upper bound; capacity and constraints decide below it),
    # and whether instances of the hosts likely to start next are warned ahead so their lead time runs meanwhile.
    max_parallel_hosts: int = Field(4, ge=1, le=1000)
    warn_ahead: bool = True
    api_url: str = "http://127.0.0.1:12347/v1"  # public base for reply_url and instance_ids links
    admin_project_id: str = "admin"
    requested_by: str = ""
    requested_by_actor: Actor | None = None  # who started it, for the audit record (set by the API)
    # From the operator's settings (FENIX_DELIVERY_GRACE_S, FENIX_NOTICE_DRAIN_LIMIT_S): how much longer than its
    # window a notice that needs an answer may take to reach its project before the default applies, and how long
    # the end of a session waits for notices still being retried (docs/notifications.md#delivery).
    delivery_grace_s: float = 15.0
    drain_limit_s: float = 60.0
    # Steering (fenix/models/steering.py, workflows/steering.py): when the session pauses by itself, and whether a
    # failed host parks the session (paused, waiting for retry/skip/abort) instead of failing it.
    pause_after: PauseAfter = "never"
    on_failure: OnFailure = "fail"
    # Retire the hosts (use case 9): emptied with the same conversation, then left disabled for good, not upgraded.
    retire: bool = False


class HostPhase(StrEnum):
    PENDING = "PENDING"
    DISABLED = "DISABLED"
    EVACUATING = "EVACUATING"
    IN_MAINTENANCE = "IN_MAINTENANCE"
    MAINTAINED = "MAINTAINED"
    FAILED = "FAILED"
    RETIRED = "RETIRED"  # emptied and left disabled for good (a `retire` session); also `maintained` (done)


class HostRecord(BaseModel):
    name: str
    type: str = "compute"
    phase: HostPhase = HostPhase.PENDING
    disabled_by_session: bool = False
    maintained: bool = False
    retired: bool = False  # `retire`: emptied and left disabled; never a target, never enabled again
    skipped: bool = False  # its failure was skipped by the operator: left disabled, not maintained
    held_by: list[str] = Field(default_factory=list)  # `vnf`: what keeps this host from its next step, now
    # Read as the session disabled it and as it enabled it again (workflows/capabilities.py); None: not read (a
    # session older than the CAPABILITIES patch, or a host not yet that far).
    capabilities_before: HostFacts | None = None
    capabilities_after: HostFacts | None = None
    changes: HostChanges | None = None

    @field_serializer("capabilities_before", "capabilities_after")
    def _brief(self, facts: HostFacts | None) -> dict[str, Any] | None:
        return None if facts is None else facts.brief()


class ProjectRecord(BaseModel):
    project_id: str
    state: str | None = None  # last state asked (e.g. PLANNED_MAINTENANCE) or reply (ACK_...)
    awaiting: bool = False
    subscribed: bool | None = None  # None until the first notice is sent
    asked_instances: list[str] = Field(default_factory=list)
    allowed_actions: list[InstanceAction] = Field(default_factory=list)
    reply_at: datetime | None = None
    usage_at_start: Usage | None = None  # all its instances in the cloud at the session's first look


class InstanceRecord(BaseModel):
    instance_id: str
    name: str
    project_id: str
    host: str | None
    original_host: str | None = None
    action: InstanceAction | None = None
    action_source: str | None = None  # "reply" or "default"
    action_done: bool = False
    error: str | None = None
    # `vnf` only: the instance's own conversation and pacing.
    group_id: str | None = None
    notified_at: datetime | None = None
    actions_at: datetime | None = None
    action_started_at: datetime | None = None
    action_done_at: datetime | None = None
    target: str | None = None


class HistoryEntry(BaseModel):
    at: datetime
    kind: str  # state, notice, reply, default, host, action, plugin, info, error, audit
    state: str | None = None
    project_id: str | None = None
    host: str | None = None
    detail: str = ""
    actor: Actor | None = None  # who did it: an admin's action (kind audit), a project's reply


class PluginRunRecord(BaseModel):
    plugin: str
    type: ActionType
    host: str | None
    state: str
    output: str = ""
    duration_s: float = 0.0


class Parked(BaseModel):
    """A failure the session is parked on (`on_failure: pause`), waiting for retry, skip or abort."""

    host: str
    error: str
    at: datetime


class SteeringState(BaseModel):
    """Shown in the detail (`steering`), the CLI and the Web UI's current details."""

    paused: bool = False
    paused_by: str | None = None
    paused_at: datetime | None = None
    pause_reason: str | None = None
    paused_total_s: float = 0.0  # all closed pauses; reply deadlines are extended by the part inside their window
    parked: Parked | None = None
    resumed_by: str | None = None
    skipped_hosts: list[str] = Field(default_factory=list)
    rescheduled_by: str | None = None


class SessionDetail(BaseModel):
    """The whole state of a session (the `detail` query); bounded by `summarize`, the workflow result and the API's
    detail view."""

    session_id: str
    workflow: str
    state: SessionState = SessionState.MAINTENANCE
    reason: str | None = None
    maintenance_at: datetime
    metadata: dict[str, Any] = Field(default_factory=dict)
    current: str = ""
    hosts: list[HostRecord] = Field(default_factory=list)
    projects: list[ProjectRecord] = Field(default_factory=list)
    instances: list[InstanceRecord] = Field(default_factory=list)
    history: list[HistoryEntry] = Field(default_factory=list)
    plugin_runs: list[PluginRunRecord] = Field(default_factory=list)
    aborted: bool = False
    steering: SteeringState = Field(default_factory=SteeringState)
    # The history is a ring (fenix/models/session_pages.py LOG_MAX): how many older entries it no longer holds.
    history_dropped: int = 0
    # Set only in a summary (`summarize`): the lists' full lengths, and which lists it cut (docs/api.md).
    hosts_total: int | None = None
    hosts_maintained: int | None = None
    instances_total: int | None = None
    projects_total: int | None = None
    truncated: list[str] = Field(default_factory=list)

    def host(self, name: str) -> HostRecord:
        return next(h for h in self.hosts if h.name == name)

    def project(self, project_id: str) -> ProjectRecord:
        return next(p for p in self.projects if p.project_id == project_id)

    def instance(self, instance_id: str) -> InstanceRecord | None:
        return next((i for i in self.instances if i.instance_id == instance_id), None)


class SessionStatus(BaseModel):
    """Short form for `GET /v1/maintenance/{id}` and the progress display."""

    session_id: str
    state: SessionState
    reason: str | None = None
    current: str = ""
    hosts_total: int = 0
    hosts_maintained: int = 0
    paused: bool = False
    paused_by: str | None = None
    pause_reason: str | None = None


class ProjectInstancesQuery(BaseModel):
    project_id: str


class ProjectInstances(BaseModel):
    """Answer of `GET /v1/maintenance/{session}/{project}`; `known` is False for a project not in the session."""

    instance_ids: list[str]
    known: bool = True
