"""Durable subscription registry: an entity workflow that lives as long as the deployment.

Subscriptions exist before any session and must survive restarts of the API and the workers; keeping
them in a long-lived workflow makes Temporal their database (no second store to run or back up).
The workflow continues as new when its history grows, handing its whole state over.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from fenix.models.notification import Subscription
    from fenix.models.subscription import (
        RegistryState,
        SubscriptionAdd,
        SubscriptionFilter,
        SubscriptionList,
        SubscriptionRemove,
        SubscriptionRemoved,
    )
    from workflows.deadline import refuse_if_late
    from workflows.patches import SUBSCRIPTION_DEDUPE

MAX_SUBSCRIPTIONS_PER_PROJECT = 20
# The whole registry's bound, in bytes of its subscriptions: its state is carried over continue-as-new in one payload
# (2 MB at most), so it is bounded by what it weighs, not by a count. A subscription as a VNFM posts it (a 50-character
# URL, a 32-character project id) is ~270 bytes, so ~4,400 fit; at its largest (a 2,000-character URL, a 255-character
# project id, both event types) ~2,500 bytes, so a registry of only those still holds ~480. It used to be 500 of any
# size, which stopped a cloud of 1,000 projects at the 501st. One workflow holds every tenant's subscriptions: past
# this, new ones are refused (409) rather than break it for all.
MAX_REGISTRY_BYTES = 1_200_000


def subscription_bytes(sub: Subscription) -> int:
    """What a subscription weighs in the registry's state (its JSON, as the payload converter writes it)."""
    return len(sub.model_dump_json())


@workflow.defn(name="SubscriptionRegistry")
class SubscriptionRegistryWorkflow:
    """Updates `add` and `remove`; query `list`."""

    @workflow.init
    def __init__(self, state: RegistryState) -> None:
        self._subs = {s.id: s for s in state.subscriptions}
        self._writes = 0
        # Bytes per subscription, for the bound; computed once per subscription (the validator must stay cheap).
        self._bytes = {s.id: subscription_bytes(s) for s in state.subscriptions}

    @workflow.run
    async def run(self, state: RegistryState) -> None:
        limit = state.continue_as_new_after
        await workflow.wait_condition(lambda: workflow.info().is_continue_as_new_suggested()
                                      or (limit is not None and self._writes >= limit))
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(RegistryState(subscriptions=list(self._subs.values()), continue_as_new_after=limit))

    # Updates, not signals: the API answers the caller only once the subscription is durable.
    @workflow.update
    def add(self, req: SubscriptionAdd) -> Subscription:
        """Idempotent by content: a retried POST (its answer was lost, or it got a 503) must not create a second
        webhook, which would deliver every notice twice. The answer is then the subscription already there."""
        # Patched: a history written before this answered a duplicate by storing it, and must replay so.
        same = self._same_as(req) if workflow.patched(SUBSCRIPTION_DEDUPE) else None
        # Expired subscriptions go at the next write, dated by the request (recorded in the history, so a replay
        # drops the same ones; workflow.now() could differ on replay). No timer: nothing is sent to them meanwhile.
        for old in [s for s in self._subs.values() if not s.live(req.created_at) and s is not same]:
            del self._subs[old.id]
            self._bytes.pop(old.id, None)
        if same is not None:
            same.expires_at = req.expires_at  # the same subscription posted again: its ttl runs anew
            self._bytes[same.id] = subscription_bytes(same)
            return same
        sub = req.stored()
        self._subs[sub.id] = sub
        self._bytes[sub.id] = subscription_bytes(sub)
        self._writes += 1
        return sub

    @add.validator
    def _validate_add(self, req: SubscriptionAdd) -> None:
        refuse_if_late(req.not_after, "the subscription")
        if self._same_as(req) is not None:
            return  # answered with the existing one: no new subscription, so the limit does not apply
        own = [s for s in self._subs.values() if s.project_id == req.project_id and s.live(req.created_at)]
        if len(own) >= MAX_SUBSCRIPTIONS_PER_PROJECT:
            raise ApplicationError(f"project {req.project_id} already has {len(own)} subscriptions "
                                   f"(limit {MAX_SUBSCRIPTIONS_PER_PROJECT})", type="LimitReached")
        held = sum(self._bytes.get(s.id, 0) for s in self._subs.values() if s.live(req.created_at))
        if held + subscription_bytes(req.stored()) > MAX_REGISTRY_BYTES:
            raise ApplicationError(f"Fenix holds {len(self._subs)} subscriptions ({held:,} bytes), the most its "
                                   f"registry carries (limit {MAX_REGISTRY_BYTES:,} bytes); ask the operator",
                                   type="LimitReached")

    def _same_as(self, req: Subscription) -> Subscription | None:
        """A subscription of the same project to the same URL, in the same format, for the same events."""
        key = _content(req)
        return next((s for s in self._subs.values() if _content(s) == key and s.live(req.created_at)), None)

    @workflow.update
    def remove(self, req: SubscriptionRemove) -> SubscriptionRemoved:
        sub = self._subs.get(req.subscription_id)
        if sub is None or (req.project_id is not None and sub.project_id != req.project_id):
            return SubscriptionRemoved(removed=False)
        del self._subs[sub.id]
        self._bytes.pop(sub.id, None)
        self._writes += 1
        return SubscriptionRemoved(removed=True)

    @remove.validator
    def _validate_remove(self, req: SubscriptionRemove) -> None:
        refuse_if_late(req.not_after, "the unsubscription")

    @workflow.query(name="list")
    def list_subscriptions(self, f: SubscriptionFilter) -> SubscriptionList:
        subs = [s for s in self._subs.values()
                if (f.project_id is None or s.project_id == f.project_id)
                and (f.event_type is None or f.event_type in s.event_types)
                and (f.live_at is None or s.live(f.live_at))]
        return SubscriptionList(subscriptions=sorted(subs, key=lambda s: (s.created_at, s.id)))


def _content(sub: Subscription) -> tuple[str, str, str, tuple[str, ...]]:
    return sub.project_id, sub.url, sub.format.value, tuple(sorted(set(sub.event_types)))
