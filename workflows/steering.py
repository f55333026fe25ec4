"""Steering a running session: pause and resume, pausing by itself (`pause_after`), parking on a failure
(`on_failure: pause`) until the operator chooses retry or skip.

A pause is state, not a command: the flows call `SessionContext.wait_unpaused()` before they start a host or an
instance action, and that waits (a `wait_condition`, no timer) only while paused. A session that is never paused
issues exactly the commands it issued before steering existed, so recorded histories replay without a patch.
Work already running (a host child, a move) is not stopped: a pause holds what would start next.

Reply deadlines are extended by the part of a pause that fell inside their window (`extension`), so a project
is never defaulted because the operator held the session.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from fenix.models.session import Parked, ProjectRecord, SessionDetail, SessionInput, SessionState, SteeringState
    from fenix.models.steering import Choice
    from fenix.planning.model import Step
    from fenix.planning.pacer import Pacer

# The ApplicationError type of a steering request the session cannot follow now (api/errors.py answers 409).
STEER_CONFLICT = "SteerConflict"
# The actor of what the session does by itself.
SESSION_ACTOR = "session"
_ENDING = (SessionState.MAINTENANCE_COMPLETE, SessionState.MAINTENANCE_DONE, SessionState.MAINTENANCE_FAILED)


class Session(Protocol):
    """What steering uses of the session (workflows/context.py SessionContext)."""

    inp: SessionInput
    detail: SessionDetail

    def log(self, kind: str, detail: str, *, project_id: str | None = None, host: str | None = None,
            state: str | None = None) -> None: ...

    def current(self, text: str) -> None: ...


def extend_lead_times(pacer: Pacer | None, detail: SessionDetail, since: datetime, paused_s: float) -> None:
    """`vnf`: lead times (warned instances' `actions_at`) that would have run out during a pause from `since` are
    extended by the pause, so an instance is never moved earlier than its owner could expect."""
    if pacer is None:
        return
    for inst in pacer.insts.values():
        if inst.step == Step.NOTIFIED and inst.actions_at is not None and inst.actions_at > since.timestamp():
            inst.actions_at += paused_s
            record = detail.instance(inst.id)
            if record is not None:
                record.actions_at = datetime.fromtimestamp(inst.actions_at, tz=UTC)


def conflict(message: str) -> ApplicationError:
    return ApplicationError(message, type=STEER_CONFLICT, non_retryable=True)


class Steering:
    """The session's pause state; its Updates (workflows/session.py) call the `check_*` validators first."""

    def __init__(self, ctx: Session) -> None:
        self._ctx = ctx
        self._pauses: list[tuple[datetime, datetime | None]] = []
        self._parked: list[Parked] = []  # failures waiting for the operator, oldest first
        self._choices: dict[str, Choice] = {}  # host -> the operator's choice, until its park() takes it
        self._canary_done = False
        self._resumed: list[Callable[[datetime, float], None]] = []

    @property
    def state(self) -> SteeringState:
        return self._ctx.detail.steering

    # --- pause and resume ------------------------------------------------------------------------------
    def on_resume(self, hook: Callable[[datetime, float], None]) -> None:
        """`hook(paused_at, paused_s)` runs at each resume: a flow extends its own deadlines by the pause."""
        self._resumed.append(hook)

    def check_pause(self) -> None:
        if self._ctx.detail.state in _ENDING:
            raise conflict(f"the session is {self._ctx.detail.state.value}: nothing is left to pause")
        if self.state.paused:
            raise conflict(f"the session is already paused (by {self.state.paused_by}: {self.state.pause_reason})")

    def check_resume(self) -> None:
        if self.state.parked is not None:
            raise conflict(f"the session is parked on a failure of {self.state.parked.host}: choose retry or "
                           "skip (or abort it)")
        if not self.state.paused:
            raise conflict("the session is not paused")

    def pause(self, actor: str, reason: str) -> None:
        s = self.state
        if s.paused:
            return
        s.paused, s.paused_by, s.paused_at, s.pause_reason = True, actor, workflow.now(), reason or None
        self._pauses.append((workflow.now(), None))
        self._ctx.log("steer", f"paused by {actor}" + (f": {reason}" if reason else ""))
        self._ctx.current(self._ctx.detail.current)

    def resume(self, actor: str) -> None:
        s = self.state
        if not s.paused:
            return
        began, _ = self._pauses[-1]
        self._pauses[-1] = (began, workflow.now())
        s.paused_total_s += (workflow.now() - began).total_seconds()
        for hook in self._resumed:
            hook(began, (workflow.now() - began).total_seconds())
        s.paused, s.paused_by, s.paused_at, s.pause_reason, s.resumed_by = False, None, None, None, actor
        self._ctx.log("steer", f"resumed by {actor}")
        self._ctx.current(self._ctx.detail.current)

    def close(self) -> None:
        """The session ended (done, failed, aborted while paused): no pause is left open in its result."""
        if self.state.paused:
            began, _ = self._pauses[-1]
            self._pauses[-1] = (began, workflow.now())
            self.state.paused_total_s += (workflow.now() - began).total_seconds()
            self.state.paused = False

    async def wait_unpaused(self) -> None:
        if self.state.paused:
            await workflow.wait_condition(lambda: not self.state.paused)

    def extension(self, since: datetime, until: datetime) -> float:
        """Seconds of pause inside [since, until] (a pause still running counts up to now)."""
        now = workflow.now()
        total = 0.0
        for began, ended in self._pauses:
            lo, hi = max(began, since), min(ended or now, until)
            total += max(0.0, (hi - lo).total_seconds())
        return total

    async def extend(self, since: datetime, deadline: datetime, still_open: Callable[[], bool],
                     project: ProjectRecord) -> None:
        """A reply window `since`..`deadline` ran out: wait out the pauses that fell inside it (and one still
        running), so the default applies only once the project has had its whole window unpaused.
        Returns at once (no command) when the session was never paused in the window."""
        while still_open():
            if self.state.paused:
                await workflow.wait_condition(lambda: not self.state.paused or not still_open())
                continue
            extended = deadline + timedelta(seconds=self.extension(since, workflow.now()))
            if extended <= workflow.now():
                return
            project.reply_at = extended
            try:
                await workflow.wait_condition(lambda: not still_open(),
                                              timeout=(extended - workflow.now()).total_seconds())
            except TimeoutError:
                pass

    # --- pausing by itself -----------------------------------------------------------------------------
    def host_maintained(self) -> None:
        """`pause_after`: after every maintained host ("batch") or once after the first N (a canary)."""
        hosts = self._ctx.detail.hosts
        done = sum(h.maintained for h in hosts)
        left = sum(not h.maintained and not h.skipped for h in hosts)
        rule = self._ctx.inp.pause_after
        if left == 0 or rule == "never":
            return
        if rule == "batch":
            self.pause(SESSION_ACTOR, f"pause_after batch: {done} of {len(hosts)} host(s) maintained")
        elif isinstance(rule, int) and done >= rule and not self._canary_done:
            self._canary_done = True
            self.pause(SESSION_ACTOR, f"pause_after {rule}: the first {done} host(s) are maintained; check them "
                                      "and resume")

    # --- parking on a failure --------------------------------------------------------------------------
    async def park(self, host: str, error: str) -> Choice:
        """`on_failure: pause`: hold the session on a failure of `host` until the operator chooses.

        In the `vnf` flow several hosts run at once and may fail together: they queue, and each choice answers
        the first one (the detail's `parked`); the session stays paused until the last is answered."""
        self._parked.append(Parked(host=host, error=error, at=workflow.now()))
        if self.state.parked is None:
            self.state.parked = self._parked[0]
        self.pause(SESSION_ACTOR, f"{host} failed: {error}")
        await workflow.wait_condition(lambda: host in self._choices)
        return self._choices.pop(host)

    def check_choice(self) -> None:
        if self.state.parked is None:
            raise conflict("the session is not parked on a failure: there is nothing to retry or skip")

    def choose(self, choice: Choice, actor: str) -> None:
        parked = self._parked.pop(0)
        self._ctx.log("steer", f"{choice.value} of {parked.host} chosen by {actor}", host=parked.host)
        if choice == Choice.SKIP:
            self.state.skipped_hosts.append(parked.host)
        self._choices[parked.host] = choice
        self.state.parked = self._parked[0] if self._parked else None
        if self.state.parked is None:
            self.resume(actor)
        else:
            self.state.pause_reason = f"{self.state.parked.host} failed: {self.state.parked.error}"
