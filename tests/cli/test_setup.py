"""`fenix setup` on the dev server: registers the search attributes once, is idempotent, refuses a type clash."""

from __future__ import annotations

import asyncio
import uuid

from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner, Result

from cli import app
from fenix.constants import SA_HOSTS, SEARCH_ATTRIBUTES


async def setup_cli(env: WorkflowEnvironment, namespace: str) -> Result:
    # In a thread: the command runs its own event loop (asyncio.run), which cannot nest in the test's.
    address = env.client.service_client.config.target_host
    return await asyncio.to_thread(CliRunner().invoke, app, ["setup"], env={
        "FENIX_TEMPORAL_ADDRESS": address, "FENIX_TEMPORAL_NAMESPACE": namespace})


async def new_namespace(client: Client) -> str:
    name = f"cli-setup-{uuid.uuid4().hex[:8]}"
    await client.workflow_service.register_namespace(RegisterNamespaceRequest(
        namespace=name, workflow_execution_retention_period=Duration(seconds=86400)))
    return name


async def test_setup_registers_once_then_does_nothing(dev_env: WorkflowEnvironment) -> None:
    namespace = await new_namespace(dev_env.client)
    first = await setup_cli(dev_env, namespace)
    assert first.exit_code == 0, first.output
    assert first.stdout.count(": registered") == len(SEARCH_ATTRIBUTES), first.output
    listed = await dev_env.client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace))
    assert {k.name: int(k.indexed_value_type) for k in SEARCH_ATTRIBUTES}.items() <= \
        dict(listed.custom_attributes).items()

    again = await setup_cli(dev_env, namespace)
    assert again.exit_code == 0, again.output
    assert again.stdout.count("already registered") == len(SEARCH_ATTRIBUTES), again.output
    assert f"Namespace {namespace}" in again.stdout and "ready for Fenix" in again.stdout


async def test_setup_refuses_a_search_attribute_of_another_type(dev_env: WorkflowEnvironment) -> None:
    namespace = await new_namespace(dev_env.client)
    await dev_env.client.operator_service.add_search_attributes(AddSearchAttributesRequest(
        namespace=namespace, search_attributes={SA_HOSTS.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD}))
    clash = await setup_cli(dev_env, namespace)
    assert clash.exit_code == 1, clash.output
    assert f"{SA_HOSTS.name} exists as Keyword, Fenix needs KeywordList" in clash.stderr, clash.output

    missing = await setup_cli(dev_env, f"{namespace}-missing")
    assert missing.exit_code == 1 and "does not exist" in missing.stderr, missing.output


def test_setup_without_temporal_says_where_it_looked() -> None:
    result = CliRunner().invoke(app, ["setup"], env={"FENIX_TEMPORAL_ADDRESS": "127.0.0.1:1"})
    assert result.exit_code == 1, result.output
    assert "cannot connect to Temporal at 127.0.0.1:1" in result.stderr
