"""Webhook subscriptions (`/v1/subscriptions`), kept durably in the registry workflow."""

from __future__ import annotations

import asyncio
import socket
import uuid
from datetime import UTC, datetime, timedelta
from typing import Literal

from fastapi import APIRouter, HTTPException, Response
from pydantic import AnyHttpUrl, BaseModel, Field, field_validator
from starlette.concurrency import run_in_threadpool
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy

from api.auth import Principal
from api.deadline import BoundedRoute, DeadlineDep
from api.deps import ClientDep, EgressDep, PrincipalDep, SecretsDep, SettingsDep, list_scope
from fenix.egress import DestinationRefused, EgressPolicy, parse_address
from fenix.models.limits import MAX_URL_LENGTH, ApiId
from fenix.models.notification import (
    EVENT_HOST,
    EVENT_PROJECT,
    EVENT_TYPES,
    BodyFormat,
    Subscription,
    SubscriptionCreate,
)
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

MAX_TTL_S = 366 * 86400  # a year: a VNFM that wants longer renews, or omits the ttl
RESOLVE_S = 3.0  # how long a subscription waits for its URL's name to resolve (it is checked again at delivery)
EventType = Literal["maintenance.scheduled", "maintenance.host"]


def _default_events() -> list[EventType]:
    return [EVENT_PROJECT]  # type: ignore[list-item]


class SubscriptionIn(SubscriptionCreate):
    project_id: ApiId | None = None  # admin only: subscribe on behalf of a project
    ttl: int | None = Field(None, ge=1, le=MAX_TTL_S,
                            description="seconds until the subscription expires (then it gets no notice and is "
                                        "dropped); posting the same subscription again renews it. None: until "
                                        "deleted")
    event_types: list[EventType] = Field(default_factory=_default_events, min_length=1,  # type: ignore[assignment]
                                         description="at least one; maintenance.host needs the admin or service role")

    @field_validator("url", mode="before")
    @classmethod
    def _url_length(cls, v: object) -> object:
        # Stored in the registry and copied into every delivery: bounded before it is parsed (docs/security.md).
        if isinstance(v, str) and len(v) > MAX_URL_LENGTH:
            raise ValueError(f"at most {MAX_URL_LENGTH} characters, not {len(v)}")
        return v

    @field_validator("url")
    @classmethod
    def _stored_length(cls, v: AnyHttpUrl) -> AnyHttpUrl:
        if len(str(v)) > MAX_URL_LENGTH:  # once normalized (percent-encoding, punycode) it can grow
            raise ValueError(f"at most {MAX_URL_LENGTH} characters once normalized, not {len(str(v))}")
        return v

    @field_validator("event_types")
    @classmethod
    def _events(cls, v: list[EventType]) -> list[EventType]:
        bad = [e for e in v if e not in EVENT_TYPES]
        if bad:
            raise ValueError(f"unknown event type(s) {bad}; known: {list(EVENT_TYPES)}")
        return sorted(set(v))


class SubscriptionsOut(BaseModel):
    subscriptions: list[Subscription]


class SubscriptionCreated(Subscription):
    secret: str | None = Field(None, description="the signing secret (`whsec_...`) of a new subscription: shown in "
                                                 "this answer only (rotate it to get a new one)")


class SecretRotated(BaseModel):
    id: str
    secret: str = Field(description="the new signing secret (`whsec_...`), shown only in this answer")
    previous_valid_until: datetime | None = Field(
        description="until then deliveries are signed with the previous secret too (FENIX_WEBHOOK_SECRET_GRACE_S)")


async def check_destination(url: str, policy: EgressPolicy) -> None:
    """422 for a URL that webhooks may not reach (fenix/egress.py). A name is resolved and each of its addresses
    checked; one that does not resolve now is accepted and checked at every delivery."""
    try:
        host, port = policy.check_url(url)
        if parse_address(host) is not None or policy.host_allowed(host):
            return
        try:
            async with asyncio.timeout(RESOLVE_S):
                infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, TimeoutError):
            return
        policy.check_resolved(host, [str(info[4][0]) for info in infos])
    except DestinationRefused as err:
        raise HTTPException(422, f"url: {err}") from None


async def registry(client: Client, settings: Settings) -> WorkflowHandle[SubscriptionRegistryWorkflow, None]:
    """The registry workflow, started on first use (idempotent: an existing one is reused)."""
    return await client.start_workflow(
        SubscriptionRegistryWorkflow.run, RegistryState(), id=settings.registry_workflow_id,
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)


@router.post("", status_code=201, response_model=SubscriptionCreated, response_model_exclude_none=True,
             responses={200: {"model": Subscription, "description": "the same subscription already existed (no "
                                                                   "secret: rotate it if it was lost)"}})
async def subscribe(body: SubscriptionIn, who: PrincipalDep, client: ClientDep, settings: SettingsDep,
                    deadline: DeadlineDep, response: Response, egress: EgressDep,
                    secrets: SecretsDep) -> SubscriptionCreated:
    """Subscribe a webhook to `maintenance.scheduled` (projects) or `maintenance.host` (admin/service).

    A new subscription's answer (201) carries its signing `secret`, once. Idempotent by content: the same project,
    URL, format and event types answer the existing subscription with 200 (without the secret), so a client may
    safely retry (after a 503, or a lost answer). URLs that reach internal addresses are refused (422)."""
    project = body.project_id or who.project_id
    if project != who.project_id and not who.is_admin:
        raise HTTPException(403, "a project can only subscribe for itself")
    if EVENT_HOST in body.event_types and not who.is_service:
        raise HTTPException(403, f"{EVENT_HOST} events are for the admin and infrastructure services")
    await check_destination(str(body.url), egress)
    now = datetime.now(UTC)
    new = SubscriptionAdd(id=str(uuid.uuid4()), project_id=project, url=str(body.url), event_types=body.event_types,
                          format=BodyFormat(body.format), created_at=now, not_after=deadline.not_after,
                          expires_at=now + timedelta(seconds=body.ttl) if body.ttl is not None else None)
    handle = await registry(client, settings)
    stored = await handle.execute_update(SubscriptionRegistryWorkflow.add, new)
    if stored.id != new.id:
        response.status_code = 200
        return SubscriptionCreated.model_validate(stored.model_dump())
    secret = await run_in_threadpool(secrets.secret, stored.id)
    return SubscriptionCreated.model_validate({**stored.model_dump(), "secret": secret})


@router.get("", response_model=SubscriptionsOut)
async def list_subscriptions(who: PrincipalDep, client: ClientDep, settings: SettingsDep,
                             project_id: str | None = None) -> SubscriptionsOut:
    """Own subscriptions; the admin sees all, or one project's with `?project_id=`."""
    scope = list_scope(who, project_id, "subscriptions")
    handle = await registry(client, settings)
    found: SubscriptionList = await handle.query(SubscriptionRegistryWorkflow.list_subscriptions,
                                                 SubscriptionFilter(project_id=scope, live_at=datetime.now(UTC)))
    return SubscriptionsOut(subscriptions=found.subscriptions)


@router.get("/{subscription_id}", response_model=Subscription)
async def get_subscription(subscription_id: str, who: PrincipalDep, client: ClientDep,
                           settings: SettingsDep) -> Subscription:
    return await _find(subscription_id, who, client, settings)


@router.post("/{subscription_id}/secret", response_model=SecretRotated)
async def rotate_secret(subscription_id: str, who: PrincipalDep, client: ClientDep, settings: SettingsDep,
                        secrets: SecretsDep) -> SecretRotated:
    """A new signing secret for the subscription, shown only in this answer. For FENIX_WEBHOOK_SECRET_GRACE_S
    (a day by default) deliveries carry a signature with the previous secret too, so the VNFM can switch over."""
    sub = await _find(subscription_id, who, client, settings)
    secret, until = await run_in_threadpool(secrets.rotate, sub.id)
    return SecretRotated(id=sub.id, secret=secret,
                         previous_valid_until=datetime.fromtimestamp(until, UTC) if until is not None else None)


async def _find(subscription_id: str, who: Principal, client: Client, settings: Settings) -> Subscription:
    """The subscription, if the caller may see it (404 otherwise, also for another project's)."""
    handle = await registry(client, settings)
    found: SubscriptionList = await handle.query(
        SubscriptionRegistryWorkflow.list_subscriptions,
        SubscriptionFilter(project_id=who.scope, live_at=datetime.now(UTC)))
    for sub in found.subscriptions:
        if sub.id == subscription_id:
            return sub
    raise HTTPException(404, f"no subscription {subscription_id!r}")


@router.delete("/{subscription_id}", status_code=204)
async def unsubscribe(subscription_id: str, who: PrincipalDep, client: ClientDep, settings: SettingsDep,
                      deadline: DeadlineDep, secrets: SecretsDep) -> Response:
    handle = await registry(client, settings)
    res = await handle.execute_update(
        SubscriptionRegistryWorkflow.remove,
        SubscriptionRemove(subscription_id=subscription_id, project_id=who.scope, not_after=deadline.not_after))
    if not res.removed:
        raise HTTPException(404, f"no subscription {subscription_id!r}")
    await run_in_threadpool(secrets.forget, subscription_id)
    return Response(status_code=204)
