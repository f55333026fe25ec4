"""The `default` session flow: Fenix's capacity-driven rolling flow.

MAINTENANCE (tell every affected project, wait for ACKs, wait for `maintenance_at`) → SCALE_IN when no host can be
emptied → PREPARE_MAINTENANCE (first occupied host) / START_MAINTENANCE (empty hosts) / PLANNED_MAINTENANCE (next
occupied host, instances go to maintained hosts) ... → MAINTENANCE_COMPLETE. Questions are asked of projects, about
all their instances on a host at once; the host child workflows carry out the plan through the instance lane
(workflows/lane.py). Placement, here and in the lane, is the one of fenix/planning/placement.py, with the group rules
of the constraints the projects registered (GROUP_PLACEMENT), so a `default` session respects them too.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from fenix.models.cloud import CloudSnapshot
    from fenix.models.gauges import HostWait
    from fenix.models.host_run import PlacementRule
    from fenix.models.plan import ConstraintsRead, ConstraintsView
    from fenix.models.session import DEFAULT_ALLOWED_ACTIONS, InstanceAction, SessionState
    from fenix.planning.placement import capacity_shortfall, host_to_empty, placement_rules
    from workflows.cancel import raise_if_cancelled
    from workflows.context import SessionContext
    from workflows.flow import check_scale_in_rounds, complete, tell_and_wait
    from workflows.options import REGISTRY_QUERY
    from workflows.patches import GROUP_PLACEMENT
    from workflows.retire import retire_metadata


class DefaultFlow:
    # The default flow asks projects only, never single instances (workflows/conversation.py).
    instance_questions = None

    def __init__(self, ctx: SessionContext) -> None:
        self.ctx = ctx
        self._rules: list[PlacementRule] = []
        self._revision: int | None = None

    async def body(self) -> None:
        ctx, inp = self.ctx, self.ctx.inp
        first, targets = await ctx.start()
        group_placement = workflow.patched(GROUP_PLACEMENT)

        await tell_and_wait(ctx, retire_metadata(first, targets) if inp.retire else None)

        scale_in_rounds = 0
        while True:
            raise_if_cancelled()
            snap = await ctx.snapshot([])
            ctx.track_instances(snap)
            pending = [h.name for h in ctx.detail.hosts if not h.maintained and not h.skipped]
            if not pending:
                break
            if group_placement:
                await self._read_rules()
            empty = [h for h in pending if not snap.servers_on(h)]
            if empty:
                ctx.set_state(SessionState.START_MAINTENANCE, f"maintaining empty host(s) {', '.join(empty)}")
                for host in empty:
                    await ctx.maintain(host, {}, rules=self._rules)
                continue
            maintained = {h.name for h in ctx.detail.hosts if h.maintained and not h.retired}
            candidate = host_to_empty(snap, pending, maintained, self._rules)
            if candidate is None:
                vcpus, ram = capacity_shortfall(snap, pending)
                check_scale_in_rounds(ctx, scale_in_rounds, vcpus, ram)
                scale_in_rounds += 1
                ctx.set_state(SessionState.SCALE_IN, f"asking projects to scale in (short of {vcpus} vCPU / "
                                                     f"{ram} MB RAM), round {scale_in_rounds}")
                await ctx.ask(SessionState.SCALE_IN, ctx.project_ids(with_instances=True), inp.windows.scale_in,
                              metadata={"vcpus_needed": vcpus, "memory_mb_needed": ram})
                continue
            state = SessionState.PLANNED_MAINTENANCE if maintained else SessionState.PREPARE_MAINTENANCE
            await self._evacuate_and_maintain(state, candidate, snap)

        await complete(ctx)

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
        await ctx.maintain(host, plan, owners={i: s.project_id for i, s in on_host.items()}, rules=self._rules)

    async def _read_rules(self) -> None:
        """The group rules of the registered constraints, read again before each host (a cheap revision check when
        nothing changed): the same registries and the same ownership check as the vnf flow's."""
        req = ConstraintsRead(project_ids=[p.project_id for p in self.ctx.detail.projects],
                              known_revision=self._revision)
        view: ConstraintsView = await workflow.execute_activity("read_constraints", req, result_type=ConstraintsView,
                                                                **REGISTRY_QUERY)
        if view.changed:
            self._rules = placement_rules(view.instances, view.groups)
        self._revision = view.revision

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
