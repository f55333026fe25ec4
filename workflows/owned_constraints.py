"""The `vnf` flow, recording the constraints it was told to ignore (docs/security.md#tenant-isolation).

`read_constraints` (activities/constraints.py) keeps only constraints whose project owns the instance in the cloud
and says why it dropped the others; the session records that in its history, once per distinct set, so the admin
sees that an instance was paced with its own project's defaults and why. Only what the session records changes
(no command), so histories of earlier runs replay unchanged.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from fenix.models.plan import ConstraintsView
    from workflows.vnf import VnfFlow


class OwnedVnfFlow(VnfFlow):
    _ignored: tuple[str, ...] = ()

    async def _read_constraints(self) -> ConstraintsView:
        view = await super()._read_constraints()
        ignored = tuple(view.ignored)
        if view.changed and ignored and ignored != self._ignored:
            for why in ignored:
                self.ctx.log("info", why)
        if view.changed:
            self._ignored = ignored
        return view
