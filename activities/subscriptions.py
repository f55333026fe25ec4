"""Looking up subscribers: a query to the registry workflow, done from an activity (it is I/O)."""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from fenix.models.subscription import SubscriptionFilter, SubscriptionList


class SubscriberActivities:
    def __init__(self, client: Client, registry_workflow_id: str) -> None:
        self._client = client
        self._registry_id = registry_workflow_id

    @activity.defn(name="find_subscribers")
    async def find(self, f: SubscriptionFilter) -> SubscriptionList:
        handle = self._client.get_workflow_handle(self._registry_id)
        try:
            found: SubscriptionList = await handle.query("list", f, result_type=SubscriptionList)
            return found
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return SubscriptionList()  # nobody ever subscribed
            raise
