"""Waiting for the maintenance window, and moving it while the session still waits (`PUT /v1/maintenance/{id}`).

Before RESCHEDULE the wait was one `workflow.sleep`: a timer that nothing could shorten or lengthen. Now it is a
`wait_condition` with the same timeout, woken by a reschedule; the flow then asks the projects about the new time
(MAINTENANCE again, a real question with its reply window: a NACK fails the session as the first one would) and
waits for the new window. Once the window is reached the session has started work and refuses a reschedule.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from fenix.models.notification import fenix_time
    from fenix.models.session import SessionState
    from fenix.models.steering import RescheduleInput, RescheduleResult
    from workflows.clock import stable_now
    from workflows.patches import RESCHEDULE
    from workflows.steering import Session, conflict


class AskingSession(Session, Protocol):
    async def ask(self, state: SessionState, projects: list[str], window_s: float, *,
                  actions_at: datetime | None = None, metadata: dict[str, object] | None = None) -> None: ...


class Window:
    def __init__(self, ctx: AskingSession) -> None:
        self._ctx = ctx
        self.reached = False
        self._moved = False
        self._fixed = False  # waiting in a timer of a session started before RESCHEDULE: its window cannot move

    def check(self, req: RescheduleInput) -> None:
        """The Update's validator: only a session that has not started work (409 otherwise)."""
        d = self._ctx.detail
        if self._fixed:
            raise conflict("this session started on a Fenix without reschedule and already waits for its window in a "
                           "fixed timer; abort it and start a new one")
        if self.reached or d.state != SessionState.MAINTENANCE:
            raise conflict(f"the session has already started work (state {d.state.value}); its window can no "
                           "longer be moved")

    def move(self, req: RescheduleInput) -> RescheduleResult:
        inp = self._ctx.inp
        inp.maintenance_at = req.maintenance_at
        if req.windows is not None:
            inp.windows = req.windows
        self._ctx.detail.maintenance_at = req.maintenance_at
        self._ctx.detail.steering.rescheduled_by = req.actor
        # Before the first MAINTENANCE notice went out, that notice carries the new time: no second asking.
        self._moved = any(h.kind == "notice" for h in self._ctx.detail.history)
        self._ctx.log("steer", f"rescheduled to {fenix_time(req.maintenance_at)} UTC by {req.actor}")
        return RescheduleResult(session_id=inp.session_id, maintenance_at=inp.maintenance_at, windows=inp.windows,
                                projects_notified=[p.project_id for p in self._ctx.detail.projects])

    async def wait(self, metadata: dict[str, object]) -> None:
        """Until `maintenance_at`; a reschedule meanwhile re-asks the projects about the new time."""
        ctx, inp = self._ctx, self._ctx.inp
        if not workflow.patched(RESCHEDULE):
            self._fixed = True
            wait = (inp.maintenance_at - await stable_now()).total_seconds()
            if wait > 0:
                ctx.current(f"waiting for the maintenance window at {fenix_time(inp.maintenance_at)} UTC")
                await workflow.sleep(wait)
            self.reached = True
            return
        while True:
            if self._moved:
                self._moved = False
                ctx.current(f"rescheduled: telling projects about the new time {fenix_time(inp.maintenance_at)}")
                await ctx.ask(SessionState.MAINTENANCE, [p.project_id for p in ctx.detail.projects],
                              inp.windows.maintenance, actions_at=inp.maintenance_at,
                              metadata={**metadata, "rescheduled": True})
                continue
            wait = (inp.maintenance_at - await stable_now()).total_seconds()
            if wait <= 0 and not self._moved:
                break
            if wait > 0:
                ctx.current(f"waiting for the maintenance window at {fenix_time(inp.maintenance_at)} UTC")
                try:
                    await workflow.wait_condition(lambda: self._moved, timeout=wait)
                except TimeoutError:
                    pass
        self.reached = True
