"""The vnf flow's questions about single instances (PREPARE/PLANNED_MAINTENANCE with one instance id).

The flow (workflows/vnf.py) warns an instance when its planner says so (`warn`, with `actions_at` from the
instance's lead time, counted from the delivery since DEADLINE_FROM_DELIVERY); the session's conversation
(workflows/conversation.py) hands per-instance replies to `check` and `accept`. The project's record mirrors its
instances (`sync_project`): awaiting while any of them waits for its reply.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from fenix.models.notification import (
        EVENT_PROJECT,
        BodyFormat,
        ProjectNotice,
        fenix_time,
        instance_notice,
        project_url,
    )
    from fenix.models.reply import ProjectReply
    from fenix.models.session import ProjectRecord, SessionState
    from fenix.planning.model import Decision, Notify, allowed_actions
    from fenix.planning.pacer import Pacer
    from workflows.context import SessionContext
    from workflows.conversation import PER_INSTANCE, Refusal, Rejection
    from workflows.errors import SessionFailed
    from workflows.outbox import Outcome


def to_ts(at: datetime) -> float:
    return at.timestamp()


def from_ts(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


class VnfQuestions:
    """The flow's `InstanceQuestions` (workflows/conversation.py). `wake`: something changed, the flow's loop
    decides again; `fail`: the error the loop raises (a NACK)."""

    def __init__(self, ctx: SessionContext, wake: Callable[[], None], fail: Callable[[BaseException], None]) -> None:
        self.ctx = ctx
        self.pacer: Pacer | None = None  # the flow's planner, once it has read the cloud
        self.awaiting: dict[str, tuple[str, SessionState]] = {}  # instance -> (project, state asked), notice order
        self.deliveries: set[asyncio.Task[None]] = set()  # per-instance notices on their way (lead from delivery)
        self._wake = wake
        self._fail = fail

    def _phase(self) -> SessionState:
        if any(h.maintained for h in self.ctx.detail.hosts):
            return SessionState.PLANNED_MAINTENANCE
        return SessionState.PREPARE_MAINTENANCE

    def warn(self, n: Notify) -> None:
        assert self.pacer is not None
        ctx, inst = self.ctx, self.pacer.insts[n.instance_id]
        state = self._phase()
        if ctx.detail.state != state:
            ctx.set_state(state, f"warning instances ({state.value})")
        record = ctx.detail.instance(inst.id)
        if record is not None:
            record.group_id, record.notified_at, record.actions_at = inst.group, workflow.now(), from_ts(n.actions_at)
        self.awaiting[inst.id] = (inst.project_id, state)
        self.sync_project(inst.project_id)
        url = project_url(ctx.inp.api_url, ctx.inp.session_id, inst.project_id)
        at = fenix_time(from_ts(n.actions_at))
        notice = ProjectNotice(project_id=inst.project_id, session_id=ctx.inp.session_id, state=state.value,
                               instance_ids=[inst.id], allowed_actions=[a.value for a in n.allowed],
                               actions_at=at, reply_at=at, reply_url=url, metadata=dict(ctx.inp.metadata))
        ctx.log("notice", f"{state.value} for instance {inst.id} (actions_at {at})", project_id=inst.project_id,
                state=state.value)
        if not self.pacer.lead_from_delivery:
            ctx.outbox.send(EVENT_PROJECT, inst.project_id, notice.model_dump())
            return
        # The lead time runs from the delivery: the notice says so when it goes out, and the engine waits as long.
        task = ctx.outbox.send(EVENT_PROJECT, inst.project_id, notice.model_dump(),
                               from_delivery={"actions_at": inst.lead_s, "reply_at": inst.lead_s})
        watcher = asyncio.create_task(self._watch_notice(inst.id, task))
        self.deliveries.add(watcher)
        watcher.add_done_callback(self.deliveries.discard)

    async def _watch_notice(self, iid: str, task: asyncio.Task[Outcome]) -> None:
        assert self.pacer is not None
        if self.ctx.faithful:
            inst = self.pacer.insts[iid]
            grace = self.ctx.inp.delivery_grace_s
            wait = (inst.actions_at or 0.0) - (inst.notified_at or 0.0) + grace
            try:
                await workflow.wait_condition(task.done, timeout=max(wait, grace, 0.001))
            except TimeoutError:
                # The endpoint keeps failing: the instance gets its default at its planned time, as if unsubscribed.
                task.cancel()
                self.ctx.log("default", f"notice for instance {iid} not delivered within its lead time: its "
                                        "default applies", project_id=inst.project_id)
                self.pacer.delivered(iid, None)
                self._wake()
                return
        outcome = await task
        if BodyFormat.AODH in outcome.formats:
            self.replies_name_no_instance(self.pacer.insts[iid].project_id)
        reached = outcome.delivered_at if outcome.delivered else None
        at = self.pacer.delivered(iid, to_ts(reached) if reached is not None else None)
        record = self.ctx.detail.instance(iid)
        if record is not None and at is not None:
            record.actions_at = from_ts(at)
        self.sync_project(self.pacer.insts[iid].project_id)
        self._wake()

    def sync_project(self, project_id: str) -> None:
        """The project's record mirrors its instances: awaiting while any of them waits for its reply."""
        p: ProjectRecord = self.ctx.detail.project(project_id)
        asked = [(i, st) for i, (pid, st) in self.awaiting.items() if pid == project_id]
        p.asked_instances = [i for i, _ in asked]
        if asked:
            p.awaiting, p.state = True, asked[-1][1].value
            assert self.pacer is not None
            p.allowed_actions = sorted({a for i, _ in asked for a in allowed_actions(self.pacer.insts[i])})
            at = self.pacer.insts[asked[0][0]].actions_at
            p.reply_at = from_ts(at) if at is not None else None
        elif p.state in {st.value for st in PER_INSTANCE}:
            p.awaiting = False

    def reply_targets(self, reply: ProjectReply) -> list[str]:
        """The instances a reply answers: named ones, the one echoed in `instance_ids`; a bare reply (Fenix-era
        VNFMs send only `state` and `instance_action`) answers the one instance of the project waiting for that
        state, and is ambiguous (no target) when several wait. Before FAITHFUL_VNFM: the oldest asked."""
        if reply.instance_actions:
            return sorted(reply.instance_actions)
        if isinstance(reply.instance_ids, list) and reply.instance_ids:
            return list(reply.instance_ids)
        if not self.ctx.faithful:
            oldest = next((i for i, (pid, _) in self.awaiting.items() if pid == reply.project_id), None)
            return [oldest] if oldest is not None else []
        waiting = self._waiting_for(reply.project_id, reply.replied_state)
        return waiting if len(waiting) == 1 else []

    def _waiting_for(self, project_id: str, state: str) -> list[str]:
        return [i for i, (pid, st) in self.awaiting.items() if pid == project_id and st.value == state]

    def check(self, reply: ProjectReply, asked: str) -> Rejection | None:
        """Why the per-instance reply cannot be accepted, None if it can. Runs in the Update's validator."""
        assert self.pacer is not None
        targets = self.reply_targets(reply)
        if not targets:
            waiting = self._waiting_for(reply.project_id, asked)
            if len(waiting) > 1:
                return Rejection(Refusal.AMBIGUOUS, f"{reply.state}: the reply names no instance, and {len(waiting)} "
                                                    f"of yours wait for a {asked} reply: {', '.join(waiting)}; name "
                                                    "the one you answer in instance_ids (or instance_actions)")
            return Rejection(Refusal.NOT_WAITING,
                             f"{reply.state}: the session is not waiting for an instance reply from you")
        for iid in targets:
            asked_of = self.awaiting.get(iid)
            if asked_of is None or asked_of[0] != reply.project_id or asked_of[1].value != asked:
                mine = [i for i, (pid, _) in self.awaiting.items() if pid == reply.project_id]
                return Rejection(Refusal.NOT_WAITING, f"{reply.state}: instance {iid} is not waiting for a {asked} "
                                                      f"reply (waiting: {', '.join(mine) or 'none'})")
            action = reply.instance_actions.get(iid) or reply.instance_action
            allowed = allowed_actions(self.pacer.insts[iid])
            if action is not None and action not in allowed:
                return Rejection(Refusal.NOT_ALLOWED, f"{reply.state}: action {action.value} not allowed for "
                                                      f"instance {iid} (allowed: "
                                                      f"{', '.join(a.value for a in allowed)})")
        return None

    def replies_name_no_instance(self, project_id: str) -> None:
        """The project's replies do not name instances (an AODH-format subscriber, or a bare reply seen): from
        now on it is asked about one instance at a time."""
        if self.ctx.faithful and self.pacer is not None and project_id not in self.pacer.serial_projects:
            self.pacer.serial_projects.add(project_id)
            self.ctx.log("info", f"project {project_id} replies without naming instances: it is asked about one "
                                 "instance at a time", project_id=project_id)

    def accept(self, reply: ProjectReply) -> None:
        assert self.pacer is not None
        bare = not reply.instance_actions and not (isinstance(reply.instance_ids, list) and reply.instance_ids)
        if bare:
            self.replies_name_no_instance(reply.project_id)
        for iid in self.reply_targets(reply):
            action = reply.instance_actions.get(iid) or reply.instance_action
            self.awaiting.pop(iid, None)
            if reply.ack:
                self.pacer.replied(iid, action)
                record = self.ctx.detail.instance(iid)
                if record is not None and action is not None:
                    record.action, record.action_source = action, "reply"
            else:
                self._fail(SessionFailed(f"project {reply.project_id} answered {reply.state} for instance {iid}"))
        self.sync_project(reply.project_id)
        self._wake()

    async def ask_scale_in(self, d: Decision, round_no: int) -> None:
        """Ask the projects whose groups (or ungrouped instances) must shrink so `d.scale_in.host` can be emptied,
        one project after the other."""
        assert d.scale_in is not None
        need, ctx = d.scale_in, self.ctx
        projects: dict[str, dict[str, int]] = {}
        for gid, count in need.per_group.items():
            projects.setdefault(self.pacer.groups[gid].project_id if self.pacer else "", {})[gid] = count
        for pid, count in need.per_project.items():
            projects.setdefault(pid, {})["ungrouped"] = count
        ctx.set_state(SessionState.SCALE_IN, f"asking {len(projects)} project(s) to scale in so {need.host} can be "
                                             f"emptied (short of {need.vcpus} vCPU / {need.memory_mb} MB RAM), "
                                             f"round {round_no}")
        for pid in sorted(projects):
            await ctx.ask(SessionState.SCALE_IN, [pid], ctx.inp.windows.scale_in, metadata={
                "vcpus_needed": need.vcpus, "memory_mb_needed": need.memory_mb, "host": need.host,
                "instances_to_remove": projects[pid]})

    def instance_notice(self, project: str, iid: str, state: str, metadata: dict[str, str]) -> None:
        """Tell the project what became of its instance (INSTANCE_ACTION_DONE / _FAILED); nobody replies."""
        ctx = self.ctx
        notice = instance_notice(ctx.inp.api_url, ctx.inp.session_id, project, iid, state, metadata)
        ctx.outbox.send(EVENT_PROJECT, project, notice.model_dump())
