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
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError
from temporalio.workflow import ActivityConfig

with workflow.unsafe.imports_passed_through():
    from fenix.metrics import Figures
    from fenix.models.notification import (
        AODH_STATES,
        EVENT_HOST,
        BodyFormat,
        Delivery,
        DeliveryResult,
        NoticeEnvelope,
        Subscription,
    )
    from fenix.models.subscription import SubscriptionFilter, SubscriptionList
    from workflows.options import REGISTRY_QUERY, WEBHOOK, WEBHOOK_INFO
    from workflows.patches import FAITHFUL_VNFM


@dataclass
class Outcome:
    subscribers: int
    delivered: int
    delivered_at: datetime | None = None  # when it first reached one of the project's subscriptions
    formats: frozenset[str] = frozenset()  # body formats of the subscriptions it was sent to


class Outbox:
    def __init__(self, log: Callable[[str, str | None], None]) -> None:
        self._log = log  # (message, project_id) -> None, records failures in the session history
        self._last: dict[str, asyncio.Task[Outcome]] = {}

    def send(self, event_type: str, project_id: str | None, payload: dict[str, Any],
             from_delivery: dict[str, float] | None = None, informational: bool = False) -> asyncio.Task[Outcome]:
        """Queue one notice; the task's result says how many subscribers there were, got it, and when.

        `from_delivery`: payload times that run from the delivery ({field: seconds}, see NoticeEnvelope).
        `informational`: nobody waits for it; a failing endpoint gets the shorter WEBHOOK_INFO retry budget.
        """
        envelope = NoticeEnvelope(event_type=event_type, message_id=str(workflow.uuid4()),
                                  generated=workflow.now(), project_id=project_id, payload=payload,
                                  from_delivery=from_delivery or {})
        key = project_id or f"_{event_type}"
        task = asyncio.create_task(self._deliver(self._last.get(key), envelope, informational))
        self._last[key] = task
        return task

    async def drain(self, limit: timedelta | None = None) -> None:
        """Wait for every queued notice (called before the workflow ends); with `limit`, at most that long: what
        is still retrying then (an endpoint that keeps failing) is given up, so it cannot hold the session open."""
        pending = [t for t in self._last.values() if not t.done()]
        if not pending:
            return
        if limit is None:
            await asyncio.gather(*pending)
            return
        try:
            await workflow.wait_condition(lambda: all(t.done() for t in pending), timeout=limit)
        except TimeoutError:
            left = [t for t in pending if not t.done()]
            for t in left:
                t.cancel()
            await asyncio.wait(left)
            self._log(f"gave up {len(left)} notice(s) still being retried when the session ended", None)

    async def _deliver(self, previous: asyncio.Task[Outcome] | None, envelope: NoticeEnvelope,
                       informational: bool) -> Outcome:
        if previous is not None:
            try:
                await previous
            except asyncio.CancelledError:
                # A previous notice given up (cancelled at its deadline) must not take this one with it; the order
                # holds either way. (Awaited directly, not through asyncio.wait: the wake-up order of the tasks
                # decides the order of commands, and histories written before must replay.)
                if not previous.cancelled():
                    raise
        query = (SubscriptionFilter(event_type=EVENT_HOST) if envelope.project_id is None
                 else SubscriptionFilter(project_id=envelope.project_id, event_type=envelope.event_type))
        subs: SubscriptionList = await workflow.execute_activity(
            "find_subscribers", query, result_type=SubscriptionList, **REGISTRY_QUERY)
        targets = subs.subscriptions
        if envelope.project_id is not None and envelope.payload.get("state") not in AODH_STATES and \
                workflow.patched(FAITHFUL_VNFM):
            # A Fenix-era (AODH-format) client knows only the states Fenix sent in its time: a new one
            # (INSTANCE_ACTION_FAILED) would only make it answer 500. Native subscribers get everything. Host events
            # (no project) go to infrastructure services, which get every host state in both formats.
            targets = [s for s in targets if s.format != BodyFormat.AODH]
        options = WEBHOOK_INFO if informational else WEBHOOK
        if not targets:
            Figures(workflow.metric_meter()).notice(envelope.event_type, _state(envelope), "no_subscriber")
        results = await asyncio.gather(*(self._deliver_one(sub, envelope, options) for sub in targets))
        reached = [r.delivered_at for r in results if r is not None and r.delivered_at is not None]
        return Outcome(subscribers=len(subs.subscriptions), delivered=sum(r is not None for r in results),
                       delivered_at=min(reached) if reached else None,
                       formats=frozenset(s.format.value for s in subs.subscriptions))

    async def _deliver_one(self, sub: Subscription, envelope: NoticeEnvelope,
                           options: ActivityConfig) -> DeliveryResult | None:
        try:
            result: DeliveryResult = await workflow.execute_activity(
                "deliver_notification", Delivery(subscription=sub, envelope=envelope), result_type=DeliveryResult,
                **options)
            Figures(workflow.metric_meter()).notice(envelope.event_type, _state(envelope), "delivered")
            return result
        except ActivityError as err:
            Figures(workflow.metric_meter()).notice(envelope.event_type, _state(envelope), "failed")
            cause = err.cause or err
            self._log(f"delivery of {envelope.payload.get('state')} to {sub.url} failed: {cause}",
                      envelope.project_id)
            return None


def _state(envelope: NoticeEnvelope) -> str:
    """The notice's state (MAINTENANCE, IN_MAINTENANCE, INSTANCE_ACTION_DONE, ...): a small, fixed set of labels."""
    return str(envelope.payload.get("state") or "")
