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


# Where a move ends: running, or stopped as it was (a stopped server is cold-migrated and stays stopped). Nothing
# else is "done": VERIFY_RESIZE waits for a confirmation, MIGRATING/RESIZE are still moving, ERROR is broken.
SETTLED_STATUSES = frozenset({ServerStatus.ACTIVE, ServerStatus.SHUTOFF})


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


class SettleState(StrEnum):
    """Where a server stands on its way to rest (``CloudDriver.settle_server``)."""

    SETTLED = "settled"  # ACTIVE or stopped, no migration in flight
    MOVING = "moving"  # a migration (or the confirmation of one) has not ended yet: look again later
    GONE = "gone"  # deleted
    ERROR = "error"  # the server is in ERROR: nothing Fenix can do, an operator must repair it
    OWNER_RESIZE = "owner_resize"  # a resize (a flavor change) waits for its owner to confirm or revert it


class Settling(BaseModel):
    """One look at a server by ``settle_server``, and what that look did."""

    server_id: str
    state: SettleState
    host: str | None = None
    status: ServerStatus | None = None
    confirmed: bool = False  # this look confirmed a cold migration that waited in VERIFY_RESIZE
    migration_id: str | None = None  # MOVING: the migration still in flight, if there is one

    @classmethod
    def of(cls, server_id: str, server: Server | None, *, in_flight: Migration | None = None,
           confirmed: bool = False) -> Settling:
        """The state both drivers derive from what they read (after any confirm they sent)."""
        if server is None:
            return cls(server_id=server_id, state=SettleState.GONE, confirmed=confirmed)
        if server.status == ServerStatus.ERROR:
            state = SettleState.ERROR
        elif in_flight is not None or server.status not in SETTLED_STATUSES:
            state = SettleState.MOVING
        else:
            state = SettleState.SETTLED
        return cls(server_id=server_id, state=state, host=server.host, status=server.status, confirmed=confirmed,
                   migration_id=in_flight.id if in_flight is not None else None)

    @property
    def final(self) -> bool:
        """Nothing more will change by waiting."""
        return self.state != SettleState.MOVING
