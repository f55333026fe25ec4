"""The registry workflows are reached by handle (api/registries.py): once a registry is known to run, a request makes
one call to Temporal (its Update or query), where it used to start the workflow first, on every request, to find it.
A registry ended behind the API's back is started again, once; and until the API has reached Temporal, the routes
that need a registry answer 503."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from demo.stack import Stack, free_port, serve, stack, stack_settings
from fenix import tokens
from tests.api.helpers import LONG_WINDOWS, assert_error, silent, two_host_seed
from workflows.project_constraints import project_constraints_id

Calls = list[str]


@asynccontextmanager
async def counted_api(st: Stack, env: WorkflowEnvironment,
                      monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[httpx.AsyncClient, Calls]]:
    """A second API on the stack's Temporal, with a client of its own whose every RPC is recorded by name."""
    client = await Client.connect(env.client.service_client.config.target_host, namespace=env.client.namespace,
                                  data_converter=pydantic_data_converter)
    calls: Calls = []
    service = client.service_client
    rpc_call: Callable[..., Awaitable[Any]] = service._rpc_call

    async def counting(rpc: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(rpc)
        return await rpc_call(rpc, *args, **kwargs)

    monkeypatch.setattr(service, "_rpc_call", counting)
    port = free_port()
    app = create_app(st.settings, client, clock=env.get_current_time)
    async with serve(app, port), httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/v1", timeout=30) as http:
        yield http, calls


async def rpcs_of(calls: Calls, request: Awaitable[httpx.Response], status: int) -> Calls:
    """The RPCs one request made."""
    calls.clear()
    r = await request
    assert r.status_code == status, r.text
    return list(calls)


async def test_a_registry_is_started_once_then_reached_by_its_handle(
        ts_env: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with stack(ts_env, tmp_path, two_host_seed(), silent("alpha"), subscribe=[]) as st, \
            counted_api(st, ts_env, monkeypatch) as (api, calls):
        alpha = {"X-Auth-Token": st.project_tokens["alpha"]}
        admin = {"X-Auth-Token": st.admin_token}
        webhook = f"{st.vnfm_url}/webhook/alpha"
        # Before: start_workflow_execution (USE_EXISTING) and the Update, on every POST.
        first = await rpcs_of(calls, api.post("/subscriptions", json={"url": webhook}, headers=alpha), 201)
        assert first == ["start_workflow_execution", "update_workflow_execution"]
        again = await rpcs_of(calls, api.post("/subscriptions", json={"url": webhook, "format": "aodh"}, headers=alpha),
                             201)
        assert again == ["update_workflow_execution"]
        assert await rpcs_of(calls, api.get("/subscriptions", headers=alpha), 200) == ["query_workflow"]

        # A project's constraints registry: started by its first write, reached by handle afterwards.
        first = await rpcs_of(calls, api.put("/instance_group/g1", json={}, headers=alpha), 200)
        assert first == ["start_workflow_execution", "update_workflow_execution"]
        again = await rpcs_of(calls, api.put("/instance_group/g2", json={}, headers=alpha), 200)
        assert again == ["update_workflow_execution"]

        # The host leases: a session's start is the lease's Update, then the session's own start.
        session = {"maintenance_at": "2020-01-01 00:00:00", "reply_windows": LONG_WINDOWS}
        first = await rpcs_of(calls, api.post("/maintenance", json={**session, "hosts": ["c0"]}, headers=admin), 200)
        assert first == ["start_workflow_execution", "update_workflow_execution", "start_workflow_execution"]
        again = await rpcs_of(calls, api.post("/maintenance", json={**session, "hosts": ["c1"]}, headers=admin), 200)
        assert again == ["update_workflow_execution", "start_workflow_execution"]


async def test_a_registry_ended_behind_the_api_is_started_again(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with stack(ts_env, tmp_path, two_host_seed(), silent("alpha"), subscribe=[]) as st, \
            st.as_project("alpha") as alpha:
        webhook = f"{st.vnfm_url}/webhook/alpha"
        old = await alpha.post("/subscriptions", json={"url": webhook})
        assert old.status_code == 201, old.text
        assert (await alpha.put("/instance_group/g-old", json={})).status_code == 200
        await st.client.get_workflow_handle(st.settings.registry_workflow_id).terminate("an operator's mistake")
        constraints_id = project_constraints_id(st.settings.constraints_workflow_id, "alpha")
        await st.client.get_workflow_handle(constraints_id).terminate("an operator's mistake")

        # A read of the ended registry starts a new one (empty: what the old one held is lost with it).
        assert (await alpha.get("/subscriptions")).json()["subscriptions"] == []
        new = await alpha.post("/subscriptions", json={"url": webhook, "format": "aodh"})
        assert new.status_code == 201, new.text
        assert [s["id"] for s in (await alpha.get("/subscriptions")).json()["subscriptions"]] == [new.json()["id"]]
        # A write to an ended registry: the same.
        assert (await alpha.put("/instance_group/g-new", json={})).status_code == 200
        groups = (await alpha.get("/instance_group")).json()["groups"]
        assert [g["group_id"] for g in groups] == ["g-new"]


async def test_routes_that_need_a_registry_answer_503_until_temporal_is_reached(tmp_path: Path) -> None:
    nowhere = f"127.0.0.1:{free_port()}"  # no Temporal there: the API keeps trying to connect
    settings = stack_settings(tmp_path, f"tq-{uuid.uuid4()}", temporal_address=nowhere)
    admin = tokens.ensure_admin(settings.tokens_path, settings.admin_project_id)
    assert admin is not None
    port = free_port()
    async with serve(create_app(settings), port), \
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/v1", timeout=30,
                              headers={"X-Auth-Token": admin.token}) as http:
        for call in (http.get("/subscriptions"), http.post("/subscriptions", json={"url": "http://vnfm.example"}),
                     http.put("/instance_group/g1", json={}), http.get("/instance_group"),
                     http.post("/maintenance", json={"maintenance_at": "2020-01-01 00:00:00"})):
            r = await call
            assert_error(r, 503, f"not connected to Temporal at {nowhere}")
            assert r.headers["retry-after"] == "5"
