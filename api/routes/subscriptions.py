"""Webhook subscriptions (`/v1/subscriptions`), kept durably in the registry workflow."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, field_validator
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy

from api.deadline import BoundedRoute, DeadlineDep
from api.deps import ClientDep, PrincipalDep, SettingsDep, list_scope
from fenix.models.notification import EVENT_HOST, EVENT_TYPES, BodyFormat, Subscription, SubscriptionCreate
from fenix.models.subscription import (
    RegistryState,
    SubscriptionAdd,
    SubscriptionFilter,
    SubscriptionList,
    SubscriptionRemove,
)
from fenix.settings import Settings
from workflows.registry import SubscriptionRegistryWorkflow

router = APIRouter(prefix="/subscriptions", tags=["subscriptions"], route_class=BoundedRoute)


class SubscriptionIn(SubscriptionCreate):
    project_id: str | None = None  # admin only: subscribe on behalf of a project

    @field_validator("event_types")
    @classmethod
    def _events(cls, v: list[str]) -> list[str]:
        bad = [e for e in v if e not in EVENT_TYPES]
        if bad:
            raise ValueError(f"unknown event type(s) {bad}; known: {list(EVENT_TYPES)}")
        return sorted(set(v))


class SubscriptionsOut(BaseModel):
    subscriptions: list[Subscription]


async def registry(client: Client, settings: Settings) -> WorkflowHandle[SubscriptionRegistryWorkflow, None]:
    """The registry workflow, started on first use (idempotent: an existing one is reused)."""
    return await client.start_workflow(
        SubscriptionRegistryWorkflow.run, RegistryState(), id=settings.registry_workflow_id,
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)


@router.post("", status_code=201, response_model=Subscription,
             responses={200: {"model": Subscription, "description": "the same subscription already existed"}})
async def subscribe(body: SubscriptionIn, who: PrincipalDep, client: ClientDep, settings: SettingsDep,
                    deadline: DeadlineDep, response: Response) -> Subscription:
    """Subscribe a webhook to `maintenance.scheduled` (projects) or `maintenance.host` (admin/service).

    Idempotent by content: the same project, URL, format and event types answer the existing subscription with
    200, so a client may safely retry (after a 503, or a lost answer)."""
    project = body.project_id or who.project_id
    if project != who.project_id and not who.is_admin:
        raise HTTPException(403, "a project can only subscribe for itself")
    if EVENT_HOST in body.event_types and not who.is_service:
        raise HTTPException(403, f"{EVENT_HOST} events are for the admin and infrastructure services")
    new = SubscriptionAdd(id=str(uuid.uuid4()), project_id=project, url=str(body.url), event_types=body.event_types,
                          format=BodyFormat(body.format), created_at=datetime.now(UTC), not_after=deadline.not_after)
    handle = await registry(client, settings)
    stored = await handle.execute_update(SubscriptionRegistryWorkflow.add, new)
    if stored.id != new.id:
        response.status_code = 200
    return stored


@router.get("", response_model=SubscriptionsOut)
async def list_subscriptions(who: PrincipalDep, client: ClientDep, settings: SettingsDep,
                             project_id: str | None = None) -> SubscriptionsOut:
    """Own subscriptions; the admin sees all, or one project's with `?project_id=`."""
    scope = list_scope(who, project_id, "subscriptions")
    handle = await registry(client, settings)
    found: SubscriptionList = await handle.query(SubscriptionRegistryWorkflow.list_subscriptions,
                                                 SubscriptionFilter(project_id=scope))
    return SubscriptionsOut(subscriptions=found.subscriptions)


@router.get("/{subscription_id}", response_model=Subscription)
async def get_subscription(subscription_id: str, who: PrincipalDep, client: ClientDep,
                           settings: SettingsDep) -> Subscription:
    handle = await registry(client, settings)
    found: SubscriptionList = await handle.query(
        SubscriptionRegistryWorkflow.list_subscriptions,
        SubscriptionFilter(project_id=who.scope))
    for sub in found.subscriptions:
        if sub.id == subscription_id:
            return sub
    raise HTTPException(404, f"no subscription {subscription_id!r}")


@router.delete("/{subscription_id}", status_code=204)
async def unsubscribe(subscription_id: str, who: PrincipalDep, client: ClientDep, settings: SettingsDep,
                      deadline: DeadlineDep) -> Response:
    handle = await registry(client, settings)
    res = await handle.execute_update(
        SubscriptionRegistryWorkflow.remove,
        SubscriptionRemove(subscription_id=subscription_id, project_id=who.scope, not_after=deadline.not_after))
    if not res.removed:
        raise HTTPException(404, f"no subscription {subscription_id!r}")
    return Response(status_code=204)
