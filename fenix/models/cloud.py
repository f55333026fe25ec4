"""What the engine knows about the cloud: openstacksdk-shaped compute hosts, servers, groups, migrations."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class ComputeHost(BaseModel):
    """A nova-compute service joined with its hypervisor's capacity."""

    name: str
    enabled: bool = True
    disabled_reason: str | None = None
    up: bool = True
    vcpus: int
    vcpus_used: int = 0
    memory_mb: int
    memory_mb_used: int = 0

    @property
    def vcpus_free(self) -> int:
        return self.vcpus - self.vcpus_used

    @property
    def memory_mb_free(self) -> int:
        return self.memory_mb - self.memory_mb_used


class ServerStatus(StrEnum):
    """Nova server status values the engine cares about."""

    BUILD = "BUILD"
    ACTIVE = "ACTIVE"
    MIGRATING = "MIGRATING"
    RESIZE = "RESIZE"
    VERIFY_RESIZE = "VERIFY_RESIZE"
    SHUTOFF = "SHUTOFF"
    ERROR = "ERROR"


class Server(BaseModel):
    """A server (instance) as Nova reports it to an admin (all projects)."""

    id: str
    name: str
    project_id: str
    host: str | None
    status: ServerStatus = ServerStatus.ACTIVE
    vcpus: int
    memory_mb: int
    server_group_id: str | None = None


class GroupPolicy(StrEnum):
    ANTI_AFFINITY = "anti-affinity"
    SOFT_ANTI_AFFINITY = "soft-anti-affinity"
    AFFINITY = "affinity"
    SOFT_AFFINITY = "soft-affinity"


class ServerGroup(BaseModel):
    id: str
    name: str
    project_id: str
    policy: GroupPolicy
    members: list[str] = Field(default_factory=list)


class MigrationType(StrEnum):
    LIVE = "live-migration"
    COLD = "migration"


class MigrationStatus(StrEnum):
    """Nova migration record states (subset)."""

    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"  # cold migration done, server waits in VERIFY_RESIZE
    CONFIRMED = "confirmed"
    COMPLETED = "completed"  # live migration done
    ERROR = "error"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in {MigrationStatus.CONFIRMED, MigrationStatus.COMPLETED, MigrationStatus.ERROR,
                        MigrationStatus.FAILED}


class Migration(BaseModel):
    id: str
    server_id: str
    source_host: str
    dest_host: str | None
    migration_type: MigrationType
    status: MigrationStatus


class CloudSnapshot(BaseModel):
    """One consistent read of everything placement decisions need."""

    hosts: list[ComputeHost] = Field(default_factory=list)
    servers: list[Server] = Field(default_factory=list)
    server_groups: list[ServerGroup] = Field(default_factory=list)

    def host(self, name: str) -> ComputeHost | None:
        return next((h for h in self.hosts if h.name == name), None)

    def servers_on(self, host: str) -> list[Server]:
        return [s for s in self.servers if s.host == host]
