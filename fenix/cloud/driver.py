"""The cloud seam: what workflows need from a cloud, and the errors a driver raises.

Drivers are synchronous (openstacksdk is), so activities that use them run on a thread pool.
"""

from __future__ import annotations

from typing import Protocol

from fenix.models.capabilities import HostFacts
from fenix.models.cloud import ComputeHost, Migration, Server, ServerGroup, Settling
from fenix.models.plan import MoveEstimates


class CloudError(Exception):
    """Base of driver errors. Retryable unless a subclass says otherwise."""

    retryable = True


class NotFound(CloudError):
    retryable = False


class Rejected(CloudError):
    """The cloud refused the request (Nova 400/409: no valid host, wrong state, policy)."""

    retryable = False


class Unavailable(CloudError):
    """Transient: 5xx, timeouts, connection errors."""

    retryable = True


class CloudDriver(Protocol):
    """Admin and tenant operations, named after openstacksdk's compute proxy."""

    # --- admin: hosts -------------------------------------------------------------------------------
    def list_compute_hosts(self) -> list[ComputeHost]: ...

    def get_compute_host(self, name: str) -> ComputeHost:
        """Raises NotFound."""
        ...

    def disable_host(self, name: str, reason: str) -> ComputeHost:
        """Disable the nova-compute service: no new servers land there. Idempotent."""
        ...

    def enable_host(self, name: str) -> ComputeHost:
        """Idempotent."""
        ...

    def host_facts(self, name: str) -> HostFacts:
        """The host's hypervisor type and version, traits and aggregates, in a bounded number of calls (what a
        maintenance may change, read before and after it). Raises NotFound."""
        ...

    # --- admin: servers -----------------------------------------------------------------------------
    def list_servers(self, *, host: str | None = None, project_id: str | None = None) -> list[Server]: ...

    def get_server(self, server_id: str) -> Server:
        """Raises NotFound."""
        ...

    def list_server_groups(self, *, project_id: str | None = None) -> list[ServerGroup]: ...

    def live_migrate(self, server_id: str, target_host: str | None) -> None:
        """Start a live migration and return. Raises Rejected when the cloud refuses it at once."""
        ...

    def cold_migrate(self, server_id: str, target_host: str | None) -> None:
        """Start a cold migration and return; the server later waits in VERIFY_RESIZE."""
        ...

    def confirm_resize(self, server_id: str) -> None: ...

    def list_migrations(self, server_id: str) -> list[Migration]:
        """Every migration record of the server, oldest first."""
        ...

    def settle_server(self, server_id: str) -> Settling:
        """One idempotent step towards a server at rest: confirm a cold migration that waits in VERIFY_RESIZE,
        and say whether a migration (or a confirmation) is still under way. Never starts a move and never waits:
        the caller looks again later. A resize (flavor change) is its owner's to confirm or revert, so it is
        reported, not confirmed. A missing server is GONE, not NotFound."""
        ...

    # --- tenant -------------------------------------------------------------------------------------
    def create_server(self, *, project_id: str, name: str, vcpus: int, memory_mb: int,
                      server_group_id: str | None = None) -> Server:
        """Schedule and boot a server (raises Rejected: no valid host)."""
        ...

    def move_estimates(self) -> MoveEstimates:
        """Expected move durations on this cloud, for pacing and plan previews."""
        ...

    def delete_server(self, server_id: str) -> None:
        """Idempotent: deleting a missing server is fine."""
        ...
