"""Sending notices from workflow code.

Each notice is two steps: an activity that looks up the current subscribers (subscriptions may change
while a session runs), then one delivery activity per subscription, all at once, so Temporal retries each
endpoint on its own (the activity's attempt count is in the Web UI's pending activities) and a dead endpoint
does not hold back the others. Notices to one destination are delivered in the order they were sent: each
delivery task first awaits the previous one of the same destination.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from fenix.models.notification import EVENT_HOST, Delivery, DeliveryResult, NoticeEnvelope, Subscription
    from fenix.models.subscription import SubscriptionFilter, SubscriptionList
    from workflows.options import REGISTRY_QUERY, WEBHOOK


@dataclass
class Outcome:
    subscribers: int
    delivered: int
    delivered_at: datetime | None = None  # when it first reached one of the project's subscriptions


class Outbox:
    def __init__(self, log: Callable[[str, str | None], None]) -> None:
        self._log = log  # (message, project_id) -> None, records failures in the session history
        self._last: dict[str, asyncio.Task[Outcome]] = {}

    def send(self, event_type: str, project_id: str | None, payload: dict[str, Any],
             from_delivery: dict[str, float] | None = None) -> asyncio.Task[Outcome]:
        """Queue one notice; the task's result says how many subscribers there were, got it, and when.

        `from_delivery`: payload times that run from the delivery ({field: seconds}, see NoticeEnvelope).
        """
        envelope = NoticeEnvelope(event_type=event_type, message_id=str(workflow.uuid4()),
                                  generated=workflow.now(), project_id=project_id, payload=payload,
                                  from_delivery=from_delivery or {})
        key = project_id or f"_{event_type}"
        task = asyncio.create_task(self._deliver(self._last.get(key), envelope))
        self._last[key] = task
        return task

    async def drain(self) -> None:
        """Wait for every queued notice (called before the workflow ends)."""
        pending = [t for t in self._last.values() if not t.done()]
        if pending:
            await asyncio.gather(*pending)

    async def _deliver(self, previous: asyncio.Task[Outcome] | None, envelope: NoticeEnvelope) -> Outcome:
        if previous is not None:
            await previous
        query = (SubscriptionFilter(event_type=EVENT_HOST) if envelope.project_id is None
                 else SubscriptionFilter(project_id=envelope.project_id, event_type=envelope.event_type))
        subs: SubscriptionList = await workflow.execute_activity(
            "find_subscribers", query, result_type=SubscriptionList, **REGISTRY_QUERY)
        results = await asyncio.gather(*(self._deliver_one(sub, envelope) for sub in subs.subscriptions))
        reached = [r.delivered_at for r in results if r is not None and r.delivered_at is not None]
        return Outcome(subscribers=len(subs.subscriptions), delivered=sum(r is not None for r in results),
                       delivered_at=min(reached) if reached else None)

    async def _deliver_one(self, sub: Subscription, envelope: NoticeEnvelope) -> DeliveryResult | None:
        try:
            result: DeliveryResult = await workflow.execute_activity(
                "deliver_notification", Delivery(subscription=sub, envelope=envelope), result_type=DeliveryResult,
                **WEBHOOK)
            return result
        except ActivityError as err:
            cause = err.cause or err
            self._log(f"delivery of {envelope.payload.get('state')} to {sub.url} failed: {cause}",
                      envelope.project_id)
            return None
