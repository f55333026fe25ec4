"""Settling a session's instances when it ends early: nothing left in VERIFY_RESIZE or half-moved.

A failed or aborted session re-enables its hosts and tells its projects it has ended. Before that, every instance it
may have moved must be at rest: a cold migration waiting in VERIFY_RESIZE is confirmed (Nova keeps it waiting for ever
unless `resize_confirm_window` is set), a migration still in flight is followed to its end. The moves themselves
already finish what they started (workflows/moves.py); this is the net under them, for whatever a failure left behind
(a follow-up that ran out of retries in a long cloud outage, a move the cloud went on with after an error).
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.cloud import CloudActivities
    from fenix.models.cloud_ops import SettleRequest, SettleResult
    from workflows.options import SETTLE


async def settle_moves(server_ids: list[str]) -> SettleResult:
    """Confirm and follow the given servers to rest; report what was done (`SettleResult.summary()`).

    Never raises for the cloud: the caller is a cleanup that must go on to re-enable hosts. A cloud that is down is
    retried without limit (SETTLE); an answer that will not change (the cloud refused a confirmation) is reported in
    `error`. Servers in ERROR, or still moving after 2 h, are reported as such.
    """
    ids = sorted(set(server_ids))
    if not ids:
        return SettleResult()
    try:
        return await workflow.execute_activity_method(CloudActivities.settle, SettleRequest(server_ids=ids),
                                                      **SETTLE)
    except ActivityError as err:
        return SettleResult(error=str(err.cause or err))
