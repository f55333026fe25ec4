"""Instance and instance-group constraints (the newer Fenix API, `/v1/instance` and `/v1/instance_group`),
and the messages of the durable constraints registry that keeps them.

Defaults are those of Tacker, the client that leaves the most to the server; see docs/constraints.md.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from fenix.models.deadline import Deadlined

# Ids and names: what Nova and Keystone allow (UUIDs in practice), never empty, never unbounded.
Id = Annotated[str, Field(min_length=1, max_length=255)]
Name = Annotated[str, Field(max_length=255)]
Seconds = Annotated[StrictInt, Field(ge=0, le=7 * 24 * 3600)]


class InstanceMigrationType(StrEnum):
    """How the instance may be moved off a host (its default action when the project names none)."""

    MIGRATE = "MIGRATE"  # cold migration
    LIVE_MIGRATE = "LIVE_MIGRATE"
    OWN_ACTION = "OWN_ACTION"  # the VNFM re-creates or heals the instance itself
    EVICTION = "EVICTION"  # the instance may be deleted (the VNFM scales back later)


class InstanceFields(BaseModel):
    """Everything of an instance's constraints but its id and project (shared with the API's PUT body)."""

    group_id: Id | None = None  # an instance group of the same project, or none
    instance_name: Name | None = None
    max_interruption_time: Seconds = 120  # longest outage the instance tolerates during a move
    migration_type: InstanceMigrationType = InstanceMigrationType.MIGRATE
    resource_mitigation: StrictBool = True  # keep its capacity (move it) rather than lose it
    lead_time: Seconds = 120  # warning the instance needs between the notification and the action


class InstanceConstraints(InstanceFields):
    instance_id: Id
    project_id: Id


class GroupFields(BaseModel):
    group_name: Name | None = None
    anti_affinity_group: StrictBool = False  # members must be on different hosts
    # Most members on one host; 0 means no limit (Doctor's and Tacker's value for a group without one).
    max_instances_per_host: Annotated[StrictInt, Field(ge=0, le=100_000)] = 0
    max_impacted_members: Annotated[StrictInt, Field(ge=1, le=100_000)] = 1  # impacted at the same time
    recovery_time: Seconds = 60  # after a member's action, before the next member may be impacted
    resource_mitigation: StrictBool = True


class GroupConstraints(GroupFields):
    group_id: Id
    project_id: Id


# --- Messages of the registry workflow (one model in and one out for every update and query) ---
# Every write carries the API's deadline (`not_after`, from Deadlined): the registry refuses it once that has passed.


class InstancePut(Deadlined):
    item: InstanceConstraints
    scope: str | None = None  # the caller's project; None: the admin (may write any project's item)


class GroupPut(Deadlined):
    item: GroupConstraints
    scope: str | None = None


class ConstraintDelete(Deadlined):
    id: str
    scope: str | None = None


class ConstraintDeleted(BaseModel):
    removed: bool  # False: there was nothing (visible to the caller) to delete


class ConstraintFilter(BaseModel):
    project_id: str | None = None  # None: every project (admin)
    id: str | None = None  # one instance or group
    group_id: str | None = None  # instances: only the members of this group


class InstanceConstraintsList(BaseModel):
    # Also an API answer: the list is always there, so the OpenAPI document says it is required.
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    instances: list[InstanceConstraints] = Field(default_factory=list)


class GroupConstraintsList(BaseModel):
    # Also an API answer: the list is always there, so the OpenAPI document says it is required.
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    groups: list[GroupConstraints] = Field(default_factory=list)


class ProjectConstraintsState(BaseModel):
    """One project's constraints registry (workflows/project_constraints.py): its input, carried over
    continue-as-new. Bounded by the per-project limits and the field bounds (docs/security.md#limits)."""

    project_id: str
    instances: list[InstanceConstraints] = Field(default_factory=list)
    groups: list[GroupConstraints] = Field(default_factory=list)
    revision: int = 0  # bumped by every write; sessions re-read only when it changed
    # Continue as new after this many writes in one run (None: only when Temporal suggests it). Tests force it low.
    continue_as_new_after: int | None = Field(None, ge=1)


class InstanceOwnerQuery(BaseModel):
    instance_id: str


class InstanceOwner(BaseModel):
    """The project that owns the instance in the cloud; None when the cloud has no such instance."""

    project_id: str | None = None


class ConstraintsState(BaseModel):
    """The single registry of Fenix 0.1 (`ConstraintsRegistry`): its input, carried over continue-as-new. Kept so
    its histories replay and sessions still read what it holds (owner-checked); new writes go to the per-project
    registries."""

    instances: list[InstanceConstraints] = Field(default_factory=list)
    groups: list[GroupConstraints] = Field(default_factory=list)
    revision: int = 0  # bumped by every write; sessions re-read only when it changed
    # Continue as new after this many writes in one run (None: only when Temporal suggests it). Tests force it low.
    continue_as_new_after: int | None = Field(None, ge=1)
