"""The `default` session flow: Fenix's capacity-driven rolling flow.

MAINTENANCE (tell every affected project, wait for ACKs, wait for `maintenance_at`) → SCALE_IN when no host can be
emptied → PREPARE_MAINTENANCE (first occupied host) / START_MAINTENANCE (empty hosts) / PLANNED_MAINTENANCE (next
occupied host, instances go to maintained hosts) ... → MAINTENANCE_COMPLETE. Questions are asked of projects, about
all their instances on a host at once; the host child workflows carry out the plan.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from fenix.models.cloud import CloudSnapshot
    from fenix.models.gauges import HostWait
    from fenix.models.session import DEFAULT_ALLOWED_ACTIONS, ActionType, InstanceAction, SessionState
    from fenix.planning.placement import capacity_shortfall, host_to_empty
    from workflows.cancel import raise_if_cancelled
    from workflows.context import SessionContext
    from workflows.errors import SessionFailed


class DefaultFlow:
    # The default flow asks projects only, never single instances (workflows/conversation.py).
    instance_questions = None

    def __init__(self, ctx: SessionContext) -> None:
        self.ctx = ctx

    async def body(self) -> None:
        ctx, inp = self.ctx, self.ctx.inp
        await ctx.start()

        ctx.set_state(SessionState.MAINTENANCE, "telling projects about the planned maintenance")
        await ctx.ask(SessionState.MAINTENANCE, [p.project_id for p in ctx.detail.projects],
                      inp.windows.maintenance, actions_at=inp.maintenance_at)
        await ctx.wait_for_window()
        await ctx.run_global_plugins(ActionType.PRE)

        scale_in_rounds = 0
        while True:
            raise_if_cancelled()
            snap = await ctx.snapshot([])
            ctx.track_instances(snap)
            pending = [h.name for h in ctx.detail.hosts if not h.maintained and not h.skipped]
            if not pending:
                break
            empty = [h for h in pending if not snap.servers_on(h)]
            if empty:
                ctx.set_state(SessionState.START_MAINTENANCE, f"maintaining empty host(s) {', '.join(empty)}")
                for host in empty:
                    await ctx.maintain(host, {})
                continue
            maintained = {h.name for h in ctx.detail.hosts if h.maintained}
            candidate = host_to_empty(snap, pending, maintained)
            if candidate is None:
                vcpus, ram = capacity_shortfall(snap, pending)
                if scale_in_rounds >= inp.max_scale_in_rounds:
                    raise SessionFailed(f"not enough capacity to empty any host after {scale_in_rounds} "
                                        f"SCALE_IN round(s): short of {vcpus} vCPU / {ram} MB RAM")
                scale_in_rounds += 1
                ctx.set_state(SessionState.SCALE_IN, f"asking projects to scale in (short of {vcpus} vCPU / "
                                                     f"{ram} MB RAM), round {scale_in_rounds}")
                await ctx.ask(SessionState.SCALE_IN, ctx.project_ids(with_instances=True), inp.windows.scale_in,
                              metadata={"vcpus_needed": vcpus, "memory_mb_needed": ram})
                continue
            state = SessionState.PLANNED_MAINTENANCE if maintained else SessionState.PREPARE_MAINTENANCE
            await self._evacuate_and_maintain(state, candidate, snap)

        raise_if_cancelled()
        await ctx.run_global_plugins(ActionType.POST)
        ctx.set_state(SessionState.MAINTENANCE_COMPLETE, "maintenance complete: projects may scale back out")
        await ctx.ask(SessionState.MAINTENANCE_COMPLETE, ctx.project_ids(), inp.windows.complete, nack_fails=False)
        await ctx.outbox.drain(ctx.drain_limit)

    async def _evacuate_and_maintain(self, state: SessionState, host: str, snap: CloudSnapshot) -> None:
        """Disable the host, ask the owners of its instances, then hand the plan to a host workflow."""
        ctx = self.ctx
        await ctx.disable(host)
        ctx.set_state(state, f"emptying {host}")
        on_host = {s.id: s for s in snap.servers_on(host)}
        owners: dict[str, list[str]] = {}
        for sid, server in sorted(on_host.items()):
            owners.setdefault(server.project_id, []).append(sid)
        await ctx.ask(state, sorted(owners), ctx.inp.windows.prepare, instances=owners,
                      allowed=list(DEFAULT_ALLOWED_ACTIONS))
        plan: dict[str, InstanceAction] = {}
        for project, ids in owners.items():
            reply = ctx.reply_of(project)
            for iid in ids:
                chosen = None
                if reply is not None:
                    chosen = reply.instance_actions.get(iid) or reply.instance_action
                action = chosen or ctx.inp.default_action
                plan[iid] = action
                record = ctx.detail.instance(iid)
                if record is not None:
                    record.action, record.action_source = action, "reply" if chosen else "default"
        await ctx.maintain(host, plan, owners={i: s.project_id for i, s in on_host.items()})

    def waits(self, host: str) -> list[HostWait]:
        """What the host waits for: the replies of the projects asked about its instances."""
        d = self.ctx.detail
        out = []
        for p in d.projects:
            since = self.ctx.questions.asked_since(p.project_id)
            if p.awaiting and since is not None and any(
                    (i := d.instance(iid)) is not None and i.host == host for iid in p.asked_instances):
                out.append(HostWait(reason="reply", project_id=p.project_id, since=since))
        return out
