"""The session's one conversation with projects: who was asked what, until when, and what they answered.

A question is keyed by project (MAINTENANCE, SCALE_IN, PREPARE_MAINTENANCE of the default flow, ...) or, in a flow
that asks about instances one at a time (the vnf flow's PREPARE/PLANNED_MAINTENANCE), by (project, instance): the
flow plugs those in as its `InstanceQuestions`, and the conversation routes per-instance replies to it.

A reply is first checked (`check`, in the reply Update's validator: nothing is written to the history for a reply
that is refused), then taken (`accept`). A refusal is a `Rejection` whose `Refusal` kind maps, here and only here,
to the ApplicationError type the API turns into an HTTP status (api/errors.py UPDATE_STATUS).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum, auto
from typing import Protocol

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from fenix.metrics import Figures
    from fenix.models.notification import EVENT_PROJECT, BodyFormat, ProjectNotice, fenix_time, project_url
    from fenix.models.reply import ProjectReply
    from fenix.models.session import REPLY_STATES, InstanceAction, SessionState
    from workflows.context import SessionContext
    from workflows.deadline import DEADLINE_PASSED
    from workflows.errors import SessionFailed
    from workflows.outbox import Outcome
    from workflows.patches import DEADLINE_FROM_DELIVERY

# The states a flow with instance questions asks about one instance at a time.
PER_INSTANCE = (SessionState.PREPARE_MAINTENANCE, SessionState.PLANNED_MAINTENANCE)
_PER_INSTANCE_VALUES = frozenset(s.value for s in PER_INSTANCE)


class Refusal(Enum):
    """Why a reply is refused (`API_ERROR_TYPE`: what the API is told)."""

    LATE = auto()  # reached the workflow after the API's deadline (workflows/deadline.py)
    UNKNOWN_PROJECT = auto()  # the project has no instances in the session
    MALFORMED = auto()  # not ACK_<STATE> / NACK_<STATE> of a state that is asked
    NOT_WAITING = auto()  # nothing (or something else) is asked of the project or instance
    AMBIGUOUS = auto()  # a reply naming no instance while several of the project's wait
    NOT_ASKED = auto()  # names instances the question was not about
    NOT_ALLOWED = auto()  # chooses an action the question does not allow


# The one mapping of refusals to the ApplicationError types the API answers by (api/errors.py UPDATE_STATUS).
API_ERROR_TYPE: dict[Refusal, str] = {
    Refusal.LATE: DEADLINE_PASSED,
    Refusal.UNKNOWN_PROJECT: "UnknownProject",
    Refusal.MALFORMED: "InvalidReply",
    Refusal.NOT_WAITING: "StaleReply",
    Refusal.AMBIGUOUS: "StaleReply",
    Refusal.NOT_ASKED: "InvalidReply",
    Refusal.NOT_ALLOWED: "InvalidReply",
}


@dataclass(frozen=True)
class Rejection:
    kind: Refusal
    message: str

    def error(self) -> ReplyRejected:
        """The error the validator raises (its type is what the API answers by)."""
        return ReplyRejected(self.message, API_ERROR_TYPE[self.kind])


class ReplyRejected(ApplicationError):
    """Raised by the reply validator; the API maps `type` to an HTTP status."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message, type=kind, non_retryable=True)


class InstanceQuestions(Protocol):
    """A flow's questions about single instances (workflows/vnf.py), plugged into the conversation."""

    def check(self, reply: ProjectReply, asked: str) -> Rejection | None: ...

    def accept(self, reply: ProjectReply) -> None: ...

    def reply_targets(self, reply: ProjectReply) -> list[str]: ...

    def replies_name_no_instance(self, project_id: str) -> None: ...


class Conversation:
    def __init__(self, ctx: SessionContext, instances: InstanceQuestions | None = None) -> None:
        self._ctx = ctx
        self._instances = instances
        self._replies: dict[str, ProjectReply] = {}
        self._asks: dict[str, int] = {}  # project -> how many times it was asked
        # project -> (which asking, state) still open: closed by its reply or its default. Kept apart from the
        # project record, whose state the vnf flow also sets for per-instance notices.
        self._open: dict[str, tuple[int, str]] = {}
        # For the metrics only (reply latency, the census's `gauges` query); never read by a decision.
        self._asked_at: dict[str, datetime] = {}  # project -> when it was last asked
        # Every reply taken, by (project, state answered, instance or ""): the same reply sent again (a VNFM that
        # retries because its PUT was cut after the API forwarded it) is answered as before, not with a 409.
        self._taken: dict[tuple[str, str, str], ProjectReply] = {}

    def reply_of(self, project_id: str) -> ProjectReply | None:
        return self._replies.get(project_id)

    def asked_since(self, project_id: str) -> datetime | None:
        return self._asked_at.get(project_id)

    def _per_instance(self, asked: str) -> bool:
        return self._instances is not None and asked in _PER_INSTANCE_VALUES

    # --- asking ------------------------------------------------------------------------------------------
    async def ask(self, state: SessionState, projects: list[str], window_s: float, *,
                  instances: dict[str, list[str]] | None = None, allowed: list[InstanceAction] | None = None,
                  actions_at: datetime | None = None, metadata: dict[str, object] | None = None,
                  nack_fails: bool = True, project_metadata: dict[str, dict[str, object]] | None = None) -> None:
        """Notify `projects` of `state` and wait for their ACK/NACK until the deadline.

        The project is marked as awaiting *before* the notice is sent: a VNFM that replies from inside
        the webhook request (Doctor's does) must find its reply accepted while the POST is still open.
        A project with no subscription, or whose delivery failed, gets the default at once; one that does
        not answer in time gets it at the deadline. The deadline is `window_s` after the notice *reached* the
        project (a delivery held back by a dead worker or endpoint does not eat the project's time), and the
        notice's `reply_at` says so. Defaults: proceed, and the session's default action for each instance.
        """
        if not projects:
            return
        ctx, inp, d = self._ctx, self._ctx.inp, self._ctx.detail
        from_delivery = workflow.patched(DEADLINE_FROM_DELIVERY)
        deadline = workflow.now() + timedelta(seconds=window_s)
        for pid in projects:
            self._replies.pop(pid, None)
            self._asked_at[pid] = workflow.now()
            self._asks[pid] = self._asks.get(pid, 0) + 1
            self._open[pid] = (self._asks[pid], state.value)
            p = d.project(pid)
            p.state, p.awaiting, p.reply_at = state.value, True, deadline
            p.asked_instances = list((instances or {}).get(pid, []))
            p.allowed_actions = list(allowed or [])
        watchers = []
        for pid in projects:
            p = d.project(pid)
            url = project_url(inp.api_url, inp.session_id, pid)
            notice = ProjectNotice(
                project_id=pid, session_id=inp.session_id, state=state.value, instance_ids=url,
                allowed_actions=[a.value for a in p.allowed_actions],
                actions_at=fenix_time(actions_at or deadline), reply_at=fenix_time(deadline), reply_url=url,
                metadata={**inp.metadata, **(metadata or {}), **(project_metadata or {}).get(pid, {})})
            ctx.log("notice", f"{state.value} sent", project_id=pid, state=state.value)
            runs_from_delivery = {"reply_at": window_s, **({} if actions_at else {"actions_at": window_s})}
            task = ctx.outbox.send(EVENT_PROJECT, pid, notice.model_dump(),
                                   from_delivery=runs_from_delivery if from_delivery else None)
            watchers.append(asyncio.create_task(
                self._watch_delivery(pid, state, task, window_s if from_delivery else None, self._asks[pid])))
        ctx.current(f"{state.value}: waiting for {len(projects)} project(s) until {fenix_time(deadline)} UTC"
                    + (" (or their window after a late delivery)" if from_delivery else ""))
        if from_delivery:
            # Each watcher applies its project's default at that project's own deadline.
            asks = {pid: self._open[pid] for pid in projects}
            await workflow.wait_condition(lambda: not any(self._open.get(p) == asks[p] for p in projects))
        else:
            try:
                await workflow.wait_condition(lambda: not any(d.project(p).awaiting for p in projects),
                                              timeout=timedelta(seconds=window_s))
            except TimeoutError:
                for pid in projects:
                    p = d.project(pid)
                    if p.awaiting and p.state == state.value:
                        self._default(pid, state, "no reply to {state} by the deadline: default applied", "timeout")
        for pid in projects:
            reply = self._replies.get(pid)
            if reply is not None and not reply.ack and nack_fails:
                raise SessionFailed(f"project {pid} answered {reply.state}")
        del watchers  # they end by themselves once their delivery does

    async def _watch_delivery(self, pid: str, state: SessionState, task: asyncio.Task[Outcome],
                              window_s: float | None, ask: int) -> None:
        """Once the notice is delivered: the default at once if nobody got it, else (with `window_s`) at the end
        of the window counted from the delivery. `ask`: which asking of the project this notice was.

        A notice that cannot be delivered within its window (plus `delivery_grace_s`, for a worker that died mid-POST)
        is given up: the endpoint keeps failing, and the session must not wait out half an hour of retries."""
        if window_s is not None and self._ctx.faithful:
            try:
                await workflow.wait_condition(task.done, timeout=window_s + self._ctx.inp.delivery_grace_s)
            except TimeoutError:
                task.cancel()
                if self._open.get(pid) == (ask, state.value):
                    self._default(pid, state, "notice not delivered within its reply window (the endpoint keeps "
                                              "failing): default applied for {state}", "undelivered")
                return
        outcome = await task
        p = self._ctx.detail.project(pid)
        p.subscribed = outcome.subscribers > 0
        if BodyFormat.AODH in outcome.formats and self._instances is not None:
            self._instances.replies_name_no_instance(pid)

        def still_asked() -> bool:
            if window_s is None:
                return p.awaiting and p.state == state.value
            return self._open.get(pid) == (ask, state.value)

        if outcome.delivered == 0 and still_asked():
            why = "no subscription" if outcome.subscribers == 0 else "notice could not be delivered"
            cause = "no_subscriber" if outcome.subscribers == 0 else "undelivered"
            self._default(pid, state, f"{why}: default applied for {{state}}", cause)
            return
        if window_s is None or outcome.delivered_at is None or not still_asked():
            return
        deadline = outcome.delivered_at + timedelta(seconds=window_s)
        p.reply_at = deadline
        try:
            # Always a timer (never skipped for a deadline already past), so the commands do not depend on time.
            await workflow.wait_condition(lambda: not still_asked(),
                                          timeout=max(0.001, (deadline - workflow.now()).total_seconds()))
        except TimeoutError:
            # A pause of the session inside the window extends it (workflows/steering.py).
            await self._ctx.steering.extend(outcome.delivered_at, deadline, still_asked, p)
            if still_asked():
                self._default(pid, state, "no reply to {state} by the deadline: default applied", "timeout")

    def _default(self, pid: str, state: SessionState, why: str, cause: str) -> None:
        """Apply the default to `pid`'s open question; `cause` (timeout, no_subscriber, undelivered) for the
        metrics."""
        Figures(workflow.metric_meter()).reply(state.value, f"default_{cause}")
        p = self._ctx.detail.project(pid)
        if p.state == state.value:
            p.awaiting = False
        if self._open.get(pid, (0, ""))[1] == state.value:
            del self._open[pid]
        self._ctx.log("default", why.format(state=state.value), project_id=pid, state=state.value)

    # --- replies -----------------------------------------------------------------------------------------
    def check(self, reply: ProjectReply) -> Rejection | None:
        """Why `reply` cannot be taken, None if it can. Runs in the Update's validator: reads, never writes."""
        # First: a reply that reaches the workflow after the API's deadline (no worker took it in time, the client
        # got 503) is refused, never applied behind the client's back.
        if reply.not_after is not None and workflow.now() > reply.not_after:
            return Rejection(Refusal.LATE, f"reply {reply.state} arrived after its deadline "
                                           f"{reply.not_after.isoformat()} and was not applied")
        p = next((p for p in self._ctx.detail.projects if p.project_id == reply.project_id), None)
        if p is None:
            return Rejection(Refusal.UNKNOWN_PROJECT, f"project {reply.project_id!r} has no instances in this session")
        prefix, _, asked = reply.state.partition("_")
        if prefix not in ("ACK", "NACK") or asked not in {s.value for s in REPLY_STATES}:
            known = ", ".join(sorted(s.value for s in REPLY_STATES))
            return Rejection(Refusal.MALFORMED,
                             f"state must be ACK_<STATE> or NACK_<STATE> of {known}, not {reply.state!r}")
        if self.taken_before(reply):
            return None
        per_instance = self._per_instance(asked)
        if self._ctx.faithful:
            # What is asked: the project's open question (MAINTENANCE, SCALE_IN, ...) and, in the vnf flow, each
            # instance's own; neither may hide the other (a SCALE_IN asked while an instance waits for its ACK).
            open_ask = self._open.get(reply.project_id)
            if not per_instance and (open_ask is None or open_ask[1] != asked):
                now = f"the session is waiting for your reply to {open_ask[1]}" if open_ask else \
                    "the session is not waiting for a reply from you"
                return Rejection(Refusal.NOT_WAITING, f"stale reply {reply.state}: {now}")
        elif not p.awaiting or p.state != asked:
            now = f"the session is waiting for your reply to {p.state}" if p.awaiting else \
                "the session is not waiting for a reply from you"
            return Rejection(Refusal.NOT_WAITING, f"stale reply {reply.state}: {now}")
        if per_instance and self._instances is not None:
            return self._instances.check(reply, asked)
        actions = dict(reply.instance_actions)
        unknown = sorted(set(actions) - set(p.asked_instances))
        if unknown:
            return Rejection(Refusal.NOT_ASKED, f"instance(s) {', '.join(unknown)} not among those asked about: "
                                                f"{', '.join(p.asked_instances) or 'none'}")
        chosen = set(actions.values()) | ({reply.instance_action} if reply.instance_action else set())
        bad = sorted(a.value for a in chosen if a not in p.allowed_actions)
        if bad:
            allowed = ", ".join(a.value for a in p.allowed_actions) or "none"
            return Rejection(Refusal.NOT_ALLOWED,
                             f"action(s) {', '.join(bad)} not allowed in {asked} (allowed: {allowed})")
        return None

    def _reply_keys(self, reply: ProjectReply) -> list[tuple[str, str, str]]:
        """What a reply answers: (project, state, instance) per instance it names, or (project, state, "")."""
        asked, pid = reply.replied_state, reply.project_id
        if self._per_instance(asked):
            named = sorted(reply.instance_actions) or (list(reply.instance_ids)
                                                      if isinstance(reply.instance_ids, list) else [])
            return [(pid, asked, iid) for iid in named] or [(pid, asked, "")]
        return [(pid, asked, "")]

    def taken_before(self, reply: ProjectReply) -> bool:
        """This very reply (same state and actions, for the same instances) was taken already and nothing of what
        it answers is being asked again: a retry, to be answered as the first time and applied only once."""
        keys = self._reply_keys(reply)
        for pid, asked, iid in keys:
            taken = self._taken.get((pid, asked, iid))
            if taken is None or (taken.state, taken.instance_actions, taken.instance_action) != (
                    reply.state, reply.instance_actions, reply.instance_action):
                return False
        p = next((p for p in self._ctx.detail.projects if p.project_id == reply.project_id), None)
        if p is not None and p.awaiting and p.state == reply.replied_state and (
                keys[0][2] == "" or any(iid in p.asked_instances for _, _, iid in keys)):
            return False  # asked again since: this is a new answer, not a retry
        return True

    def accept(self, reply: ProjectReply) -> None:
        """Take a reply that `check` let through: close what it answers and record it."""
        ctx = self._ctx
        keys = self._reply_keys(reply)
        per_instance = self._per_instance(reply.replied_state)
        if keys[0][2] == "" and per_instance and self._instances is not None:
            keys += [(reply.project_id, reply.replied_state, iid) for iid in self._instances.reply_targets(reply)]
        self._taken.update(dict.fromkeys(keys, reply))
        self._count_reply(reply, [iid for _, _, iid in keys if iid])
        if per_instance and self._instances is not None:
            ctx.log("reply", reply.state + (f" instance_action={reply.instance_action.value}"
                                            if reply.instance_action else ""), project_id=reply.project_id,
                    state=reply.state, actor=reply.actor)
            self._instances.accept(reply)
            return
        p = ctx.detail.project(reply.project_id)
        p.awaiting, p.state = False, reply.state
        self._replies[reply.project_id] = reply
        if self._open.get(reply.project_id, (0, ""))[1] == reply.replied_state:
            del self._open[reply.project_id]
        actions = {k: v.value for k, v in reply.instance_actions.items()}
        detail = reply.state + (f" {actions}" if actions else "") + \
            (f" instance_action={reply.instance_action.value}" if reply.instance_action else "")
        ctx.log("reply", detail, project_id=reply.project_id, state=reply.state, actor=reply.actor)

    def _count_reply(self, reply: ProjectReply, instances: list[str]) -> None:
        """The reply's figures: its outcome, and how long the project took since it was asked (per-instance
        replies: since the earliest of the instances answered was warned)."""
        figures = Figures(workflow.metric_meter())
        figures.reply(reply.replied_state, "ack" if reply.ack else "nack")
        if instances:
            d = self._ctx.detail
            warned = [r.notified_at for i in instances if (r := d.instance(i)) is not None and r.notified_at]
            asked = min(warned) if warned else None
        else:
            asked = self._asked_at.get(reply.project_id)
        if asked is not None:
            figures.reply_latency(reply.replied_state, reply.project_id, (workflow.now() - asked).total_seconds())
