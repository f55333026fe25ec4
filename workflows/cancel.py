"""Noticing an abort at step boundaries, and letting a step that must not be cut finish first.

Plug-ins use WAIT_CANCELLATION_COMPLETED, and moves are followed through a cancel (`finish_then_cancel`), so an
abort never leaves a half-done migration behind. The price: when such a step ends *successfully* after the cancel
arrived, the cancellation can be absorbed. Without an explicit check the workflow would go on to the next step (a
long plug-in, say) as if nobody had aborted it.
"""

from __future__ import annotations

import asyncio
from typing import TypeVar

from temporalio import workflow

T = TypeVar("T")


def raise_if_cancelled() -> None:
    reason = workflow.cancellation_reason()
    if reason is not None:
        raise asyncio.CancelledError(reason or "cancelled")


async def finish_then_cancel(task: asyncio.Task[T]) -> T:
    """Await `task` to its end even when the caller is cancelled meanwhile, then let the cancel through.

    A cancel of the awaiting task (an abort of the workflow, or a flow cancelling its own task) is kept, not
    passed on: `task` and the activities and timers it awaits never see it. Only `task` itself being cancelled
    (the worker evicting the workflow) ends the wait early.
    """
    cancelled: asyncio.CancelledError | None = None
    while True:
        try:
            # asyncio.wait never cancels what it waits for (and, unlike shield, logs nothing if the task fails later).
            await asyncio.wait([task])
            break
        except asyncio.CancelledError as err:
            if task.done():
                if not task.cancelled():
                    task.exception()  # retrieved: the cancel wins, the task's own outcome no longer matters
                raise
            cancelled = err
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()  # the next await must not be cancelled again by the same request
    if cancelled is not None:
        if not task.cancelled():
            task.exception()  # retrieved: the move has ended either way, and the cancel goes on
        raise cancelled
    return task.result()
