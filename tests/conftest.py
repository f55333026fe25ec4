"""Shared fixtures: one real Temporal server per kind for the whole run, one task queue per test."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

import pytest_asyncio
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from fenix.constants import SEARCH_ATTRIBUTES
from fenix.temporal import find_bin, register_search_attributes

STUCK_AFTER_S = 150  # pytest-timeout (pyproject) fires at 180 s


@pytest_asyncio.fixture(loop_scope="session")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """Time-skipping test server: timers and reply deadlines of minutes pass at once.

    One per test: after a long session a shared test server stopped accepting connections (seen as
    "tcp connect error" in the next test); a fresh one costs about a second."""
    async with await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=find_bin("temporal-test-server"),
    ) as env:
        await register_search_attributes(env.client)
        yield env


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """The real dev server (SQLite in memory), for visibility: listing sessions, host queries, deletion."""
    async with await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=find_bin("temporal"),
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_extra_args=["--dynamic-config-value", "system.forceSearchAttributesCacheRefreshOnRead=true",
                               # Deleting an ended session takes ~4 s instead of 20-35 s (queue acks every 30 s).
                               *(arg for key in ("transfer", "visibility", "timer")
                                 for arg in ("--dynamic-config-value",
                                             f"history.{key}ProcessorUpdateAckInterval=\"1s\""))],
    ) as env:
        yield env


@pytest_asyncio.fixture(autouse=True, loop_scope="session")
async def dump_tasks_when_stuck() -> AsyncIterator[None]:
    """Before pytest-timeout kills a hung test, print where every asyncio task waits (its thread dump shows
    only an idle event loop)."""
    loop = asyncio.get_running_loop()

    def dump() -> None:
        for task in asyncio.all_tasks(loop):
            sys.stderr.write(f"\n--- stuck task {task.get_name()}\n")
            task.print_stack(file=sys.stderr)

    handle = loop.call_later(STUCK_AFTER_S, dump)
    yield
    handle.cancel()
