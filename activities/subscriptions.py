"""Looking up subscribers: a query to the registry workflow, done from an activity (it is I/O)."""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio import activity
from temporalio.client import Client

from activities.registry_query import query_registry
from fenix.models.subscription import SubscriptionFilter, SubscriptionList


class SubscriberActivities:
    def __init__(self, client: Client, registry_workflow_id: str) -> None:
        self._client = client
        self._registry_id = registry_workflow_id

    @activity.defn(name="find_subscribers")
    async def find(self, f: SubscriptionFilter) -> SubscriptionList:
        # Dated here, not in workflow code: the time a notice goes out decides whether an expiring subscription
        # still gets it, and the activity's result (recorded) carries that decision into the history.
        if f.live_at is None:
            f = f.model_copy(update={"live_at": datetime.now(UTC)})
        return await query_registry(self._client, self._registry_id, "list", f, SubscriptionList, SubscriptionList())
