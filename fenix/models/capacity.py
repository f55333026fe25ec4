"""Capacity that grew: `POST /v1/capacity` and the CAPACITY_CHANGED project notice it sends (docs/notifications.md)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from fenix.models.cloud import ComputeHost

CAPACITY_CHANGED = "CAPACITY_CHANGED"
HOSTS_MAX = 100  # hosts one call may name (the notice names them all)

HostName = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]


class CapacityAdded(BaseModel):
    """`POST /v1/capacity`: the compute hosts added to the cloud (they must be known to it)."""

    model_config = ConfigDict(extra="forbid")

    hosts: list[HostName] = Field(min_length=1, max_length=HOSTS_MAX)


class CapacityInput(CapacityAdded):
    """The `CapacityChanged` workflow's input: the API's body and the notice's id."""

    notice_id: str


class HostsRequest(BaseModel):
    hosts: list[str]


class HostsCapacity(BaseModel):
    """`hosts_capacity`: the named hosts as the cloud reports them (NotFound for any it does not know)."""

    hosts: list[ComputeHost] = Field(default_factory=list)


class CapacityNotices(BaseModel):
    """The `CapacityNotices` child's input: one CAPACITY_CHANGED to each of `projects`."""

    notice_id: str
    projects: list[str]
    metadata: dict[str, object]


class CapacityNotice(BaseModel):
    """The answer of `POST /v1/capacity` (and the `CapacityChanged` workflow's result)."""

    notice_id: str
    hosts: list[str]
    vcpus: int  # of the added hosts
    memory_mb: int
    vcpus_free: int  # of the added hosts that are enabled and up
    memory_mb_free: int
    projects: int  # subscribed projects the notice goes to
