"""A real Keystone for the keystone auth mode: the devcloud's (`make devcloud-up`), or any cloud named by OS_CLOUD
in OS_CLIENT_CONFIG_FILE (a cloud admin's credentials). See tests/cloudenv.py for what happens when none answers.

The session fixture creates, and removes at the end, a tenant project with a `member` user and a service project
with Fenix's own service user (role `service`), all with random names."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from temporalio.client import Client

from api.app import create_app
from demo.stack import free_port, serve
from fenix.settings import Settings
from tests.cloudenv import config_file, no_cloud

_CONFIG = config_file()
CONFIG_FILE = str(_CONFIG) if _CONFIG else None
CLOUD = os.environ.get("OS_CLOUD") or "minicloud"
IDENTITY_V3 = {"service_type": "identity", "interface": "public", "version": (3, 0)}


@dataclass
class Keystone:
    """The cloud's admin session and the identities created for the tests."""

    admin: Any  # keystoneauth1 Session of the cloud's admin
    conn: Any  # openstack.connection.Connection, same admin
    auth_url: str
    domain_id: str
    tenant_project_id: str
    member_name: str
    member_password: str
    service_project_name: str
    service_user: str
    service_password: str

    def token(self, username: str, password: str, project_name: str | None = None,
              project_domain_id: str | None = None, *, unscoped: bool = False) -> str:
        """A real token from password auth (project-scoped unless `unscoped`)."""
        from keystoneauth1 import session
        from keystoneauth1.identity import v3

        scope: dict[str, Any] = {} if unscoped else {"project_name": project_name,
                                                      "project_domain_id": project_domain_id or self.domain_id}
        auth = v3.Password(auth_url=self.auth_url, username=username, password=password,
                           user_domain_id=self.domain_id, unscoped=unscoped, **scope)
        token = session.Session(auth=auth, timeout=10).get_token()
        assert token
        return token

    def member_token(self, **kw: Any) -> str:
        return self.token(self.member_name, self.member_password, self.tenant_project_name, **kw)

    def service_token(self) -> str:
        return self.token(self.service_user, self.service_password, self.service_project_name)

    def admin_token(self) -> str:
        token: str = self.admin.get_token()
        return token

    def revoke(self, token: str) -> None:
        """DELETE /v3/auth/tokens: the token is dead in Keystone from now on."""
        self.admin.delete("/auth/tokens", headers={"X-Subject-Token": token}, endpoint_filter=IDENTITY_V3)

    @property
    def tenant_project_name(self) -> str:
        return f"{self.service_project_name.removesuffix('-svc')}-tenant"

    def fenix_settings(self, tmp: Path, **extra: Any) -> Settings:
        """The API in keystone mode, validating as the test service user."""
        # The identities live in the domain named Default (see `keystone`); the public interface is the one a
        # test machine can reach on any cloud.
        values: dict[str, Any] = {
            "data_dir": tmp, "auth_mode": "keystone", "keystone_auth_url": self.auth_url,
            "keystone_username": self.service_user, "keystone_password": self.service_password,
            "keystone_project_name": self.service_project_name, "keystone_user_domain_name": "Default",
            "keystone_project_domain_name": "Default", "keystone_interface": "public", **extra}
        return Settings(**values)


def _connect() -> tuple[Any, Any, str]:
    """(connection, admin session, auth URL) of the configured cloud, or skip saying why."""
    import openstack.config
    import openstack.connection

    where = f"cloud {CLOUD!r} in {CONFIG_FILE or 'the default clouds.yaml places'}"
    try:
        config = openstack.config.OpenStackConfig(config_files=[CONFIG_FILE] if CONFIG_FILE else None)
        region = config.get_one(cloud=CLOUD)
        session = region.get_session()
        session.timeout = 10
        session.get_token()
    except Exception as e:  # any failure here means: no usable Keystone
        no_cloud(f"no reachable Keystone: {where}: {type(e).__name__}: {e}")
    conn = openstack.connection.Connection(config=region, session=session)
    return conn, session, str(region.config["auth"]["auth_url"])


@pytest.fixture(scope="session")
def keystone() -> Iterator[Keystone]:
    conn, admin, auth_url = _connect()
    ident = conn.identity
    suffix = secrets.token_hex(4)
    domain = ident.find_domain("Default", ignore_missing=False)
    created: list[tuple[str, Any]] = []
    try:
        roles = {r.name: r for r in ident.roles()}
        for needed in ("member", "service"):
            if needed not in roles:
                roles[needed] = ident.create_role(name=needed)
                created.append(("role", roles[needed]))
        tenant = ident.create_project(name=f"fenix-kt-{suffix}-tenant", domain_id=domain.id)
        created.append(("project", tenant))
        svc_project = ident.create_project(name=f"fenix-kt-{suffix}-svc", domain_id=domain.id)
        created.append(("project", svc_project))
        member_password, service_password = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        member = ident.create_user(name=f"fenix-kt-{suffix}-member", password=member_password,
                                   domain_id=domain.id, default_project_id=tenant.id)
        created.append(("user", member))
        service = ident.create_user(name=f"fenix-kt-{suffix}-fenix", password=service_password,
                                    domain_id=domain.id, default_project_id=svc_project.id)
        created.append(("user", service))
        ident.assign_project_role_to_user(tenant, member, roles["member"])
        ident.assign_project_role_to_user(svc_project, service, roles["service"])
        yield Keystone(admin=admin, conn=conn, auth_url=auth_url, domain_id=domain.id, tenant_project_id=tenant.id,
                       member_name=member.name, member_password=member_password,
                       service_project_name=svc_project.name, service_user=service.name,
                       service_password=service_password)
    finally:
        for kind, obj in reversed(created):
            getattr(ident, f"delete_{kind}")(obj, ignore_missing=True)


@asynccontextmanager
async def fenix_api(settings: Settings, client: Client) -> AsyncIterator[tuple[httpx.AsyncClient, FastAPI]]:
    """The real API over HTTP (uvicorn in this process), with `settings`; yields an unauthenticated client."""
    app = create_app(settings, client)
    port = free_port()
    async with serve(app, port), httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/v1", timeout=30) as http:
        yield http, app


async def healthz(http: httpx.AsyncClient) -> httpx.Response:
    """GET /healthz (outside /v1; no token)."""
    return await http.get(str(http.base_url.copy_with(path="/healthz")), timeout=5)


def as_token(token: str) -> dict[str, str]:
    return {"X-Auth-Token": token}
