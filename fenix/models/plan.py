"""The `vnf` workflow's planning messages: move estimates, constraints as a session reads them, plan previews."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from fenix.models.cloud import CloudSnapshot
from fenix.models.constraints import GroupConstraints, InstanceConstraints
from fenix.models.session import InstanceAction


class MoveEstimates(BaseModel):
    """Expected durations (seconds), from the cloud's migration times; for pacing guesses and the preview."""

    live_base_s: float = 2.0
    live_mb_per_s: float = 2048.0
    cold_base_s: float = 4.0
    cold_mb_per_s: float = 1024.0
    live_downtime_s: float = 0.5  # the pause at the end of a live migration
    own_action_s: float = 60.0  # a VNFM re-creating an instance itself
    eviction_s: float = 2.0
    host_maintenance_s: float = 0.0  # plug-ins on one host (the preview's guess; the session measures)

    def duration(self, action: InstanceAction, memory_mb: int) -> float:
        if action == InstanceAction.LIVE_MIGRATE:
            return self.live_base_s + memory_mb / self.live_mb_per_s
        if action == InstanceAction.MIGRATE:
            return self.cold_base_s + memory_mb / self.cold_mb_per_s
        if action == InstanceAction.OWN_ACTION:
            return self.own_action_s
        return self.eviction_s

    def interruption(self, action: InstanceAction, memory_mb: int) -> float:
        """How long the instance is unreachable: the whole cold move, only the final pause of a live one."""
        if action == InstanceAction.LIVE_MIGRATE:
            return self.live_downtime_s
        return self.duration(action, memory_mb)


class ConstraintsRead(BaseModel):
    project_ids: list[str] = Field(default_factory=list)  # empty: every project
    known_revision: int | None = None  # the caller's copy; unchanged registry -> `changed` False, no items


class ConstraintsView(BaseModel):
    revision: int
    changed: bool = True
    instances: list[InstanceConstraints] = Field(default_factory=list)
    groups: list[GroupConstraints] = Field(default_factory=list)
    # Constraints left out because their project does not own the instance in the cloud (or the cloud has no such
    # instance): why, one line each. The session records them; the instances get their own project's defaults.
    ignored: list[str] = Field(default_factory=list)


class PlanInput(BaseModel):
    """A dry run: the session the admin would start (its hosts and options), read-only."""

    hosts: list[str] = Field(default_factory=list)
    default_action: InstanceAction = Field(InstanceAction.LIVE_MIGRATE,
                                           description="for instances without registered constraints")
    max_parallel_hosts: int = Field(4, ge=1, le=1000)
    warn_ahead: bool = True
    host_maintenance_s: float | None = Field(None, ge=0, le=86400)  # plug-ins on one host; None: the cloud's guess


class PlannedInstance(BaseModel):
    instance_id: str
    name: str
    project_id: str
    group_id: str | None = None
    host: str  # the session host it leaves
    constraints_registered: bool
    allowed_actions: list[InstanceAction]
    action: InstanceAction  # what the engine does without a reply
    action_reason: str
    notify_at_s: float  # seconds after the maintenance start
    actions_at_s: float  # the `actions_at` it is told (its lead time, or later when its group is busy)
    start_at_s: float = 0.0  # when the action starts (no early replies assumed)
    done_at_s: float
    target: str | None = None


class PlannedHost(BaseModel):
    host: str
    batch: int  # hosts with the same batch start together
    start_s: float
    empty_s: float
    done_s: float
    instances: int


class PlannedProject(BaseModel):
    project_id: str
    asked: list[PlannedInstance] = Field(default_factory=list)


class PlanPreview(BaseModel):
    hosts: list[PlannedHost] = Field(default_factory=list)  # in the order they start
    batches: list[list[str]] = Field(default_factory=list)
    projects: list[PlannedProject] = Field(default_factory=list)
    estimated_duration_s: float = 0.0  # from the maintenance start to the last host enabled
    one_host_at_a_time_s: float = 0.0  # the same plan with max_parallel_hosts 1 (Fenix's way), for comparison
    max_parallel_hosts: int = 4
    feasible: bool = True
    blocked: str | None = None  # why the session would need SCALE_IN or could not go on
    scale_in: dict[str, Any] | None = None
    warnings: list[str] = Field(default_factory=list)
    assumptions: list[str] = Field(default_factory=list)


class PlanSimulation(BaseModel):
    """Everything the preview's simulation needs, read by the preview workflow."""

    plan: PlanInput
    snapshot: CloudSnapshot
    instances: list[InstanceConstraints] = Field(default_factory=list)
    groups: list[GroupConstraints] = Field(default_factory=list)
    estimates: MoveEstimates = Field(default_factory=MoveEstimates)
