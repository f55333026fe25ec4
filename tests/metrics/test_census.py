"""The census's arithmetic: counts by state and phase, quiet time, waits and their projects, series of sessions and
hosts that are gone set to 0. On a Temporal runtime whose metrics go to a buffer (no port)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from unittest.mock import MagicMock

from temporalio.runtime import MetricBuffer, Runtime, TelemetryConfig

from fenix.census import Census
from fenix.metrics import OTHER, ProjectLabels
from fenix.models.gauges import HostGauges, HostWait, SessionGauges
from fenix.models.session import HostPhase, SessionState

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


class Gauges:
    """The census on a buffered runtime; `values()` is the last value of every series."""

    def __init__(self) -> None:
        self.buffer = MetricBuffer(10000)
        runtime = Runtime(telemetry=TelemetryConfig(metrics=self.buffer))
        self.census = Census(MagicMock(), "fenix", runtime.metric_meter)
        self.last: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}

    def set(self, sessions: list[SessionGauges]) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        self.census.set_gauges(sessions, NOW.timestamp())
        for u in self.buffer.retrieve_updates():
            labels = frozenset((k, str(v)) for k, v in u.attributes.items() if k not in ("task_queue", "service_name"))
            assert u.attributes["task_queue"] == "fenix"
            self.last[(u.metric.name, labels)] = u.value
        return self.last


def key(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return name, frozenset(labels.items())


def session(sid: str, state: SessionState, *, progress_s: float, until: datetime | None = None,
            hosts: list[HostGauges] | None = None, workflow: str = "default") -> SessionGauges:
    return SessionGauges(session_id=sid, workflow=workflow, state=state, last_progress_at=ago(progress_s),
                         waiting_until=until, hosts=hosts or [])


def test_counts_quiet_time_waits_and_disabled_hosts() -> None:
    g = Gauges()
    hosts = [HostGauges(host="c0", phase=HostPhase.DISABLED, disabled_at=ago(600), plan_s=1200,
                        waits=[HostWait(reason="reply", project_id="p1", since=ago(300)),
                               HostWait(reason="reply", project_id="p1", since=ago(100))]),
             HostGauges(host="c1", phase=HostPhase.PENDING, waits=[HostWait(reason="capacity", since=ago(50))])]
    values = g.set([
        session("s1", SessionState.PREPARE_MAINTENANCE, progress_s=900, until=ago(60), hosts=hosts),
        session("s2", SessionState.MAINTENANCE, progress_s=900, until=NOW + timedelta(hours=1), workflow="vnf"),
    ])
    assert values[key("fenix_sessions", workflow="default", state="PREPARE_MAINTENANCE")] == 1
    assert values[key("fenix_sessions", workflow="vnf", state="MAINTENANCE")] == 1
    assert values[key("fenix_sessions", workflow="vnf", state="SCALE_IN")] == 0  # every state, zeros too
    assert values[key("fenix_hosts", phase="DISABLED")] == 1 and values[key("fenix_hosts", phase="PENDING")] == 1
    # Quiet: since the later of the last entry and the last deadline passed; a deadline still ahead: not quiet.
    assert values[key("fenix_session_quiet_seconds", session_id="s1")] == 60
    assert values[key("fenix_session_quiet_seconds", session_id="s2")] == 0
    assert values[key("fenix_host_waiting_seconds", host="c0", reason="reply", project="p1")] == 300
    assert values[key("fenix_host_waiting_seconds", host="c1", reason="capacity", project="")] == 50
    assert values[key("fenix_host_disabled_seconds", host="c0")] == 600
    assert values[key("fenix_host_disabled_plan_seconds", host="c0")] == 1200
    assert key("fenix_host_disabled_seconds", host="c1") not in values

    # The session ended: its series go to 0 once, the state counts too.
    values = g.set([])
    assert values[key("fenix_session_quiet_seconds", session_id="s1")] == 0
    assert values[key("fenix_host_waiting_seconds", host="c0", reason="reply", project="p1")] == 0
    assert values[key("fenix_host_disabled_seconds", host="c0")] == 0
    assert values[key("fenix_sessions", workflow="default", state="PREPARE_MAINTENANCE")] == 0


def test_project_labels_are_bounded() -> None:
    labels = ProjectLabels(limit=2)
    assert [labels(p) for p in ("a", "b", "c", "a", "d", "b")] == ["a", "b", OTHER, "a", OTHER, "b"]
    assert ProjectLabels(limit=0)("a") == OTHER
