"""The simulated cloud behaves like Nova, persists in SQLite and is safe to share across threads/processes."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from fenix.cloud.driver import CloudDriver, NotFound, Rejected, Unavailable
from fenix.cloud.simulated import (
    SimGroupSpec,
    SimHostSpec,
    SimSeed,
    SimServerSpec,
    SimulatedCloud,
)
from fenix.models.cloud import GroupPolicy, MigrationStatus, MigrationType, Server, ServerStatus

GB = 1024


class FakeClock:
    """A clock the test moves by hand, so migrations end exactly when the test says."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "sim.sqlite"


@pytest.fixture
def cloud(db_path: Path, clock: FakeClock) -> SimulatedCloud:
    return SimulatedCloud(db_path, clock=clock)


def three_hosts(cloud: SimulatedCloud, vcpus: int = 8, memory_mb: int = 16 * GB) -> None:
    for name in ("h1", "h2", "h3"):
        cloud.add_host(name, vcpus, memory_mb)


def server_named(cloud: SimulatedCloud, name: str) -> Server:
    return next(s for s in cloud.list_servers() if s.name == name)


def boot(cloud: SimulatedCloud, name: str, host: str, *, vcpus: int = 2, memory_mb: int = 2 * GB,
         group: str | None = None, project: str = "p1") -> Server:
    """Place a server on a given host (through seed, which validates the placement)."""
    cloud.seed(SimSeed(servers=[SimServerSpec(name=name, project_id=project, vcpus=vcpus,
                                              memory_mb=memory_mb, host=host, group=group)]))
    return server_named(cloud, name)


# --- structure, seeding, accounting --------------------------------------------------------------------


def test_is_a_cloud_driver(cloud: SimulatedCloud) -> None:
    driver: CloudDriver = cloud  # mypy proves structural conformance
    assert driver.list_compute_hosts() == []


def test_seed_and_capacity_accounting(cloud: SimulatedCloud) -> None:
    snap = cloud.seed(SimSeed(
        hosts=[SimHostSpec(name="h1", vcpus=8, memory_mb=16 * GB),
               SimHostSpec(name="h2", vcpus=4, memory_mb=8 * GB)],
        groups=[SimGroupSpec(name="web", project_id="p1", policy=GroupPolicy.ANTI_AFFINITY)],
        servers=[SimServerSpec(name="a", project_id="p1", vcpus=2, memory_mb=4 * GB, group="web", host="h1"),
                 SimServerSpec(name="b", project_id="p1", vcpus=1, memory_mb=1 * GB, group="web"),
                 SimServerSpec(name="c", project_id="p2", vcpus=3, memory_mb=2 * GB, host="h1")],
    ))
    h1, h2 = snap.host("h1"), snap.host("h2")
    assert h1 is not None and h2 is not None
    assert (h1.vcpus_used, h1.memory_mb_used) == (5, 6 * GB)
    assert (h2.vcpus_used, h2.memory_mb_used) == (1, 1 * GB)  # b: anti-affinity forbids h1
    assert h1.vcpus_free == 3 and h2.memory_mb_free == 7 * GB
    assert [s.name for s in snap.servers] == ["a", "b", "c"]
    assert all(s.status == ServerStatus.ACTIVE for s in snap.servers)
    (group,) = snap.server_groups
    assert group.policy == GroupPolicy.ANTI_AFFINITY
    assert group.members == [server_named(cloud, "a").id, server_named(cloud, "b").id]
    assert cloud.list_servers(host="h1", project_id="p2")[0].name == "c"
    assert cloud.list_server_groups(project_id="p2") == []


def test_seed_is_idempotent(cloud: SimulatedCloud) -> None:
    spec = SimSeed(
        hosts=[SimHostSpec(name="h1", vcpus=8, memory_mb=16 * GB)],
        groups=[SimGroupSpec(name="g", project_id="p1", policy=GroupPolicy.AFFINITY)],
        servers=[SimServerSpec(name="a", project_id="p1", vcpus=1, memory_mb=GB, group="g")],
    )
    first = cloud.seed(spec)
    second = cloud.seed(spec)
    assert first == second
    assert len(second.servers) == 1 and len(second.server_groups) == 1


def test_seed_is_atomic_and_validates_explicit_hosts(cloud: SimulatedCloud) -> None:
    bad = SimSeed(
        hosts=[SimHostSpec(name="h1", vcpus=8, memory_mb=16 * GB)],
        groups=[SimGroupSpec(name="g", project_id="p1", policy=GroupPolicy.ANTI_AFFINITY)],
        servers=[SimServerSpec(name="a", project_id="p1", vcpus=1, memory_mb=GB, group="g", host="h1"),
                 SimServerSpec(name="b", project_id="p1", vcpus=1, memory_mb=GB, group="g", host="h1")],
    )
    with pytest.raises(Rejected, match="No valid host was found.*anti-affinity"):
        cloud.seed(bad)
    assert cloud.snapshot().hosts == []  # nothing of the failed seed was kept
    with pytest.raises(NotFound):
        cloud.seed(SimSeed(servers=[SimServerSpec(name="x", project_id="p", vcpus=1, memory_mb=1,
                                                  group="nope")]))


# --- scheduler ------------------------------------------------------------------------------------------


def test_scheduler_prefers_most_free_ram_and_respects_capacity(cloud: SimulatedCloud) -> None:
    cloud.add_host("small", 4, 4 * GB)
    cloud.add_host("big", 4, 8 * GB)
    assert cloud.create_server(project_id="p", name="s1", vcpus=1, memory_mb=3 * GB).host == "big"
    assert cloud.create_server(project_id="p", name="s2", vcpus=1, memory_mb=3 * GB).host == "big"  # 5 > 4
    assert cloud.create_server(project_id="p", name="s3", vcpus=1, memory_mb=3 * GB).host == "small"
    with pytest.raises(Rejected, match="No valid host was found"):
        cloud.create_server(project_id="p", name="s4", vcpus=1, memory_mb=3 * GB)  # 2 GB, 1 GB free
    with pytest.raises(Rejected, match="No valid host was found"):
        cloud.create_server(project_id="p", name="s5", vcpus=4, memory_mb=512)  # 2 and 3 vCPUs free
    assert cloud.create_server(project_id="p", name="s6", vcpus=2, memory_mb=512).host == "big"
    assert cloud.create_server(project_id="p", name="s7", vcpus=2, memory_mb=512).host == "small"


def test_scheduler_respects_anti_affinity(cloud: SimulatedCloud) -> None:
    three_hosts(cloud)
    group = cloud.create_server_group("p1", "db", GroupPolicy.ANTI_AFFINITY)
    hosts = {cloud.create_server(project_id="p1", name=f"db{i}", vcpus=1, memory_mb=GB,
                                 server_group_id=group.id).host for i in range(3)}
    assert hosts == {"h1", "h2", "h3"}
    with pytest.raises(Rejected, match="No valid host was found"):
        cloud.create_server(project_id="p1", name="db3", vcpus=1, memory_mb=GB, server_group_id=group.id)
    with pytest.raises(NotFound):
        cloud.create_server(project_id="p1", name="x", vcpus=1, memory_mb=GB, server_group_id="missing")
    assert cloud.anti_affinity_violations() == []


def test_scheduler_soft_policies_and_affinity(cloud: SimulatedCloud) -> None:
    three_hosts(cloud)
    soft = cloud.create_server_group("p1", "soft", GroupPolicy.SOFT_ANTI_AFFINITY)
    placed = [cloud.create_server(project_id="p1", name=f"s{i}", vcpus=1, memory_mb=GB,
                                  server_group_id=soft.id).host for i in range(4)]
    assert set(placed[:3]) == {"h1", "h2", "h3"}  # spread first, then share (soft: no rejection)
    aff = cloud.create_server_group("p1", "aff", GroupPolicy.AFFINITY)
    first = cloud.create_server(project_id="p1", name="a0", vcpus=1, memory_mb=GB, server_group_id=aff.id)
    second = cloud.create_server(project_id="p1", name="a1", vcpus=1, memory_mb=GB, server_group_id=aff.id)
    assert first.host == second.host
    # an affinity member cannot leave its peers
    with pytest.raises(Rejected, match="No valid host was found"):
        cloud.live_migrate(first.id, None)
    other = "h2" if first.host != "h2" else "h3"
    with pytest.raises(Rejected, match="does not run the other members of affinity"):
        cloud.live_migrate(first.id, other)


def test_scheduler_skips_disabled_and_down_hosts(cloud: SimulatedCloud) -> None:
    three_hosts(cloud)
    cloud.disable_host("h1", "maintenance")
    cloud.set_host_up("h2", False)
    for i in range(3):
        assert cloud.create_server(project_id="p", name=f"s{i}", vcpus=1, memory_mb=GB).host == "h3"


# --- migrations -----------------------------------------------------------------------------------------


def test_live_migration_lifecycle_and_claims(cloud: SimulatedCloud, clock: FakeClock) -> None:
    three_hosts(cloud)
    s = boot(cloud, "vm", "h1", vcpus=2, memory_mb=4 * GB)
    cloud.live_migrate(s.id, "h2")
    assert cloud.get_server(s.id).status == ServerStatus.MIGRATING
    assert cloud.get_server(s.id).host == "h1"
    # Nova claims on both hosts while the migration runs
    assert {h.name: h.vcpus_used for h in cloud.list_compute_hosts()} == {"h1": 2, "h2": 2, "h3": 0}
    assert cloud.get_compute_host("h2").memory_mb_used == 4 * GB
    (m,) = cloud.list_migrations(s.id)
    assert (m.status, m.migration_type, m.source_host, m.dest_host) == (
        MigrationStatus.RUNNING, MigrationType.LIVE, "h1", "h2")

    duration = cloud.migration_duration_s(MigrationType.LIVE, 4 * GB)
    assert duration == pytest.approx(2.0 + 2.0)
    clock.advance(duration - 0.01)
    assert cloud.get_server(s.id).status == ServerStatus.MIGRATING
    clock.advance(0.02)
    after = cloud.get_server(s.id)
    assert (after.host, after.status) == ("h2", ServerStatus.ACTIVE)
    assert cloud.list_migrations(s.id)[0].status == MigrationStatus.COMPLETED
    assert {h.name: h.vcpus_used for h in cloud.list_compute_hosts()} == {"h1": 0, "h2": 2, "h3": 0}


def test_cold_migration_lifecycle_and_confirm(cloud: SimulatedCloud, clock: FakeClock) -> None:
    three_hosts(cloud)
    s = boot(cloud, "vm", "h1", vcpus=2, memory_mb=2 * GB)
    cloud.cold_migrate(s.id, None)
    assert cloud.get_server(s.id).status == ServerStatus.RESIZE
    dest = cloud.list_migrations(s.id)[0].dest_host
    assert dest in {"h2", "h3"}
    clock.advance(cloud.migration_duration_s(MigrationType.COLD, 2 * GB))  # 4 + 2 s
    after = cloud.get_server(s.id)
    assert (after.host, after.status) == (dest, ServerStatus.VERIFY_RESIZE)
    assert cloud.list_migrations(s.id)[0].status == MigrationStatus.FINISHED
    # the source keeps its claim until the resize is confirmed
    assert cloud.get_compute_host("h1").vcpus_used == 2
    assert cloud.get_compute_host(dest).vcpus_used == 2
    with pytest.raises(Rejected, match="VERIFY_RESIZE"):
        cloud.live_migrate(s.id, None)

    cloud.confirm_resize(s.id)
    assert cloud.get_server(s.id).status == ServerStatus.ACTIVE
    assert cloud.list_migrations(s.id)[0].status == MigrationStatus.CONFIRMED
    assert cloud.get_compute_host("h1").vcpus_used == 0
    cloud.confirm_resize(s.id)  # idempotent retry


def test_confirm_resize_rejected_without_finished_migration(cloud: SimulatedCloud) -> None:
    three_hosts(cloud)
    s = boot(cloud, "vm", "h1")
    with pytest.raises(Rejected, match="confirmResize"):
        cloud.confirm_resize(s.id)
    cloud.cold_migrate(s.id, "h2")
    with pytest.raises(Rejected, match="RESIZE"):
        cloud.confirm_resize(s.id)  # still running
    with pytest.raises(NotFound):
        cloud.confirm_resize("missing")


def test_migration_rejections(cloud: SimulatedCloud) -> None:
    cloud.add_host("h1", 8, 16 * GB)
    cloud.add_host("h2", 8, 16 * GB)
    cloud.add_host("tiny", 1, 16 * GB)
    cloud.add_host("low-ram", 8, GB)
    cloud.add_host("down", 8, 16 * GB)
    cloud.set_host_up("down", False)
    s = boot(cloud, "vm", "h1", vcpus=2, memory_mb=2 * GB)

    with pytest.raises(Rejected, match="already runs on"):
        cloud.live_migrate(s.id, "h1")
    with pytest.raises(NotFound):
        cloud.live_migrate(s.id, "nowhere")
    with pytest.raises(NotFound):
        cloud.live_migrate("missing", "h2")
    with pytest.raises(Rejected, match="vCPUs"):
        cloud.live_migrate(s.id, "tiny")
    with pytest.raises(Rejected, match="RAM"):
        cloud.cold_migrate(s.id, "low-ram")
    with pytest.raises(Rejected, match="down"):
        cloud.live_migrate(s.id, "down")
    cloud.disable_host("h2", "maintenance")
    with pytest.raises(Rejected, match="No valid host was found: host h2 is disabled"):
        cloud.live_migrate(s.id, "h2")
    with pytest.raises(Rejected, match="No valid host was found"):
        cloud.live_migrate(s.id, None)  # every other host is disabled, down or too small
    cloud.enable_host("h2")
    cloud.live_migrate(s.id, "h2")
    with pytest.raises(Rejected, match="Cannot live migrate .* MIGRATING"):
        cloud.live_migrate(s.id, "h2")
    with pytest.raises(Rejected, match="MIGRATING"):
        cloud.cold_migrate(s.id, None)
    assert len(cloud.list_migrations(s.id)) == 1  # rejected calls leave no record


def test_migration_from_down_source_rejected(cloud: SimulatedCloud) -> None:
    three_hosts(cloud)
    s = boot(cloud, "vm", "h1")
    cloud.set_host_up("h1", False)
    with pytest.raises(Rejected, match="unavailable"):
        cloud.live_migrate(s.id, "h2")


def test_anti_affinity_counts_in_flight_destination(cloud: SimulatedCloud, clock: FakeClock) -> None:
    three_hosts(cloud)
    cloud.seed(SimSeed(groups=[SimGroupSpec(name="g", project_id="p1", policy=GroupPolicy.ANTI_AFFINITY)]))
    a = boot(cloud, "a", "h1", group="g")
    b = boot(cloud, "b", "h2", group="g")
    with pytest.raises(Rejected, match="anti-affinity"):
        cloud.live_migrate(a.id, "h2")  # b runs there
    cloud.live_migrate(a.id, "h3")
    # while a moves to h3, h3 is taken for the group
    with pytest.raises(Rejected, match="anti-affinity"):
        cloud.live_migrate(b.id, "h3")
    with pytest.raises(Rejected, match="No valid host was found"):
        cloud.cold_migrate(b.id, None)  # h1: a still there; h3: a's claim
    clock.advance(60)
    assert cloud.get_server(a.id).host == "h3"
    cloud.live_migrate(b.id, None)  # h1 is free now
    assert cloud.list_migrations(b.id)[0].dest_host == "h1"
    assert cloud.anti_affinity_violations() == []


def test_zero_time_scale_migrations_finish_at_once(db_path: Path) -> None:
    cloud = SimulatedCloud(db_path, time_scale=0)
    three_hosts(cloud)
    s = boot(cloud, "vm", "h1")
    cloud.live_migrate(s.id, "h2")
    assert cloud.get_server(s.id).host == "h2"


def test_migrations_with_real_clock_and_fast_time_scale(db_path: Path) -> None:
    cloud = SimulatedCloud(db_path, time_scale=0.01)
    three_hosts(cloud)
    s = boot(cloud, "vm", "h1", memory_mb=2 * GB)
    cloud.cold_migrate(s.id, "h2")
    deadline = time.monotonic() + 5
    while cloud.get_server(s.id).status != ServerStatus.VERIFY_RESIZE:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    (record,) = cloud.migration_log()
    assert record.finished_at == record.ends_at
    assert record.ends_at - record.started_at == pytest.approx(0.06)


# --- faults ----------------------------------------------------------------------------------------------


def test_migration_fault_rolls_back_to_source(cloud: SimulatedCloud, clock: FakeClock) -> None:
    three_hosts(cloud)
    s = boot(cloud, "vm", "h1")
    other = boot(cloud, "other", "h1")
    cloud.inject_fault("migration", server_id=s.id)
    cloud.live_migrate(other.id, "h2")  # does not match: succeeds
    cloud.live_migrate(s.id, "h2")
    assert cloud.get_compute_host("h2").vcpus_used == 4  # the failing one claims too while it runs
    clock.advance(60)
    failed = cloud.get_server(s.id)
    assert (failed.host, failed.status) == ("h1", ServerStatus.ACTIVE)
    assert cloud.list_migrations(s.id)[-1].status == MigrationStatus.ERROR
    assert cloud.get_server(other.id).host == "h2"
    assert cloud.get_compute_host("h2").vcpus_used == 2
    # the fault is used up: a retry works
    cloud.live_migrate(s.id, "h3")
    clock.advance(60)
    assert cloud.get_server(s.id).host == "h3"


def test_wildcard_migration_fault_count(cloud: SimulatedCloud, clock: FakeClock) -> None:
    three_hosts(cloud)
    servers = [boot(cloud, f"vm{i}", "h1") for i in range(3)]
    cloud.inject_fault(count=2)
    for s in servers:
        cloud.cold_migrate(s.id, "h2")
    clock.advance(60)
    statuses = [cloud.list_migrations(s.id)[0].status for s in servers]
    assert statuses == [MigrationStatus.ERROR, MigrationStatus.ERROR, MigrationStatus.FINISHED]
    assert [cloud.get_server(s.id).host for s in servers] == ["h1", "h1", "h2"]


def test_api_fault_makes_admin_calls_unavailable(cloud: SimulatedCloud) -> None:
    three_hosts(cloud)
    cloud.inject_fault("api", count=2)
    with pytest.raises(Unavailable):
        cloud.list_compute_hosts()
    # tenant calls are not affected and do not consume the fault
    s = cloud.create_server(project_id="p", name="vm", vcpus=1, memory_mb=GB)
    with pytest.raises(Unavailable):
        cloud.disable_host("h1", "maint")
    assert cloud.get_compute_host("h1").enabled  # the failed call changed nothing
    assert cloud.get_server(s.id).status == ServerStatus.ACTIVE
    assert Unavailable.retryable and not Rejected.retryable
    with pytest.raises(ValueError):
        cloud.inject_fault("disk")


def test_clear_faults(cloud: SimulatedCloud) -> None:
    three_hosts(cloud)
    cloud.inject_fault("api", count=5)
    cloud.clear_faults()
    assert len(cloud.list_compute_hosts()) == 3


# --- persistence and concurrency ---------------------------------------------------------------------


def test_state_persists_across_objects(db_path: Path, clock: FakeClock) -> None:
    first = SimulatedCloud(db_path, clock=clock)
    three_hosts(first)
    s = boot(first, "vm", "h1", memory_mb=2 * GB)
    first.disable_host("h1", "maintenance")
    first.live_migrate(s.id, "h2")
    del first  # the worker "crashes" mid-migration

    later = FakeClock(clock.now + 3600)
    second = SimulatedCloud(db_path, clock=later)
    after = second.get_server(s.id)
    assert (after.host, after.status) == ("h2", ServerStatus.ACTIVE)
    assert second.get_compute_host("h1").disabled_reason == "maintenance"
    assert second.list_migrations(s.id)[0].status == MigrationStatus.COMPLETED


def _start_migration_and_crash(path: str, server_id: str) -> None:
    cloud = SimulatedCloud(path, time_scale=0.01)
    cloud.live_migrate(server_id, "h2")
    os._exit(17)  # no cleanup at all, like a killed worker


def test_migration_survives_a_crashed_process(db_path: Path) -> None:
    cloud = SimulatedCloud(db_path, time_scale=0.01)
    three_hosts(cloud)
    s = boot(cloud, "vm", "h1")
    proc = multiprocessing.get_context("spawn").Process(
        target=_start_migration_and_crash, args=(str(db_path), s.id))
    proc.start()
    proc.join(30)
    assert proc.exitcode == 17
    time.sleep(0.05)  # (2 s + 1 s) * 0.01
    after = SimulatedCloud(db_path).get_server(s.id)
    assert (after.host, after.status) == ("h2", ServerStatus.ACTIVE)


def test_concurrent_threads(db_path: Path) -> None:
    cloud = SimulatedCloud(db_path, time_scale=0.001)
    for i in range(4):
        cloud.add_host(f"h{i}", 64, 64 * GB)
    group = cloud.create_server_group("grp", "g", GroupPolicy.ANTI_AFFINITY)
    errors: list[BaseException] = []

    def tenant(n: int) -> None:
        own = SimulatedCloud(db_path, time_scale=0.001)  # like a separate client
        try:
            for i in range(20):
                s = own.create_server(project_id=f"p{n}", name=f"t{n}-{i}", vcpus=1, memory_mb=256)
                if i % 2:
                    own.delete_server(s.id)
                    own.delete_server(s.id)
        except BaseException as exc:  # reported below
            errors.append(exc)

    def admin() -> None:
        try:
            for _ in range(20):
                for s in cloud.list_servers(project_id="grp"):
                    try:
                        cloud.live_migrate(s.id, None)
                    except Rejected:
                        pass  # busy migrating
                cloud.inject_fault("api")
                try:
                    cloud.list_compute_hosts()
                except Unavailable:
                    pass
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=tenant, args=(n,)) for n in range(8)]
    threads.append(threading.Thread(target=admin))
    for i in range(3):  # anti-affinity members that the admin thread keeps moving
        cloud.create_server(project_id="grp", name=f"g{i}", vcpus=1, memory_mb=256, server_group_id=group.id)
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    snap = cloud.snapshot()
    assert len([s for s in snap.servers if s.name.startswith("t")]) == 8 * 10
    used = sum(h.vcpus_used for h in snap.hosts)
    assert used >= 8 * 10 + 3
    assert cloud.migration_log()  # the admin thread really moved group members meanwhile
    assert cloud.anti_affinity_violations() == []


def _tenant_process(path: str, project: str) -> None:
    cloud = SimulatedCloud(path)
    for i in range(15):
        s = cloud.create_server(project_id=project, name=f"{project}-{i}", vcpus=1, memory_mb=128)
        if i % 3 == 0:
            cloud.delete_server(s.id)


def test_concurrent_processes(db_path: Path) -> None:
    cloud = SimulatedCloud(db_path)
    cloud.add_host("h1", 100, 100 * GB)
    cloud.add_host("h2", 100, 100 * GB)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_tenant_process, args=(str(db_path), f"proc{n}")) for n in range(3)]
    for p in procs:
        p.start()
    for _ in range(30):
        cloud.list_compute_hosts()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert len(cloud.list_servers()) == 3 * 10
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


# --- idempotence, history, helpers ------------------------------------------------------------------


def test_enable_disable_delete_are_idempotent_and_logged(cloud: SimulatedCloud, clock: FakeClock) -> None:
    three_hosts(cloud)
    t0 = clock.now
    assert not cloud.disable_host("h1", "maintenance").enabled
    clock.advance(5)
    host = cloud.disable_host("h1", "maintenance, retried")
    assert (host.enabled, host.disabled_reason) == (False, "maintenance, retried")
    clock.advance(5)
    host = cloud.enable_host("h1")
    assert (host.enabled, host.disabled_reason) == (True, None)
    cloud.enable_host("h1")
    cloud.disable_host("h2", "x")
    assert cloud.host_events("h1") == [("h1", "disabled", t0), ("h1", "enabled", t0 + 10)]
    assert [e[:2] for e in cloud.host_events()] == [("h1", "disabled"), ("h1", "enabled"), ("h2", "disabled")]
    with pytest.raises(NotFound):
        cloud.disable_host("nope", "x")
    with pytest.raises(NotFound):
        cloud.get_compute_host("nope")

    s = cloud.create_server(project_id="p", name="vm", vcpus=1, memory_mb=GB)
    cloud.delete_server(s.id)
    cloud.delete_server(s.id)
    cloud.delete_server("never-existed")
    with pytest.raises(NotFound):
        cloud.get_server(s.id)


def test_delete_releases_migration_claims(cloud: SimulatedCloud, clock: FakeClock) -> None:
    three_hosts(cloud)
    moving = boot(cloud, "moving", "h1")
    resized = boot(cloud, "resized", "h1")
    cloud.live_migrate(moving.id, "h2")
    cloud.cold_migrate(resized.id, "h3")
    clock.advance(cloud.migration_duration_s(MigrationType.COLD, 2 * GB))
    assert cloud.get_server(resized.id).status == ServerStatus.VERIFY_RESIZE
    moving_now = cloud.get_server(moving.id)
    assert moving_now.host == "h2"  # live is faster than cold
    cloud.live_migrate(moving.id, "h3")
    cloud.delete_server(moving.id)
    cloud.delete_server(resized.id)
    assert [h.vcpus_used for h in cloud.list_compute_hosts()] == [0, 0, 0]
    statuses = [m.status for m in cloud.migration_log()]
    assert statuses == [MigrationStatus.COMPLETED, MigrationStatus.CONFIRMED, MigrationStatus.ERROR]


def test_migration_log(cloud: SimulatedCloud, clock: FakeClock) -> None:
    three_hosts(cloud)
    a = boot(cloud, "a", "h1", memory_mb=2 * GB)
    b = boot(cloud, "b", "h1", memory_mb=2 * GB)
    cloud.live_migrate(a.id, "h2")
    clock.advance(1)
    cloud.cold_migrate(b.id, "h3")
    log = cloud.migration_log()
    assert [(m.server_id, m.migration_type) for m in log] == [(a.id, MigrationType.LIVE),
                                                              (b.id, MigrationType.COLD)]
    assert all(m.finished_at is None for m in log)
    assert log[1].started_at - log[0].started_at == 1
    assert log[0].ends_at - log[0].started_at == pytest.approx(3.0)  # 2 s + 2048 MB / 2048 MB/s
    assert log[1].ends_at - log[1].started_at == pytest.approx(6.0)  # 4 s + 2048 MB / 1024 MB/s
    assert int(log[1].id) > int(log[0].id)


def test_violation_made_behind_the_simulators_back_is_detected(cloud: SimulatedCloud, db_path: Path) -> None:
    three_hosts(cloud)
    group = cloud.create_server_group("p1", "g", GroupPolicy.ANTI_AFFINITY)
    a = cloud.create_server(project_id="p1", name="a", vcpus=1, memory_mb=GB, server_group_id=group.id)
    b = cloud.create_server(project_id="p1", name="b", vcpus=1, memory_mb=GB, server_group_id=group.id)
    assert cloud.anti_affinity_violations() == []
    with sqlite3.connect(db_path) as raw:
        raw.execute("UPDATE servers SET host = ? WHERE id = ?", (a.host, b.id))
    cloud.add_host("h4", 1, GB)  # any state change runs the check
    (violation,) = cloud.anti_affinity_violations()
    assert a.id in violation and b.id in violation and str(a.host) in violation


def test_reset(cloud: SimulatedCloud) -> None:
    three_hosts(cloud)
    cloud.create_server(project_id="p", name="vm", vcpus=1, memory_mb=GB)
    cloud.disable_host("h1", "x")
    cloud.inject_fault("api")
    cloud.reset()
    snap = cloud.snapshot()
    assert (snap.hosts, snap.servers, snap.server_groups) == ([], [], [])
    assert cloud.host_events() == [] and cloud.migration_log() == []
    assert cloud.list_compute_hosts() == []  # the api fault is gone too


def test_delete_server_group_keeps_members(cloud: SimulatedCloud) -> None:
    three_hosts(cloud)
    group = cloud.create_server_group("p1", "g", "anti-affinity")
    s = cloud.create_server(project_id="p1", name="a", vcpus=1, memory_mb=GB, server_group_id=group.id)
    assert cloud.list_server_groups()[0].members == [s.id]
    cloud.delete_server_group(group.id)
    cloud.delete_server_group(group.id)
    assert cloud.list_server_groups() == []
    assert cloud.get_server(s.id).server_group_id is None
