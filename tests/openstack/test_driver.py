"""The OpenStack driver against a real Nova (the mini cloud, or any cloud named by FENIX_TEST_OS_CLOUD).

Skipped when no cloud is reachable (see conftest.py). Run alone with ``-s`` to see the measured times.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable

import pytest
import requests
from keystoneauth1 import exceptions as ks_exc
from openstack import exceptions as os_exc

from fenix.cloud.driver import CloudDriver, NotFound, Rejected, Unavailable
from fenix.cloud.openstack import OpenStackCloud, map_error
from fenix.models.cloud import GroupPolicy, Migration, MigrationStatus, MigrationType, Server, ServerStatus

from .conftest import PREFIX, HaPair, usable_hosts, wait_until

pytestmark = pytest.mark.timeout(240)
log = logging.getLogger(__name__)  # measurements: run with -o log_cli=true --log-cli-level=INFO

FAILED = {MigrationStatus.ERROR, MigrationStatus.FAILED}


def test_is_a_cloud_driver(cloud: OpenStackCloud) -> None:
    driver: CloudDriver = cloud  # mypy checks the Protocol
    assert "password" not in repr(driver).lower()


def test_compute_hosts_with_capacity(cloud: OpenStackCloud) -> None:
    hosts = cloud.list_compute_hosts()
    assert len(hosts) >= 2
    assert [h.name for h in hosts] == sorted({h.name for h in hosts})
    for h in hosts:
        assert h.vcpus > 0 and h.memory_mb > 0, h
        assert 0 <= h.vcpus_used <= h.vcpus and 0 <= h.memory_mb_used <= h.memory_mb, h
    one = cloud.get_compute_host(hosts[0].name)
    assert (one.name, one.vcpus, one.memory_mb, one.enabled) == (hosts[0].name, hosts[0].vcpus,
                                                                   hosts[0].memory_mb, hosts[0].enabled)
    with pytest.raises(NotFound):
        cloud.get_compute_host(f"{PREFIX}no-such-host")
    with pytest.raises(NotFound):
        cloud.disable_host(f"{PREFIX}no-such-host", "x")


def test_disable_and_enable_are_idempotent(cloud: OpenStackCloud, tag: str) -> None:
    host = usable_hosts(cloud)[-1].name
    reason = f"{tag} maintenance"
    try:
        for _ in range(2):
            disabled = cloud.disable_host(host, reason)
            assert (disabled.enabled, disabled.disabled_reason) == (False, reason)
            again = cloud.get_compute_host(host)
            assert (again.enabled, again.disabled_reason) == (False, reason)
            listed = next(h for h in cloud.list_compute_hosts() if h.name == host)
            assert (listed.enabled, listed.disabled_reason) == (False, reason)
        other = cloud.disable_host(host, f"{tag} other reason")  # a disabled host takes a new reason
        assert (other.enabled, other.disabled_reason) == (False, f"{tag} other reason")
    finally:
        for _ in range(2):
            enabled = cloud.enable_host(host)
            assert enabled.enabled and enabled.disabled_reason is None
    assert cloud.get_compute_host(host).enabled


def test_boot_anti_affinity_pair(cloud: OpenStackCloud, ha_pair: HaPair, admin_project: str) -> None:
    a, b = ha_pair.servers
    assert a.host and b.host and a.host != b.host
    for s in (a, b):
        assert s.status == ServerStatus.ACTIVE
        assert s.project_id == admin_project
        assert s.server_group_id == ha_pair.group.id
        assert s.vcpus >= 1 and s.memory_mb >= 64  # the smallest flavor that fits
        on_host = cloud.list_servers(host=s.host)
        assert s.id in {x.id for x in on_host}
        assert all(x.host == s.host for x in on_host)
        listed = next(x for x in on_host if x.id == s.id)
        assert listed == s
        assert cloud.get_server(s.id) == s
    mine = {x.id for x in cloud.list_servers(project_id=admin_project)}
    assert {a.id, b.id} <= mine
    group = next(g for g in cloud.list_server_groups(project_id=admin_project) if g.id == ha_pair.group.id)
    assert group.policy == GroupPolicy.ANTI_AFFINITY
    assert sorted(group.members) == sorted([a.id, b.id])
    for s in (a, b):  # placement usage includes the pair
        h = cloud.get_compute_host(str(s.host))
        assert h.vcpus_used >= s.vcpus and h.memory_mb_used >= s.memory_mb


def _free_host(cloud: OpenStackCloud, pair: HaPair) -> str:
    taken = {cloud.get_server(s.id).host for s in pair.servers}
    free = [h.name for h in usable_hosts(cloud) if h.name not in taken]
    if not free:
        pytest.skip("needs a third enabled compute host outside the anti-affinity pair")
    return free[0]


def _latest(cloud: OpenStackCloud, server_id: str) -> Migration | None:
    records = cloud.list_migrations(server_id)
    return records[-1] if records else None


def test_live_migration_followed_to_completed(cloud: OpenStackCloud, ha_pair: HaPair) -> None:
    server = ha_pair.servers[0]
    source = str(cloud.get_server(server.id).host)
    target = _free_host(cloud, ha_pair)
    known = {m.id for m in cloud.list_migrations(server.id)}
    started = time.monotonic()
    cloud.live_migrate(server.id, target)
    returned_after = time.monotonic() - started
    record = _latest(cloud, server.id)
    assert record is not None and record.id not in known, "live_migrate returns once the record exists"
    assert record.migration_type == MigrationType.LIVE
    statuses: list[MigrationStatus] = []
    host_moved_at: float | None = None

    def done() -> Migration | None:
        nonlocal host_moved_at
        latest = _latest(cloud, server.id)
        assert latest is not None and latest.status not in FAILED, latest
        if not statuses or statuses[-1] != latest.status:
            statuses.append(latest.status)
        now = cloud.get_server(server.id)
        if host_moved_at is None and now.host == target:
            host_moved_at = time.monotonic() - started
        return latest if latest.status == MigrationStatus.COMPLETED and now.host == target else None

    final = wait_until("the live migration record to complete", done, timeout_s=120)
    total = time.monotonic() - started
    moved = cloud.get_server(server.id)
    assert (moved.host, moved.status) == (target, ServerStatus.ACTIVE)
    assert (final.source_host, final.dest_host, final.migration_type) == (source, target, MigrationType.LIVE)
    assert final.status.terminal
    log.info("live migration %s -> %s: call returned in %.1f s, host changed after %.1f s, record completed "
             "after %.1f s; statuses %s", source, target, returned_after, host_moved_at, total,
             [s.value for s in statuses])


def test_cold_migration_verify_resize_then_confirm(cloud: OpenStackCloud, admin_project: str, tag: str) -> None:
    """A server outside any group: right after a live migration, Nova's scheduler still counts the moved
    server on its old host for up to scheduler_instance_sync_interval (docs/openstack.md), which would
    make a group member's move depend on test order."""
    server = cloud.create_server(project_id=admin_project, name=f"{tag}-cold", vcpus=1, memory_mb=64)
    try:
        _cold_migrate_and_confirm(cloud, server)
    finally:
        cloud.delete_server(server.id)
    with pytest.raises(NotFound):
        cloud.get_server(server.id)


def _cold_migrate_and_confirm(cloud: OpenStackCloud, server: Server) -> None:
    source = str(server.host)
    started = time.monotonic()
    cloud.cold_migrate(server.id, None)
    record = _latest(cloud, server.id)
    assert record is not None and record.migration_type == MigrationType.COLD

    def verify_resize() -> Server | None:
        latest = _latest(cloud, server.id)
        assert latest is not None and latest.status not in FAILED, latest
        now = cloud.get_server(server.id)
        return now if now.status == ServerStatus.VERIFY_RESIZE else None

    waiting = wait_until("VERIFY_RESIZE", verify_resize, timeout_s=120)
    to_verify = time.monotonic() - started
    assert waiting.host != source
    finished = _latest(cloud, server.id)
    assert finished is not None and finished.status == MigrationStatus.FINISHED
    assert not finished.status.terminal
    cloud.confirm_resize(server.id)
    cloud.confirm_resize(server.id)  # a retried confirm is fine

    def confirmed() -> Migration | None:
        latest = _latest(cloud, server.id)
        ok = latest is not None and latest.status == MigrationStatus.CONFIRMED
        return latest if ok and cloud.get_server(server.id).status == ServerStatus.ACTIVE else None

    final = wait_until("the confirmed record", confirmed, timeout_s=60)
    total = time.monotonic() - started
    assert (final.source_host, final.dest_host) == (source, waiting.host)
    cloud.confirm_resize(server.id)  # and so is one long after
    log.info("cold migration %s -> %s: VERIFY_RESIZE after %.1f s, confirmed after %.1f s", source,
             waiting.host, to_verify, total)


def _refused(cloud: OpenStackCloud, server: Server, move: Callable[[], None]) -> str:
    """The move is refused: at once (Rejected), or by an error record with the server left in place."""
    before = cloud.get_server(server.id)
    known = {m.id for m in cloud.list_migrations(server.id)}
    try:
        move()
    except Rejected as err:
        outcome = f"Rejected: {err}"
    else:
        def settled() -> Migration | None:
            latest = _latest(cloud, server.id)
            assert latest is not None and latest.id not in known
            assert latest.status not in {MigrationStatus.FINISHED, MigrationStatus.COMPLETED}, latest
            return latest if latest.status.terminal else None

        outcome = f"record {wait_until('the refused migration to end', settled, timeout_s=60).status}"
        assert _latest(cloud, server.id).status in FAILED  # type: ignore[union-attr]
    after = wait_until("the server to be ACTIVE again",
                       lambda: (s := cloud.get_server(server.id)).status == ServerStatus.ACTIVE and s)
    assert after.host == before.host
    return outcome


def test_refused_moves(cloud: OpenStackCloud, ha_pair: HaPair, tag: str) -> None:
    a, b = (cloud.get_server(s.id) for s in ha_pair.servers)
    peer_host = str(b.host)
    outcomes = {
        "live to the peer's host": _refused(cloud, a, lambda: cloud.live_migrate(a.id, peer_host)),
        "cold to the peer's host": _refused(cloud, a, lambda: cloud.cold_migrate(a.id, peer_host)),
    }
    free = _free_host(cloud, ha_pair)
    cloud.disable_host(free, f"{tag} refused moves")
    try:
        outcomes["live to a disabled host"] = _refused(cloud, a, lambda: cloud.live_migrate(a.id, free))
        outcomes["cold to a disabled host"] = _refused(cloud, a, lambda: cloud.cold_migrate(a.id, free))
    finally:
        cloud.enable_host(free)
    with pytest.raises((NotFound, Rejected)):
        cloud.live_migrate(a.id, f"{PREFIX}no-such-host")
    with pytest.raises(Rejected):
        cloud.confirm_resize(a.id)  # nothing to confirm
    for move, outcome in outcomes.items():
        log.info("%s: %s", move, outcome)


def test_unknown_server(cloud: OpenStackCloud) -> None:
    missing = str(uuid.uuid4())
    with pytest.raises(NotFound):
        cloud.get_server(missing)
    with pytest.raises(NotFound):
        cloud.live_migrate(missing, None)
    with pytest.raises(NotFound):
        cloud.confirm_resize(missing)
    assert cloud.list_migrations(missing) == []
    cloud.delete_server(missing)  # idempotent


def test_create_server_refusals(cloud: OpenStackCloud, admin_project: str, tag: str) -> None:
    with pytest.raises(Rejected, match="no flavor"):
        cloud.create_server(project_id=admin_project, name=f"{tag}-huge", vcpus=100_000, memory_mb=64)
    with pytest.raises(NotFound):
        cloud.create_server(project_id=admin_project, name=f"{tag}-x", vcpus=1, memory_mb=64,
                            server_group_id=str(uuid.uuid4()))
    assert not [s for s in cloud.list_servers(project_id=admin_project) if s.name.startswith(tag)]


def test_create_server_in_another_project(cloud: OpenStackCloud, tag: str) -> None:
    """The admin user boots into a tenant project once it has a role there (connect_as)."""
    identity = cloud.connection.identity
    try:
        project = identity.create_project(name=tag, domain_id="default", description="fenix driver test")
    except Exception as err:  # noqa: BLE001 - a cloud where we may not create projects
        pytest.skip(f"cannot create a Keystone project here: {map_error(err, 'create project')}")
    try:
        with pytest.raises(Rejected, match="role"):
            cloud.create_server(project_id=project.id, name=f"{tag}-0", vcpus=1, memory_mb=64)
        role = next((r for r in identity.roles() if r.name in ("member", "_member_")), None)
        if role is None:
            pytest.skip("no member role in Keystone")
        identity.assign_project_role_to_user(project, cloud.connection.current_user_id, role)
        server = cloud.create_server(project_id=project.id, name=f"{tag}-0", vcpus=1, memory_mb=64)
        try:
            assert server.project_id == project.id and server.status == ServerStatus.ACTIVE
            assert [s.id for s in cloud.list_servers(project_id=project.id)] == [server.id]
        finally:
            cloud.delete_server(server.id)
        assert cloud.list_servers(project_id=project.id) == []
    finally:
        identity.delete_project(project, ignore_missing=True)


def _http_error(code: int, message: str = "Nova says no") -> os_exc.HttpException:
    response = requests.Response()
    response.status_code = code
    response.reason = "reason"
    response.headers["content-type"] = "application/json"
    response._content = json.dumps({"fault": {"message": message, "code": code}}).encode()
    try:
        os_exc.raise_from_response(response)
    except os_exc.HttpException as err:
        return err
    raise AssertionError("no exception")


def test_error_mapping() -> None:
    """No cloud needed: how openstacksdk/keystoneauth errors map to the driver's."""
    assert isinstance(map_error(_http_error(404), "x"), NotFound)
    for code in (400, 401, 403, 409, 413, 422):
        assert isinstance(map_error(_http_error(code), "x"), Rejected), code
    for code in (408, 429, 500, 502, 503, 504):
        assert isinstance(map_error(_http_error(code), "x"), Unavailable), code
    assert str(map_error(_http_error(409), "live-migrate server s")) == "live-migrate server s: 409 Nova says no"
    busy = _http_error(409, "Cannot 'migrate' instance s while it is in task_state migrating")
    assert isinstance(map_error(busy, "x"), Unavailable)  # another task holds the server: try again later
    stopped = _http_error(409, "Cannot 'live-migrate' instance s while it is in vm_state stopped")
    assert isinstance(map_error(stopped, "x"), Rejected)
    transient: list[Exception] = [ks_exc.ConnectFailure("refused"), ks_exc.ConnectTimeout("slow"),
                                  ks_exc.DiscoveryFailure("?"), os_exc.ResourceTimeout("slow"),
                                  requests.ConnectionError("reset")]
    for err in transient:
        assert isinstance(map_error(err, "x"), Unavailable), err
    refused: list[Exception] = [ks_exc.Unauthorized("bad password"), ks_exc.EndpointNotFound("no compute"),
                                os_exc.ConfigException("no such cloud")]
    for err in refused:
        assert isinstance(map_error(err, "x"), Rejected), err
    leaked = str(map_error(ks_exc.ConnectFailure(
        "http://admin:s3cret@keystone:5000 password=s3cret X-Auth-Token: abc123 gAAAAA" + "x" * 40), "x"))
    assert "s3cret" not in leaked and "abc123" not in leaked and "gAAAAA" not in leaked, leaked
