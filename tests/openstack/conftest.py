"""Fixtures for the OpenStack driver tests: a driver on a real cloud, or a skip saying why there is none.

Which cloud:

* ``FENIX_TEST_OS_CLOUD`` (or ``OS_CLOUD``) names a cloud of the standard clouds.yaml search path
  (``OS_CLIENT_CONFIG_FILE``, ./clouds.yaml, ~/.config/openstack/, /etc/openstack/). The user needs
  the admin role: the tests disable and enable hosts and migrate servers.
* Otherwise the first cloud of ``OS_CLIENT_CONFIG_FILE``, else of the devcloud's clouds.yaml
  (``make devcloud-up``, see tests/cloudenv.py), else of /tmp/mc/clouds.yaml.

Every test skips when the cloud cannot be reached (fails instead under ``FENIX_REQUIRE_OPENSTACK=1``,
see tests/cloudenv.py). The tests share the cloud with other users: they create uniquely named servers
(``fenixos-<random>``), clean up after themselves, and delete leftovers of interrupted runs that are
older than 30 minutes.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from fenix.cloud.driver import CloudError
from fenix.cloud.openstack import OpenStackCloud
from fenix.models.cloud import ComputeHost, GroupPolicy, Server, ServerGroup
from tests.cloudenv import DEVCLOUD_CONFIG, config_file, no_cloud

MINICLOUD_CONFIG = Path("/tmp/mc/clouds.yaml")
PREFIX = "fenixos-"
LEFTOVER_AGE = timedelta(minutes=30)


def _cloud_options() -> dict[str, Any]:
    cloud = os.environ.get("FENIX_TEST_OS_CLOUD") or os.environ.get("OS_CLOUD")
    if cloud:
        return {"cloud": cloud}
    config = config_file() or (MINICLOUD_CONFIG if MINICLOUD_CONFIG.is_file() else None)
    if config is None or not config.is_file():
        no_cloud(f"no OpenStack cloud configured (FENIX_TEST_OS_CLOUD, OS_CLOUD, OS_CLIENT_CONFIG_FILE, "
                 f"{DEVCLOUD_CONFIG} or {MINICLOUD_CONFIG})")
    clouds = (yaml.safe_load(config.read_text()) or {}).get("clouds") or {}
    if not clouds:
        no_cloud(f"{config} names no cloud")
    return {"cloud": next(iter(clouds)), "config_file": config}


@pytest.fixture(scope="session")
def cloud() -> Iterator[OpenStackCloud]:
    """The driver, after a probe (list the hosts) and a sweep of old leftovers; skips if unreachable.

    With the mini cloud's clouds.yaml, ``OS_CLIENT_CONFIG_FILE`` is exported for the session too, so that
    subprocesses and plain ``openstack.connect(cloud=cloud.cloud_name)`` calls find the same cloud."""
    options = _cloud_options()
    with pytest.MonkeyPatch.context() as mp:
        if "config_file" in options:
            mp.setenv("OS_CLIENT_CONFIG_FILE", str(options["config_file"]))
        yield from _cloud(options)


def _cloud(options: dict[str, Any]) -> Iterator[OpenStackCloud]:
    try:
        driver = OpenStackCloud(**options, timeout_s=20, boot_timeout_s=120, poll_s=0.3)
        hosts = driver.list_compute_hosts()
    except CloudError as err:
        no_cloud(f"OpenStack cloud {options['cloud']!r} not reachable or not usable: {err}")
    if len([h for h in hosts if h.enabled and h.up]) < 2:
        pytest.skip(f"cloud {options['cloud']!r} has fewer than 2 enabled, up compute hosts: {hosts}")
    _sweep_leftovers(driver)
    yield driver
    for h in driver.list_compute_hosts():  # a failed test must not leave a host disabled
        if not h.enabled and (h.disabled_reason or "").startswith(PREFIX):
            driver.enable_host(h.name)


def _sweep_leftovers(driver: OpenStackCloud) -> None:
    """Delete what interrupted runs left: old ``fenixos-`` servers, their empty groups, disabled hosts."""
    compute = driver.connection.compute
    cutoff = datetime.now(UTC) - LEFTOVER_AGE
    ours = [s for s in compute.servers(all_projects=True) if (s.name or "").startswith(PREFIX)]
    old = [s for s in ours if _created(s.created_at) < cutoff]
    for s in old:
        driver.delete_server(s.id)
    if len(old) == len(ours):  # no run in progress: empty groups of ours are leftovers
        for g in compute.server_groups(all_projects=True):
            if (g.name or "").startswith(PREFIX) and not g.member_ids:
                driver.delete_server_group(g.id)
    for h in driver.list_compute_hosts():
        if not h.enabled and (h.disabled_reason or "").startswith(PREFIX):
            driver.enable_host(h.name)


def _created(stamp: str | None) -> datetime:
    if not stamp:
        return datetime.now(UTC)
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


@pytest.fixture
def tag() -> str:
    """A unique name prefix for what one test creates."""
    return f"{PREFIX}{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def admin_project(cloud: OpenStackCloud) -> str:
    return str(cloud.connection.current_project_id)


@dataclass
class HaPair:
    """Two servers in one anti-affinity group, booted through the driver's tenant operations."""

    group: ServerGroup
    servers: list[Server]


@pytest.fixture(scope="module")
def ha_pair(cloud: OpenStackCloud, admin_project: str) -> Iterator[HaPair]:
    name = f"{PREFIX}{uuid.uuid4().hex[:8]}"
    group = cloud.create_server_group(admin_project, f"{name}-grp", GroupPolicy.ANTI_AFFINITY)
    servers: list[Server] = []
    try:
        for i in range(2):  # one after the other: concurrent boots into one group race in the scheduler
            servers.append(cloud.create_server(project_id=admin_project, name=f"{name}-{i}", vcpus=1,
                                               memory_mb=64, server_group_id=group.id))
        yield HaPair(group=group, servers=servers)
    finally:
        for s in servers:
            cloud.delete_server(s.id)
        cloud.delete_server_group(group.id)


def usable_hosts(cloud: OpenStackCloud) -> list[ComputeHost]:
    return [h for h in cloud.list_compute_hosts() if h.enabled and h.up]


def wait_until(what: str, check: Any, timeout_s: float = 90.0, poll_s: float = 0.3) -> Any:
    """Poll ``check()`` until it returns something truthy; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(poll_s)
