"""Messages of the durable subscription registry."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from fenix.models.deadline import Deadlined
from fenix.models.notification import Subscription


class SubscriptionAdd(Subscription, Deadlined):
    """The `add` Update's argument: the subscription to store, and the API's deadline (not stored).

    A subclass of what the Update took before, so the histories of registries started earlier still replay."""

    def stored(self) -> Subscription:
        return Subscription.model_validate(self.model_dump(exclude={"not_after"}))


class SubscriptionRemove(Deadlined):
    subscription_id: str
    project_id: str | None = None  # None: admin removing any subscription


class SubscriptionRemoved(BaseModel):
    removed: bool


class SubscriptionFilter(BaseModel):
    project_id: str | None = None
    event_type: str | None = None
    # Only subscriptions still live at this time (their `expires_at` later); None: expired ones too.
    live_at: datetime | None = None


class SubscriptionList(BaseModel):
    # Also an API answer: the list is always there, so the OpenAPI document says it is required.
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    subscriptions: list[Subscription] = Field(default_factory=list)


class RegistryState(BaseModel):
    """Carried over continue-as-new. Bounded: at most MAX_REGISTRY_BYTES of subscriptions (workflows/registry.py),
    each of bounded fields, so carrying it over always fits one payload (docs/security.md#limits)."""

    subscriptions: list[Subscription] = Field(default_factory=list)
    # Continue as new after this many writes in one run (None: only when Temporal suggests it). Tests force it low.
    continue_as_new_after: int | None = Field(None, ge=1)
