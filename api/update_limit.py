"""Temporal's refusals of an Update it takes a moment later, tried again within the request's own deadline.

Temporal admits 10 Updates in flight per workflow and refuses the next ones (RESOURCE_EXHAUSTED, "limit on number of
concurrent in-flight updates has been reached"), and aborts an Update whose workflow task failed or was evicted
(UNAVAILABLE, "workflow update was aborted"). Neither was applied; both are worth a second try, which a Fenix-era VNFM
never makes. A retry keeps the Update's id: Temporal answers a repeated id with the first outcome, so a write is never
applied twice. The request's deadline (api/deadline.py) cancels the wait, and answers 503 as before.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio.service import RPCError, RPCStatusCode

log = logging.getLogger("fenix.api")
T = TypeVar("T")

RETRYABLE = (RPCStatusCode.RESOURCE_EXHAUSTED, RPCStatusCode.UNAVAILABLE, RPCStatusCode.ABORTED)
RETRY_FIRST_S = 0.02
RETRY_MAX_S = 0.5
# Updates in flight to one registry workflow from one API process: under Temporal's 10, with room for other processes.
REGISTRY_IN_FLIGHT = 6


def refused_for_now(err: BaseException) -> bool:
    """Temporal refused the Update without applying it, and may take it a moment later."""
    return isinstance(err, RPCError) and err.status in RETRYABLE


async def backoff(attempt: int, why: object) -> None:
    """Wait before try `attempt` + 1: from 20 ms, doubling to 0.5 s, jittered so refused callers spread out."""
    delay = min(RETRY_FIRST_S * 2 ** attempt, RETRY_MAX_S) * random.uniform(0.5, 1.0)
    log.info("workflow busy (%s): Update tried again in %.2f s", why, delay)
    await asyncio.sleep(delay)


async def until_taken(call: Callable[[], Awaitable[T]]) -> T:
    """`call()` until Temporal stops refusing it for now (cancelled by the request's deadline)."""
    attempt = 0
    while True:
        try:
            return await call()
        except RPCError as err:
            if not refused_for_now(err):
                raise
            await backoff(attempt, err.message)
            attempt += 1
