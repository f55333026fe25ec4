"""The simulated cloud's host facts: what `host_facts` reads, what an upgrade changes, and older cloud files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from fenix.cloud.driver import NotFound
from fenix.cloud.simulated import DEFAULT_TRAITS, SimulatedCloud
from fenix.models.capabilities import HostChanges


def test_upgrade_changes_what_the_host_reports(tmp_path: Path) -> None:
    cloud = SimulatedCloud(tmp_path / "c.sqlite")
    cloud.add_host("h1", 4, 4096)
    before = cloud.host_facts("h1")
    assert before.hypervisor_type == "QEMU" and before.hypervisor_version == 8002000
    assert before.traits == sorted(DEFAULT_TRAITS) and before.aggregates == []
    after = cloud.upgrade_host("h1", hypervisor_version=9000000, add_traits=("COMPUTE_X",),
                               remove_traits=("COMPUTE_VOLUME_ATTACH",), aggregates=["gpu", "az1"])
    assert cloud.host_facts("h1") == after
    changes = HostChanges.between(before, after)
    assert changes.hypervisor_version is not None and changes.hypervisor_version.after == 9000000
    assert changes.hypervisor_type is None
    assert (changes.traits_added, changes.traits_removed) == (["COMPUTE_X"], ["COMPUTE_VOLUME_ATTACH"])
    assert changes.aggregates_added == ["az1", "gpu"] and not changes.empty
    assert HostChanges.between(after, cloud.host_facts("h1")).empty
    # Seeding again (a restarted demo) keeps what the upgrade did.
    cloud.add_host("h1", 8, 8192)
    assert cloud.host_facts("h1") == after
    with pytest.raises(NotFound):
        cloud.host_facts("nope")


def test_a_cloud_file_from_before_the_facts_gets_them(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE hosts (name TEXT PRIMARY KEY, vcpus INTEGER NOT NULL, memory_mb INTEGER NOT NULL,"
               " enabled INTEGER NOT NULL DEFAULT 1, disabled_reason TEXT, up INTEGER NOT NULL DEFAULT 1)")
    db.execute("INSERT INTO hosts (name, vcpus, memory_mb) VALUES ('old', 2, 2048)")
    db.commit()
    db.close()
    cloud = SimulatedCloud(path)
    assert cloud.host_facts("old").hypervisor_version == 8002000
    assert cloud.get_compute_host("old").vcpus == 2
