"""Disabling and enabling hosts: idempotent for the session's own reason, hands off everybody else's."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.cloud import CloudActivities
from fenix.cloud.simulated import SimHostSpec, SimSeed, SimulatedCloud
from fenix.constants import disable_reason, retired_reason
from fenix.models.cloud_ops import HostRequest

OURS = disable_reason("s1")


def cloud(tmp_path: Path) -> tuple[SimulatedCloud, CloudActivities]:
    sim = SimulatedCloud(tmp_path / "c.sqlite", time_scale=0)
    sim.seed(SimSeed(hosts=[SimHostSpec(name="h1", vcpus=4, memory_mb=4096)]))
    return sim, CloudActivities(sim, poll_s=0.01)


def test_disable_and_enable_are_idempotent_for_our_reason(tmp_path: Path) -> None:
    sim, acts = cloud(tmp_path)
    env = ActivityEnvironment()
    assert env.run(acts.disable_host, HostRequest(host="h1", reason=OURS)).changed
    assert not env.run(acts.disable_host, HostRequest(host="h1", reason=OURS)).changed  # a retry
    assert sim.get_compute_host("h1").disabled_reason == OURS
    assert env.run(acts.enable_host, HostRequest(host="h1", reason=OURS)).changed
    assert not env.run(acts.enable_host, HostRequest(host="h1", reason=OURS)).changed
    assert sim.get_compute_host("h1").enabled


def test_someone_elses_disable_is_never_taken_over(tmp_path: Path) -> None:
    sim, acts = cloud(tmp_path)
    env = ActivityEnvironment()
    sim.disable_host("h1", "operator: RAM swap")
    with pytest.raises(ApplicationError, match="disabled by someone else"):
        env.run(acts.disable_host, HostRequest(host="h1", reason=OURS))
    # The cleanup after an abort that raced the disable: the host is not ours, so it stays disabled.
    assert not env.run(acts.enable_host, HostRequest(host="h1", reason=OURS)).changed
    host = sim.get_compute_host("h1")
    assert not host.enabled and host.disabled_reason == "operator: RAM swap"


def test_retiring_replaces_only_our_own_reason_and_no_cleanup_undoes_it(tmp_path: Path) -> None:
    sim, acts = cloud(tmp_path)
    env = ActivityEnvironment()
    retire = HostRequest(host="h1", reason=retired_reason("s1"), replaces=OURS)
    env.run(acts.disable_host, HostRequest(host="h1", reason=OURS))
    assert env.run(acts.disable_host, retire).changed
    assert not env.run(acts.disable_host, retire).changed  # a retry
    # Every re-enable names the session's maintenance reason: a retired host stays disabled.
    assert not env.run(acts.enable_host, HostRequest(host="h1", reason=OURS)).changed
    assert sim.get_compute_host("h1").disabled_reason == retired_reason("s1")
    # Someone else's reason is not replaced either.
    sim.disable_host("h1", "operator: RAM swap")
    with pytest.raises(ApplicationError, match="disabled by someone else"):
        env.run(acts.disable_host, retire)
