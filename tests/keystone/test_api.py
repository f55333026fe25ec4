"""FENIX_AUTH_MODE=keystone over real HTTP against a real Keystone: real tokens, real validation by Fenix's own
service user, roles mapped to Fenix's admin / service / project callers.

The calls used need no worker: an unknown session gives 404 only once the caller passed authentication and
authorization, and the list and host calls read Temporal visibility (the dev server)."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from api.auth import KeystoneAuthenticator, Verdict
from demo.stack import free_port
from fenix.settings import Settings
from tests.api.helpers import assert_error
from tests.keystone.conftest import CLOUD, CONFIG_FILE, Keystone, as_token, fenix_api, healthz


def counting(auth: KeystoneAuthenticator) -> list[float]:
    """Record every validation that reaches Keystone (the cache and the shared in-flight call skip it)."""
    calls: list[float] = []
    validate = auth.validate

    def spy(token: str) -> Verdict:
        calls.append(time.monotonic())
        return validate(token)

    auth.validate = spy  # type: ignore[method-assign]
    return calls


async def test_roles_from_keystone(keystone: Keystone, dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    admin, member, service = keystone.admin_token(), keystone.member_token(), keystone.service_token()
    unscoped = keystone.member_token(unscoped=True)
    own = keystone.tenant_project_id
    sid = str(uuid.uuid4())
    async with fenix_api(keystone.fenix_settings(tmp_path), dev_env.client) as (http, _):
        # The admin token is scoped to the admin project too: the role, not the project, makes it an admin.
        r = await http.get(f"/maintenance/{sid}", headers=as_token(admin))
        assert_error(r, 404, sid)
        r = await http.get("/maintenance", headers={"Authorization": f"Bearer {admin}"})
        assert r.status_code == 200, r.text
        r = await http.get(f"/maintenance/{sid}/{own}", headers=as_token(admin))
        assert_error(r, 404)

        # A project member: its own project only, no admin calls, no host status.
        r = await http.get(f"/maintenance/{sid}/{own}", headers=as_token(member))
        assert_error(r, 404, sid)
        for method, path, body in [("GET", "/maintenance", None), ("GET", f"/maintenance/{sid}", None),
                                   ("POST", "/maintenance", {"maintenance_at": "2030-01-01 00:00:00"}),
                                   ("DELETE", f"/maintenance/{sid}", None)]:
            r = await http.request(method, path, json=body, headers=as_token(member))
            assert_error(r, 403, "admin role")
        r = await http.get(f"/maintenance/{sid}/some-other-project", headers=as_token(member))
        assert_error(r, 403, "only")
        r = await http.put(f"/maintenance/{sid}/some-other-project", json={"state": "ACK_MAINTENANCE"},
                           headers=as_token(member))
        assert_error(r, 403, "only")
        assert_error(await http.get("/hosts/c0", headers=as_token(member)), 403, "service role")

        # Fenix's own service user has the `service` role: host status, but no admin calls.
        r = await http.get("/hosts/c0", headers=as_token(service))
        assert r.status_code == 200 and r.json()["in_maintenance"] is False, r.text
        assert_error(await http.get("/maintenance", headers=as_token(service)), 403, "admin role")

        # Refusals: no token, a made-up one, an unscoped one.
        r = await http.get("/maintenance")
        assert_error(r, 401, "missing token")
        assert r.headers["www-authenticate"].startswith("Keystone uri=")
        r = await http.get("/maintenance", headers=as_token("gAAAAAB-not-a-token"))
        assert_error(r, 401, "invalid, expired or revoked")
        assert r.headers["www-authenticate"] == f'Keystone uri="{keystone.auth_url}"'
        non_ascii = [(b"X-Auth-Token", "caf\u00e9-\u2603".encode())]
        assert_error(await http.get("/maintenance", headers=non_ascii), 401, "invalid token")
        r = await http.get(f"/maintenance/{sid}/{own}", headers=as_token(unscoped))
        assert_error(r, 401, "no scope", "project-scoped")
    # Keystone mode keeps no static token file.
    assert not (tmp_path / "tokens.json").exists()


async def test_revoked_token_refused_after_cache_ttl(keystone: Keystone, ts_env: WorkflowEnvironment,
                                                     tmp_path: Path) -> None:
    ttl = 1.5
    token = keystone.member_token()
    path = f"/maintenance/{uuid.uuid4()}/{keystone.tenant_project_id}"
    async with fenix_api(keystone.fenix_settings(tmp_path, keystone_cache_ttl_s=ttl), ts_env.client) as (http, app):
        calls = counting(app.state.authenticator)
        # Ten requests at once and more right after: one validation reaches Keystone.
        rs = await asyncio.gather(*(http.get(path, headers=as_token(token)) for _ in range(10)))
        rs.append(await http.get(path, headers=as_token(token)))
        for r in rs:
            assert_error(r, 404)
        assert len(calls) == 1, calls

        keystone.revoke(token)
        revoked_at = time.monotonic()
        while True:
            r = await http.get(path, headers=as_token(token))
            if r.status_code == 401:
                break
            assert_error(r, 404)  # still the cached validation
            assert time.monotonic() - revoked_at < ttl + 5, "the revoked token is still accepted"
            await asyncio.sleep(0.1)
        assert_error(r, 401, "invalid, expired or revoked")
        assert time.monotonic() - calls[0] >= ttl  # not before the cached validation expired
        # The refusal is cached too: no new call to Keystone for the same token within the TTL.
        n = len(calls)
        assert_error(await http.get(path, headers=as_token(token)), 401)
        assert len(calls) == n


async def test_keystone_down_is_503(keystone: Keystone, ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    token = keystone.admin_token()
    nowhere = f"http://127.0.0.1:{free_port()}/v3"
    settings = keystone.fenix_settings(tmp_path, keystone_auth_url=nowhere)
    async with fenix_api(settings, ts_env.client) as (http, _):
        for _ in range(2):  # failures are not cached
            r = await http.get(f"/maintenance/{uuid.uuid4()}", headers=as_token(token))
            assert_error(r, 503, "Keystone is unreachable")
            assert r.headers["retry-after"]
        assert (await healthz(http)).status_code == 200


async def test_slow_keystone_does_not_block_the_api(keystone: Keystone, ts_env: WorkflowEnvironment,
                                                    tmp_path: Path) -> None:
    """A Keystone that takes connections and never answers: requests wait off the event loop until the
    timeout, then 503; the API answers other calls meanwhile."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)  # the kernel completes the handshakes; nobody ever reads
        port = silent.getsockname()[1]
        settings = keystone.fenix_settings(tmp_path, keystone_auth_url=f"http://127.0.0.1:{port}/v3",
                                           keystone_timeout_s=2.0)
        async with fenix_api(settings, ts_env.client) as (http, _):
            start = time.monotonic()
            waiting = [asyncio.create_task(http.get(f"/maintenance/{uuid.uuid4()}", headers=as_token(f"tok{i}")))
                       for i in range(8)]
            await asyncio.sleep(0.3)
            t0 = time.monotonic()
            assert (await healthz(http)).status_code == 200
            assert time.monotonic() - t0 < 0.5
            # Other requests still get their answers while validations hang.
            assert_error(await http.get("/maintenance"), 401, "missing token")
            assert not any(t.done() for t in waiting)
            for r in await asyncio.gather(*waiting):
                # The first times out on its own; the others, queued behind it for Fenix's service token,
                # at the deadline.
                assert_error(r, 503, "cannot validate the token: Keystone")
            assert 2.0 <= time.monotonic() - start < 4


async def test_service_credentials_problems_are_503_and_secrets_stay_out_of_logs(
        keystone: Keystone, ts_env: WorkflowEnvironment, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    token = keystone.admin_token()
    wrong = "wrong-" + keystone.service_password
    settings = keystone.fenix_settings(tmp_path, keystone_password=wrong)
    assert wrong not in repr(settings) and wrong not in str(settings) and wrong not in settings.model_dump_json()
    async with fenix_api(settings, ts_env.client) as (http, _):
        r = await http.get(f"/maintenance/{uuid.uuid4()}", headers=as_token(token))
        assert_error(r, 503, "refused Fenix's own service credentials")

    # A user without the `service` (or admin) role may validate only its own tokens.
    not_a_service = keystone.fenix_settings(tmp_path, keystone_username=keystone.member_name,
                                            keystone_password=keystone.member_password,
                                            keystone_project_name=keystone.tenant_project_name)
    async with fenix_api(not_a_service, ts_env.client) as (http, _):
        r = await http.get(f"/maintenance/{uuid.uuid4()}", headers=as_token(token))
        assert_error(r, 503, "may not validate tokens")

    logged = caplog.text
    assert "Keystone refused Fenix's service credentials" in logged
    for secret in (wrong, keystone.service_password, keystone.member_password, token):
        assert secret not in logged


async def test_settings_from_environment_and_clouds_yaml(keystone: Keystone, ts_env: WorkflowEnvironment,
                                                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """FENIX_KEYSTONE_CLOUD: Fenix authenticates with a clouds.yaml cloud (here the admin's own)."""
    if CONFIG_FILE:
        monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", CONFIG_FILE)
    env: dict[str, Any] = {"FENIX_AUTH_MODE": "keystone", "FENIX_KEYSTONE_CLOUD": CLOUD,
                           "FENIX_KEYSTONE_INTERFACE": "public", "FENIX_KEYSTONE_ADMIN_ROLE": "admin",
                           "FENIX_KEYSTONE_CACHE_TTL_S": "5", "FENIX_DATA_DIR": str(tmp_path)}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.auth_mode == "keystone" and settings.keystone_cloud == CLOUD
    assert settings.keystone_cache_ttl_s == 5
    sid = str(uuid.uuid4())
    async with fenix_api(settings, ts_env.client) as (http, _):
        assert_error(await http.get(f"/maintenance/{sid}", headers=as_token(keystone.admin_token())), 404, sid)
        member = keystone.member_token()
        assert_error(await http.get(f"/maintenance/{sid}", headers=as_token(member)), 403, "admin role")

