"""Following one migration from the workflow: short idempotent steps with durable timers in between.

The instance lane's move (workflows/lane.py), for both flows.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.cloud import CloudActivities
    from fenix.models.cloud_ops import MigrateRequest, MigrateResult
    from workflows.cancel import finish_then_cancel
    from workflows.options import MIGRATION_STEP
    from workflows.patches import MOVE_POLL_BACKOFF, SETTLED_MOVES

# A move that has not ended after this long is reported as failed (Nova's own live-migration timeouts are
# shorter); the session then falls back or fails instead of waiting for ever.
MOVE_TIMEOUT = timedelta(hours=2)
# The longest pause between two looks at a move that shows no change (MOVE_POLL_BACKOFF); a slower poll_s stays.
MOVE_POLL_MAX_S = 30.0


async def follow_move(req: MigrateRequest, poll_s: float, expected_s: float = 0.0) -> MigrateResult:
    """Start the move (or find it started) and look again every `poll_s` until the cloud has settled the server
    off the source host: ACTIVE (or stopped as it was), its cold migration confirmed. A server that has already
    left is only settled (confirmed, followed), never moved again.

    With `expected_s` (the cloud's estimate), the first look is only after that long: a move then costs two or
    three steps in the history instead of one per poll. A move that shows no change (same host, same migration
    record) is looked at less and less often: the pause doubles, up to MOVE_POLL_MAX_S and to a quarter of the time
    since the last change (or since the expected end), so a long move costs tens of steps instead of one per poll
    (each step is Nova calls and history events), and its end is seen at most a quarter of its overrun late.

    An abort (or a flow cancelling the task that called this) does not cut the move: it is followed to its end
    first, then the cancel goes on. That covers the steps too, not only the waits between them: a cancelled step
    activity would come back at once as a failure while the cloud goes on moving, and its caller would take it
    for a failed move (see `finish_then_cancel`). A cold migration left unfollowed stays in VERIFY_RESIZE.
    """
    if not workflow.patched(SETTLED_MOVES):
        return await _follow_before_settled_moves(req, poll_s, expected_s)
    return await finish_then_cancel(asyncio.create_task(_follow(req, poll_s, expected_s)))


async def _follow(req: MigrateRequest, poll_s: float, expected_s: float) -> MigrateResult:
    backoff = workflow.patched(MOVE_POLL_BACKOFF)
    began = workflow.now()
    give_up = began + MOVE_TIMEOUT
    res: MigrateResult = await workflow.execute_activity_method(CloudActivities.migrate_step, req, **MIGRATION_STEP)
    # The first look comes just after the estimate (a look a moment too early costs a whole poll interval more),
    # less the time the first step already spent looking.
    pause = max(poll_s, expected_s * 1.02 + 0.05 - (workflow.now() - began).total_seconds())
    # A move is overdue, and looked at less often, only from when it was expected to end: a move that takes as long
    # as estimated is still seen at once.
    seen, changed = (res.host, res.migration_id), max(workflow.now(), began + timedelta(seconds=expected_s))
    while not res.done:
        if workflow.now() >= give_up:
            raise ApplicationError(f"move of {req.server_id} off {req.source_host} did not end within "
                                   f"{MOVE_TIMEOUT}", type="MigrationFailed", non_retryable=True)
        await workflow.sleep(pause)
        res = await workflow.execute_activity_method(
            CloudActivities.migrate_step, req.model_copy(update={"migration_id": res.migration_id}),
            **MIGRATION_STEP)
        now = workflow.now()
        if not backoff or (res.host, res.migration_id) != seen:
            seen, changed, pause = (res.host, res.migration_id), now, poll_s
        else:
            pause = max(poll_s, min(pause * 2, MOVE_POLL_MAX_S, (now - changed).total_seconds() / 4))
    return res


async def _follow_before_settled_moves(req: MigrateRequest, poll_s: float, expected_s: float) -> MigrateResult:
    """The follow-up of sessions started before SETTLED_MOVES, kept as it was so that their histories replay: only
    the waits between steps kept the move going through a cancel (a cancelled step ended the follow-up)."""
    began = workflow.now()
    give_up = began + MOVE_TIMEOUT
    res: MigrateResult = await workflow.execute_activity_method(CloudActivities.migrate_step, req, **MIGRATION_STEP)
    cancelled: asyncio.CancelledError | None = None
    pause = max(poll_s, expected_s * 1.02 + 0.05 - (workflow.now() - began).total_seconds())
    while not res.done:
        if workflow.now() >= give_up:
            raise ApplicationError(f"move of {req.server_id} off {req.source_host} did not end within "
                                   f"{MOVE_TIMEOUT}", type="MigrationFailed", non_retryable=True)
        try:
            await workflow.sleep(pause)
            pause = poll_s
        except asyncio.CancelledError as err:
            cancelled = err
        res = await workflow.execute_activity_method(
            CloudActivities.migrate_step, req.model_copy(update={"migration_id": res.migration_id}),
            **MIGRATION_STEP)
    if cancelled is not None:
        raise cancelled
    return res
