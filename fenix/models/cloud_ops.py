"""Inputs and results of the cloud activities."""

from __future__ import annotations

from pydantic import BaseModel, Field

from fenix.models.cloud import ComputeHost
from fenix.models.session import InstanceAction


class SnapshotRequest(BaseModel):
    hosts: list[str] = Field(default_factory=list)  # empty: all compute hosts; servers of all hosts always


class HostRequest(BaseModel):
    host: str
    reason: str = ""


class HostResult(BaseModel):
    host: ComputeHost
    changed: bool  # False when the host already was in the requested state (idempotent retry)


class MigrateRequest(BaseModel):
    server_id: str
    source_host: str
    target_host: str | None
    action: InstanceAction  # MIGRATE or LIVE_MIGRATE
    migration_id: str | None = None  # the record this move started (None: start one unless one is in flight)


class MigrateResult(BaseModel):
    server_id: str
    host: str | None
    done: bool = False  # off the source host and settled; otherwise look again after a while
    migration_id: str | None = None


class EstimatesRequest(BaseModel):
    """No fields: the cloud's own move estimates."""


class EvictRequest(BaseModel):
    server_id: str


class EvictResult(BaseModel):
    server_id: str
    deleted: bool  # False: it was already gone


class WaitEmptyRequest(BaseModel):
    host: str
    timeout_s: float
    instance_ids: list[str] = Field(default_factory=list)  # only these must leave; empty: all servers


class WaitEmptyResult(BaseModel):
    empty: bool
    remaining: list[str] = Field(default_factory=list)
