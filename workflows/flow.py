"""What the session workflow needs of a flow (workflows/default_flow.py, workflows/vnf.py).

A flow is built with the session's `SessionContext` (workflows/context.py) and runs as `body()` between the
session's opening (the FAITHFUL_VNFM patch) and its end (done, or failed and cleaned up: workflows/session.py).
"""

from __future__ import annotations

from typing import Protocol

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from fenix.models.gauges import HostWait
    from workflows.conversation import InstanceQuestions


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
