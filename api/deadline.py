"""Whole-request deadlines: every call that waits on Temporal answers within a bound, 503 after it.

Without them a write could wait for ever: with no worker polling, the SDK keeps re-polling an Update until a
worker accepts it (its RPC timeout bounds each poll, not the wait), and Temporal delivers the Update whenever a
worker comes back, long after the client gave up and maybe retried. So:

- every route of a router built with `BoundedRoute` runs under one deadline (FENIX_API_WRITE_TIMEOUT_S for
  writes, FENIX_API_READ_TIMEOUT_S for reads), and `RequestTimedOut` is answered 503 by api/errors.py;
- a write stamps the message it sends with `Deadline.not_after` (fenix/models/deadline.py), and the workflow's
  validator refuses it after that time: what was answered 503 is never applied later.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute

from fenix.settings import Settings

Clock = Callable[[], Awaitable[datetime]]

# The workflow must take a write a little before the API stops waiting: the rest of the time is for the answer to
# come back, and it covers an API clock up to that much ahead of the Temporal server's (keep clocks in sync).
MAX_MARGIN_S = 5.0
MARGIN_SHARE = 0.2


async def wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Deadline:
    seconds: float  # the whole request's budget
    not_after: datetime  # the workflow refuses the write after this (by the Temporal server's clock)


class RequestTimedOut(Exception):
    """The request's deadline passed; api/errors.py answers 503."""

    def __init__(self, seconds: float, write: bool) -> None:
        why = ("no Fenix worker took the change (is one running?), or Temporal is slow or unreachable. It was not "
               "applied and will not be later; try again" if write else
               "no Fenix worker answered (is one running?), or Temporal is slow or unreachable; try again")
        super().__init__(f"no answer within {seconds:g} s: {why}")
        self.message = str(self)


def take_by(seconds: float) -> float:
    """How long after the request's start the workflow may still take its write."""
    return seconds - min(MAX_MARGIN_S, seconds * MARGIN_SHARE)


class BoundedRoute(APIRoute):
    """A route whose whole request (token check, Temporal calls, answer) runs under the API's deadline."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        write = bool((self.methods or set()) - {"GET", "HEAD"})

        async def bounded(request: Request) -> Response:
            settings: Settings = request.app.state.settings
            seconds = settings.api_write_timeout_s if write else settings.api_read_timeout_s
            timer = asyncio.timeout(seconds)
            try:
                async with timer:
                    if write:
                        clock: Clock = request.app.state.clock
                        request.state.deadline = Deadline(seconds, await clock() + timedelta(seconds=take_by(seconds)))
                    return await handler(request)
            except Exception as err:
                # TimeoutError, or whatever the SDK turned the cancellation into (an Update raises
                # WorkflowUpdateRPCTimeoutOrCancelledError): the deadline is the reason either way.
                if timer.expired():
                    raise RequestTimedOut(seconds, write) from err
                raise

        return bounded


async def get_deadline(request: Request) -> Deadline:  # async: no thread-pool hop (api/deps.py)
    deadline: Deadline = request.state.deadline  # set by BoundedRoute for every write
    return deadline


DeadlineDep = Annotated[Deadline, Depends(get_deadline)]
