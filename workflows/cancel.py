"""Noticing an abort at step boundaries.

Moves and plug-ins use WAIT_CANCELLATION_COMPLETED so an abort never leaves a half-done migration behind.
The price: when such an activity ends *successfully* after the cancel arrived, the SDK hands the workflow
the result and the cancellation is absorbed. Without an explicit check the workflow would go on to the next
step (a long plug-in, say) as if nobody had aborted it.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow


def raise_if_cancelled() -> None:
    reason = workflow.cancellation_reason()
    if reason is not None:
        raise asyncio.CancelledError(reason or "cancelled")
