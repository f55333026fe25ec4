"""The OpenStack cloud driver: Nova (and Placement) through openstacksdk.

Implements ``fenix.cloud.driver.CloudDriver`` against a real cloud. Every method is synchronous and safe
to call from several threads at once (activities run on a thread pool): one openstacksdk ``Connection``
is shared; keystoneauth serialises token refreshes, and the driver itself keeps no mutable state besides
small caches guarded by a lock.

What the driver relies on (see docs/openstack.md for the full picture):

* An admin user: os-services, os-hypervisors, os-migrations, ``all_projects`` server lists, the
  ``host`` server filter and migrations are admin-only under Nova's default policy.
* Compute API microversions negotiated by openstacksdk (up to 2.100 today) for servers, services,
  server groups and migrations; hypervisors are read at a pinned 2.87, the last microversion before
  2.88 removed the capacity fields and started asking every compute over RPC for its uptime (a dead
  but not-yet-down compute then blocks the call for ``rpc_response_timeout``).
* Placement for capacity: ``(total - reserved) * allocation_ratio`` of VCPU and MEMORY_MB, used =
  placement usages (which include the claims of migrations in flight, on source and destination).
  When a host has no resource provider (or Placement is not in the catalog) the legacy hypervisor
  fields are used instead.

Reading the cloud costs a bounded number of calls whatever its size: services, hypervisors, every server
(``all_projects``, paged) and the capacity of every compute node each come from one list, not one call per
host (capacity from the provider summaries of one allocation-candidates query). What changes only when an
operator acts or a server is created (which compute nodes a host has, inventories, server groups) is reused
for ``cache_ttl_s``; group membership is read again at once when a server appears that the cache has not seen.

Errors: 404 -> ``NotFound``; 400/401/403/409/413/422 and other 4xx -> ``Rejected``; 408/429, 5xx,
timeouts, connection failures and a 409 because another task still holds the server ("while it is in
task_state ...") -> ``Unavailable`` (retryable). Messages carry the operation, the
HTTP status, Nova's message and the request id, never credentials or tokens.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import openstack
import requests
from keystoneauth1 import exceptions as ks_exc
from openstack import exceptions as os_exc
from openstack.config.loader import OpenStackConfig

from fenix.cloud.driver import CloudError, NotFound, Rejected, Unavailable
from fenix.models.capabilities import HostFacts
from fenix.models.cloud import (
    ComputeHost,
    GroupPolicy,
    Migration,
    MigrationStatus,
    MigrationType,
    Server,
    ServerGroup,
    ServerStatus,
    SettleState,
    Settling,
)
from fenix.models.plan import MoveEstimates

__all__ = ["MIGRATION_STATUS", "MIGRATION_TYPE", "SERVER_STATUS", "OpenStackCloud", "map_error"]

log = logging.getLogger(__name__)

# The last compute microversion whose hypervisor details carry vcpus/memory and need no RPC to computes.
HYPERVISOR_MICROVERSION = "2.87"
# GET /resource_providers/{uuid}/traits.
TRAITS_MICROVERSION = "1.6"
# PUT /os-services/{service uuid} with status and disabled_reason.
SERVICE_MICROVERSION = "2.53"
# Nova's limit on a service's disabled_reason.
MAX_REASON = 255
# Allocation candidates whose provider summaries carry every resource class of a provider, not only the requested
# one (Placement 1.27): one query then gives the capacity and usage of every compute node with room for the unit.
PLACEMENT_SUMMARIES_MICROVERSION = "1.27"
# One unit of each in turn: a node without a free vCPU is still found by its free RAM; only nodes full in both
# (or without a resource provider) are read one by one.
SUMMARY_CLASSES = ("VCPU", "MEMORY_MB")

# --- status mappings -----------------------------------------------------------------------------------

#: Nova server status -> the subset the engine knows. Busy states map to BUILD ("cannot move now"),
#: stopped-like states to SHUTOFF, UNKNOWN to ERROR.
SERVER_STATUS: dict[str, ServerStatus] = {
    "ACTIVE": ServerStatus.ACTIVE,
    "BUILD": ServerStatus.BUILD,
    "MIGRATING": ServerStatus.MIGRATING,
    "RESIZE": ServerStatus.RESIZE,
    "REVERT_RESIZE": ServerStatus.RESIZE,
    "VERIFY_RESIZE": ServerStatus.VERIFY_RESIZE,
    "SHUTOFF": ServerStatus.SHUTOFF,
    "ERROR": ServerStatus.ERROR,
    "REBOOT": ServerStatus.BUILD,
    "HARD_REBOOT": ServerStatus.BUILD,
    "REBUILD": ServerStatus.BUILD,
    "PASSWORD": ServerStatus.BUILD,
    "PAUSED": ServerStatus.SHUTOFF,
    "SUSPENDED": ServerStatus.SHUTOFF,
    "RESCUE": ServerStatus.SHUTOFF,
    "SHELVED": ServerStatus.SHUTOFF,
    "SHELVED_OFFLOADED": ServerStatus.SHUTOFF,
    "SOFT_DELETED": ServerStatus.SHUTOFF,
    "DELETED": ServerStatus.SHUTOFF,
    "UNKNOWN": ServerStatus.ERROR,
}

#: Nova migration record status -> engine status. Anything not listed is treated as RUNNING (in flight).
MIGRATION_STATUS: dict[str, MigrationStatus] = {
    # not started yet
    "queued": MigrationStatus.QUEUED,
    "accepted": MigrationStatus.QUEUED,
    # in flight (live: preparing -> running -> post-migrating; cold: pre-migrating -> migrating ->
    # post-migrating; reverting/cancelling are on their way to a failed move)
    "pre-migrating": MigrationStatus.RUNNING,
    "preparing": MigrationStatus.RUNNING,
    "running": MigrationStatus.RUNNING,
    "migrating": MigrationStatus.RUNNING,
    "post-migrating": MigrationStatus.RUNNING,
    "reverting": MigrationStatus.RUNNING,
    "cancelling": MigrationStatus.RUNNING,
    # cold migration/resize done, the server waits in VERIFY_RESIZE ('confirming': confirm requested)
    "finished": MigrationStatus.FINISHED,
    "confirming": MigrationStatus.FINISHED,
    "confirmed": MigrationStatus.CONFIRMED,
    # live migration done; 'done' is an evacuation whose source has not cleaned up yet
    "completed": MigrationStatus.COMPLETED,
    "done": MigrationStatus.COMPLETED,
    # the move did not happen (or was undone): the server is on its source
    "error": MigrationStatus.ERROR,
    "failed": MigrationStatus.FAILED,
    "cancelled": MigrationStatus.FAILED,
    "reverted": MigrationStatus.FAILED,
}

#: A migration that has not ended: Fenix waits for it before it calls a server settled.
IN_FLIGHT = frozenset({MigrationStatus.QUEUED, MigrationStatus.RUNNING})

#: Nova migration_type -> engine type. A resize and an evacuation move the server like a cold migration.
MIGRATION_TYPE: dict[str, MigrationType] = {
    "live-migration": MigrationType.LIVE,
    "migration": MigrationType.COLD,
    "resize": MigrationType.COLD,
    "evacuation": MigrationType.COLD,
}

# --- errors --------------------------------------------------------------------------------------------

_SECRETS = re.compile(
    r"(?i)((?:password|passwd|secret|token|x-auth-token|x-subject-token|credential)[\"']?\s*[:=]\s*[\"']?)"
    r"[^\s\"',}]+"
)
_FERNET = re.compile(r"gAAAAA[0-9A-Za-z_\-=]{20,}")
_URL_USERINFO = re.compile(r"(https?://)[^/@\s]+@")
_HOST_NOT_FOUND = re.compile(r"(?i)compute host .* could not be found")
_BUSY = re.compile(r"while it is in task_state (?!None)")


def _redact(text: str) -> str:
    text = _SECRETS.sub(r"\1***", text)
    text = _FERNET.sub("***", text)
    return _URL_USERINFO.sub(r"\1***@", text)


def map_error(err: BaseException, what: str) -> CloudError:
    """Translate an openstacksdk / keystoneauth / requests exception into a driver error.

    ``what`` names the operation ("live-migrate server X"); the result's message is
    ``"<what>: <status> <detail> (request <id>)"`` with anything that looks like a secret removed.
    """
    if isinstance(err, CloudError):
        return err
    status: int | None = None
    detail = ""
    request_id: str | None = None
    if isinstance(err, os_exc.HttpException):
        status = err.status_code
        detail = str(err.details or err.message or "")
        request_id = err.request_id
    elif isinstance(err, ks_exc.HttpError):
        status = err.http_status
        detail = str(err.message or "")
        request_id = err.request_id
    if status is not None:
        text = _redact(f"{what}: {status} {detail}".strip())
        if request_id and request_id not in text:
            text += f" (request {request_id})"
        if status == 404:
            return NotFound(text)
        if status in (408, 429) or status >= 500:
            return Unavailable(text)
        if status == 401:
            return Rejected(text + " (authentication failed: check the credentials of the cloud)")
        if status == 409 and _BUSY.search(detail):
            # "Cannot 'migrate' instance X while it is in task_state migrating": another task still holds
            # the server (seen for a few seconds after a failed move); retrying later works.
            return Unavailable(text)
        return Rejected(text)
    kind = type(err).__name__
    if isinstance(err, ks_exc.EndpointNotFound | os_exc.EndpointNotFound | os_exc.ConfigException
                  | ks_exc.AuthPluginException):
        return Rejected(_redact(f"{what}: cloud configuration problem: {kind}: {err}"))
    if isinstance(err, ks_exc.ConnectionError | ks_exc.DiscoveryFailure | requests.RequestException
                  | os_exc.ResourceTimeout | TimeoutError | ConnectionError):
        return Unavailable(_redact(f"{what}: cloud unreachable: {kind}: {err}"))
    if isinstance(err, os_exc.SDKException | ks_exc.ClientException):
        return Unavailable(_redact(f"{what}: {kind}: {err}"))
    return Unavailable(_redact(f"{what}: unexpected {kind}: {err}"))


@contextmanager
def _mapped(what: str) -> Iterator[None]:
    try:
        yield
    except CloudError:
        raise
    except Exception as err:  # noqa: BLE001 - every cloud failure becomes a driver error
        mapped = map_error(err, what)
        log.debug("%s failed: %s", what, mapped)
        raise mapped from None


# --- the driver ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cached:
    """A read and when it was made (time.monotonic())."""

    at: float
    value: Any


@dataclass(frozen=True)
class _HypervisorUse:
    """One compute node: its resource provider and the legacy (pre-2.88) capacity fields."""

    id: str
    vcpus: int
    vcpus_used: int
    memory_mb: int
    memory_mb_used: int


class OpenStackCloud:
    """A ``CloudDriver`` over a real OpenStack cloud (Nova + Placement, Glance for booting)."""

    def __init__(
        self,
        *,
        cloud: str | None = None,
        config_file: str | Path | None = None,
        region_name: str | None = None,
        timeout_s: float = 60.0,
        boot_image: str = "cirros-fake",
        boot_networks: str = "none",
        boot_timeout_s: float = 300.0,
        migration_record_wait_s: float = 15.0,
        poll_s: float = 0.5,
        cache_ttl_s: float = 60.0,
        connection: Any = None,
    ) -> None:
        """Connect lazily (nothing is sent until the first call).

        Args:
            cloud: Cloud name in clouds.yaml; None uses ``OS_CLOUD`` or the ``OS_*`` variables.
            config_file: A clouds.yaml to read instead of the standard locations.
            region_name: Region, if the cloud entry has several.
            timeout_s: Timeout of each HTTP request.
            boot_image: Image name or id that ``create_server`` boots.
            boot_networks: ``"none"``, ``"auto"`` or comma-separated network UUIDs for ``create_server``.
            boot_timeout_s: How long ``create_server`` / ``delete_server`` wait for ACTIVE / gone.
            migration_record_wait_s: How long ``live_migrate`` / ``cold_migrate`` wait for Nova to
                create the migration record (cold migrations are scheduled asynchronously). Keep it
                below the migration activity's heartbeat timeout (30 s, ``MIGRATION_STEP`` in
                workflows/options.py): the activity does not heartbeat while the driver call runs.
            poll_s: Poll interval of those waits.
            cache_ttl_s: How long reads of what only an operator (or a new server) changes are reused: the
                compute nodes of each host, resource-provider inventories, server groups. 0 reads every time.
            connection: An existing openstacksdk ``Connection`` (tests); overrides the other options.
        """
        if connection is None:
            options: dict[str, Any] = {"api_timeout": timeout_s}
            if region_name:
                options["region_name"] = region_name
            with _mapped(f"configure cloud {cloud or '(from OS_CLOUD / OS_* variables)'}"):
                if config_file is not None:
                    region = OpenStackConfig(config_files=[str(config_file)]).get_one(cloud=cloud, **options)
                    connection = openstack.connection.Connection(config=region)
                else:
                    connection = openstack.connect(cloud=cloud, **options)
        self._conn: Any = connection
        self.config_file = Path(config_file) if config_file is not None else None
        self.cloud_name: str = str(getattr(connection, "name", None) or cloud or "")
        self.boot_image = boot_image
        self.boot_networks = boot_networks
        self.boot_timeout_s = boot_timeout_s
        self.migration_record_wait_s = migration_record_wait_s
        self.poll_s = poll_s
        self.cache_ttl_s = cache_ttl_s
        self._lock = threading.Lock()
        self._nodes: _Cached | None = None  # list[tuple[host, _HypervisorUse]]
        self._inventories: dict[str, _Cached] = {}  # resource provider -> its inventories body
        # The raw server groups, and every server id whose membership they already tell (a server joins its group
        # only when it is created, so only an id not seen yet can make them stale).
        self._groups: _Cached | None = None  # tuple[list[raw group], frozenset[server id]]
        self._project_conns: dict[str, Any] = {}
        self._flavor_cache: dict[str, tuple[int, int]] = {}
        self._image_id: str | None = None

    def __repr__(self) -> str:
        return f"OpenStackCloud(cloud={self.cloud_name!r})"

    @property
    def connection(self) -> Any:
        """The admin openstacksdk ``Connection`` (for tests and tools)."""
        return self._conn

    # === CloudDriver: admin, hosts =====================================================================

    def list_compute_hosts(self) -> list[ComputeHost]:
        """Every nova-compute service joined with its capacity, sorted by name."""
        with _mapped("list compute hosts"):
            services = list(self._conn.compute.services(binary="nova-compute"))
            hypervisors = self._hypervisors({s.host for s in services})
            return self._hosts(services, hypervisors, bulk=True)

    def get_compute_host(self, name: str) -> ComputeHost:
        """One compute host. Raises NotFound."""
        with _mapped(f"get compute host {name}"):
            service = self._service(name)
            return self._hosts([service], self._hypervisors({service.host}), bulk=False)[0]

    def host_facts(self, name: str) -> HostFacts:
        """The host's hypervisor (os-hypervisors at 2.87), its compute node's traits (Placement 1.6) and the host
        aggregates that name it: three calls whatever the size of the cloud. Raises NotFound."""
        with _mapped(f"read the facts of compute host {name}"):
            body = _json(self._conn.compute.get(
                f"/os-hypervisors/detail?hypervisor_hostname_pattern={quote(name)}",
                microversion=HYPERVISOR_MICROVERSION))
            nodes = [hv for hv in body.get("hypervisors", []) if (hv.get("service") or {}).get("host") == name]
            if not nodes:
                raise NotFound(f"Compute host {name} could not be found.")
            node = min(nodes, key=lambda hv: str(hv.get("hypervisor_hostname")))  # one node per host but ironic's
            traits = _json(self._conn.placement.get(f"/resource_providers/{node['id']}/traits",
                                                    microversion=TRAITS_MICROVERSION)).get("traits", [])
            aggregates = _json(self._conn.compute.get("/os-aggregates")).get("aggregates", [])
            version = node.get("hypervisor_version")
            return HostFacts(hypervisor_type=node.get("hypervisor_type"),
                             hypervisor_version=int(version) if version is not None else None,
                             traits=sorted(traits),
                             aggregates=sorted(a["name"] for a in aggregates if name in (a.get("hosts") or [])))

    def disable_host(self, name: str, reason: str) -> ComputeHost:
        """Disable the host's nova-compute service (PUT os-services, 2.53+). Idempotent.

        Disabling a disabled host keeps it disabled and sets the given reason (cut to Nova's 255 chars);
        with the same reason nothing is sent.
        """
        with _mapped(f"disable compute host {name}"):
            service = self._service(name)
            reason = reason[:MAX_REASON]
            if service.status != "disabled" or (service.disabled_reason or "") != reason:
                # Raw PUT with both fields: openstacksdk sends only the changed ones, and Nova refuses a
                # body with a reason but no status (400 "No updates were requested").
                body: dict[str, Any] = {"status": "disabled"}
                if reason:
                    body["disabled_reason"] = reason
                _json(self._conn.compute.put(f"/os-services/{service.id}", json=body,
                                             microversion=SERVICE_MICROVERSION))
                log.info("disabled nova-compute on %s", name)
        return self.get_compute_host(name)

    def enable_host(self, name: str) -> ComputeHost:
        """Enable the host's nova-compute service. Idempotent."""
        with _mapped(f"enable compute host {name}"):
            service = self._service(name)
            if service.status != "enabled":
                self._conn.compute.enable_service(service)
                log.info("enabled nova-compute on %s", name)
        return self.get_compute_host(name)

    # === CloudDriver: admin, servers ===================================================================

    def list_servers(self, *, host: str | None = None, project_id: str | None = None) -> list[Server]:
        """Servers of all projects, optionally on one host and/or of one project, sorted by name then id."""
        what = "list servers" + (f" on {host}" if host else "") + (f" of {project_id}" if project_id else "")
        with _mapped(what):
            query: dict[str, Any] = {"all_projects": True}
            if host is not None:
                query["compute_host"] = host
            if project_id is not None:
                query["project_id"] = project_id
            raw = list(self._conn.compute.servers(**query))
            group_of = self._group_of_member(raw) if raw else {}
            servers = [self._server(s, group_of.get(s.id)) for s in raw]
            return sorted(servers, key=lambda s: (s.name, s.id))

    def get_server(self, server_id: str) -> Server:
        """One server (any project). Raises NotFound."""
        with _mapped(f"get server {server_id}"):
            raw = self._conn.compute.get_server(server_id)
            groups = raw.server_groups  # 2.71+: the groups the server belongs to
            if groups is None:
                group_id = self._group_of_member([raw]).get(raw.id)
            else:
                group_id = groups[0] if groups else None
            return self._server(raw, group_id)

    def list_server_groups(self, *, project_id: str | None = None) -> list[ServerGroup]:
        """Server groups of all projects (or one) with their members, sorted by name then id."""
        with _mapped("list server groups"):
            groups = []
            for g in self._raw_groups(()):
                if project_id is not None and g.project_id != project_id:
                    continue
                policy = _group_policy(g)
                if policy is None:
                    log.warning("server group %s has an unknown policy %r; ignored", g.id, g.policy)
                    continue
                groups.append(ServerGroup(id=g.id, name=g.name or "", project_id=g.project_id or "",
                                          policy=policy, members=list(g.member_ids or [])))
            return sorted(groups, key=lambda g: (g.name, g.id))

    def live_migrate(self, server_id: str, target_host: str | None) -> None:
        """Start a live migration (block_migration='auto') and return once Nova has recorded it.

        openstacksdk sends it at microversion 2.30, where Nova runs the scheduler and the pre-checks
        before answering: "No valid host", a disabled or anti-affinity-violating target and a wrong
        server state are refused at once (Rejected; Nova also leaves an ``error`` record).

        Raises:
            NotFound: No such server or target host.
            Rejected: Nova refused the migration.
        """
        what = f"live-migrate server {server_id}" + (f" to {target_host}" if target_host else "")
        with _mapped(what):
            before = self._migration_ids(server_id)
            try:
                self._conn.compute.live_migrate_server(server_id, host=target_host, force=False,
                                                       block_migration="auto")
            except os_exc.BadRequestException as err:
                raise _host_not_found(err, what) from None
            log.info("live migration of %s started (target %s)", server_id, target_host or "any")
            self._await_new_record(server_id, before)

    def cold_migrate(self, server_id: str, target_host: str | None) -> None:
        """Start a cold migration and return once Nova has recorded it; the server ends in VERIFY_RESIZE.

        Nova schedules cold migrations asynchronously: a refused destination (disabled, anti-affinity,
        no capacity) usually shows up as an ``error`` migration record shortly after this returns,
        with the server ACTIVE on its source. Waiting for the record here means the caller never
        mistakes an older record for this migration's outcome.

        Raises:
            NotFound: No such server or target host.
            Rejected: Nova refused the migration at once (wrong state, host given below 2.56, ...).
        """
        what = f"cold-migrate server {server_id}" + (f" to {target_host}" if target_host else "")
        with _mapped(what):
            before = self._migration_ids(server_id)
            try:
                self._conn.compute.migrate_server(server_id, host=target_host)
            except os_exc.BadRequestException as err:
                raise _host_not_found(err, what) from None
            except ValueError as err:  # openstacksdk: a target host needs microversion 2.56
                raise Rejected(f"{what}: {err}") from None
            log.info("cold migration of %s started (target %s)", server_id, target_host or "any")
            self._await_new_record(server_id, before)

    def confirm_resize(self, server_id: str) -> None:
        """Confirm a finished cold migration. Idempotent: a confirm already sent (record ``confirming``
        or ``confirmed``, server no longer in VERIFY_RESIZE) is not an error.

        Raises:
            NotFound: No such server.
            Rejected: The server has no cold migration waiting to be confirmed.
        """
        what = f"confirm resize of server {server_id}"
        with _mapped(what):
            try:
                self._conn.compute.confirm_server_resize(server_id)
                log.info("confirmed the cold migration of %s", server_id)
                return
            except (os_exc.BadRequestException, os_exc.ConflictException) as err:
                latest = self._raw_migrations(server_id)
                if latest and latest[-1].status in ("confirming", "confirmed"):
                    return  # a retried confirm after the first one went through
                raise map_error(err, what) from None

    def list_migrations(self, server_id: str) -> list[Migration]:
        """Every migration record of the server (all types), oldest first; empty for unknown servers."""
        with _mapped(f"list migrations of server {server_id}"):
            return [_migration(m) for m in self._raw_migrations(server_id)]

    def settle_server(self, server_id: str) -> Settling:
        """One step towards a server at rest (GET the server and its migration records; confirmResize if due).

        Nova confirms asynchronously: the record goes ``confirming``, and the server stays VERIFY_RESIZE until the
        source compute has cleaned up (about 0.5 s on the devcloud). So a confirm is sent only for a ``finished``
        record; while it is ``confirming`` the server is reported MOVING and the caller looks again. A
        ``resize`` record (a flavor change the owner asked for) is left to its owner.
        """
        with _mapped(f"settle server {server_id}"):
            try:
                server = self.get_server(server_id)
            except NotFound:
                return Settling.of(server_id, None)
            records = self._raw_migrations(server_id)
            latest = records[-1] if records else None
            confirmed = False
            if server.status == ServerStatus.VERIFY_RESIZE:
                kind = str(getattr(latest, "migration_type", "") or "")
                status = str(getattr(latest, "status", "") or "").lower()
                if kind == "resize":
                    return Settling(server_id=server_id, state=SettleState.OWNER_RESIZE, host=server.host,
                                    status=server.status, migration_id=str(latest.id) if latest else None)
                if status != "confirming":
                    self.confirm_resize(server_id)
                    confirmed = True
                    server = self.get_server(server_id)
                    records = self._raw_migrations(server_id)
            # Only the latest record counts: an old one Nova left `running` (its compute died) never ends.
            last = _migration(records[-1]) if records else None
            return Settling.of(server_id, server, in_flight=last if last and last.status in IN_FLIGHT else None,
                               confirmed=confirmed)

    # === CloudDriver: tenant ===========================================================================

    def create_server(self, *, project_id: str, name: str, vcpus: int, memory_mb: int,
                      server_group_id: str | None = None) -> Server:
        """Boot a server in ``project_id`` with the smallest flavor that fits, and wait until it is ACTIVE.

        The boot uses a project-scoped connection (``connect_as(project_id=...)``) when the project is
        not the admin connection's own: the admin user needs a role in that project.

        Raises:
            NotFound: No such server group.
            Rejected: No flavor fits, no valid host (the ERROR server is deleted), or Keystone refused
                to scope the admin user to the project.
            Unavailable: The server did not become ACTIVE in time (it is deleted).
        """
        what = f"create server {name} in project {project_id}"
        with _mapped(what):
            if vcpus <= 0 or memory_mb <= 0:
                raise Rejected(f"{what}: a server needs at least 1 vCPU and 1 MB of RAM")
            if server_group_id is not None:
                self._conn.compute.get_server_group(server_group_id)  # NotFound
            flavor = self._smallest_flavor(vcpus, memory_mb)
            if flavor is None:
                raise Rejected(f"{what}: no flavor has {vcpus} vCPU and {memory_mb} MB of RAM")
            kwargs: dict[str, Any] = {"name": name, "image_id": self._boot_image_id(), "flavor_id": flavor,
                                      "networks": _networks(self.boot_networks)}
            if server_group_id is not None:
                kwargs["scheduler_hints"] = {"group": server_group_id}
            raw = self._project_conn(project_id).compute.create_server(**kwargs)
            self._forget_groups()
            log.info("booting server %s (%s) in project %s", raw.id, name, project_id)
            deadline = time.monotonic() + self.boot_timeout_s
            while True:
                current = self._conn.compute.get_server(raw.id)
                if current.status == "ACTIVE":
                    return self.get_server(raw.id)
                if current.status == "ERROR" or time.monotonic() >= deadline:
                    fault = (current.fault or {}).get("message") if current.status == "ERROR" else None
                    self._delete_quietly(raw.id)
                    if fault is None and current.status != "ERROR":
                        raise Unavailable(f"{what}: not ACTIVE after {self.boot_timeout_s:.0f} s "
                                          f"(status {current.status}); deleted")
                    raise Rejected(_redact(f"{what}: {fault or 'the server went to ERROR'}"))
                time.sleep(self.poll_s)

    def move_estimates(self) -> MoveEstimates:
        """Measured on the devcloud's fake computes (docs/openstack.md): live 6.4-6.8 s until the record says
        completed, cold 1.9-2.5 s to confirmed; memory copy rates are those of a 10 Gbit/s migration network."""
        return MoveEstimates(live_base_s=6.5, live_mb_per_s=1000.0, cold_base_s=2.5, cold_mb_per_s=500.0,
                             live_downtime_s=0.5)

    def delete_server(self, server_id: str) -> None:
        """Delete a server (any project) and wait until it is gone. Idempotent."""
        what = f"delete server {server_id}"
        with _mapped(what):
            self._conn.compute.delete_server(server_id, ignore_missing=True)
            self._forget_groups()
            deadline = time.monotonic() + self.boot_timeout_s
            while True:
                try:
                    self._conn.compute.get_server(server_id)
                except os_exc.NotFoundException:
                    return
                if time.monotonic() >= deadline:
                    raise Unavailable(f"{what}: still there after {self.boot_timeout_s:.0f} s")
                time.sleep(self.poll_s)

    # === extras (tests, demos) =========================================================================

    def create_server_group(self, project_id: str, name: str, policy: GroupPolicy | str) -> ServerGroup:
        """Create an empty server group in ``project_id``."""
        group_policy = GroupPolicy(policy)
        with _mapped(f"create server group {name} in project {project_id}"):
            g = self._project_conn(project_id).compute.create_server_group(name=name, policy=group_policy.value)
            self._forget_groups()
            return ServerGroup(id=g.id, name=g.name or name, project_id=g.project_id or project_id,
                               policy=group_policy, members=list(g.member_ids or []))

    def delete_server_group(self, group_id: str) -> None:
        """Delete a server group (idempotent); its members stay."""
        with _mapped(f"delete server group {group_id}"):
            self._conn.compute.delete_server_group(group_id, ignore_missing=True)
            self._forget_groups()

    # === helpers ========================================================================================

    def _service(self, name: str) -> Any:
        found = [s for s in self._conn.compute.services(binary="nova-compute", host=name) if s.host == name]
        if not found:
            raise NotFound(f"Compute host {name} could not be found.")
        return found[0]

    def _fresh(self, cached: _Cached | None) -> bool:
        return cached is not None and time.monotonic() - cached.at < self.cache_ttl_s

    def _hypervisors(self, hosts: set[str]) -> list[tuple[str, _HypervisorUse]]:
        """(service host, node) for every compute node; reused while fresh and it knows a node of every host asked
        for (a new compute is read at once). Only the legacy fields, used for a node without a resource provider,
        may be that old."""
        with self._lock:
            cached = self._nodes
        if cached is not None and self._fresh(cached) and hosts <= {host for host, _ in cached.value}:
            nodes: list[tuple[str, _HypervisorUse]] = cached.value
            return nodes
        nodes = self._read_hypervisors()
        with self._lock:
            self._nodes = _Cached(time.monotonic(), nodes)
        return nodes

    def _read_hypervisors(self) -> list[tuple[str, _HypervisorUse]]:
        """(service host, node) for every compute node, read at 2.87 (no uptime RPC, legacy fields)."""
        nodes: list[tuple[str, _HypervisorUse]] = []
        url: str | None = "/os-hypervisors/detail"
        while url:
            body = _json(self._conn.compute.get(url, microversion=HYPERVISOR_MICROVERSION))
            for hv in body.get("hypervisors", []):
                host = (hv.get("service") or {}).get("host")
                if not host:
                    continue
                nodes.append((host, _HypervisorUse(
                    id=str(hv["id"]), vcpus=int(hv.get("vcpus") or 0), vcpus_used=int(hv.get("vcpus_used") or 0),
                    memory_mb=int(hv.get("memory_mb") or 0), memory_mb_used=int(hv.get("memory_mb_used") or 0))))
            url = next((link["href"] for link in body.get("hypervisors_links", []) if link.get("rel") == "next"),
                       None)
        return nodes

    def _summaries(self, wanted: set[str]) -> dict[str, tuple[int, int, int, int]]:
        """(vcpus, vcpus_used, memory_mb, memory_mb_used) of the wanted resource providers, from the provider
        summaries of allocation candidates for one unit of VCPU, then (for those not found) of MEMORY_MB.

        A node that has neither a vCPU nor a MB free is in neither answer, nor is a node without a provider; the
        caller reads those one by one. An old Placement (no 1.27) or none at all gives an empty answer."""
        found: dict[str, tuple[int, int, int, int]] = {}
        for rc in SUMMARY_CLASSES:
            if not wanted - found.keys():
                break
            try:
                body = _json(self._conn.placement.get(f"/allocation_candidates?resources={rc}:1",
                                                      microversion=PLACEMENT_SUMMARIES_MICROVERSION))
            except (os_exc.BadRequestException, os_exc.NotFoundException, os_exc.EndpointNotFound,
                    ks_exc.EndpointNotFound) as err:
                log.debug("no allocation candidates (%s); capacity is read node by node", err)
                return found
            except os_exc.HttpException as err:
                if err.status_code != 406:  # 406: Placement older than 1.27
                    raise
                return found
            for rp, summary in (body.get("provider_summaries") or {}).items():
                if rp not in wanted or rp in found:
                    continue
                res = summary.get("resources") or {}
                vcpu, ram = res.get("VCPU") or {}, res.get("MEMORY_MB") or {}
                found[rp] = (int(vcpu.get("capacity", 0)), int(vcpu.get("used", 0)),
                             int(ram.get("capacity", 0)), int(ram.get("used", 0)))
        return found

    def _inventories_of(self, provider: str) -> dict[str, Any]:
        """A resource provider's inventories, reused while fresh (they change when an operator reconfigures)."""
        with self._lock:
            cached = self._inventories.get(provider)
        if cached is not None and self._fresh(cached):
            inventories: dict[str, Any] = cached.value
            return inventories
        inventories = _json(self._conn.placement.get(f"/resource_providers/{provider}/inventories"))
        with self._lock:
            self._inventories[provider] = _Cached(time.monotonic(), inventories)
        return inventories

    def _capacity(self, node: _HypervisorUse) -> tuple[int, int, int, int]:
        """(vcpus, vcpus_used, memory_mb, memory_mb_used) of one node from Placement, else the legacy fields."""
        try:
            inventories = self._inventories_of(node.id)
            usages = _json(self._conn.placement.get(f"/resource_providers/{node.id}/usages"))
        except (os_exc.NotFoundException, os_exc.EndpointNotFound, ks_exc.EndpointNotFound):
            return node.vcpus, node.vcpus_used, node.memory_mb, node.memory_mb_used
        inv = inventories.get("inventories", {})
        used = usages.get("usages", {})

        def capacity(rc: str) -> int:
            i = inv.get(rc)
            return int((i["total"] - i.get("reserved", 0)) * i.get("allocation_ratio", 1.0)) if i else 0

        return (capacity("VCPU"), int(used.get("VCPU", 0)), capacity("MEMORY_MB"), int(used.get("MEMORY_MB", 0)))

    def _hosts(self, services: Iterable[Any], hypervisors: list[tuple[str, _HypervisorUse]], *,
               bulk: bool) -> list[ComputeHost]:
        """Services joined with their nodes' capacity: with `bulk`, from the provider summaries (one or two calls
        for every node), then node by node for what they lack; else node by node (one host)."""
        by_host: dict[str, list[_HypervisorUse]] = {}
        for host, node in hypervisors:
            by_host.setdefault(host, []).append(node)
        unique = {s.host: s for s in services}
        nodes = [node for name in unique for node in by_host.get(name, [])]
        capacities = self._summaries({n.id for n in nodes}) if bulk and nodes else {}
        rest = [n for n in nodes if n.id not in capacities]
        if rest:
            with ThreadPoolExecutor(max_workers=max(1, min(8, len(rest)))) as pool:
                capacities.update(zip((n.id for n in rest), pool.map(self._capacity, rest), strict=True))
        hosts = []
        for name, svc in sorted(unique.items()):
            totals = [capacities[n.id] for n in by_host.get(name, [])]
            hosts.append(ComputeHost(
                name=name, enabled=svc.status == "enabled", disabled_reason=svc.disabled_reason or None,
                up=svc.state == "up" and not svc.is_forced_down,
                vcpus=sum(t[0] for t in totals), vcpus_used=sum(t[1] for t in totals),
                memory_mb=sum(t[2] for t in totals), memory_mb_used=sum(t[3] for t in totals)))
        return hosts

    def _raw_groups(self, servers: Iterable[Any]) -> list[Any]:
        """Every server group (all projects), reused while fresh and it knows every one of these (raw) servers.

        A server still building may not be a member yet (Nova records it when it schedules the server): it is known
        only once it is a member or has been built, so until then every read asks Nova again."""
        servers = list(servers)
        with self._lock:
            cached = self._groups
        if cached is not None and self._fresh(cached) and {s.id for s in servers} <= cached.value[1]:
            groups: list[Any] = cached.value[0]
            return groups
        groups = list(self._conn.compute.server_groups(all_projects=True))
        built = {s.id for s in servers if str(s.status or "").upper() != "BUILD"}
        known = built.union(*(g.member_ids or [] for g in groups))
        if cached is not None and self._fresh(cached):
            known |= cached.value[1]  # a server's group never changes after it is created
        with self._lock:
            self._groups = _Cached(time.monotonic(), (groups, frozenset(known)))
        return groups

    def _forget_groups(self) -> None:
        """This driver changed groups or their members: the next read asks Nova."""
        with self._lock:
            self._groups = None

    def _group_of_member(self, servers: Iterable[Any]) -> dict[str, str]:
        group_of: dict[str, str] = {}
        for g in self._raw_groups(servers):
            for member in g.member_ids or []:
                group_of.setdefault(member, g.id)
        return group_of

    def _server(self, raw: Any, group_id: str | None) -> Server:
        vcpus, ram = self._flavor_size(raw.flavor)
        status = SERVER_STATUS.get(str(raw.status or "").upper())
        if status is None:
            log.warning("server %s has an unknown status %r; reported as ERROR", raw.id, raw.status)
            status = ServerStatus.ERROR
        return Server(id=raw.id, name=raw.name or "", project_id=raw.project_id or "", host=raw.compute_host,
                      status=status, vcpus=vcpus, memory_mb=ram, server_group_id=group_id)

    def _flavor_size(self, flavor: Any) -> tuple[int, int]:
        """(vcpus, ram) of a server's flavor: embedded at 2.47+, else looked up by id (cached)."""
        if flavor is None:
            return 0, 0
        if flavor.vcpus is not None and flavor.ram is not None:
            return int(flavor.vcpus), int(flavor.ram)
        flavor_id = str(flavor.id)
        with self._lock:
            cached = self._flavor_cache.get(flavor_id)
        if cached is None:
            try:
                f = self._conn.compute.get_flavor(flavor_id)
                cached = (int(f.vcpus or 0), int(f.ram or 0))
            except os_exc.NotFoundException:
                cached = (0, 0)  # a deleted flavor: the size is unknown below 2.47
            with self._lock:
                self._flavor_cache[flavor_id] = cached
        return cached

    def _smallest_flavor(self, vcpus: int, memory_mb: int) -> str | None:
        fitting = [(int(f.vcpus or 0), int(f.ram or 0), int(f.disk or 0), f.name or "", f.id)
                   for f in self._conn.compute.flavors(is_public=None)
                   if not f.is_disabled and (f.vcpus or 0) >= vcpus and (f.ram or 0) >= memory_mb]
        return str(min(fitting)[4]) if fitting else None

    def _boot_image_id(self) -> str:
        if self._image_id is None:
            image = self._conn.image.find_image(self.boot_image, ignore_missing=False)
            self._image_id = str(image.id)
        return self._image_id

    def _project_conn(self, project_id: str) -> Any:
        """The admin connection if it is scoped to ``project_id``, else one rescoped to it (cached)."""
        if project_id == self._conn.current_project_id:
            return self._conn
        with self._lock:
            conn = self._project_conns.get(project_id)
        if conn is None:
            conn = self._conn.connect_as(project_id=project_id)
            try:
                scoped = conn.session.get_project_id()  # authenticates now
            except ks_exc.Unauthorized:
                scoped = None
            if scoped != project_id:
                raise Rejected(f"cannot act in project {project_id}: Keystone refused to scope the admin user "
                               f"to it; give the user a role in that project")
            with self._lock:
                conn = self._project_conns.setdefault(project_id, conn)
        return conn

    def _raw_migrations(self, server_id: str) -> list[Any]:
        records = list(self._conn.compute.migrations(server_id=server_id))
        return sorted(records, key=lambda m: (str(m.created_at or ""), _int_or_zero(m.id)))

    def _migration_ids(self, server_id: str) -> set[str]:
        return {str(m.id) for m in self._raw_migrations(server_id)}

    def _await_new_record(self, server_id: str, before: set[str]) -> None:
        """Wait until Nova shows a migration record that was not there before the request."""
        deadline = time.monotonic() + self.migration_record_wait_s
        while True:
            if self._migration_ids(server_id) - before:
                return
            if time.monotonic() >= deadline:
                log.warning("no migration record for %s after %.0f s", server_id, self.migration_record_wait_s)
                return
            time.sleep(self.poll_s)

    def _delete_quietly(self, server_id: str) -> None:
        try:
            self.delete_server(server_id)
        except CloudError as err:
            log.warning("could not delete server %s: %s", server_id, err)


# --- conversions -----------------------------------------------------------------------------------------


def _json(response: Any) -> dict[str, Any]:
    os_exc.raise_from_response(response)
    body: dict[str, Any] = response.json()
    return body


def _int_or_zero(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _host_not_found(err: os_exc.HttpException, what: str) -> CloudError:
    mapped = map_error(err, what)
    return NotFound(str(mapped)) if _HOST_NOT_FOUND.search(str(err.details or "")) else mapped


def _group_policy(group: Any) -> GroupPolicy | None:
    policy = group.policy or next(iter(group.policies or []), None)
    try:
        return GroupPolicy(str(policy))
    except ValueError:
        return None


def _networks(spec: str) -> str | list[dict[str, str]]:
    spec = spec.strip()
    if spec in ("none", "auto"):
        return spec
    return [{"uuid": n.strip()} for n in spec.split(",") if n.strip()]


def _migration(m: Any) -> Migration:
    status = MIGRATION_STATUS.get(str(m.status or "").lower())
    if status is None:
        log.warning("migration %s has an unknown status %r; treated as running", m.id, m.status)
        status = MigrationStatus.RUNNING
    kind = MIGRATION_TYPE.get(str(m.migration_type or ""), MigrationType.COLD)
    return Migration(id=str(m.id), server_id=str(m.server_id), source_host=str(m.source_compute or ""),
                     dest_host=m.dest_compute or None, migration_type=kind, status=status)
