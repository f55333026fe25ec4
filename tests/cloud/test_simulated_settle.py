"""The simulated cloud's settle_server, and the faults that leave a server unconfirmed or broken, behave like Nova."""

from __future__ import annotations

from pathlib import Path

import pytest

from fenix.cloud.driver import Unavailable
from fenix.cloud.simulated import SimulatedCloud
from fenix.models.cloud import MigrationStatus, ServerStatus, SettleState
from tests.cloud.test_simulated import GB, FakeClock, boot, three_hosts


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cloud(tmp_path: Path, clock: FakeClock) -> SimulatedCloud:
    return SimulatedCloud(tmp_path / "sim.sqlite", clock=clock)


def test_settle_follows_a_cold_migration_and_confirms_it(cloud: SimulatedCloud, clock: FakeClock) -> None:
    three_hosts(cloud)
    s = boot(cloud, "vm", "h1", memory_mb=GB)
    cloud.cold_migrate(s.id, "h2")
    moving = cloud.settle_server(s.id)  # in flight: nothing to confirm yet, and nothing waits
    assert (moving.state, moving.status, moving.confirmed) == (SettleState.MOVING, ServerStatus.RESIZE, False)
    assert moving.migration_id == cloud.list_migrations(s.id)[-1].id and not moving.final
    clock.advance(cloud.migration_duration_s(cloud.list_migrations(s.id)[-1].migration_type, GB))
    assert cloud.get_server(s.id).status == ServerStatus.VERIFY_RESIZE
    done = cloud.settle_server(s.id)
    assert (done.state, done.host, done.status, done.confirmed) == (SettleState.SETTLED, "h2", ServerStatus.ACTIVE,
                                                                   True)
    assert cloud.list_migrations(s.id)[-1].status == MigrationStatus.CONFIRMED
    assert cloud.get_compute_host("h1").memory_mb_used == 0  # the source claim is released
    again = cloud.settle_server(s.id)  # idempotent
    assert (again.state, again.confirmed) == (SettleState.SETTLED, False)


def test_settle_reports_gone_and_error(cloud: SimulatedCloud, clock: FakeClock) -> None:
    three_hosts(cloud)
    assert cloud.settle_server("no-such-server").state == SettleState.GONE
    s = boot(cloud, "vm", "h1")
    cloud.inject_fault("error", server_id=s.id)
    cloud.live_migrate(s.id, "h2")
    clock.advance(60)
    broken = cloud.get_server(s.id)
    assert (broken.host, broken.status) == ("h2", ServerStatus.ERROR)  # Nova's last step on h2 failed
    assert cloud.list_migrations(s.id)[-1].status == MigrationStatus.ERROR
    look = cloud.settle_server(s.id)
    assert (look.state, look.host, look.final) == (SettleState.ERROR, "h2", True)
    assert cloud.get_compute_host("h2").vcpus_used == broken.vcpus and cloud.get_compute_host("h1").vcpus_used == 0


def test_confirm_fault_leaves_the_server_waiting(cloud: SimulatedCloud, clock: FakeClock) -> None:
    three_hosts(cloud)
    s = boot(cloud, "vm", "h1")
    cloud.inject_fault("confirm", server_id=s.id, count=2)
    cloud.cold_migrate(s.id, "h2")
    clock.advance(60)
    with pytest.raises(Unavailable):
        cloud.confirm_resize(s.id)
    with pytest.raises(Unavailable):
        cloud.settle_server(s.id)
    assert cloud.get_server(s.id).status == ServerStatus.VERIFY_RESIZE  # the failed calls changed nothing else
    assert cloud.settle_server(s.id).confirmed  # the faults are used up
    assert cloud.get_server(s.id).status == ServerStatus.ACTIVE


def test_api_fault_applies_to_settle(cloud: SimulatedCloud) -> None:
    three_hosts(cloud)
    s = boot(cloud, "vm", "h1")
    cloud.inject_fault("api")
    with pytest.raises(Unavailable):
        cloud.settle_server(s.id)
    assert cloud.settle_server(s.id).state == SettleState.SETTLED
