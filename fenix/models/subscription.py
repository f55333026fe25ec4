"""Messages of the durable subscription registry."""

from __future__ import annotations

from pydantic import BaseModel, Field

from fenix.models.notification import Subscription


class SubscriptionRemove(BaseModel):
    subscription_id: str
    project_id: str | None = None  # None: admin removing any subscription


class SubscriptionRemoved(BaseModel):
    removed: bool


class SubscriptionFilter(BaseModel):
    project_id: str | None = None
    event_type: str | None = None


class SubscriptionList(BaseModel):
    subscriptions: list[Subscription] = Field(default_factory=list)


class RegistryState(BaseModel):
    """Carried over continue-as-new."""

    subscriptions: list[Subscription] = Field(default_factory=list)
