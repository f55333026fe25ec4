"""`/readyz` of the API on the real dev server: each dependency's check, 503 naming the one that failed (a missing
namespace, missing search attributes, an unusable tokens file), and 200 again once it is fixed. `/healthz` stays
200 throughout: the process is alive. Keystone's check is tried against a stand-in session."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.auth import KeystoneAuthenticator
from demo.stack import free_port, serve, stack, stack_settings
from fenix import tokens
from fenix.health import NotReady
from tests.api.helpers import two_host_seed
from tests.cli.helpers import cli_env, fenix
from tests.waiting import poll


def statuses(body: dict[str, Any]) -> dict[str, str]:
    return {name: check["status"] for name, check in body["checks"].items()}


@asynccontextmanager
async def api_on(env: WorkflowEnvironment, tmp_path: Path, namespace: str) -> AsyncIterator[httpx.AsyncClient]:
    """The API as deployed: it connects to Temporal itself, here to `namespace` of the dev server."""
    settings = stack_settings(tmp_path, f"ready-{uuid.uuid4()}", temporal_namespace=namespace,
                              temporal_address=env.client.service_client.config.target_host)
    tokens.ensure_admin(settings.tokens_path, "admin")  # else the API prints a new admin token on stderr
    port = free_port()
    async with serve(create_app(settings), port), httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        yield http


async def connected(http: httpx.AsyncClient) -> dict[str, Any]:
    """/readyz once the API has reached Temporal (it connects in the background)."""

    async def answer() -> dict[str, Any] | None:
        body: dict[str, Any] = (await http.get("/readyz")).json()
        return body if body["checks"]["temporal"]["status"] == "ok" else None

    found: dict[str, Any] = await poll(answer, "the API to reach Temporal", timeout=30, every=0.1)
    return found


async def test_ready_then_the_tokens_file_breaks_and_is_fixed(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with stack(dev_env, tmp_path, two_host_seed()) as st:
        base = st.api_url.removesuffix("/v1")
        async with httpx.AsyncClient(base_url=base) as http:  # no token: probes need none
            r = await http.get("/readyz")
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["status"] == "ready" and "error" not in body
            assert statuses(body) == {"temporal": "ok", "namespace": "ok", "search_attributes": "ok", "auth": "ok"}
            assert "MaintenanceState" in body["checks"]["search_attributes"]["detail"]

            good = st.settings.tokens_path.read_bytes()
            st.settings.tokens_path.write_text("{not json")
            r = await http.get("/readyz")
            assert r.status_code == 503 and r.headers["retry-after"] == "5", r.text
            body = r.json()
            assert statuses(body)["auth"] == "failed" and statuses(body)["temporal"] == "ok"
            assert body["status"] == "not ready" and body["error"].startswith("auth: the tokens file cannot be used")
            assert body["detail"] == body["error"]
            assert (await http.get("/healthz")).status_code == 200
            # Meanwhile the last good tokens still work.
            assert (await st.admin.get("/maintenance")).status_code == 200

            st.settings.tokens_path.write_bytes(good)
            r = await http.get("/readyz")
            assert r.status_code == 200, r.text


async def test_a_missing_namespace_is_503(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    missing = f"fenix-missing-{uuid.uuid4().hex[:8]}"
    async with api_on(dev_env, tmp_path, missing) as http:
        body = await connected(http)
        assert statuses(body) == {"temporal": "ok", "namespace": "failed", "search_attributes": "skipped",
                                  "auth": "ok"}, body
        assert f"namespace {missing} does not exist" in body["error"]
        assert (await http.get("/readyz")).status_code == 503
        assert (await http.get("/healthz")).status_code == 200


async def test_missing_search_attributes_are_503_until_fenix_setup(dev_env: WorkflowEnvironment,
                                                                   tmp_path: Path) -> None:
    namespace = f"fenix-bare-{uuid.uuid4().hex[:8]}"
    await dev_env.client.workflow_service.register_namespace(RegisterNamespaceRequest(
        namespace=namespace, workflow_execution_retention_period=Duration(seconds=86400)))
    async with api_on(dev_env, tmp_path, namespace) as http:
        body = await connected(http)
        assert statuses(body)["search_attributes"] == "failed", body
        assert "MaintenanceSessionId (Keyword) is missing" in body["error"] and "fenix setup" in body["error"]
        assert (await http.get("/readyz")).status_code == 503

        address = dev_env.client.service_client.config.target_host
        run = await fenix("setup", env=cli_env(temporal_address=address, temporal_namespace=namespace))
        assert run.code == 0, run
        r = await http.get("/readyz")
        assert r.status_code == 200, r.text


class _Response:
    status_code = 404  # Keystone answered (a token it does not know): it is there and lets Fenix validate
    text = ""

    def json(self) -> dict[str, Any]:
        return {"error": {"message": "not found"}}


class _Session:
    def __init__(self, down: bool) -> None:
        self.down = down
        self.calls = 0

    def get_token(self) -> str:
        from keystoneauth1 import exceptions

        self.calls += 1
        if self.down:
            raise exceptions.ConnectFailure("connection refused")
        return "service-token"

    def get(self, *_: Any, **__: Any) -> _Response:
        return _Response()


async def test_keystone_check() -> None:
    down = _Session(down=True)
    auth = KeystoneAuthenticator(down, deadline_s=2)  # type: ignore[arg-type]
    try:
        for _ in range(3):  # the verdict is reused: probes do not load Keystone
            try:
                await auth.check()
                raise AssertionError("ready without Keystone")
            except NotReady as err:
                assert "Keystone is unreachable (ConnectFailure)" in err.reason
        assert down.calls == 1
    finally:
        auth.close()
    up = KeystoneAuthenticator(_Session(down=False), deadline_s=2)  # type: ignore[arg-type]
    try:
        assert await up.check() == "Keystone validates tokens"
    finally:
        up.close()
