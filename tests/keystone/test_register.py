"""devcloud/register-fenix.sh (fenix.keystone_register) against a real Keystone, twice (idempotent); the catalog
is then checked with openstacksdk through a fresh token, as a VNFM would look Fenix up (service type
`maintenance`, public URL)."""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path
from typing import Any

import pytest

from fenix.keystone_register import ensure_catalog
from tests.keystone.conftest import CLOUD, CONFIG_FILE, Keystone

SCRIPT = Path(__file__).resolve().parents[2] / "devcloud" / "register-fenix.sh"


def test_register_twice_then_the_catalog_has_fenix(keystone: Keystone, capsys: pytest.CaptureFixture[str]) -> None:
    import openstack.config
    import openstack.connection

    suffix = secrets.token_hex(4)
    name, user, project = f"fenix-kt-{suffix}", f"fenix-kt-{suffix}-registered", f"fenix-kt-{suffix}-services"
    public, internal = "http://127.0.0.1:12347/v1", "http://192.0.2.10:12347/v1"
    password = secrets.token_urlsafe(16)
    env = {**os.environ, "OS_CLOUD": CLOUD, "FENIX_KEYSTONE_PASSWORD": password}
    if CONFIG_FILE:
        env["OS_CLIENT_CONFIG_FILE"] = CONFIG_FILE

    def args(internal_url: str) -> list[str]:
        return [str(SCRIPT), "--name", name, "--public-url", public, "--internal-url", internal_url,
                "--user", user, "--project", project]

    ident = keystone.conn.identity
    region_name = os.environ.get("OS_REGION_NAME") or "RegionOne"  # the script's default
    try:
        outputs = []
        for _ in range(2):
            run = subprocess.run(args(internal), env=env, capture_output=True, text=True, timeout=60)
            assert run.returncode == 0, run.stdout + run.stderr
            outputs.append(run.stdout)
        assert f"created service {name}" in outputs[0] and f"created public endpoint {public}" in outputs[0]
        assert f"created user {user}" in outputs[0]
        assert "created" not in outputs[1] and "changed" not in outputs[1], outputs[1]
        assert f"public endpoint {public}" in outputs[1] and f"internal endpoint {internal}" in outputs[1]
        assert password not in outputs[0] + outputs[1]

        # A moved endpoint is updated in place (in this process: a third run would only cost time).
        moved = internal.replace("192.0.2.10", "192.0.2.11")
        ensure_catalog(keystone.conn, name=name, urls={"internal": moved}, region=region_name)
        assert f"changed internal endpoint {internal} -> {moved}" in capsys.readouterr().out
        internal = moved

        services = [s for s in ident.services() if s.name == name]
        assert [s.type for s in services] == ["maintenance"]
        endpoints = {e.interface: e.url for e in ident.endpoints(service_id=services[0].id)}
        assert endpoints == {"public": public, "internal": internal}

        # A fresh token carries the new catalog entry: what a Fenix-era VNFM looks up.
        region = openstack.config.OpenStackConfig(config_files=[CONFIG_FILE] if CONFIG_FILE else None).get_one(
            cloud=CLOUD)
        fresh = openstack.connection.Connection(config=region)
        auth: Any = fresh.session.auth
        catalog = auth.get_access(fresh.session).service_catalog
        assert catalog.get_urls(service_type="maintenance", interface="public", service_name=name) == (public,)
        assert catalog.get_urls(service_type="maintenance", interface="internal", service_name=name) == (internal,)

        # The service user exists with the `service` role on its project.
        token = keystone.token(user, password, project)
        validated = keystone.admin.get("/auth/tokens", headers={"X-Subject-Token": token},
                                       endpoint_filter={"service_type": "identity", "interface": "public"}).json()
        assert "service" in {r["name"] for r in validated["token"]["roles"]}
    finally:
        for service in [s for s in ident.services() if s.name == name]:
            for endpoint in ident.endpoints(service_id=service.id):
                ident.delete_endpoint(endpoint, ignore_missing=True)
            ident.delete_service(service, ignore_missing=True)
        if (found := ident.find_user(user)) is not None:
            ident.delete_user(found, ignore_missing=True)
        if (found := ident.find_project(project)) is not None:
            ident.delete_project(found, ignore_missing=True)
