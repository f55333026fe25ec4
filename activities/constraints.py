"""Reading instance and group constraints for a session: a query to the constraints registry (it is I/O)."""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client

from activities.registry_query import query_registry
from fenix.models.plan import ConstraintsRead, ConstraintsView


class ConstraintActivities:
    def __init__(self, client: Client, registry_workflow_id: str) -> None:
        self._client = client
        self._registry_id = registry_workflow_id

    @activity.defn(name="read_constraints")
    async def read(self, req: ConstraintsRead) -> ConstraintsView:
        # A registry never started holds nothing: revision 0 ("changed" unless the caller already knows that).
        absent = ConstraintsView(revision=0, changed=req.known_revision != 0)
        return await query_registry(self._client, self._registry_id, "view", req, ConstraintsView, absent)
