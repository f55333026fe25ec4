"""Assertions on the cloud after a session: the invariants every session must keep.

The check of group constraints over a whole session (`constraint_violations`) is in fenix/checks.py: the
benchmark uses it too, and bench/ does not import tests/.
"""

from __future__ import annotations

from fenix.cloud.simulated import SimulatedCloud
from fenix.models.cloud import CloudSnapshot, ServerStatus
from fenix.models.session import SessionDetail, SessionState


def assert_cloud_sound(cloud: SimulatedCloud, before: CloudSnapshot, detail: SessionDetail,
                       removed_ok: set[str] | None = None) -> None:
    """Every host enabled, no anti-affinity violation ever, no instance lost, each target maintained once."""
    after = cloud.snapshot()
    assert all(h.enabled for h in after.hosts), [h.name for h in after.hosts if not h.enabled]
    assert cloud.anti_affinity_violations() == []
    assert all(s.status == ServerStatus.ACTIVE for s in after.servers), [(s.name, s.status) for s in after.servers]
    if detail.state == SessionState.MAINTENANCE_DONE:
        assert all(h.maintained for h in detail.hosts)
        for h in detail.hosts:
            events = [e for _, e, _ in cloud.host_events(h.name)]
            assert events.count("disabled") == 1 and events[-1] == "enabled", (h.name, events)
        names_before = {s.name for s in before.servers}
        names_after = {s.name for s in after.servers}
        assert names_before <= names_after | (removed_ok or set()), names_before - names_after
