"""Inputs and results of the cloud activities."""

from __future__ import annotations

from pydantic import BaseModel, Field

from fenix.models.capabilities import HostFacts
from fenix.models.cloud import ComputeHost, SettleState, Settling
from fenix.models.session import InstanceAction


class SnapshotRequest(BaseModel):
    hosts: list[str] = Field(default_factory=list)  # empty: all compute hosts; servers of all hosts always


class HostRequest(BaseModel):
    host: str
    reason: str = ""
    read_facts: bool = False  # also read the host's facts (the read before disabling, the read after enabling)
    replaces: str | None = None  # disable_host: the one other reason it may overwrite (retiring a disabled host)


class HostResult(BaseModel):
    host: ComputeHost
    changed: bool  # False when the host already was in the requested state (idempotent retry)
    facts: HostFacts | None = None  # with `read_facts`


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


class SettleRequest(BaseModel):
    server_ids: list[str]
    # How long to follow migrations still in flight before reporting them unsettled (Nova's own live-migration
    # timeouts are shorter; the same bound as a move's, workflows/moves.py MOVE_TIMEOUT).
    wait_s: float = Field(7200, ge=0)


class SettleResult(BaseModel):
    """What `settle_instances` found and did, per server (settled ones it did nothing to are left out)."""

    servers: list[Settling] = Field(default_factory=list)
    error: str | None = None  # the activity itself failed (the session's cleanup goes on regardless)

    @property
    def unsettled(self) -> list[Settling]:
        return [s for s in self.servers if s.state not in (SettleState.SETTLED, SettleState.GONE)]

    def summary(self) -> str:
        """One line for the session's history; empty when there was nothing to settle."""
        parts = []
        for s in self.servers:
            where = f" on {s.host}" if s.host else ""
            if s.state == SettleState.SETTLED:
                what = "resize confirmed" if s.confirmed else "migration followed to its end"
                parts.append(f"{s.server_id}: {what}, {s.status.value if s.status else ''}{where}")
            elif s.state == SettleState.MOVING:
                parts.append(f"{s.server_id}: still moving{where} ({s.status.value if s.status else ''})")
            elif s.state == SettleState.ERROR:
                parts.append(f"{s.server_id}: in ERROR{where}, needs an operator")
            elif s.state == SettleState.OWNER_RESIZE:
                parts.append(f"{s.server_id}: a resize waits for its owner's confirmation{where}")
        if self.error:
            parts.append(f"settling failed: {self.error}")
        return "; ".join(parts)
