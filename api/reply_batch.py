"""Group commit of project replies: per session, at most a few reply Updates in flight from this API process; the
replies that arrive meanwhile wait in a queue and go together, as one `replies` Update, when a slot frees.

Why batches, and not one Update per reply with retries: every affected project gets MAINTENANCE at the same moment,
so replies come in bursts, and Temporal admits only 10 Updates in flight per workflow (2,000 per run). A burst of 200
used to be mostly refused ("limit on number of concurrent in-flight updates has been reached", "workflow update was
aborted"), and a Fenix-era VNFM does not send a refused reply again: it was lost. Retrying alone would take every
reply in the end, but each waits out back-offs behind the others; in a batch a queued reply waits for one round trip
of the batch ahead of it, and the session takes a whole batch in one workflow task. Not a workflow per project either:
the session's conversation decides (is the project asked, is the reply stale), and it lives in the session.

Each reply keeps its own answer: the workflow checks and takes the replies of a batch one by one with the same code
as a single `reply` Update (workflows/session.py), and a refused one is answered with the status it always had
(api/errors.py UPDATE_STATUS). A reply whose request gave up (its deadline, answered 503) while still queued is never
sent; one already sent is refused by the workflow as late (its `not_after`), so what was answered 503 is never applied.
A refusal by Temporal (the in-flight limit, an aborted Update) is tried again, with the same Update id (Temporal
answers a repeated id with the first outcome), for as long as one of the batch's requests still waits.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
import weakref
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import HTTPException
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError

from api.errors import UPDATE_STATUS, root_cause, update_met_workflow_end
from api.session_reads import SessionHandle, describe_session
from api.update_limit import backoff, refused_for_now
from fenix.constants import session_workflow_id
from fenix.models.reply import ProjectReply, ReplyResult
from fenix.models.reply_batch import ProjectReplies, ReplyOutcome
from workflows.session import MaintenanceSessionWorkflow

log = logging.getLogger("fenix.api")
T = TypeVar("T")

# Reply Updates in flight per session from one API process: two, so a batch is taken while the next one fills, and
# room is left under Temporal's 10 for other API processes, the host children's signals and the Web UI.
MAX_IN_FLIGHT = 2
# A batch's bounds: far below Temporal's 2 MB payload limit (a reply is at most 256 KB, api/routes/projects.py),
# and few enough replies that the session takes them well inside one workflow task.
MAX_BATCH_REPLIES = 200
MAX_BATCH_BYTES = 1024 * 1024
# How an older worker (without the `replies` handler) refuses a batch: the API then sends the replies one by one.
UNKNOWN_HANDLER = "'replies' expected but not found"


@dataclass
class _Waiter:
    reply: ProjectReply
    size: int
    answer: asyncio.Future[ReplyResult] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


@dataclass
class _Lane:
    """One session's queue in this API process."""

    pending: deque[_Waiter] = field(default_factory=deque)
    in_flight: int = 0
    one_by_one: bool = False  # its worker knows no `replies` Update (an older Fenix): single `reply` Updates


class ReplyLanes:
    """The group commit of one API process's replies, one lane per session with replies on the way."""

    _by_client: weakref.WeakKeyDictionary[Client, ReplyLanes] = weakref.WeakKeyDictionary()

    def __init__(self, client: Client) -> None:
        self._client = client
        self._lanes: dict[str, _Lane] = {}
        self._tasks: set[asyncio.Task[None]] = set()  # strong references: the loop keeps only weak ones

    @classmethod
    def of(cls, client: Client) -> ReplyLanes:
        """The lanes of the API process connected by `client` (one per client, so tests with several stacks in one
        process do not share queues)."""
        lanes = cls._by_client.get(client)
        if lanes is None:
            lanes = cls._by_client[client] = ReplyLanes(client)
        return lanes

    async def send(self, session_id: str, reply: ProjectReply) -> ReplyResult:
        """Hand `reply` to the session, in the next batch; its own outcome is returned or raised (HTTPException,
        or the Temporal error api/errors.py maps). Cancelled (the request's deadline): dropped if not sent yet."""
        lane = self._lanes.setdefault(session_id, _Lane())
        waiter = _Waiter(reply, len(reply.model_dump_json()))
        lane.pending.append(waiter)
        self._pump(session_id, lane)
        return await waiter.answer

    def _pump(self, session_id: str, lane: _Lane) -> None:
        while lane.in_flight < MAX_IN_FLIGHT:
            batch = _take_batch(lane.pending, 1 if lane.one_by_one else MAX_BATCH_REPLIES)
            if not batch:
                break
            lane.in_flight += 1
            task = asyncio.create_task(self._send(session_id, lane, batch), name=f"replies to {session_id}")
            self._tasks.add(task)
            task.add_done_callback(functools.partial(self._sent, session_id, lane))
        if lane.in_flight == 0 and not lane.pending and self._lanes.get(session_id) is lane:
            del self._lanes[session_id]

    def _sent(self, session_id: str, lane: _Lane, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        lane.in_flight -= 1
        if not task.cancelled() and task.exception() is not None:
            log.error("reply batch to session %s failed unexpectedly", session_id, exc_info=task.exception())
        self._pump(session_id, lane)

    async def _send(self, session_id: str, lane: _Lane, batch: list[_Waiter]) -> None:
        handle: SessionHandle = self._client.get_workflow_handle_for(MaintenanceSessionWorkflow.run,
                                                                     session_workflow_id(session_id))
        try:
            if not lane.one_by_one:
                try:
                    outcomes = await _until_answered(batch, lambda update_id: handle.execute_update(
                        MaintenanceSessionWorkflow.replies, ProjectReplies(replies=[w.reply for w in batch]),
                        id=update_id))
                except WorkflowUpdateFailedError as err:
                    if UNKNOWN_HANDLER not in str(root_cause(err)):
                        raise
                    log.warning("session %s runs on a worker without batched replies: sent one by one", session_id)
                    lane.one_by_one = True
                else:
                    if outcomes is not None:
                        for waiter, outcome in zip(batch, outcomes.outcomes, strict=True):
                            _answer(waiter, outcome)
                    return
            for waiter in batch:  # an older worker: the single Update, whose refusals api/errors.py maps
                await self._send_one(session_id, handle, waiter)
        except Exception as err:  # noqa: BLE001 - every waiter of the batch is answered with why it failed
            failure = await _why_not_taken(self._client, session_id, err)
            for waiter in batch:
                if not waiter.answer.done():
                    waiter.answer.set_exception(_copy(failure))

    async def _send_one(self, session_id: str, handle: SessionHandle, waiter: _Waiter) -> None:
        reply = waiter.reply
        try:
            result = await _until_answered([waiter], lambda update_id: handle.execute_update(
                MaintenanceSessionWorkflow.reply, reply, id=update_id))
        except Exception as err:  # noqa: BLE001 - the reply's own refusal
            failure = await _why_not_taken(self._client, session_id, err)
            if not waiter.answer.done():
                waiter.answer.set_exception(failure)
            return
        if result is not None and not waiter.answer.done():
            waiter.answer.set_result(result)


def _take_batch(pending: deque[_Waiter], most: int) -> list[_Waiter]:
    """The next batch: queued replies whose requests still wait, within the batch's bounds (always at least one)."""
    batch: list[_Waiter] = []
    size = 0
    while pending and len(batch) < most:
        waiter = pending[0]
        if waiter.answer.done():  # its request gave up: never sent
            pending.popleft()
            continue
        if batch and size + waiter.size > MAX_BATCH_BYTES:
            break
        batch.append(pending.popleft())
        size += waiter.size
    return batch


async def _until_answered(batch: list[_Waiter], call: Callable[[str], Coroutine[Any, Any, T]]) -> T | None:
    """Send the Update until Temporal takes it, for as long as one of the batch's requests still waits (None once
    none does: the Update is then cancelled, and the workflow refuses its late replies if it got them)."""
    update_id = f"replies-{uuid.uuid4()}"
    tries = 0
    while True:
        waiting = {w.answer for w in batch if not w.answer.done()}
        if not waiting:
            return None
        attempt = asyncio.ensure_future(call(update_id))
        while not attempt.done() and waiting:
            watched: set[asyncio.Future[Any]] = {attempt, *waiting}
            await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
            waiting = {f for f in waiting if not f.done()}
        if not attempt.done():
            attempt.cancel()
            await asyncio.gather(attempt, return_exceptions=True)
            return None
        err = attempt.exception()
        if err is None:
            return attempt.result()
        if not refused_for_now(err):
            raise err
        await backoff(tries, err)
        tries += 1


def _answer(waiter: _Waiter, outcome: ReplyOutcome) -> None:
    if waiter.answer.done():
        return
    if outcome.result is not None:
        waiter.answer.set_result(outcome.result)
    else:
        waiter.answer.set_exception(HTTPException(UPDATE_STATUS.get(outcome.error_type, 422), outcome.message))


async def _why_not_taken(client: Client, session_id: str, err: Exception) -> Exception:
    """The error a failed batch answers its replies with: 409 if the session ended meanwhile (Temporal answers an
    Update to a closed workflow NOT_FOUND, or aborts it "by closing workflow"), 404 if there is no such session."""
    if not update_met_workflow_end(err):
        return err
    try:
        _, status = await describe_session(client, session_id)
    except HTTPException as gone:
        return gone
    except Exception:  # noqa: BLE001 - Temporal unreachable now: the first error says enough
        return err
    if status != WorkflowExecutionStatus.RUNNING:
        return HTTPException(409, f"session {session_id} has ended; it takes no more replies")
    return err


def _copy(err: Exception) -> Exception:
    """Each request raises its own error object (one shared by several tasks would pile up their tracebacks)."""
    if isinstance(err, HTTPException):
        return HTTPException(err.status_code, err.detail, err.headers)
    return err
