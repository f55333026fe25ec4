"""Reading the cloud economically (issue 11): a snapshot costs the same few calls whatever the number of hosts, what
cannot change meanwhile is not read again, and the reuse never hides a new server's group.

Calls are counted on the wire (tests/openstack/calls.py), by service, method and path with ids replaced: a call
whose path names one host, node or server is a call per host, and must not be part of a snapshot.
"""

from __future__ import annotations

import pytest

from activities.cloud import CloudActivities
from fenix.cloud.driver import NotFound
from fenix.cloud.openstack import OpenStackCloud
from fenix.models.cloud import CloudSnapshot, GroupPolicy
from fenix.models.cloud_ops import SnapshotRequest
from tests.openstack.calls import CallCounter, counting


def snapshot(driver: OpenStackCloud) -> CloudSnapshot:
    """What the `cloud_snapshot` activity reads (its function, called outside a worker)."""
    return CloudActivities(driver).snapshot(SnapshotRequest())


def per_item(calls: CallCounter) -> list[str]:
    return [k for k in calls.counts if "{id}" in k]


def test_a_snapshot_costs_the_same_calls_whatever_the_number_of_hosts(cloud: OpenStackCloud) -> None:
    driver = OpenStackCloud(connection=cloud.connection)  # nothing cached yet
    with counting(driver) as cold:
        snap = snapshot(driver)
    hosts = len(snap.hosts)
    assert hosts >= 2, snap.hosts
    # One list each: services, hypervisors, servers (one page on this cloud), groups; capacity from one query of
    # allocation candidates (two only when a node has no vCPU free). None about one host.
    assert not per_item(cold), cold.table()
    assert cold.counts["compute GET /os-services"] == 1, cold.table()
    assert cold.counts["compute GET /os-hypervisors/detail"] == 1, cold.table()
    assert cold.counts["compute GET /servers/detail"] == 1, cold.table()
    assert cold.counts["compute GET /os-server-groups"] == 1, cold.table()
    assert 1 <= cold.counts["placement GET /allocation_candidates"] <= 2, cold.table()
    assert cold.total("compute") + cold.total("placement") <= 6 < 2 + 2 * hosts + 3, cold.table()

    with counting(driver) as warm:
        again = snapshot(driver)
    # Within the reuse window only what moves is read: service states, servers, usage.
    read = sorted(k for k in warm.counts if not k.startswith("other "))
    assert read == ["compute GET /os-services", "compute GET /servers/detail",
                    "placement GET /allocation_candidates"], warm.table()
    assert warm.total("compute") + warm.total("placement") == 3, warm.table()
    assert [h.name for h in again.hosts] == [h.name for h in snap.hosts]


def test_bulk_capacity_is_the_capacity_read_node_by_node(cloud: OpenStackCloud,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    bulk = OpenStackCloud(connection=cloud.connection).list_compute_hosts()
    one_by_one = OpenStackCloud(connection=cloud.connection)
    monkeypatch.setattr(one_by_one, "_summaries", lambda wanted: {})  # as if every node were full
    with counting(one_by_one) as calls:
        nodes = one_by_one.list_compute_hosts()
    assert calls.counts["placement GET /resource_providers/{id}/usages"] == len(nodes), calls.table()
    assert [h.model_dump() for h in bulk] == [h.model_dump() for h in nodes]
    assert all(h.vcpus > 0 and h.memory_mb > 0 for h in bulk), bulk


def test_a_new_server_is_seen_with_its_group_at_once(cloud: OpenStackCloud, admin_project: str, tag: str) -> None:
    reader = OpenStackCloud(connection=cloud.connection, cache_ttl_s=3600)  # another worker: its own cache
    reader.list_servers()
    reader.list_server_groups()
    group = cloud.create_server_group(admin_project, f"{tag}-grp", GroupPolicy.ANTI_AFFINITY)
    try:
        server = cloud.create_server(project_id=admin_project, name=f"{tag}-0", vcpus=1, memory_mb=64,
                                     server_group_id=group.id)
        try:
            with counting(reader) as calls:
                listed = {s.id: s for s in reader.list_servers()}
                groups = {g.id: g for g in reader.list_server_groups()}
            assert listed[server.id].server_group_id == group.id
            assert server.id in groups[group.id].members
            assert calls.counts["compute GET /os-server-groups"] == 1, calls.table()  # read again, once
            with counting(reader) as calls:
                reader.list_servers()
            assert "compute GET /os-server-groups" not in calls.counts, calls.table()
        finally:
            cloud.delete_server(server.id)
    finally:
        cloud.delete_server_group(group.id)


def test_host_facts_cost_three_calls(cloud: OpenStackCloud) -> None:
    """What a session reads of a host before and after its maintenance: hypervisor, traits, aggregates."""
    name = cloud.list_compute_hosts()[0].name
    driver = OpenStackCloud(connection=cloud.connection)
    with counting(driver) as calls:
        facts = driver.host_facts(name)
    assert facts.hypervisor_type and facts.hypervisor_version, facts
    assert facts.traits == sorted(facts.traits) and any(t.startswith("COMPUTE_") for t in facts.traits), facts
    read = sorted(k for k in calls.counts if not k.startswith("other "))
    assert read == ["compute GET /os-aggregates", "compute GET /os-hypervisors/detail",
                    "placement GET /resource_providers/{id}/traits"], calls.table()
    assert calls.total("compute") + calls.total("placement") == 3, calls.table()
    with pytest.raises(NotFound):
        driver.host_facts("fenix-no-such-host")
