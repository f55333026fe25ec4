"""What the session workflow needs of a flow (workflows/default_flow.py, workflows/vnf.py).

A flow is built with the session's `SessionContext` (workflows/context.py) and runs as `body()` between the
session's opening (the FAITHFUL_VNFM patch) and its end (done, or failed and cleaned up: workflows/session.py).
Every flow opens with `tell_and_wait` and closes with `complete`, the steps of Fenix's protocol that do not depend
on how hosts are emptied; they are here once, and each flow calls them where its first look at the cloud is done.
"""

from __future__ import annotations

from typing import Protocol

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from fenix.models.gauges import HostWait
    from fenix.models.session import ActionType, SessionState
    from workflows.cancel import raise_if_cancelled
    from workflows.capabilities import complete_metadata
    from workflows.context import SessionContext
    from workflows.conversation import InstanceQuestions
    from workflows.errors import SessionFailed


class Flow(Protocol):
    @property
    def instance_questions(self) -> InstanceQuestions | None:
        """Its questions about single instances, plugged into the session's conversation; None: projects only."""
        ...

    async def body(self) -> None:
        """The flow, from the first look at the cloud to MAINTENANCE_COMPLETE."""
        ...

    def waits(self, host: str) -> list[HostWait]:
        """What `host` waits for now (the census's `gauges` query)."""
        ...


async def tell_and_wait(ctx: SessionContext, metadata: dict[str, object] | None = None) -> None:
    """MAINTENANCE to every affected project (wait for the replies), wait for `maintenance_at`, the PRE plug-ins."""
    inp = ctx.inp
    ctx.set_state(SessionState.MAINTENANCE, "telling projects about the planned maintenance")
    await ctx.ask(SessionState.MAINTENANCE, [p.project_id for p in ctx.detail.projects], inp.windows.maintenance,
                  actions_at=inp.maintenance_at, metadata=metadata)
    # A reschedule may move `maintenance_at` while the session waits for it (workflows/window.py).
    await ctx.wait_for_window(metadata)
    await ctx.run_global_plugins(ActionType.PRE)


async def complete(ctx: SessionContext) -> None:
    """The POST plug-ins, MAINTENANCE_COMPLETE to every project (they may scale back out), the last notices out."""
    raise_if_cancelled()
    await ctx.run_global_plugins(ActionType.POST)
    ctx.set_state(SessionState.MAINTENANCE_COMPLETE, "maintenance complete: projects may scale back out")
    # What changed on the hosts and how far each project may grow back, added to the admin's metadata.
    figures = await complete_metadata(ctx)
    await ctx.ask(SessionState.MAINTENANCE_COMPLETE, ctx.project_ids(), ctx.inp.windows.complete, nack_fails=False,
                  project_metadata=figures)
    await ctx.outbox.drain(ctx.drain_limit)


def check_scale_in_rounds(ctx: SessionContext, rounds: int, vcpus: int, memory_mb: int) -> None:
    """Fail the session when `max_scale_in_rounds` SCALE_IN rounds have not made room to empty a host."""
    if rounds >= ctx.inp.max_scale_in_rounds:
        raise SessionFailed(f"not enough capacity to empty any host after {rounds} SCALE_IN round(s): short of "
                            f"{vcpus} vCPU / {memory_mb} MB RAM")
