"""Reading instance and group constraints for a session: a query to the constraints registry (it is I/O)."""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from fenix.models.plan import ConstraintsRead, ConstraintsView


class ConstraintActivities:
    def __init__(self, client: Client, registry_workflow_id: str) -> None:
        self._client = client
        self._registry_id = registry_workflow_id

    @activity.defn(name="read_constraints")
    async def read(self, req: ConstraintsRead) -> ConstraintsView:
        handle = self._client.get_workflow_handle(self._registry_id)
        try:
            view: ConstraintsView = await handle.query("view", req, result_type=ConstraintsView)
            return view
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return ConstraintsView(revision=0, changed=req.known_revision != 0)  # nobody registered any
            raise
