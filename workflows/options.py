"""Activity and child-workflow options, named once so every call site reads `**CLOUD_CALL` etc."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityCancellationType, ActivityConfig, LocalActivityConfig

# Business errors raised by activities as non-retryable ApplicationError types.
NON_RETRYABLE = ["NotFound", "Rejected", "MigrationFailed", "PluginFailed", "PluginNotFound",
                 "WebhookRejected"]

# Short cloud reads and writes (list, disable, enable). Retried with backoff: a cloud API that blips
# for a minute must not fail a maintenance session that has been running for hours.
CLOUD_CALL: ActivityConfig = {
    "start_to_close_timeout": timedelta(seconds=60),
    "retry_policy": RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                                maximum_interval=timedelta(seconds=30), maximum_attempts=20,
                                non_retryable_error_types=NON_RETRYABLE),
}

# One step of a migration (start it, or look at it); the wait between steps is a durable timer in the workflow.
# 2 min: starting a move on a real Nova may block ~15 s while the driver waits for its migration record. The
# heartbeat before the start lets a crashed worker be noticed in 30 s. Retried like a cloud call: the step is
# idempotent (a retry finds the move in flight or done).
MIGRATION_STEP: ActivityConfig = {
    "start_to_close_timeout": timedelta(minutes=2),
    "heartbeat_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                                maximum_interval=timedelta(seconds=30), maximum_attempts=20,
                                non_retryable_error_types=NON_RETRYABLE),
}

# Re-enabling hosts when a session fails or is aborted: retried until it works (no attempt limit), since
# giving up would leave a host out of service. The session's current details say what it is waiting for.
CLEANUP: ActivityConfig = {
    "start_to_close_timeout": timedelta(seconds=60),
    "retry_policy": RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                                maximum_interval=timedelta(minutes=2), maximum_attempts=0,
                                non_retryable_error_types=["NotFound"]),
}

# Settling the session's instances when it fails or is aborted (`settle_instances`): confirm what waits in
# VERIFY_RESIZE, follow what still moves. Retried like CLEANUP, without an attempt limit: giving up would leave a
# server unconfirmed behind a session that says it has ended. The activity waits for moves in flight itself (up to
# SettleRequest.wait_s, 2 h) and heartbeats, so a crashed worker is noticed within 30 s.
SETTLE: ActivityConfig = {
    "start_to_close_timeout": timedelta(hours=2, minutes=10),
    "heartbeat_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                                maximum_interval=timedelta(minutes=2), maximum_attempts=0,
                                non_retryable_error_types=NON_RETRYABLE),
}

# Webhook delivery: the VNFM may scale inside the request (minutes). Backoff up to a minute between
# attempts, and give up after half an hour in total so a dead endpoint falls back to the default
# behaviour instead of stalling the session.
WEBHOOK: ActivityConfig = {
    "start_to_close_timeout": timedelta(minutes=10),
    "schedule_to_close_timeout": timedelta(minutes=30),
    # The activity heartbeats every 2 s while the POST is open: 10 s of silence means its worker died, and the
    # notice is sent again by another worker that much sooner (the project's window runs from the delivery).
    "heartbeat_timeout": timedelta(seconds=10),
    "retry_policy": RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                                maximum_interval=timedelta(seconds=60), maximum_attempts=8,
                                non_retryable_error_types=NON_RETRYABLE),
}

# Informational notices (INSTANCE_ACTION_DONE/FAILED, MAINTENANCE_COMPLETE of a failed session, maintenance.host):
# nobody waits for them, so a dead endpoint gets a few minutes of retries, not half an hour, before they are given
# up; they never hold back a host (they are sent from the session, not from the host workflow).
WEBHOOK_INFO: ActivityConfig = {**WEBHOOK, "schedule_to_close_timeout": timedelta(minutes=5)}

# A query to a registry workflow (who subscribed; the constraints a session needs).
# Who owns an instance (a constraints write waits for it): a few quick tries, well inside the API's write deadline.
OWNER_CHECK: ActivityConfig = {
    "start_to_close_timeout": timedelta(seconds=5),
    "retry_policy": RetryPolicy(maximum_attempts=3, maximum_interval=timedelta(seconds=2)),
}

REGISTRY_QUERY: ActivityConfig = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(maximum_attempts=10, maximum_interval=timedelta(seconds=10)),
}

# Action plug-ins (upgrades) can run long; they heartbeat, and a failed plug-in is not re-run blindly.
# An abort waits for the plug-in to stop (the command plug-in kills its process group on cancel), so no
# plug-in still works on a host after the session has re-enabled it.
PLUGIN: ActivityConfig = {
    "start_to_close_timeout": timedelta(hours=4),
    "cancellation_type": ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    "heartbeat_timeout": timedelta(seconds=120),
    "retry_policy": RetryPolicy(maximum_attempts=3, non_retryable_error_types=NON_RETRYABLE),
}

# The plan preview's simulation: CPU only, seconds on a large cloud; one retry covers a worker restart.
PLANNING: ActivityConfig = {
    "start_to_close_timeout": timedelta(minutes=2),
    "retry_policy": RetryPolicy(maximum_attempts=2),
}

# Reading the clock for a decision (workflows/clock.py), as a regular activity: it only echoes a time, so it is short
# and retried at once; its result is what the history records.
CLOCK_READ_ACTIVITY: ActivityConfig = {
    "start_to_close_timeout": timedelta(seconds=10),
    "retry_policy": RetryPolicy(initial_interval=timedelta(milliseconds=200), backoff_coefficient=2.0,
                                maximum_interval=timedelta(seconds=5), maximum_attempts=0),
}

# The same reading as a local activity, in the histories of 0.1.1 (they replay through that branch).
CLOCK_READ: LocalActivityConfig = {
    "start_to_close_timeout": timedelta(seconds=5),
    "retry_policy": RetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=10),
}
