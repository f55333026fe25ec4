"""A persistent simulated cloud that behaves like Nova, for demos and fast tests.

State lives in one SQLite file so that a worker can crash and restart without losing a migration, and so
that other processes (sample VNFMs creating and deleting servers, the API, tests) can share the same
cloud. Every public call is one short ``BEGIN IMMEDIATE`` transaction on a fresh connection: sqlite3
connections must not be shared across threads, and drivers are called from a thread pool.

Time is simulated lazily. A migration stores its start and computed end time; every public call first
"advances" the simulation to the current clock and applies the migrations whose end time has passed.
Progress therefore depends only on stored timestamps and the clock, never on a background thread, so a
caller that crashes mid-migration finds the migration finished (or failed) when it comes back.

Nova behaviour mimicked here:

* The scheduler filters hosts (enabled service, compute up, enough free vCPUs and RAM, server group
  policy) and weighs the rest by free RAM.
* Resources are claimed on both source and destination while a migration runs, and on the source until a
  cold migration is confirmed (the server waits in VERIFY_RESIZE meanwhile).
* A failed migration is rolled back: the server stays on its source host and is ACTIVE again; the
  migration record ends in ``error``. A broken one (fault ``error``) leaves the server in ERROR on the
  destination, like a Nova whose ``finish_resize`` or post-live-migration step failed there.
"""

from __future__ import annotations

import os
import sqlite3
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pydantic import BaseModel, Field

from fenix.cloud.driver import NotFound, Rejected, Unavailable
from fenix.models.capabilities import HostFacts
from fenix.models.cloud import (
    CloudSnapshot,
    ComputeHost,
    GroupPolicy,
    Migration,
    MigrationStatus,
    MigrationType,
    Server,
    ServerGroup,
    ServerStatus,
    Settling,
)
from fenix.models.plan import MoveEstimates

__all__ = [
    "FAULT_KINDS",
    "MigrationRecord",
    "SimGroupSpec",
    "SimHostSpec",
    "SimSeed",
    "SimServerSpec",
    "SimulatedCloud",
]

NO_VALID_HOST = "No valid host was found"
FAULT_KINDS = frozenset({"migration", "error", "api", "confirm"})
# migrations.fail: how an injected fault ends the migration
_ROLLBACK, _BREAK = 1, 2


# --- seed and log models ----------------------------------------------------------------------------


class SimHostSpec(BaseModel):
    """A compute host to create (or update the capacity of) when seeding."""

    name: str
    vcpus: int = Field(ge=0)
    memory_mb: int = Field(ge=0)


class SimGroupSpec(BaseModel):
    """A server group to create when seeding; servers refer to it by name."""

    name: str
    project_id: str
    policy: GroupPolicy


class SimServerSpec(BaseModel):
    """A server to boot when seeding.

    ``host`` None lets the scheduler pick; a named host is still validated (capacity, group policy).
    ``group`` names a group of the same seed (or an existing group of the same project).
    """

    name: str
    project_id: str
    vcpus: int = Field(gt=0)
    memory_mb: int = Field(gt=0)
    group: str | None = None
    host: str | None = None


class SimSeed(BaseModel):
    """A whole initial cloud."""

    hosts: list[SimHostSpec] = Field(default_factory=list)
    groups: list[SimGroupSpec] = Field(default_factory=list)
    servers: list[SimServerSpec] = Field(default_factory=list)


class MigrationRecord(Migration):
    """A migration with the simulator's timestamps (what ``migration_log`` returns)."""

    started_at: float
    ends_at: float  # when the migration finishes (or fails), fixed when it starts
    finished_at: float | None = None  # set once the simulation has applied the end


# --- schema -------------------------------------------------------------------------------------------

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS hosts (
        name TEXT PRIMARY KEY,
        vcpus INTEGER NOT NULL,
        memory_mb INTEGER NOT NULL,
        enabled INTEGER NOT NULL DEFAULT 1,
        disabled_reason TEXT,
        up INTEGER NOT NULL DEFAULT 1,
        hypervisor_type TEXT NOT NULL DEFAULT 'QEMU',
        hypervisor_version INTEGER NOT NULL DEFAULT 8002000,
        traits TEXT NOT NULL DEFAULT '',
        aggregates TEXT NOT NULL DEFAULT '')""",
    """CREATE TABLE IF NOT EXISTS server_groups (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        project_id TEXT NOT NULL,
        policy TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS servers (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        project_id TEXT NOT NULL,
        host TEXT,
        status TEXT NOT NULL,
        vcpus INTEGER NOT NULL,
        memory_mb INTEGER NOT NULL,
        server_group_id TEXT,
        created_at REAL NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS servers_host ON servers(host)",
    "CREATE INDEX IF NOT EXISTS servers_group ON servers(server_group_id)",
    # vcpus/memory_mb are the claim the migration holds (the flavor at the time it started).
    """CREATE TABLE IF NOT EXISTS migrations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        server_id TEXT NOT NULL,
        source_host TEXT NOT NULL,
        dest_host TEXT NOT NULL,
        migration_type TEXT NOT NULL,
        status TEXT NOT NULL,
        vcpus INTEGER NOT NULL,
        memory_mb INTEGER NOT NULL,
        started_at REAL NOT NULL,
        ends_at REAL NOT NULL,
        finished_at REAL,
        fail INTEGER NOT NULL DEFAULT 0)""",
    "CREATE INDEX IF NOT EXISTS migrations_server ON migrations(server_id)",
    "CREATE INDEX IF NOT EXISTS migrations_status ON migrations(status)",
    """CREATE TABLE IF NOT EXISTS faults (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        server_id TEXT,
        remaining INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS host_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        host TEXT NOT NULL,
        event TEXT NOT NULL,
        at REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS violations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        message TEXT NOT NULL UNIQUE,
        at REAL NOT NULL)""",
)
# Columns added after the first release of the simulator: a cloud file made before gets them at open.
_ADDED_HOST_COLUMNS = {"hypervisor_type": "TEXT NOT NULL DEFAULT 'QEMU'",
                       "hypervisor_version": "INTEGER NOT NULL DEFAULT 8002000",
                       "traits": "TEXT NOT NULL DEFAULT ''", "aggregates": "TEXT NOT NULL DEFAULT ''"}
# Every new host reports these traits (a small part of what a libvirt compute node reports).
DEFAULT_TRAITS = ("COMPUTE_NET_ATTACH_INTERFACE", "COMPUTE_VOLUME_ATTACH", "HW_CPU_X86_AVX2")
_TABLES = ("hosts", "server_groups", "servers", "migrations", "faults", "host_events", "violations")


class _KeepAndRaise(Exception):  # noqa: N818 (not an error itself: it carries one)
    """Raised inside a transaction: commit what it did so far (a consumed fault), then raise ``error``."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(frozen=True)
class _Tx:
    """One open transaction: its connection and the simulated 'now' it runs at."""

    db: sqlite3.Connection
    now: float


@dataclass(frozen=True)
class _Usage:
    vcpus: int = 0
    memory_mb: int = 0


class SimulatedCloud:
    """A Nova-like cloud kept in a SQLite file; implements ``fenix.cloud.driver.CloudDriver``.

    Several instances (in several threads or processes) may open the same file at once; they see one
    cloud. Instances hold no state besides their configuration.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        time_scale: float = 1.0,
        live_base_s: float = 2.0,
        live_mb_per_s: float = 2048.0,
        cold_base_s: float = 4.0,
        cold_mb_per_s: float = 1024.0,
        clock: Callable[[], float] = time.time,
        busy_timeout_s: float = 30.0,
    ) -> None:
        """Open (and create on first use) the simulated cloud stored at ``path``.

        Args:
            path: SQLite file holding the cloud; created with its schema if missing.
            time_scale: Multiplies every migration duration (tests use ~0.01).
            live_base_s: Fixed part of a live migration's duration, in seconds.
            live_mb_per_s: Memory copy rate of a live migration.
            cold_base_s: Fixed part of a cold migration's duration, in seconds.
            cold_mb_per_s: Copy rate of a cold migration.
            clock: Returns the current time in seconds; inject a fake one to drive time in tests.
            busy_timeout_s: How long a call waits for another writer before failing.
        """
        if time_scale < 0 or live_mb_per_s <= 0 or cold_mb_per_s <= 0:
            raise ValueError("time_scale must be >= 0 and copy rates > 0")
        self.path = os.fspath(path)
        self.time_scale = time_scale
        self.live_base_s = live_base_s
        self.live_mb_per_s = live_mb_per_s
        self.cold_base_s = cold_base_s
        self.cold_mb_per_s = cold_mb_per_s
        self._clock = clock
        self._busy_timeout_s = busy_timeout_s
        self._init_schema()

    def __repr__(self) -> str:
        return f"SimulatedCloud({self.path!r}, time_scale={self.time_scale})"

    # === CloudDriver: admin, hosts =====================================================================

    def list_compute_hosts(self) -> list[ComputeHost]:
        """All compute hosts with their current usage (including migration claims), sorted by name."""
        with self._tx(admin=True) as tx:
            return self._hosts(tx.db)

    def get_compute_host(self, name: str) -> ComputeHost:
        """One compute host.

        Raises:
            NotFound: No such host.
        """
        with self._tx(admin=True) as tx:
            return self._host(tx.db, name)

    def disable_host(self, name: str, reason: str) -> ComputeHost:
        """Disable the host's nova-compute service so the scheduler skips it. Idempotent.

        Running servers stay; a repeated call only updates the reason and records no new event.

        Raises:
            NotFound: No such host.
        """
        with self._tx(admin=True) as tx:
            row = self._host_row(tx.db, name)
            if row["enabled"]:
                tx.db.execute(
                    "INSERT INTO host_events (host, event, at) VALUES (?, 'disabled', ?)", (name, tx.now)
                )
            tx.db.execute("UPDATE hosts SET enabled = 0, disabled_reason = ? WHERE name = ?", (reason, name))
            return self._host(tx.db, name)

    def enable_host(self, name: str) -> ComputeHost:
        """Enable the host's nova-compute service again. Idempotent.

        Raises:
            NotFound: No such host.
        """
        with self._tx(admin=True) as tx:
            row = self._host_row(tx.db, name)
            if not row["enabled"]:
                tx.db.execute(
                    "INSERT INTO host_events (host, event, at) VALUES (?, 'enabled', ?)", (name, tx.now)
                )
                tx.db.execute("UPDATE hosts SET enabled = 1, disabled_reason = NULL WHERE name = ?", (name,))
            return self._host(tx.db, name)

    def host_facts(self, name: str) -> HostFacts:
        """The host's hypervisor, traits and aggregates (changed by `upgrade_host`, as a real upgrade would).

        Raises:
            NotFound: No such host.
        """
        with self._tx(admin=True) as tx:
            return _facts(self._host_row(tx.db, name))

    # === CloudDriver: admin, servers ===================================================================

    def list_servers(self, *, host: str | None = None, project_id: str | None = None) -> list[Server]:
        """Servers of all projects (an admin view), optionally filtered, sorted by name then id."""
        with self._tx(admin=True) as tx:
            return self._servers(tx.db, host=host, project_id=project_id)

    def get_server(self, server_id: str) -> Server:
        """One server.

        Raises:
            NotFound: No such server (or it was deleted).
        """
        with self._tx(admin=True) as tx:
            return _server(self._server_row(tx.db, server_id))

    def list_server_groups(self, *, project_id: str | None = None) -> list[ServerGroup]:
        """Server groups with their members, sorted by name then id."""
        with self._tx(admin=True) as tx:
            return self._groups(tx.db, project_id=project_id)

    def live_migrate(self, server_id: str, target_host: str | None) -> None:
        """Start a live migration and return at once; the server is MIGRATING until it ends.

        Args:
            server_id: The server to move.
            target_host: Destination, or None to let the scheduler pick one.

        Raises:
            NotFound: No such server or target host.
            Rejected: The move is refused now (wrong state, no valid host, policy), like Nova's 400/409.
        """
        self._migrate(server_id, target_host, MigrationType.LIVE)

    def cold_migrate(self, server_id: str, target_host: str | None) -> None:
        """Start a cold migration and return at once; the server is RESIZE, then VERIFY_RESIZE.

        Args:
            server_id: The server to move.
            target_host: Destination, or None to let the scheduler pick one.

        Raises:
            NotFound: No such server or target host.
            Rejected: The move is refused now (wrong state, no valid host, policy), like Nova's 400/409.
        """
        self._migrate(server_id, target_host, MigrationType.COLD)

    def confirm_resize(self, server_id: str) -> None:
        """Confirm a finished cold migration: the server is ACTIVE and the source claim is released.

        Idempotent: confirming again once the latest migration is confirmed does nothing.

        Raises:
            NotFound: No such server.
            Rejected: The server is not in VERIFY_RESIZE (and its latest migration is not confirmed).
        """
        with self._tx(admin=True) as tx:
            row = self._server_row(tx.db, server_id)
            if row["status"] == ServerStatus.VERIFY_RESIZE:
                self._confirm(tx, server_id)
                return
            latest = tx.db.execute(
                "SELECT status FROM migrations WHERE server_id = ? ORDER BY id DESC LIMIT 1", (server_id,)
            ).fetchone()
            if latest is not None and latest["status"] == MigrationStatus.CONFIRMED:
                return  # a retried confirm after the first one went through
            raise Rejected(
                f"Cannot 'confirmResize' instance {server_id} while it is in state {row['status']}"
            )

    def list_migrations(self, server_id: str) -> list[Migration]:
        """Every migration record of the server, oldest first (empty for unknown servers, like Nova)."""
        with self._tx(admin=True) as tx:
            rows = tx.db.execute(
                "SELECT * FROM migrations WHERE server_id = ? ORDER BY id", (server_id,)
            ).fetchall()
            return [_migration(r) for r in rows]

    def settle_server(self, server_id: str) -> Settling:
        """One step towards a server at rest: confirm a finished cold migration, report one still in flight.

        A migration in flight ends at the time fixed when it started (the simulation advances lazily), so a
        caller looks again after a while; nothing here waits. Idempotent; a missing server is GONE. Faults apply:
        ``api`` (the call fails) and ``confirm`` (the confirmation fails).
        """
        with self._tx(admin=True) as tx:
            row = tx.db.execute("SELECT * FROM servers WHERE id = ?", (server_id,)).fetchone()
            if row is None:
                return Settling.of(server_id, None)
            confirmed = row["status"] == ServerStatus.VERIFY_RESIZE
            if confirmed:
                self._confirm(tx, server_id)
            latest = tx.db.execute(
                "SELECT * FROM migrations WHERE server_id = ? ORDER BY id DESC LIMIT 1", (server_id,)
            ).fetchone()
            flight = latest is not None and latest["status"] == MigrationStatus.RUNNING
            return Settling.of(server_id, _server(self._server_row(tx.db, server_id)),
                               in_flight=_migration(latest) if flight else None, confirmed=confirmed)

    # === CloudDriver: tenant ===========================================================================

    def create_server(self, *, project_id: str, name: str, vcpus: int, memory_mb: int,
                      server_group_id: str | None = None, server_id: str | None = None) -> Server:
        """Schedule and boot a server; it is ACTIVE at once. `server_id` (tests): the id it gets, else a UUID.

        Raises:
            NotFound: No such server group.
            Rejected: No valid host was found.
        """
        with self._tx() as tx:
            return self._create_server(tx, project_id=project_id, name=name, vcpus=vcpus,
                                       memory_mb=memory_mb, server_group_id=server_group_id, host=None,
                                       server_id=server_id)

    def delete_server(self, server_id: str) -> None:
        """Delete a server. Idempotent: deleting a missing server is fine.

        Like Nova, deleting a server in VERIFY_RESIZE confirms the resize first, and deleting one that is
        migrating aborts the migration; either way every claim of the server is released.
        """
        with self._tx() as tx:
            tx.db.execute(
                "UPDATE migrations SET status = ? WHERE server_id = ? AND status = ?",
                (MigrationStatus.CONFIRMED, server_id, MigrationStatus.FINISHED),
            )
            tx.db.execute(
                "UPDATE migrations SET status = ?, finished_at = ? WHERE server_id = ? AND status = ?",
                (MigrationStatus.ERROR, tx.now, server_id, MigrationStatus.RUNNING),
            )
            tx.db.execute("DELETE FROM servers WHERE id = ?", (server_id,))

    def create_server_group(self, project_id: str, name: str, policy: GroupPolicy | str) -> ServerGroup:
        """Create an empty server group.

        Raises:
            ValueError: Unknown policy.
        """
        group_policy = GroupPolicy(policy)
        with self._tx() as tx:
            gid = self._create_group(tx.db, project_id, name, group_policy)
            return self._group(tx.db, gid)

    def delete_server_group(self, group_id: str) -> None:
        """Delete a server group (idempotent); its members stay, outside any group."""
        with self._tx() as tx:
            tx.db.execute("UPDATE servers SET server_group_id = NULL WHERE server_group_id = ?", (group_id,))
            tx.db.execute("DELETE FROM server_groups WHERE id = ?", (group_id,))

    # === admin / test helpers ==========================================================================

    def add_host(self, name: str, vcpus: int, memory_mb: int) -> ComputeHost:
        """Add a compute host (enabled, up), or update the capacity of an existing one."""
        with self._tx() as tx:
            self._add_host(tx.db, name, vcpus, memory_mb)
            return self._host(tx.db, name)

    def upgrade_host(self, name: str, *, hypervisor_type: str | None = None, hypervisor_version: int | None = None,
                     add_traits: tuple[str, ...] = (), remove_traits: tuple[str, ...] = (),
                     aggregates: list[str] | None = None) -> HostFacts:
        """What an upgrade of the host does to what it reports (an upgrade plug-in calls it, through the `command`
        plug-in: tests, the demo): a new hypervisor version or type, traits gained or lost, other aggregates.

        Raises:
            NotFound: No such host.
        """
        with self._tx() as tx:
            facts = _facts(self._host_row(tx.db, name))
            traits = (set(facts.traits) | set(add_traits)) - set(remove_traits)
            tx.db.execute(
                "UPDATE hosts SET hypervisor_type = ?, hypervisor_version = ?, traits = ?, aggregates = ?"
                " WHERE name = ?",
                (hypervisor_type or facts.hypervisor_type, hypervisor_version or facts.hypervisor_version,
                 ",".join(sorted(traits)), ",".join(sorted(facts.aggregates if aggregates is None else aggregates)),
                 name))
            return _facts(self._host_row(tx.db, name))

    def set_host_up(self, name: str, up: bool) -> ComputeHost:
        """Mark the host's compute service up or down (down hosts get no servers and cannot migrate).

        Raises:
            NotFound: No such host.
        """
        with self._tx() as tx:
            self._host_row(tx.db, name)
            tx.db.execute("UPDATE hosts SET up = ? WHERE name = ?", (int(up), name))
            return self._host(tx.db, name)

    def seed(self, spec: SimSeed) -> CloudSnapshot:
        """Create a whole cloud in one transaction (all or nothing).

        Idempotent, so a restarted demo can seed again: existing hosts get the given capacity, groups are
        matched by (project, name) and servers by (project, name) and kept as they are.

        Raises:
            NotFound: A server names an unknown group or host.
            Rejected: A server does not fit (on its host, or anywhere).
        """
        with self._tx() as tx:
            for h in spec.hosts:
                self._add_host(tx.db, h.name, h.vcpus, h.memory_mb)
            group_ids: dict[tuple[str, str], str] = {}
            for g in spec.groups:
                found = tx.db.execute(
                    "SELECT id FROM server_groups WHERE project_id = ? AND name = ? ORDER BY id LIMIT 1",
                    (g.project_id, g.name),
                ).fetchone()
                gid = found["id"] if found else self._create_group(tx.db, g.project_id, g.name, g.policy)
                group_ids[(g.project_id, g.name)] = gid
            for s in spec.servers:
                exists = tx.db.execute(
                    "SELECT 1 FROM servers WHERE project_id = ? AND name = ?", (s.project_id, s.name)
                ).fetchone()
                if exists:
                    continue
                gid = None
                if s.group is not None:
                    gid = group_ids.get((s.project_id, s.group)) or self._group_id_by_name(tx.db, s)
                self._create_server(tx, project_id=s.project_id, name=s.name, vcpus=s.vcpus,
                                    memory_mb=s.memory_mb, server_group_id=gid, host=s.host)
            return self._snapshot(tx.db)

    def reset(self) -> None:
        """Drop everything: hosts, servers, groups, migrations, faults, events and violations."""
        with self._tx() as tx:
            for table in _TABLES:
                tx.db.execute(f"DELETE FROM {table}")  # fixed table names, no user input
            tx.db.execute("DELETE FROM sqlite_sequence")

    def snapshot(self) -> CloudSnapshot:
        """One consistent read of all hosts, servers and server groups."""
        with self._tx() as tx:
            return self._snapshot(tx.db)

    def migration_log(self) -> list[MigrationRecord]:
        """Every migration ever started, oldest first, with its timestamps."""
        with self._tx() as tx:
            rows = tx.db.execute("SELECT * FROM migrations ORDER BY id").fetchall()
            return [
                MigrationRecord(**_migration(r).model_dump(), started_at=r["started_at"],
                                ends_at=r["ends_at"], finished_at=r["finished_at"])
                for r in rows
            ]

    def host_events(self, name: str | None = None) -> list[tuple[str, str, float]]:
        """Every change of a host's enabled state: (host, "disabled" | "enabled", time), oldest first."""
        with self._tx() as tx:
            sql = "SELECT host, event, at FROM host_events"
            args: tuple[str, ...] = ()
            if name is not None:
                sql, args = sql + " WHERE host = ?", (name,)
            rows = tx.db.execute(sql + " ORDER BY id", args).fetchall()
            return [(r["host"], r["event"], r["at"]) for r in rows]

    def anti_affinity_violations(self) -> list[str]:
        """Every moment two members of an anti-affinity group shared a host (should stay empty).

        A member occupies its host and, while it migrates, its destination too (Nova's claim).
        """
        with self._tx() as tx:
            return [r["message"] for r in tx.db.execute("SELECT message FROM violations ORDER BY id")]

    def inject_fault(self, kind: str = "migration", server_id: str | None = None, count: int = 1) -> None:
        """Make future operations fail; faults are stored, so they work across processes.

        Args:
            kind: ``"migration"``: the next ``count`` migrations (of ``server_id``, or of any server)
                fail when they end; the server is rolled back to ACTIVE on its source host.
                ``"error"``: the next ``count`` migrations end with the server in ERROR on the destination
                (record ``error``), as when Nova's last step on the destination fails.
                ``"api"``: the next ``count`` calls of ``CloudDriver`` admin methods raise
                ``Unavailable`` (tenant calls and these helpers are not affected).
                ``"confirm"``: the next ``count`` confirmations of a cold migration (``confirm_resize``,
                ``settle_server``) raise ``Unavailable`` and leave the server in VERIFY_RESIZE.
            server_id: Not for ``"api"``: restrict the fault to this server.
            count: How many operations fail.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(FAULT_KINDS)}")
        if kind == "api" and server_id is not None:
            raise ValueError("api faults are not tied to a server")
        if count < 1:
            raise ValueError("count must be >= 1")
        with self._tx() as tx:
            tx.db.execute(
                "INSERT INTO faults (kind, server_id, remaining) VALUES (?, ?, ?)", (kind, server_id, count)
            )

    def clear_faults(self) -> None:
        """Forget every injected fault that has not fired yet."""
        with self._tx() as tx:
            tx.db.execute("DELETE FROM faults")

    def move_estimates(self) -> MoveEstimates:
        """Exactly this simulation's durations."""
        k = self.time_scale
        return MoveEstimates(live_base_s=self.live_base_s * k, live_mb_per_s=self.live_mb_per_s / k if k else 1e12,
                             cold_base_s=self.cold_base_s * k, cold_mb_per_s=self.cold_mb_per_s / k if k else 1e12,
                             live_downtime_s=0.5 * k)

    def migration_duration_s(self, migration_type: MigrationType, memory_mb: int) -> float:
        """How long a migration of a server with ``memory_mb`` of RAM takes in this simulation."""
        if migration_type == MigrationType.LIVE:
            base, rate = self.live_base_s, self.live_mb_per_s
        else:
            base, rate = self.cold_base_s, self.cold_mb_per_s
        return (base + memory_mb / rate) * self.time_scale

    # === transactions ==================================================================================

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: no implicit transactions; each call issues its own BEGIN IMMEDIATE so
        # that it takes the write lock up front and never fails to upgrade a read lock mid-way.
        db = sqlite3.connect(self.path, timeout=self._busy_timeout_s, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_s * 1000)}")
        db.execute("PRAGMA synchronous = NORMAL")  # safe in WAL mode against process crashes
        return db

    def _init_schema(self) -> None:
        db = self._connect()
        try:
            # WAL lets readers in other processes proceed while one writer commits; the mode is
            # persistent in the file, so setting it again is a no-op.
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("BEGIN IMMEDIATE")
            for stmt in _SCHEMA:
                db.execute(stmt)
            have = {r[1] for r in db.execute("PRAGMA table_info(hosts)")}
            for column, kind in _ADDED_HOST_COLUMNS.items():
                if column not in have:
                    db.execute(f"ALTER TABLE hosts ADD COLUMN {column} {kind}")  # fixed names, no user input
            db.execute("COMMIT")
        finally:
            db.close()

    @contextmanager
    def _tx(self, *, admin: bool = False) -> Iterator[_Tx]:
        """One public call: BEGIN IMMEDIATE, advance the simulation, run the body, check, COMMIT."""
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                if admin and self._consume_fault(db, "api", None):
                    db.execute("COMMIT")  # the consumed fault must stay consumed
                    raise Unavailable("simulated cloud API is unavailable (injected fault)")
                tx = _Tx(db, self._clock())
                self._advance(tx)
                try:
                    yield tx
                except _KeepAndRaise as keep:
                    db.execute("COMMIT")  # e.g. a consumed fault must stay consumed
                    raise keep.error from None
                if db.total_changes:
                    self._record_violations(tx)
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        finally:
            db.close()

    def _consume_fault(self, db: sqlite3.Connection, kind: str, server_id: str | None) -> bool:
        # A fault for this very server wins over a wildcard one.
        row = db.execute(
            "SELECT id FROM faults WHERE kind = ? AND remaining > 0 AND (server_id IS NULL OR server_id = ?)"
            " ORDER BY server_id IS NULL, id LIMIT 1",
            (kind, server_id),
        ).fetchone()
        if row is None:
            return False
        db.execute("UPDATE faults SET remaining = remaining - 1 WHERE id = ?", (row["id"],))
        db.execute("DELETE FROM faults WHERE remaining <= 0")
        return True

    def _confirm(self, tx: _Tx, server_id: str) -> None:
        """confirmResize of a server in VERIFY_RESIZE: ACTIVE on its new host, the source claim released."""
        if self._consume_fault(tx.db, "confirm", server_id):
            raise _KeepAndRaise(Unavailable(f"confirmResize of {server_id}: 503 Service Unavailable (injected fault)"))
        tx.db.execute(
            "UPDATE migrations SET status = ? WHERE server_id = ? AND status = ?",
            (MigrationStatus.CONFIRMED, server_id, MigrationStatus.FINISHED),
        )
        tx.db.execute("UPDATE servers SET status = ? WHERE id = ?", (ServerStatus.ACTIVE, server_id))

    # === simulation ====================================================================================

    def _advance(self, tx: _Tx) -> None:
        """Apply every migration whose end time has passed, in the order they ended."""
        due = tx.db.execute(
            "SELECT * FROM migrations WHERE status = ? AND ends_at <= ? ORDER BY ends_at, id",
            (MigrationStatus.RUNNING, tx.now),
        ).fetchall()
        for m in due:
            if m["fail"] == _BREAK:
                # The last step on the destination failed: Nova leaves the server there, in ERROR.
                status = MigrationStatus.ERROR
                tx.db.execute(
                    "UPDATE servers SET status = ?, host = ? WHERE id = ?",
                    (ServerStatus.ERROR, m["dest_host"], m["server_id"]),
                )
            elif m["fail"]:
                # Nova rolls a failed migration back: the server keeps running on its source.
                status = MigrationStatus.ERROR
                tx.db.execute(
                    "UPDATE servers SET status = ?, host = ? WHERE id = ?",
                    (ServerStatus.ACTIVE, m["source_host"], m["server_id"]),
                )
            elif m["migration_type"] == MigrationType.LIVE:
                status = MigrationStatus.COMPLETED
                tx.db.execute(
                    "UPDATE servers SET status = ?, host = ? WHERE id = ?",
                    (ServerStatus.ACTIVE, m["dest_host"], m["server_id"]),
                )
            else:
                # The server now runs on the destination but waits for confirmResize; the source
                # claim (status 'finished') is kept until then, so the server could be reverted.
                status = MigrationStatus.FINISHED
                tx.db.execute(
                    "UPDATE servers SET status = ?, host = ? WHERE id = ?",
                    (ServerStatus.VERIFY_RESIZE, m["dest_host"], m["server_id"]),
                )
            tx.db.execute(
                "UPDATE migrations SET status = ?, finished_at = ends_at WHERE id = ?", (status, m["id"])
            )

    def _migrate(self, server_id: str, target_host: str | None, mtype: MigrationType) -> None:
        verb = "live migrate" if mtype == MigrationType.LIVE else "migrate"
        with self._tx(admin=True) as tx:
            row = self._server_row(tx.db, server_id)
            if row["status"] != ServerStatus.ACTIVE:
                raise Rejected(f"Cannot {verb} server {server_id}: it is in state {row['status']}")
            source = row["host"]
            src = tx.db.execute("SELECT up FROM hosts WHERE name = ?", (source,)).fetchone()
            if src is None or not src["up"]:
                raise Rejected(f"Cannot {verb} server {server_id}: compute service of host {source} "
                               "is unavailable at this time")
            if target_host is not None:
                if target_host == source:
                    raise Rejected(f"Cannot {verb} server {server_id}: the target host {target_host} "
                                   "is the host it already runs on")
                self._host_row(tx.db, target_host)  # NotFound
                why = self._refusal(tx.db, target_host, vcpus=row["vcpus"], memory_mb=row["memory_mb"],
                                    group_id=row["server_group_id"], server_id=server_id)
                if why:
                    raise Rejected(f"{NO_VALID_HOST}: {why}")
                dest = target_host
            else:
                dest = self._schedule(tx.db, vcpus=row["vcpus"], memory_mb=row["memory_mb"],
                                      group_id=row["server_group_id"], server_id=server_id,
                                      exclude=source)
            fail = _ROLLBACK if self._consume_fault(tx.db, "migration", server_id) else \
                _BREAK if self._consume_fault(tx.db, "error", server_id) else 0
            duration = self.migration_duration_s(mtype, row["memory_mb"])
            tx.db.execute(
                "INSERT INTO migrations (server_id, source_host, dest_host, migration_type, status, vcpus,"
                " memory_mb, started_at, ends_at, fail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (server_id, source, dest, mtype, MigrationStatus.RUNNING, row["vcpus"], row["memory_mb"],
                 tx.now, tx.now + duration, fail),
            )
            status = ServerStatus.MIGRATING if mtype == MigrationType.LIVE else ServerStatus.RESIZE
            tx.db.execute("UPDATE servers SET status = ? WHERE id = ?", (status, server_id))
            # A zero-length migration (time_scale 0) is already over.
            self._advance(tx)

    # === scheduling (Nova filter scheduler, reduced) ===================================================

    def _usage(self, db: sqlite3.Connection) -> dict[str, _Usage]:
        """Allocations per host: servers on it plus migration claims, like Placement."""
        vcpus: dict[str, int] = defaultdict(int)
        mem: dict[str, int] = defaultdict(int)
        queries = (
            "SELECT host AS h, SUM(vcpus) AS c, SUM(memory_mb) AS m FROM servers"
            " WHERE host IS NOT NULL GROUP BY host",
            # a running migration holds the destination as well as the source
            f"SELECT dest_host AS h, SUM(vcpus) AS c, SUM(memory_mb) AS m FROM migrations"
            f" WHERE status = '{MigrationStatus.RUNNING}' GROUP BY dest_host",
            # a finished cold migration still holds the source until it is confirmed
            f"SELECT source_host AS h, SUM(vcpus) AS c, SUM(memory_mb) AS m FROM migrations"
            f" WHERE status = '{MigrationStatus.FINISHED}' GROUP BY source_host",
        )
        for q in queries:
            for r in db.execute(q):
                vcpus[r["h"]] += r["c"]
                mem[r["h"]] += r["m"]
        return {h: _Usage(vcpus[h], mem[h]) for h in vcpus}

    def _group_hosts(self, db: sqlite3.Connection, group_id: str, server_id: str | None) -> dict[str, int]:
        """Hosts occupied by the group's other members (their host, and a running migration's target)."""
        counts: dict[str, int] = defaultdict(int)
        rows = db.execute(
            "SELECT host AS h FROM servers WHERE server_group_id = ? AND id IS NOT ? AND host IS NOT NULL"
            " UNION ALL SELECT m.dest_host AS h FROM migrations m JOIN servers s ON s.id = m.server_id"
            " WHERE s.server_group_id = ? AND s.id IS NOT ? AND m.status = ?",
            (group_id, server_id, group_id, server_id, MigrationStatus.RUNNING),
        )
        for r in rows:
            counts[r["h"]] += 1
        return dict(counts)

    def _refusal(self, db: sqlite3.Connection, host: str, *, vcpus: int, memory_mb: int,
                 group_id: str | None, server_id: str | None,
                 usage: dict[str, _Usage] | None = None) -> str | None:
        """Why the scheduler filters would reject ``host`` for this server, or None if it passes."""
        h = self._host_row(db, host)
        if not h["enabled"]:
            return f"host {host} is disabled ({h['disabled_reason'] or 'no reason given'})"
        if not h["up"]:
            return f"compute service of host {host} is down"
        used = (usage if usage is not None else self._usage(db)).get(host, _Usage())
        if h["vcpus"] - used.vcpus < vcpus:
            return f"host {host} has {h['vcpus'] - used.vcpus} free vCPUs, the server needs {vcpus}"
        if h["memory_mb"] - used.memory_mb < memory_mb:
            return (f"host {host} has {h['memory_mb'] - used.memory_mb} MB free RAM, "
                    f"the server needs {memory_mb} MB")
        if group_id is not None:
            policy = self._group_policy(db, group_id)
            occupied = self._group_hosts(db, group_id, server_id)
            if policy == GroupPolicy.ANTI_AFFINITY and host in occupied:
                return f"host {host} already runs a member of anti-affinity server group {group_id}"
            if policy == GroupPolicy.AFFINITY and occupied and host not in occupied:
                return f"host {host} does not run the other members of affinity server group {group_id}"
        return None

    def _schedule(self, db: sqlite3.Connection, *, vcpus: int, memory_mb: int, group_id: str | None,
                  server_id: str | None, exclude: str | None) -> str:
        """Pick a host like Nova: filter, then weigh by free RAM (soft group policies weigh first)."""
        usage = self._usage(db)
        policy = self._group_policy(db, group_id) if group_id else None
        occupied = self._group_hosts(db, group_id, server_id) if group_id else {}
        candidates: list[tuple[int, int, str]] = []
        for h in db.execute("SELECT * FROM hosts ORDER BY name"):
            name = h["name"]
            if name == exclude:
                continue
            if self._refusal(db, name, vcpus=vcpus, memory_mb=memory_mb, group_id=group_id,
                             server_id=server_id, usage=usage):
                continue
            members = occupied.get(name, 0)
            group_weight = (members if policy == GroupPolicy.SOFT_ANTI_AFFINITY
                            else -members if policy == GroupPolicy.SOFT_AFFINITY else 0)
            free_ram = h["memory_mb"] - usage.get(name, _Usage()).memory_mb
            candidates.append((group_weight, -free_ram, name))
        if not candidates:
            raise Rejected(f"{NO_VALID_HOST}. There are not enough hosts available.")
        return min(candidates)[2]

    # === state changes ==================================================================================

    def _add_host(self, db: sqlite3.Connection, name: str, vcpus: int, memory_mb: int) -> None:
        if vcpus < 0 or memory_mb < 0:
            raise ValueError("host capacity must be >= 0")
        db.execute(
            "INSERT INTO hosts (name, vcpus, memory_mb, traits) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(name) DO UPDATE SET vcpus = excluded.vcpus, memory_mb = excluded.memory_mb",
            (name, vcpus, memory_mb, ",".join(DEFAULT_TRAITS)),
        )

    def _create_group(self, db: sqlite3.Connection, project_id: str, name: str, policy: GroupPolicy) -> str:
        gid = str(uuid.uuid4())
        db.execute(
            "INSERT INTO server_groups (id, name, project_id, policy) VALUES (?, ?, ?, ?)",
            (gid, name, project_id, policy),
        )
        return gid

    def _create_server(self, tx: _Tx, *, project_id: str, name: str, vcpus: int, memory_mb: int,
                       server_group_id: str | None, host: str | None, server_id: str | None = None) -> Server:
        if vcpus <= 0 or memory_mb <= 0:
            raise Rejected("a server needs at least 1 vCPU and 1 MB of RAM")
        if server_group_id is not None:
            self._group_policy(tx.db, server_group_id)  # NotFound
        sid = server_id or str(uuid.uuid4())
        if host is None:
            host = self._schedule(tx.db, vcpus=vcpus, memory_mb=memory_mb, group_id=server_group_id,
                                  server_id=sid, exclude=None)
        else:
            why = self._refusal(tx.db, host, vcpus=vcpus, memory_mb=memory_mb, group_id=server_group_id,
                                server_id=sid)
            if why:
                raise Rejected(f"{NO_VALID_HOST}: {why}")
        tx.db.execute(
            "INSERT INTO servers (id, name, project_id, host, status, vcpus, memory_mb, server_group_id,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (sid, name, project_id, host, ServerStatus.ACTIVE, vcpus, memory_mb, server_group_id, tx.now),
        )
        return _server(self._server_row(tx.db, sid))

    def _record_violations(self, tx: _Tx) -> None:
        """Log any anti-affinity group with two members on (or moving to) one host.

        Moves are validated, so this should never fire; it is the tests' independent proof.
        """
        rows = tx.db.execute(
            "SELECT g.id AS gid, g.name AS gname, s.id AS sid, s.host AS h FROM servers s"
            " JOIN server_groups g ON g.id = s.server_group_id WHERE g.policy = ? AND s.host IS NOT NULL"
            " UNION ALL SELECT g.id, g.name, s.id, m.dest_host FROM migrations m"
            " JOIN servers s ON s.id = m.server_id JOIN server_groups g ON g.id = s.server_group_id"
            " WHERE g.policy = ? AND m.status = ?",
            (GroupPolicy.ANTI_AFFINITY, GroupPolicy.ANTI_AFFINITY, MigrationStatus.RUNNING),
        ).fetchall()
        members: dict[tuple[str, str, str], set[str]] = defaultdict(set)
        for r in rows:
            members[(r["gid"], r["gname"], r["h"])].add(r["sid"])
        for (gid, gname, host), sids in sorted(members.items()):
            if len(sids) > 1:
                tx.db.execute(
                    "INSERT OR IGNORE INTO violations (message, at) VALUES (?, ?)",
                    (f"anti-affinity group {gname} ({gid}): members {', '.join(sorted(sids))} "
                     f"on host {host}", tx.now),
                )

    # === reads ==========================================================================================

    def _host_row(self, db: sqlite3.Connection, name: str) -> sqlite3.Row:
        row: sqlite3.Row | None = db.execute("SELECT * FROM hosts WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(f"Compute host {name} could not be found.")
        return row

    def _server_row(self, db: sqlite3.Connection, server_id: str) -> sqlite3.Row:
        row: sqlite3.Row | None = db.execute("SELECT * FROM servers WHERE id = ?", (server_id,)).fetchone()
        if row is None:
            raise NotFound(f"Server {server_id} could not be found.")
        return row

    def _group_policy(self, db: sqlite3.Connection, group_id: str) -> GroupPolicy:
        row = db.execute("SELECT policy FROM server_groups WHERE id = ?", (group_id,)).fetchone()
        if row is None:
            raise NotFound(f"Server group {group_id} could not be found.")
        return GroupPolicy(row["policy"])

    def _group_id_by_name(self, db: sqlite3.Connection, spec: SimServerSpec) -> str:
        row = db.execute(
            "SELECT id FROM server_groups WHERE project_id = ? AND name = ? ORDER BY id LIMIT 1",
            (spec.project_id, spec.group),
        ).fetchone()
        if row is None:
            raise NotFound(f"Server group {spec.group} of project {spec.project_id} could not be found.")
        gid: str = row["id"]
        return gid

    def _hosts(self, db: sqlite3.Connection) -> list[ComputeHost]:
        usage = self._usage(db)
        rows = db.execute("SELECT * FROM hosts ORDER BY name")
        return [_host(r, usage.get(r["name"], _Usage())) for r in rows]

    def _host(self, db: sqlite3.Connection, name: str) -> ComputeHost:
        return _host(self._host_row(db, name), self._usage(db).get(name, _Usage()))

    def _servers(self, db: sqlite3.Connection, *, host: str | None = None,
                 project_id: str | None = None) -> list[Server]:
        rows = db.execute(
            "SELECT * FROM servers WHERE (? IS NULL OR host = ?) AND (? IS NULL OR project_id = ?)"
            " ORDER BY name, id",
            (host, host, project_id, project_id),
        )
        return [_server(r) for r in rows]

    def _groups(self, db: sqlite3.Connection, *, project_id: str | None = None) -> list[ServerGroup]:
        members: dict[str, list[str]] = defaultdict(list)
        for r in db.execute("SELECT id, server_group_id FROM servers WHERE server_group_id IS NOT NULL"
                            " ORDER BY name, id"):
            members[r["server_group_id"]].append(r["id"])
        rows = db.execute(
            "SELECT * FROM server_groups WHERE (? IS NULL OR project_id = ?) ORDER BY name, id",
            (project_id, project_id),
        )
        return [ServerGroup(id=r["id"], name=r["name"], project_id=r["project_id"],
                            policy=GroupPolicy(r["policy"]), members=members.get(r["id"], []))
                for r in rows]

    def _group(self, db: sqlite3.Connection, group_id: str) -> ServerGroup:
        found = [g for g in self._groups(db) if g.id == group_id]
        if not found:
            raise NotFound(f"Server group {group_id} could not be found.")
        return found[0]

    def _snapshot(self, db: sqlite3.Connection) -> CloudSnapshot:
        return CloudSnapshot(hosts=self._hosts(db), servers=self._servers(db), server_groups=self._groups(db))


# --- row conversion ----------------------------------------------------------------------------------


def _host(r: sqlite3.Row, used: _Usage) -> ComputeHost:
    return ComputeHost(name=r["name"], enabled=bool(r["enabled"]), disabled_reason=r["disabled_reason"],
                       up=bool(r["up"]), vcpus=r["vcpus"], vcpus_used=used.vcpus, memory_mb=r["memory_mb"],
                       memory_mb_used=used.memory_mb)


def _facts(r: sqlite3.Row) -> HostFacts:
    return HostFacts(hypervisor_type=r["hypervisor_type"], hypervisor_version=r["hypervisor_version"],
                     traits=sorted(t for t in r["traits"].split(",") if t),
                     aggregates=sorted(a for a in r["aggregates"].split(",") if a))


def _server(r: sqlite3.Row) -> Server:
    return Server(id=r["id"], name=r["name"], project_id=r["project_id"], host=r["host"],
                  status=ServerStatus(r["status"]), vcpus=r["vcpus"], memory_mb=r["memory_mb"],
                  server_group_id=r["server_group_id"])


def _migration(r: sqlite3.Row) -> Migration:
    return Migration(id=str(r["id"]), server_id=r["server_id"], source_host=r["source_host"],
                     dest_host=r["dest_host"], migration_type=MigrationType(r["migration_type"]),
                     status=MigrationStatus(r["status"]))
