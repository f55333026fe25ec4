"""The session's steering Updates (pause, resume, retry, skip, reschedule): the admin's hand on a running session.

A mixin of the session workflow, as workflows/session_reads.py is for its reads: the handlers live beside the
logic they drive (workflows/steering.py, workflows/window.py) and the session shell stays small. Updates, not
signals: the operator must be told at once why a request is refused (not paused, already started, ...), and a
refused Update leaves no trace in the history. Adding handlers is replay-safe.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from fenix.models.session import SessionDetail
    from fenix.models.steering import Choice, RescheduleInput, RescheduleResult, SteerInput, SteerResult
    from workflows.context import SessionContext
    from workflows.deadline import refuse_if_late
    from workflows.steering import SESSION_ACTOR


class SessionSteering:
    """Update handlers over the session's context; the session workflow inherits them."""

    _ctx: SessionContext

    @property
    def _detail(self) -> SessionDetail:
        raise NotImplementedError  # the session workflow's detail

    @workflow.update
    def pause(self, req: SteerInput) -> SteerResult:
        self._ctx.steering.pause(req.actor or SESSION_ACTOR, req.reason)
        return self._steered("paused: no new host or instance action starts; running ones finish")

    @pause.validator
    def _validate_pause(self, req: SteerInput) -> None:
        refuse_if_late(req.not_after, "pause")
        self._ctx.steering.check_pause()

    @workflow.update
    def resume(self, req: SteerInput) -> SteerResult:
        self._ctx.steering.resume(req.actor or SESSION_ACTOR)
        return self._steered("resumed")

    @resume.validator
    def _validate_resume(self, req: SteerInput) -> None:
        refuse_if_late(req.not_after, "resume")
        self._ctx.steering.check_resume()

    @workflow.update
    def retry(self, req: SteerInput) -> SteerResult:
        self._ctx.steering.choose(Choice.RETRY, req.actor or SESSION_ACTOR)
        return self._steered("the failed host is tried again")

    @retry.validator
    def _validate_retry(self, req: SteerInput) -> None:
        refuse_if_late(req.not_after, "retry")
        self._ctx.steering.check_choice()

    @workflow.update
    def skip(self, req: SteerInput) -> SteerResult:
        self._ctx.steering.choose(Choice.SKIP, req.actor or SESSION_ACTOR)
        return self._steered("the failed host stays disabled; the session goes on without it")

    @skip.validator
    def _validate_skip(self, req: SteerInput) -> None:
        refuse_if_late(req.not_after, "skip")
        self._ctx.steering.check_choice()

    @workflow.update
    def reschedule(self, req: RescheduleInput) -> RescheduleResult:
        return self._ctx.window.move(req)

    @reschedule.validator
    def _validate_reschedule(self, req: RescheduleInput) -> None:
        refuse_if_late(req.not_after, "reschedule")
        self._ctx.window.check(req)

    def _steered(self, text: str) -> SteerResult:
        return SteerResult(session_id=self._detail.session_id, steering=self._detail.steering, detail=text)
