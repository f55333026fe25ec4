"""Cloud activities: sync functions over a CloudDriver, run on the worker's thread pool.

openstacksdk is blocking, so these are plain `def`s; an `async def` would stall the worker's event loop.
Every activity is idempotent: a retry after a worker crash finds the work done or resumes following it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from fenix.cloud.driver import CloudDriver, CloudError, NotFound
from fenix.models.capabilities import CapacityFigures, CapacityRequest, HostFacts, Usage
from fenix.models.capacity import HostsCapacity, HostsRequest
from fenix.models.cloud import SETTLED_STATUSES, CloudSnapshot, Migration, MigrationStatus, ServerStatus, Settling
from fenix.models.cloud_ops import (
    EstimatesRequest,
    EvictRequest,
    EvictResult,
    HostRequest,
    HostResult,
    MigrateRequest,
    MigrateResult,
    SettleRequest,
    SettleResult,
    SnapshotRequest,
    WaitEmptyRequest,
    WaitEmptyResult,
)
from fenix.models.plan import MoveEstimates
from fenix.models.session import InstanceAction

FAILED_MIGRATION = {MigrationStatus.ERROR, MigrationStatus.FAILED}


@contextmanager
def cloud_errors() -> Iterator[None]:
    """Map driver errors to Temporal failures: 4xx-like are business errors and not retried."""
    try:
        yield
    except CloudError as err:
        # A refusal (no room, not found) is a business answer the workflow handles (another target, a retry
        # round): BENIGN keeps the SDK from logging it as a worker warning with a traceback.
        category = ApplicationErrorCategory.UNSPECIFIED if err.retryable else ApplicationErrorCategory.BENIGN
        raise ApplicationError(str(err), type=type(err).__name__, non_retryable=not err.retryable,
                               category=category) from err


# A moved server ends as it was: a stopped (SHUTOFF) server is cold-migrated and stays stopped, so waiting for
# ACTIVE would follow it until the activity's timeout.
SETTLED = SETTLED_STATUSES

class Backoff:
    """The pause between two looks at the cloud: `poll_s` while something changes; while nothing does, doubling up
    to `max_s` and to a quarter of the time since the last change (so a move that ends after standing still for T
    is seen by 1.25 T). Each look is a few API calls: a cloud that stands still (a long migration, a server its
    owner has not touched yet) need not be asked every `poll_s`; the first change seen brings the pace back."""

    def __init__(self, poll_s: float, max_s: float) -> None:
        self.poll_s = poll_s
        self.max_s = max(poll_s, max_s)
        self.pause = poll_s
        self._last: object = None
        self._changed = time.monotonic()

    def after(self, seen: object) -> float:
        """The pause before the next look, given what this look saw (compared with ==)."""
        now = time.monotonic()
        if seen != self._last:
            self._last, self._changed, self.pause = seen, now, self.poll_s
        else:
            self.pause = max(self.poll_s, min(self.pause * 2, self.max_s, (now - self._changed) / 4))
        return self.pause


class CloudActivities:
    def __init__(self, driver: CloudDriver, poll_s: float = 1.0, inline_s: float = 1.0,
                 poll_max_s: float | None = None) -> None:
        self._driver = driver
        self._poll_s = poll_s
        self._poll_max_s = poll_s if poll_max_s is None else poll_max_s  # None: no backoff
        self._inline_s = inline_s  # how long one migrate_step may look again before it leaves it to a timer

    @activity.defn(name="cloud_snapshot")
    def snapshot(self, req: SnapshotRequest) -> CloudSnapshot:
        """Hosts (all, or the named ones plus every other compute host), all servers, all groups."""
        with cloud_errors():
            hosts = self._driver.list_compute_hosts()
            missing = set(req.hosts) - {h.name for h in hosts}
            if missing:
                raise ApplicationError(f"unknown compute host(s): {', '.join(sorted(missing))}",
                                       type="NotFound", non_retryable=True)
            return CloudSnapshot(hosts=hosts, servers=self._driver.list_servers(),
                                 server_groups=self._driver.list_server_groups())

    @activity.defn(name="disable_host")
    def disable_host(self, req: HostRequest) -> HostResult:
        """Disable with the session's reason. Idempotent for that reason; a host someone else disabled meanwhile
        is refused (never taken over), so the session will not enable it later either."""
        with cloud_errors():
            before = self._driver.get_compute_host(req.host)
            if not before.enabled:
                if req.replaces is not None and before.disabled_reason == req.replaces:
                    return HostResult(host=self._driver.disable_host(req.host, req.reason), changed=True)
                if req.reason and before.disabled_reason != req.reason:
                    raise ApplicationError(f"host {req.host} was disabled by someone else meanwhile "
                                           f"({before.disabled_reason or 'no reason given'})",
                                           type="Rejected", non_retryable=True)
                return HostResult(host=before, changed=False, facts=self._facts(req))
            # Read before the disable: the host as its workloads knew it (a retry after the disable reads the same).
            facts = self._facts(req)
            return HostResult(host=self._driver.disable_host(req.host, req.reason), changed=True, facts=facts)

    @activity.defn(name="enable_host")
    def enable_host(self, req: HostRequest) -> HostResult:
        """Enable a host this session disabled. With a reason, a host disabled for another reason is left alone:
        the session may not know whether its own disable ever happened (an abort races it)."""
        with cloud_errors():
            before = self._driver.get_compute_host(req.host)
            # Read after the plug-ins, as the host goes back: what it offers new workloads from now on.
            facts = self._facts(req)
            if before.enabled:
                return HostResult(host=before, changed=False, facts=facts)
            if req.reason and before.disabled_reason != req.reason:
                return HostResult(host=before, changed=False, facts=facts)
            return HostResult(host=self._driver.enable_host(req.host), changed=True, facts=facts)

    def _facts(self, req: HostRequest) -> HostFacts | None:
        return self._driver.host_facts(req.host) if req.read_facts else None

    @activity.defn(name="capacity_figures")
    def capacity(self, req: CapacityRequest) -> CapacityFigures:
        """Free vCPU and RAM on the compute hosts that take new servers (enabled, up), and what each asked project's
        servers take (the end of a session tells projects how far they may scale back out)."""
        with cloud_errors():
            usable = [h for h in self._driver.list_compute_hosts() if h.enabled and h.up]
            wanted = set(req.projects)
            usage = {p: Usage() for p in sorted(wanted)}
            for s in self._driver.list_servers():
                if s.project_id in wanted:
                    u = usage[s.project_id]
                    usage[s.project_id] = Usage(instances=u.instances + 1, vcpus=u.vcpus + s.vcpus,
                                                memory_mb=u.memory_mb + s.memory_mb)
            return CapacityFigures(hosts=len(usable), free_vcpus=sum(max(0, h.vcpus_free) for h in usable),
                                   free_memory_mb=sum(max(0, h.memory_mb_free) for h in usable), usage=usage)

    @activity.defn(name="hosts_capacity")
    def hosts_capacity(self, req: HostsRequest) -> HostsCapacity:
        """The named compute hosts (capacity, usage, state); an unknown one is NotFound (not retried)."""
        with cloud_errors():
            known = {h.name: h for h in self._driver.list_compute_hosts()}
            missing = sorted(set(req.hosts) - set(known))
            if missing:
                raise ApplicationError(f"unknown compute host(s): {', '.join(missing)}", type="NotFound",
                                       non_retryable=True)
            return HostsCapacity(hosts=[known[h] for h in dict.fromkeys(req.hosts)])

    @activity.defn(name="migrate_step")
    def migrate_step(self, req: MigrateRequest) -> MigrateResult:
        """One step of a move: start it (or find it started), or look at how it is doing.

        The session waits between steps on a durable timer, not inside this activity: a long move then holds
        no worker slot, an abort is seen at once, and the time-skipping test server skips the wait (a running
        activity would pin its clock). Only a short look-again is done here (up to `inline_s`): a move that ends
        within it (a fast cold move and its confirmation) then costs one step, not one timer per look, and a dev
        server's timers fire only about once a second. Idempotent: a retry after a crash finds the move in flight
        or done, so a migration is never started twice. `req.migration_id` is the record this move started; a
        failed record raises MigrationFailed, an old failed record from an earlier round does not. `done` means the
        cloud has settled the server off the source host (ACTIVE, or stopped as it was); a server that left but is
        in VERIFY_RESIZE is confirmed first, and one in ERROR is a failed move.
        """
        until = time.monotonic() + self._inline_s
        while True:
            res = self._migrate_step(req)
            left = until - time.monotonic()
            if res.done or left <= 0:
                return res
            req = req.model_copy(update={"migration_id": res.migration_id})
            time.sleep(min(self._poll_s, left))

    def _migrate_step(self, req: MigrateRequest) -> MigrateResult:
        with cloud_errors():
            server = self._driver.get_server(req.server_id)
            if server.status == ServerStatus.VERIFY_RESIZE:
                self._driver.confirm_resize(server.id)  # the move is done once confirmed (a next step sees it)
                return MigrateResult(server_id=server.id, host=server.host, migration_id=req.migration_id)
            if server.host != req.source_host:
                return self._off_source(req, server.host, server.status)
            latest = self._latest(req.server_id)
            if req.migration_id is not None and latest is not None and latest.id == req.migration_id \
                    and latest.status in FAILED_MIGRATION:
                raise ApplicationError(
                    f"{latest.migration_type.value} of {req.server_id} from {req.source_host} to "
                    f"{latest.dest_host} failed; the server stayed on {server.host} ({server.status.value})",
                    type="MigrationFailed", non_retryable=True, category=ApplicationErrorCategory.BENIGN)
            if latest is not None and not latest.status.terminal and latest.status != MigrationStatus.FINISHED:
                return MigrateResult(server_id=server.id, host=server.host, migration_id=latest.id)
            if req.migration_id is not None and latest is not None and latest.id == req.migration_id:
                # Ended well, but Nova has not yet moved the server (task_state still set): look again later.
                return MigrateResult(server_id=server.id, host=server.host, migration_id=latest.id)
            # Starting a move can take seconds on a real Nova (the driver waits for the record).
            activity.heartbeat(f"starting {req.action.value} of {req.server_id}")
            if req.action == InstanceAction.LIVE_MIGRATE:
                self._driver.live_migrate(server.id, req.target_host)
            else:
                self._driver.cold_migrate(server.id, req.target_host)
            started = self._latest(req.server_id)
            return MigrateResult(server_id=server.id, host=server.host,
                                 migration_id=started.id if started else req.migration_id)

    @staticmethod
    def _off_source(req: MigrateRequest, host: str | None, status: ServerStatus) -> MigrateResult:
        """The server has left the source host. The move is done only once the cloud has settled it there: ACTIVE
        (or stopped as it was). ERROR is a failed move, whatever the record says. Anything else (MIGRATING, RESIZE,
        a busy BUILD) is still under way: look again; never start another move of a server that already left."""
        if status in SETTLED:
            return MigrateResult(server_id=req.server_id, host=host, done=True, migration_id=req.migration_id)
        if status == ServerStatus.ERROR:
            raise ApplicationError(
                f"{req.server_id} left {req.source_host} but is in ERROR on {host}: an operator must repair it",
                type="MigrationFailed", non_retryable=True, category=ApplicationErrorCategory.BENIGN)
        return MigrateResult(server_id=req.server_id, host=host, migration_id=req.migration_id)

    def _latest(self, server_id: str) -> Migration | None:
        migrations = self._driver.list_migrations(server_id)
        return migrations[-1] if migrations else None

    @activity.defn(name="settle_instances")
    def settle(self, req: SettleRequest) -> SettleResult:
        """Leave none of these servers mid-move: confirm cold migrations waiting in VERIFY_RESIZE, follow migrations
        still in flight to their end (and confirm them), for up to `req.wait_s`. Reports every server it found not
        at rest. Idempotent (a retry finds the confirmations done); never starts or reverts a move.

        The cleanup of a failed or aborted session calls it, so that no instance stays unconfirmed or half-moved
        behind a session that says it has ended. Waiting here (not on workflow timers) is fine: it happens once,
        at the end. One list call finds the few servers worth a closer look.
        """
        deadline = time.monotonic() + req.wait_s
        with cloud_errors():
            # Gone servers need nothing, and ACTIVE or stopped ones are at rest: Nova shows a migration in flight
            # as MIGRATING or RESIZE from the moment it accepts it.
            listed = {s.id: s.status for s in self._driver.list_servers()}
            pending = [i for i in dict.fromkeys(req.server_ids) if i in listed and listed[i] not in SETTLED]
            seen: dict[str, Settling] = {}
            backoff = Backoff(self._poll_s, self._poll_max_s)
            while pending:
                still = []
                for sid in pending:
                    look = self._driver.settle_server(sid)
                    confirmed = look.confirmed or (sid in seen and seen[sid].confirmed)
                    seen[sid] = look.model_copy(update={"confirmed": confirmed})
                    if not look.final:
                        still.append(sid)
                pending = still
                activity.heartbeat(f"settling {len(pending)} server(s): {', '.join(pending[:5])}")
                left = deadline - time.monotonic()
                if not pending or left <= 0:
                    break
                time.sleep(min(backoff.after([seen[i] for i in pending]), left))
        return SettleResult(servers=[seen[i] for i in seen])

    @activity.defn(name="move_estimates")
    def estimates(self, _: EstimatesRequest) -> MoveEstimates:
        return self._driver.move_estimates()

    @activity.defn(name="evict_instance")
    def evict(self, req: EvictRequest) -> EvictResult:
        """Delete a server whose constraints allow EVICTION (its owner scales back out later). Idempotent."""
        with cloud_errors():
            try:
                self._driver.get_server(req.server_id)
            except NotFound:
                return EvictResult(server_id=req.server_id, deleted=False)
            activity.heartbeat(f"deleting {req.server_id}")
            self._driver.delete_server(req.server_id)
            return EvictResult(server_id=req.server_id, deleted=True)

    @activity.defn(name="wait_host_empty")
    def wait_empty(self, req: WaitEmptyRequest) -> WaitEmptyResult:
        """Poll until the named servers (or all) left the host, or the timeout passes."""
        deadline = time.monotonic() + req.timeout_s
        backoff = Backoff(self._poll_s, self._poll_max_s)
        with cloud_errors():
            while True:
                on_host = [s.id for s in self._driver.list_servers(host=req.host)]
                remaining = [i for i in on_host if not req.instance_ids or i in req.instance_ids]
                activity.heartbeat(f"{len(remaining)} server(s) left on {req.host}")
                if not remaining or time.monotonic() >= deadline:
                    return WaitEmptyResult(empty=not remaining, remaining=remaining)
                time.sleep(min(backoff.after(remaining), max(0.0, deadline - time.monotonic())))
