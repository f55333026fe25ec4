"""Module-level dependency aliases (FastAPI resolves them by annotation)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, status
from temporalio.client import Client

from api.auth import Authenticator, AuthRejected, AuthUnavailable, Principal
from api.temporal_link import TemporalLink
from fenix.settings import Settings


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_client(request: Request) -> Client:
    link: TemporalLink = request.app.state.temporal
    return link.client  # TemporalNotReady (503) while the API still waits for Temporal


async def get_principal(request: Request, x_auth_token: Annotated[str | None, Header()] = None,
                        authorization: Annotated[str | None, Header()] = None) -> Principal:
    token = (x_auth_token or "").strip() or None  # an empty header (a client template) must not hide the bearer
    if token is None and authorization and authorization.lower().startswith("bearer "):
        token = authorization[7:].strip()
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


def require_admin(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if not principal.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this call needs the admin role")
    return principal


def require_service(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if not principal.is_service:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this call needs the admin or service role")
    return principal


SettingsDep = Annotated[Settings, Depends(get_settings)]
ClientDep = Annotated[Client, Depends(get_client)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
AdminDep = Annotated[Principal, Depends(require_admin)]
ServiceDep = Annotated[Principal, Depends(require_service)]
