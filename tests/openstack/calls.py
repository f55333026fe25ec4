"""Counting the HTTP calls a driver sends to the cloud, by service, method and path.

The hook wraps the keystoneauth session of the driver's admin connection, so it counts what really goes over the
wire (every page of a paginated list, every retry) and works on any version of the driver: the numbers of
docs/benchmarks.md ("OpenStack calls") were taken with it before and after the driver read the cloud in bulk.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from fenix.cloud.openstack import OpenStackCloud

# Ids in paths (UUIDs, numbers, Nova's hex request ids) become {id}, so one kind of call is one key.
_ID = re.compile(r"^([0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}|\d+)$", re.I)
# The endpoint's own prefix (/v2.1, /compute/v2.1, /placement, ...) is not part of the call.
_VERSION = re.compile(r"^v\d+(\.\d+)?$")


def call_kind(service: str, method: str, url: str) -> str:
    """``"compute GET /os-services"``: the service, the method and the path with ids replaced."""
    parts = [p for p in urlsplit(url).path.split("/") if p]
    while parts and (_VERSION.match(parts[0]) or parts[0] in (service, "compute", "placement")):
        parts = parts[1:]
    return f"{service} {method.upper()} /" + "/".join("{id}" if _ID.match(p) else p for p in parts)


class CallCounter:
    """Calls seen since the counter was made (or last `reset`); thread-safe (activities run on a pool)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, kind: str) -> None:
        with self._lock:
            self._counts[kind] += 1

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()

    @property
    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter(self._counts)

    def total(self, service: str | None = None) -> int:
        return sum(n for k, n in self.counts.items() if service is None or k.startswith(f"{service} "))

    def table(self) -> str:
        return "\n".join(f"{n:6d}  {k}" for k, n in sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0])))


@contextmanager
def counting(cloud: OpenStackCloud) -> Iterator[CallCounter]:
    """Count every request of the driver's admin connection while the block runs."""
    session = cloud.connection.session
    counter = CallCounter()
    original = session.request

    def request(url: str, method: str, *args: Any, **kwargs: Any) -> Any:
        endpoint = kwargs.get("endpoint_filter") or {}
        service = str(endpoint.get("service_type") or kwargs.get("service_type") or "other")
        counter.add(call_kind(service, method, url))
        return original(url, method, *args, **kwargs)

    shadowed = "request" in vars(session)
    session.request = request
    try:
        yield counter
    finally:
        if shadowed:
            session.request = original
        else:
            del session.request  # back to the class's method


def main() -> None:
    """``python -m tests.openstack.calls [CLOUD]``: the calls of a first and a second snapshot on a cloud of the
    clouds.yaml search path (``OS_CLIENT_CONFIG_FILE``), as docs/benchmarks.md ("OpenStack calls") shows them."""
    import sys

    from activities.cloud import CloudActivities
    from fenix.models.cloud_ops import SnapshotRequest

    driver = OpenStackCloud(cloud=sys.argv[1] if len(sys.argv) > 1 else None)
    driver.list_compute_hosts()  # authentication and version discovery are not the snapshot's
    driver = OpenStackCloud(connection=driver.connection)
    for read in ("first", "second"):
        with counting(driver) as calls:
            snap = CloudActivities(driver).snapshot(SnapshotRequest())
        sys.stdout.write(f"{read} snapshot, {len(snap.hosts)} hosts, {len(snap.servers)} servers: "
                         f"{calls.total('compute')} Nova + {calls.total('placement')} Placement calls\n"
                         f"{calls.table()}\n")


if __name__ == "__main__":
    main()
