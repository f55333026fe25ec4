"""Module-level dependency aliases (FastAPI resolves them by annotation).

What a route needs from the app (settings, the Temporal client, the registries, the caller) comes from here, so a
route module only routes. Everything Temporal-backed answers 503 (TemporalNotReady, api/errors.py) while the API
still waits for its connection (api/temporal_link.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from temporalio.client import Client

from api.auth import Authenticator, AuthRejected, AuthUnavailable, Principal
from api.gate import token_from
from api.registries import ConstraintRegistries, Registries, Registry
from api.temporal_link import TemporalLink
from fenix.egress import EgressPolicy
from fenix.settings import Settings
from fenix.signing import WebhookSecrets
from workflows.leases import HostLeasesWorkflow
from workflows.registry import SubscriptionRegistryWorkflow


# Dependencies that only read app.state are `async def`: FastAPI runs a plain `def` dependency in its thread pool, and
# in a burst of 200 requests each such hop queued for the GIL behind the others (tens to hundreds of ms a request).
async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_egress(request: Request) -> EgressPolicy:
    policy: EgressPolicy | None = getattr(request.app.state, "egress", None)
    if policy is None:
        policy = request.app.state.egress = EgressPolicy.from_settings(request.app.state.settings)
    return policy


def get_webhook_secrets(request: Request) -> WebhookSecrets:
    found: WebhookSecrets | None = getattr(request.app.state, "webhook_secrets", None)
    if found is None:
        found = request.app.state.webhook_secrets = WebhookSecrets.from_settings(request.app.state.settings)
    return found


async def get_client(request: Request) -> Client:
    link: TemporalLink = request.app.state.temporal
    return link.client  # TemporalNotReady (503) while the API still waits for Temporal


def _registries(request: Request) -> Registries:
    registries: Registries = request.app.state.registries  # made in the lifespan (api/app.py)
    return registries


async def get_subscription_registry(request: Request) -> Registry[SubscriptionRegistryWorkflow]:
    return _registries(request).subscriptions  # TemporalNotReady (503) while the API still waits for Temporal


async def get_host_leases(request: Request) -> Registry[HostLeasesWorkflow]:
    return _registries(request).leases


async def get_constraint_registries(request: Request) -> ConstraintRegistries:
    return _registries(request).constraints


# The two ways to send a token, as OpenAPI security schemes (the Authorize button in /docs); either one will do.
# auto_error=False: the check and its 401 are Fenix's own (api/gate.py), with the `{"error", "detail"}` body.
TOKEN_HEADER = APIKeyHeader(name="X-Auth-Token", auto_error=False, scheme_name="X-Auth-Token",
                            description="A Fenix token (tokens mode) or a Keystone token (keystone mode)")
BEARER = HTTPBearer(auto_error=False, scheme_name="Bearer", description="The same token as `Authorization: Bearer`")


async def get_principal(request: Request, _header: Annotated[str | None, Security(TOKEN_HEADER)] = None,
                        _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)] = None) -> Principal:
    """The caller: checked by api/gate.py before the body was read; checked here only for an app without it."""
    found: Principal | None = getattr(request.state, "principal", None)
    if found is not None:
        return found
    token = token_from(request.headers)
    auth: Authenticator = request.app.state.authenticator
    if not token:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing token: send X-Auth-Token or "
                                                          "Authorization: Bearer <token>",
                            headers={"WWW-Authenticate": auth.challenge})
    try:
        return await auth.verify(token)
    except AuthRejected as e:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, e.reason,
                            headers={"WWW-Authenticate": auth.challenge}) from None
    except AuthUnavailable as e:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, e.reason, headers={"Retry-After": "5"}) from None


def list_scope(who: Principal, project_id: str | None, what: str) -> str | None:
    """The project a list of `what` may show (`?project_id=`): the admin any, or all (None); a project its own."""
    if who.is_admin:
        return project_id
    if project_id not in (None, who.project_id):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"a project can only see its own {what}")
    return who.project_id


async def require_admin(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if not principal.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this call needs the admin role")
    return principal


async def require_service(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if not principal.is_service:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this call needs the admin or service role")
    return principal


SettingsDep = Annotated[Settings, Depends(get_settings)]
ClientDep = Annotated[Client, Depends(get_client)]
SubscriptionRegistryDep = Annotated[Registry[SubscriptionRegistryWorkflow], Depends(get_subscription_registry)]
HostLeasesDep = Annotated[Registry[HostLeasesWorkflow], Depends(get_host_leases)]
ConstraintRegistriesDep = Annotated[ConstraintRegistries, Depends(get_constraint_registries)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
AdminDep = Annotated[Principal, Depends(require_admin)]
ServiceDep = Annotated[Principal, Depends(require_service)]
EgressDep = Annotated[EgressPolicy, Depends(get_egress)]
SecretsDep = Annotated[WebhookSecrets, Depends(get_webhook_secrets)]
