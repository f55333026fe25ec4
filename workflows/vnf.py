"""The `vnf` session flow: constraint-driven, per-instance, several hosts at once.

Runs inside the session workflow (same workflow type, id, queries and reply Update; `"workflow": "vnf"` picks
it), so the API, the host guard and the Web UI treat both flows alike. Its `SessionContext` (workflows/context.py)
does the talking (MAINTENANCE, SCALE_IN and MAINTENANCE_COMPLETE notices), the disabling and the host child
workflows; `VnfQuestions` (workflows/vnf_questions.py) the per-instance conversation (PREPARE/PLANNED_MAINTENANCE
with one instance id, `actions_at` from the instance's lead time). This module runs the pure planner
(fenix/planning/pacer.py) as an event loop: decide, start what was decided as concurrent tasks, sleep until something
happens (a reply, a move ending, a host maintained) or the planner's next deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from activities.cloud import CloudActivities
    from fenix.metrics import Figures
    from fenix.models.cloud_ops import EstimatesRequest
    from fenix.models.gauges import HostWait
    from fenix.models.host_run import InstanceOutcome, InstanceRequest
    from fenix.models.notification import (
        INSTANCE_ACTION_DONE,
        INSTANCE_ACTION_FAILED,
    )
    from fenix.models.plan import ConstraintsRead, ConstraintsView, MoveEstimates
    from fenix.models.session import MOVE_ACTIONS, HostPhase, InstanceAction
    from fenix.planning.model import Act, Decision, Step
    from fenix.planning.pacer import Pacer
    from workflows.cancel import raise_if_cancelled
    from workflows.clock import stable_now
    from workflows.context import SessionContext
    from workflows.errors import SessionFailed
    from workflows.flow import check_scale_in_rounds, complete, tell_and_wait
    from workflows.host_plan import host_plan_s
    from workflows.lane import carry_out
    from workflows.options import CLOUD_CALL, REGISTRY_QUERY
    from workflows.patches import ADMISSION_LOOKAHEAD, CLOCK_IN_LOOP, DEADLINE_FROM_DELIVERY
    from workflows.retire import retire_metadata
    from workflows.steering import extend_lead_times
    from workflows.vnf_questions import VnfQuestions, to_ts

# How often the flow re-reads the cloud and the constraints while it runs; changes in between (a VNFM scaling,
# a new PUT /v1/instance) are picked up at the next read. Reading after every event would fill the history.
REFRESH = timedelta(seconds=30)
IDLE_ROUNDS = 3  # rounds with nothing to do, nothing running and nothing to wait for: the session is stuck
MAX_HOLDS_SHOWN = 12


class VnfFlow:
    def __init__(self, ctx: SessionContext) -> None:
        self.ctx = ctx
        self.pacer: Pacer | None = None
        self._dirty = False
        self._alarms: set[float] = set()
        self._error: BaseException | None = None
        self._revision: int | None = None
        self._first_failure: dict[str, datetime] = {}
        self._last_refresh = datetime.min.replace(tzinfo=UTC)
        # CLOCK_IN_LOOP: only the loop reads the recorded clock (local activities, one at a time); actions that end
        # queue here and are dated by the loop's next reading. Before it, each action read the clock itself, and
        # several local activities at once could be split over workflow tasks differently on replay.
        self._loop_clock = False
        self._ended: list[Callable[[datetime], None]] = []
        # What each host waits for and since when, kept across decisions (the metrics' account of held_by).
        self._waits: dict[str, list[HostWait]] = {}
        # The per-instance questions: the conversation hands them their replies (workflows/conversation.py).
        self.questions = VnfQuestions(ctx, self._wake, self._fail)
        # Lead times that would run out while the session is paused are extended by the pause (workflows/steering.py).
        ctx.steering.on_resume(lambda since, paused_s: extend_lead_times(self.pacer, ctx.detail, since, paused_s))

    @property
    def instance_questions(self) -> VnfQuestions:
        return self.questions

    def _wake(self) -> None:
        self._dirty = True

    def _fail(self, err: BaseException) -> None:
        self._error = err

    def waits(self, host: str) -> list[HostWait]:
        """What the host waits for: the flow's own account."""
        return self._waits.get(host, [])

    # --- the flow --------------------------------------------------------------------------------------
    async def body(self) -> None:
        ctx, inp = self.ctx, self.ctx.inp
        self._loop_clock = workflow.patched(CLOCK_IN_LOOP)
        snap, targets = await ctx.start()
        est: MoveEstimates = await workflow.execute_activity_method(CloudActivities.estimates, EstimatesRequest(),
                                                                    **CLOUD_CALL)
        view = await self._read_constraints()
        self.pacer = Pacer(snap, targets, instances=view.instances, groups=view.groups,
                           default_action=inp.default_action, max_parallel_hosts=inp.max_parallel_hosts,
                           estimates=est, warn_ahead=inp.warn_ahead,
                           lead_from_delivery=workflow.patched(DEADLINE_FROM_DELIVERY),
                           warn_within_budget=ctx.faithful,
                           lookahead=ctx.faithful and workflow.patched(ADMISSION_LOOKAHEAD))
        self.questions.pacer = self.pacer
        if inp.retire:
            self.pacer.retiring(targets)
        self._last_refresh = await stable_now()
        missing = sorted({i.project_id for i in self.pacer.insts.values()
                          if i.origin in targets and i.step == Step.PENDING and not i.registered})
        if missing:
            ctx.log("info", "instances without registered constraints get the defaults (lead_time 120 s, the "
                            f"session's default action) in project(s) {', '.join(missing)}")

        await tell_and_wait(ctx, metadata={"workflow": "vnf", **(retire_metadata(snap, targets) if inp.retire
                                                                  else {})})
        await self._loop()
        await complete(ctx)

    async def _loop(self) -> None:
        assert self.pacer is not None
        pacer, ctx = self.pacer, self.ctx
        tasks: list[asyncio.Task[None]] = []
        scale_in_rounds = idle = 0
        try:
            while not pacer.done():
                raise_if_cancelled()
                await ctx.wait_unpaused()  # a paused session starts nothing new; running tasks go on
                if self._error is not None:
                    raise self._error
                # Every comparison of times below decides which commands run: it reads the recorded clock.
                at = await stable_now()
                # Actions that ended since the last look are dated now, by this one reading (CLOCK_IN_LOOP).
                ended, self._ended = self._ended, []
                for outcome in ended:
                    outcome(at)
                if self._error is not None:
                    raise self._error
                if at - self._last_refresh >= REFRESH or idle:
                    at = await self._refresh()
                now = to_ts(at)
                d = pacer.decide(now)
                self._show(d)
                if d.stuck:
                    raise SessionFailed(d.stuck)
                if d.scale_in is not None:
                    check_scale_in_rounds(ctx, scale_in_rounds, d.scale_in.vcpus, d.scale_in.memory_mb)
                    scale_in_rounds += 1
                    await self.questions.ask_scale_in(d, scale_in_rounds)
                    await self._refresh()
                    continue
                for host in d.start:
                    on_host = pacer.on_host(host)
                    await ctx.disable(host, plan_s=host_plan_s(
                        ctx.inp, len(on_host), max((i.lead_s for i in on_host), default=ctx.inp.windows.prepare)))
                    ctx.detail.host(host).phase = HostPhase.EVACUATING
                for n in d.notify:
                    self.questions.warn(n)
                tasks = [t for t in tasks if not t.done()]
                tasks += [asyncio.create_task(self._act(a)) for a in d.act]
                tasks += [asyncio.create_task(self._maintain(h)) for h in d.maintain]
                busy = bool(d.start or d.notify or d.act or d.maintain)
                idle = 0 if busy or tasks or self.questions.deliveries or d.wake_at is not None else idle + 1
                if idle > IDLE_ROUNDS:
                    raise SessionFailed("the session cannot go on: " + "; ".join(
                        f"{h}: {', '.join(r)}" for h, r in sorted(d.holds.items()) if r))
                if busy:
                    continue
                self._dirty = False
                refresh = now + REFRESH.total_seconds()
                self._alarm(min(d.wake_at, refresh) if d.wake_at is not None else refresh, now)
                await workflow.wait_condition(lambda: self._dirty)
            await asyncio.gather(*tasks)
        except BaseException:
            # Moves in flight are followed to their end (a cold move must be confirmed); host children stop.
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    def _alarm(self, at: float, now: float) -> None:
        """Wake the loop at `at` (unless an alarm already rings earlier: the loop then sets the next one).

        An alarm is a timer that is never cancelled: when something else wakes the loop first, it still rings
        later and costs one extra decision. Cancelling a timer that may be firing at that very moment (what
        `wait_condition(timeout=...)` does on every early wake-up) is a race the time-skipping test server does not
        survive: it rejected such a completion and the session stalled.
        """
        at = round(at, 3)
        if any(t <= at for t in self._alarms):
            return
        self._alarms.add(at)
        asyncio.create_task(self._ring(at, at - now))

    async def _ring(self, at: float, delay: float) -> None:
        await workflow.sleep(max(0.001, delay))
        self._alarms.discard(at)
        self._dirty = True

    # --- reading the world -----------------------------------------------------------------------------
    async def _read_constraints(self) -> ConstraintsView:
        req = ConstraintsRead(project_ids=[p.project_id for p in self.ctx.detail.projects],
                              known_revision=self._revision)
        view: ConstraintsView = await workflow.execute_activity("read_constraints", req, result_type=ConstraintsView,
                                                                **REGISTRY_QUERY)
        self._revision = view.revision
        return view

    async def _refresh(self) -> datetime:
        """Read the cloud and the constraints again; returns the (recorded) time of the read's end."""
        assert self.pacer is not None
        snap = await self.ctx.snapshot([])
        self.ctx.track_instances(snap)
        self.pacer.refresh(snap)
        view = await self._read_constraints()
        if view.changed:
            self.pacer.update_constraints(view.instances, view.groups)
            self.ctx.log("info", f"constraints changed (revision {view.revision}); instances not yet warned follow "
                                 "the new ones")
        self._last_refresh = await stable_now()
        return self._last_refresh

    # --- carrying out ----------------------------------------------------------------------------------
    async def _act(self, a: Act) -> None:
        assert self.pacer is not None
        ctx, inst = self.ctx, self.pacer.insts[a.instance_id]
        source = inst.source or inst.origin
        figures = Figures(workflow.metric_meter())
        asked = self.questions.awaiting.pop(inst.id, None)
        if asked is not None:
            figures.reply(asked[1].value, "default_timeout")
            ctx.log("default", f"no reply for instance {inst.id} by actions_at: {inst.action_source}",
                    project_id=inst.project_id)
        started = workflow.now()
        self.questions.sync_project(inst.project_id)
        record = ctx.detail.instance(inst.id)
        if record is not None:
            record.action, record.action_started_at, record.target = a.action, workflow.now(), a.target
            record.action_source = "reply" if inst.action_source == "reply" else inst.action_source
        # The planner named the target and retries a failed move itself (later, maybe elsewhere, paced by the
        # groups): one try, no fallback to the other move, no rounds.
        req = InstanceRequest(instance_id=inst.id, project_id=inst.project_id, source_host=source, action=a.action,
                              target=a.target, fallback=False, rounds=False, move_retry=ctx.inp.move_retry,
                              expected_s=self.pacer.est.duration(a.action, inst.memory_mb)
                              if a.action in MOVE_ACTIONS else 0.0,
                              own_action_window_s=ctx.inp.windows.own_action,
                              own_action_clock="waits" if self._loop_clock else "recorded")
        try:
            try:
                outcome = await carry_out(req)
            except ApplicationError as err:  # a move that did not end within MOVE_TIMEOUT
                if workflow.cancellation_reason() is not None:
                    raise
                figures.instance_action(a.action.value, "failed", (workflow.now() - started).total_seconds())
                outcome = InstanceOutcome(instance_id=inst.id, project_id=inst.project_id, action=a.action,
                                          done=False, error=err.message)
            if not outcome.done:
                raise_if_cancelled()
                error = outcome.error or ""
                if self._loop_clock:
                    self._ended.append(lambda now: self._failed(a, source, error, now))
                else:
                    self._failed(a, source, error, await stable_now())
                return
            done_at = None if self._loop_clock else await stable_now()
        finally:
            self._dirty = True
        host = outcome.host
        if done_at is None:
            self._ended.append(lambda now: self._done(a, source, host, now))
        else:
            self._done(a, source, host, done_at)

    def _done(self, a: Act, source: str, host: str | None, done_at: datetime) -> None:
        assert self.pacer is not None
        ctx, inst = self.ctx, self.pacer.insts[a.instance_id]
        record = ctx.detail.instance(inst.id)
        self.pacer.action_done(inst.id, to_ts(done_at), host)
        if record is not None:
            record.action_done, record.host, record.action_done_at, record.error = True, host, workflow.now(), None
        verb = "evicted" if a.action == InstanceAction.EVICTION else f"done{' to ' + host if host else ''}"
        ctx.log("action", f"{a.action.value} of {inst.id} {verb}", project_id=inst.project_id, host=host)
        self.questions.instance_notice(inst.project_id, inst.id, INSTANCE_ACTION_DONE, {})
        if a.action in (InstanceAction.OWN_ACTION, InstanceAction.EVICTION):
            self._last_refresh = datetime.min.replace(tzinfo=UTC)  # capacity changed outside our own moves

    def _failed(self, a: Act, source: str, error: str, now: datetime) -> None:
        assert self.pacer is not None
        ctx, inst = self.ctx, self.pacer.insts[a.instance_id]
        retry = ctx.inp.move_retry
        first = self._first_failure.setdefault(inst.id, now)
        record = ctx.detail.instance(inst.id)
        if record is not None:
            record.error = error
        ctx.log("error", f"{a.action.value} of {inst.id} failed: {error}", project_id=inst.project_id, host=source)
        if (now - first).total_seconds() + retry.interval_s > retry.window_s:
            self.questions.instance_notice(inst.project_id, inst.id, INSTANCE_ACTION_FAILED, {"reason": error})
            self._error = SessionFailed(f"could not move instance {inst.id} off {source}: {error}")
            return
        self.pacer.action_failed(inst.id, to_ts(now), retry.interval_s)
        self._last_refresh = datetime.min.replace(tzinfo=UTC)  # the retry picks a target from a fresh read
        if a.action in (InstanceAction.OWN_ACTION, InstanceAction.EVICTION):
            fallback = inst.migration_type if inst.migration_type in MOVE_ACTIONS else InstanceAction.LIVE_MIGRATE
            inst.action, inst.action_source = fallback, f"{a.action.value} did not happen; the engine moves it"

    async def _maintain(self, host: str) -> None:
        assert self.pacer is not None
        try:
            await self.ctx.maintain(host, {})
        except (ActivityError, ChildWorkflowError) as err:
            if workflow.cancellation_reason() is None:
                self._error = err  # the loop raises it; the session reports the root cause
            return
        finally:
            self._dirty = True
        if self.ctx.detail.host(host).skipped or self.ctx.detail.host(host).retired:  # skipped: the operator's
            self.pacer.host_skipped(host)
            return
        self.pacer.host_maintained(host)

    # --- showing ---------------------------------------------------------------------------------------
    def _show(self, d: Decision) -> None:
        assert self.pacer is not None
        ctx = self.ctx
        now = workflow.now()
        for record in ctx.detail.hosts:
            holds = d.holds.get(record.name, [])
            if len(holds) > MAX_HOLDS_SHOWN:
                holds = holds[:MAX_HOLDS_SHOWN] + [f"... and {len(holds) - MAX_HOLDS_SHOWN} more"]
            record.held_by = holds
            # A wait keeps the time it began for as long as the host keeps waiting for it.
            since = {(w.reason, w.project_id): w.since for w in self._waits.get(record.name, [])}
            self._waits[record.name] = [HostWait(reason=r, project_id=p, since=since.get((r, p), now))
                                        for r, p in d.waits.get(record.name, [])]
        counts = dict.fromkeys(Step, 0)
        for inst in self.pacer.insts.values():
            if inst.origin in self.pacer.hosts:
                counts[inst.step] += 1
        progress = self.pacer.in_progress()
        ctx.current(f"{len(progress)} host(s) in progress ({', '.join(progress) or 'none'}); instances: "
                    f"{counts[Step.DONE]} done, {counts[Step.ACTING]} in action, {counts[Step.NOTIFIED]} warned, "
                    f"{counts[Step.PENDING]} pending")
