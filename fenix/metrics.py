"""Metrics: the worker's Prometheus endpoint (a Temporal runtime) and Fenix's own figures.

Fenix's figures go through Temporal's metric meters, so they come out of the worker's endpoint beside the SDK's:
`workflow.metric_meter()` in workflow code, `activity.metric_meter()` in activities. The workflow meter records
nothing while a workflow replays: a reply counted when it was accepted is not counted again when a worker rebuilds
the workflow from its history, and emitting creates no command, so no `workflow.patched` is needed. Names start
with `fenix_`; the exporter adds `_total` to counters. docs/operations.md says what each figure means.

Without a runtime of our own (tests, embedded stacks) the meters are Temporal's no-op ones: figures cost nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

from temporalio.common import MetricMeter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from fenix.settings import Settings

# Counters (the exporter appends `_total`).
NOTICES = "fenix_notices"
WEBHOOK_ATTEMPTS = "fenix_webhook_attempts"
REPLIES = "fenix_replies"
INSTANCE_ACTIONS = "fenix_instance_actions"
PLUGIN_RUNS = "fenix_plugin_runs"
SESSION_TRANSITIONS = "fenix_session_transitions"
SESSIONS_ENDED = "fenix_sessions_ended"
CENSUS_RUNS = "fenix_census_runs"
# Histograms (seconds).
REPLY_LATENCY = "fenix_reply_latency_seconds"
WEBHOOK_ATTEMPT_DURATION = "fenix_webhook_attempt_duration_seconds"
INSTANCE_ACTION_DURATION = "fenix_instance_action_duration_seconds"
PLUGIN_RUN_DURATION = "fenix_plugin_run_duration_seconds"
SESSION_DURATION = "fenix_session_duration_seconds"
# Gauges, set by the census (fenix/census.py).
SESSIONS = "fenix_sessions"
HOSTS = "fenix_hosts"
SESSION_QUIET = "fenix_session_quiet_seconds"
HOST_WAITING = "fenix_host_waiting_seconds"
HOST_DISABLED = "fenix_host_disabled_seconds"
HOST_DISABLED_PLAN = "fenix_host_disabled_plan_seconds"

DESCRIPTIONS = {
    NOTICES: "Notices to one subscription by event type, notice state and outcome (delivered, failed after "
             "retries); no_subscriber: a notice nobody was subscribed to",
    WEBHOOK_ATTEMPTS: "Webhook POSTs by event type and outcome (ok; unavailable: retried; rejected: final)",
    REPLIES: "Project answers by state asked and outcome (ack, nack, default_timeout, default_no_subscriber, "
             "default_undelivered)",
    INSTANCE_ACTIONS: "Tries of an instance action by action and outcome (done, failed)",
    PLUGIN_RUNS: "Action plug-in runs by plug-in, type and outcome (done, failed, error)",
    SESSION_TRANSITIONS: "Session state changes by workflow and the state entered",
    SESSIONS_ENDED: "Sessions ended by workflow, end state and whether the admin aborted them",
    CENSUS_RUNS: "Reads of the running sessions for the gauges, by outcome (ok, error)",
    REPLY_LATENCY: "Seconds from asking a project (or warning an instance) to its reply, by state and project",
    WEBHOOK_ATTEMPT_DURATION: "Seconds one webhook POST took, by event type and outcome",
    INSTANCE_ACTION_DURATION: "Seconds one try of an instance action took, by action and outcome",
    PLUGIN_RUN_DURATION: "Seconds one action plug-in run took, by plug-in, type and outcome",
    SESSION_DURATION: "Seconds from a session's start to its end, by workflow and end state",
    SESSIONS: "Running sessions by workflow and state",
    HOSTS: "Hosts of running sessions by phase",
    SESSION_QUIET: "Seconds a running session has shown no progress (no history entry, no deadline passed)",
    HOST_WAITING: "Seconds a host has been waiting, by host, reason and the project it waits on (held_by)",
    HOST_DISABLED: "Seconds a host has been disabled by a running session",
    HOST_DISABLED_PLAN: "Seconds the session planned the host to be disabled at most",
}

# Bucket bounds in seconds: a reply takes seconds to a window of an hour, a move seconds to hours, a plug-in up to
# the activity's four hours.
BUCKETS: dict[str, list[float]] = {
    REPLY_LATENCY: [1, 5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600],
    WEBHOOK_ATTEMPT_DURATION: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    INSTANCE_ACTION_DURATION: [1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200],
    PLUGIN_RUN_DURATION: [1, 5, 30, 60, 300, 600, 1800, 3600, 7200, 14400],
    SESSION_DURATION: [60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400],
}

OTHER = "other"


class MetricsUnavailable(RuntimeError):
    """The metrics port could not be bound (taken by another process, or not an address of this host)."""


def prometheus_address(settings: Settings) -> str:
    host = settings.worker_metrics_host
    return f"[{host}]:{settings.worker_metrics_port}" if ":" in host else f"{host}:{settings.worker_metrics_port}"


def worker_runtime(settings: Settings) -> Runtime | None:
    """A Temporal runtime that serves Prometheus metrics on FENIX_WORKER_METRICS_PORT; None when it is 0.

    Binds the port at once (MetricsUnavailable if it cannot), and a process can bind it only once: only the
    worker's entry point (and the demo) create one; the workers that tests start in one process use Temporal's
    default runtime (no endpoint).
    """
    if not settings.worker_metrics_port:
        return None
    address = prometheus_address(settings)
    try:
        return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(
            bind_address=address,
            counters_total_suffix=True,  # OpenMetrics names: fenix_replies_total
            durations_as_seconds=True,  # the SDK's latencies in seconds, as ours
            histogram_bucket_overrides=BUCKETS)))
    except ValueError as err:  # what the SDK raises when its exporter cannot start
        raise MetricsUnavailable(f"cannot serve metrics on {address}: {err} (set FENIX_WORKER_METRICS_PORT to a "
                                 "free port, or 0 for none)") from err


class ProjectLabels:
    """Names projects in labels, the first `limit` distinct ones a process meets; the others are "other".

    One per process (`PROJECT_LABELS`), shared by every workflow the worker runs: a workflow reads it for a label
    only, never for a decision, so it cannot change what the workflow does. Two threads racing may name a project
    or two beyond the limit; the bound still holds within that.
    """

    def __init__(self, limit: int = 50) -> None:
        self.limit = limit
        self._named: set[str] = set()

    def __call__(self, project_id: str) -> str:
        if project_id in self._named:
            return project_id
        if len(self._named) < self.limit:
            self._named.add(project_id)
            return project_id
        return OTHER


PROJECT_LABELS = ProjectLabels()


class Figures:
    """Fenix's own figures, recorded on a Temporal metric meter (a workflow's or an activity's)."""

    def __init__(self, meter: MetricMeter) -> None:
        self._meter = meter

    def _count(self, name: str, labels: Mapping[str, str]) -> None:
        self._meter.create_counter(name, DESCRIPTIONS[name]).add(1, labels)

    def _observe(self, name: str, seconds: float, labels: Mapping[str, str]) -> None:
        self._meter.create_histogram_float(name, DESCRIPTIONS[name], "s").record(max(0.0, seconds), labels)

    def notice(self, event_type: str, state: str, outcome: str) -> None:
        self._count(NOTICES, {"event_type": event_type, "state": state, "outcome": outcome})

    def webhook_attempt(self, event_type: str, outcome: str, seconds: float) -> None:
        labels = {"event_type": event_type, "outcome": outcome}
        self._count(WEBHOOK_ATTEMPTS, labels)
        self._observe(WEBHOOK_ATTEMPT_DURATION, seconds, labels)

    def reply(self, state: str, outcome: str) -> None:
        self._count(REPLIES, {"state": state, "outcome": outcome})

    def reply_latency(self, state: str, project_id: str, seconds: float) -> None:
        self._observe(REPLY_LATENCY, seconds, {"state": state, "project": PROJECT_LABELS(project_id)})

    def instance_action(self, action: str, outcome: str, seconds: float) -> None:
        labels = {"action": action, "outcome": outcome}
        self._count(INSTANCE_ACTIONS, labels)
        self._observe(INSTANCE_ACTION_DURATION, seconds, labels)

    def plugin_run(self, plugin: str, kind: str, outcome: str, seconds: float) -> None:
        labels = {"plugin": plugin, "type": kind, "outcome": outcome}
        self._count(PLUGIN_RUNS, labels)
        self._observe(PLUGIN_RUN_DURATION, seconds, labels)

    def session_transition(self, workflow: str, state: str) -> None:
        self._count(SESSION_TRANSITIONS, {"workflow": workflow, "state": state})

    def session_ended(self, workflow: str, state: str, aborted: bool, seconds: float) -> None:
        self._count(SESSIONS_ENDED, {"workflow": workflow, "state": state, "aborted": str(aborted).lower()})
        self._observe(SESSION_DURATION, seconds, {"workflow": workflow, "state": state})
