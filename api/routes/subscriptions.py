"""Webhook subscriptions (`/v1/subscriptions`), kept durably in the registry workflow (api/registries.py)."""

from __future__ import annotations

import asyncio
import socket
import uuid
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, HTTPException, Response
from starlette.concurrency import run_in_threadpool

from api.auth import Principal
from api.deadline import BoundedRoute, DeadlineDep
from api.deps import EgressDep, PrincipalDep, SecretsDep, SubscriptionRegistryDep, list_scope
from api.registries import Registry
from api.schemas import SecretRotated, SubscriptionCreated, SubscriptionIn
from fenix.egress import DestinationRefused, EgressPolicy, parse_address
from fenix.models.notification import EVENT_HOST, BodyFormat, Subscription
from fenix.models.subscription import SubscriptionAdd, SubscriptionFilter, SubscriptionList, SubscriptionRemove
from workflows.registry import SubscriptionRegistryWorkflow

router = APIRouter(prefix="/subscriptions", tags=["subscriptions"], route_class=BoundedRoute)

RESOLVE_S = 3.0  # how long a subscription waits for its URL's name to resolve (it is checked again at delivery)


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


@router.post("", status_code=201, response_model=SubscriptionCreated, response_model_exclude_none=True,
             responses={200: {"model": Subscription, "description": "the same subscription already existed (no "
                                                                   "secret: rotate it if it was lost)"}})
async def subscribe(body: SubscriptionIn, who: PrincipalDep, registry: SubscriptionRegistryDep,
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
    stored = await registry.update(SubscriptionRegistryWorkflow.add, new)
    if stored.id != new.id:
        response.status_code = 200
        return SubscriptionCreated.model_validate(stored.model_dump())
    secret = await run_in_threadpool(secrets.secret, stored.id)
    return SubscriptionCreated.model_validate({**stored.model_dump(), "secret": secret})


@router.get("", response_model=SubscriptionList)
async def list_subscriptions(who: PrincipalDep, registry: SubscriptionRegistryDep,
                             project_id: str | None = None) -> SubscriptionList:
    """Own subscriptions; the admin sees all, or one project's with `?project_id=`."""
    scope = list_scope(who, project_id, "subscriptions")
    return await registry.query(SubscriptionRegistryWorkflow.list_subscriptions,
                                SubscriptionFilter(project_id=scope, live_at=datetime.now(UTC)))


@router.get("/{subscription_id}", response_model=Subscription)
async def get_subscription(subscription_id: str, who: PrincipalDep, registry: SubscriptionRegistryDep) -> Subscription:
    return await _visible_subscription(subscription_id, who, registry)


@router.post("/{subscription_id}/secret", response_model=SecretRotated)
async def rotate_secret(subscription_id: str, who: PrincipalDep, registry: SubscriptionRegistryDep,
                        secrets: SecretsDep) -> SecretRotated:
    """A new signing secret for the subscription, shown only in this answer. For FENIX_WEBHOOK_SECRET_GRACE_S
    (a day by default) deliveries carry a signature with the previous secret too, so the VNFM can switch over."""
    subscription = await _visible_subscription(subscription_id, who, registry)
    secret, until = await run_in_threadpool(secrets.rotate, subscription.id)
    return SecretRotated(id=subscription.id, secret=secret,
                         previous_valid_until=datetime.fromtimestamp(until, UTC) if until is not None else None)


async def _visible_subscription(subscription_id: str, who: Principal,
                                registry: Registry[SubscriptionRegistryWorkflow]) -> Subscription:
    """The subscription, if the caller may see it (404 otherwise, also for another project's)."""
    found = await registry.query(SubscriptionRegistryWorkflow.list_subscriptions,
                                 SubscriptionFilter(project_id=who.scope, live_at=datetime.now(UTC)))
    for subscription in found.subscriptions:
        if subscription.id == subscription_id:
            return subscription
    raise HTTPException(404, f"no subscription {subscription_id!r}")


@router.delete("/{subscription_id}", status_code=204)
async def unsubscribe(subscription_id: str, who: PrincipalDep, registry: SubscriptionRegistryDep,
                      deadline: DeadlineDep, secrets: SecretsDep) -> Response:
    removed = await registry.update(
        SubscriptionRegistryWorkflow.remove,
        SubscriptionRemove(subscription_id=subscription_id, project_id=who.scope, not_after=deadline.not_after))
    if not removed.removed:
        raise HTTPException(404, f"no subscription {subscription_id!r}")
    await run_in_threadpool(secrets.forget, subscription_id)
    return Response(status_code=204)
