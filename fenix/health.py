"""Readiness: the checks behind the API's and the worker's `/readyz`, and the body both answer with.

Each check names one dependency and says `ok`, `failed` (the process cannot do its work: 503) or `skipped` (not
checked: what it depends on failed, or the server cannot be asked). A probe must answer well within its own
timeout, so each check has READY_CHECK; a slow dependency fails its check instead of hanging the probe.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from enum import StrEnum

from pydantic import BaseModel, Field
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from fenix.constants import SEARCH_ATTRIBUTES
from fenix.settings import Settings
from fenix.temporal import search_attribute_type_name

READY_CHECK = timedelta(seconds=2)

# Servers that cannot answer a check are not held against Fenix: the time-skipping test server has no health or
# namespace service, and a hosted Temporal may refuse the operator service to a namespace's own credentials.
_CANNOT_ASK = (RPCStatusCode.UNIMPLEMENTED, RPCStatusCode.PERMISSION_DENIED)


class CheckStatus(StrEnum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"


class CheckResult(BaseModel):
    status: CheckStatus
    detail: str = Field(description="what was found, or why the check failed")


class ReadinessOut(BaseModel):
    """`/readyz` of the API and of the worker: 200 when no check failed, else 503 with `error` naming the failures.
    `detail` repeats `error`, as in every error body of the API."""

    status: str = Field(description="`ready` or `not ready`")
    checks: dict[str, CheckResult]
    error: str | None = None
    detail: str | None = None


class NotReady(Exception):
    """A check failed; `reason` says what to fix."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Skipped(Exception):
    """A check could not be made (it says why); not a failure."""


Probe = Callable[[], Awaitable[str]]  # the detail when ready; raises NotReady or Skipped


async def run_check(probe: Probe, timeout: timedelta = READY_CHECK) -> CheckResult:
    try:
        async with asyncio.timeout(timeout.total_seconds()):
            return CheckResult(status=CheckStatus.OK, detail=await probe())
    except NotReady as err:
        return CheckResult(status=CheckStatus.FAILED, detail=err.reason)
    except Skipped as err:
        return CheckResult(status=CheckStatus.SKIPPED, detail=str(err))
    except TimeoutError:
        return CheckResult(status=CheckStatus.FAILED, detail=f"no answer within {timeout.total_seconds():g} s")


def skipped(why: str) -> CheckResult:
    return CheckResult(status=CheckStatus.SKIPPED, detail=f"not checked: {why}")


class Readiness(BaseModel):
    checks: dict[str, CheckResult]

    @property
    def ready(self) -> bool:
        return all(c.status != CheckStatus.FAILED for c in self.checks.values())

    def body(self) -> ReadinessOut:
        if self.ready:
            return ReadinessOut(status="ready", checks=self.checks)
        reason = "; ".join(f"{name}: {c.detail}" for name, c in self.checks.items() if c.status == CheckStatus.FAILED)
        return ReadinessOut(status="not ready", checks=self.checks, error=reason, detail=reason)


async def temporal_checks(client: Client | None, settings: Settings, not_connected: str) -> dict[str, CheckResult]:
    """`temporal` (connected, and the server answers now), `namespace` (it exists), `search_attributes` (Fenix's,
    with their types, as `fenix setup` registers them). Each is made only if the one before passed."""
    where = f"Temporal at {settings.temporal_address}"
    namespace = settings.temporal_namespace
    if client is None:
        return {"temporal": CheckResult(status=CheckStatus.FAILED, detail=not_connected),
                "namespace": skipped("not connected to Temporal"),
                "search_attributes": skipped("not connected to Temporal")}

    async def answers() -> str:
        try:
            await client.service_client.check_health(timeout=READY_CHECK)
        except RPCError as err:
            if err.status not in _CANNOT_ASK:
                raise NotReady(f"{where} does not answer: {err.message}") from err
        except RuntimeError as err:  # the SDK's "connection lost" and the like
            raise NotReady(f"{where} does not answer: {err}") from err
        return f"{where} answers"

    async def namespace_exists() -> str:
        try:
            await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=namespace),
                                                             timeout=READY_CHECK)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise NotReady(f"namespace {namespace} does not exist at {where}; create it (temporal operator "
                               f"namespace create -n {namespace}), then run `fenix setup`") from err
            if err.status in _CANNOT_ASK:
                raise Skipped(f"the server does not say whether namespace {namespace} exists: {err.message}") from err
            raise NotReady(f"{where} refused to describe namespace {namespace}: {err.message}") from err
        return f"namespace {namespace} exists"

    async def attributes_registered() -> str:
        try:
            listed = await client.operator_service.list_search_attributes(
                ListSearchAttributesRequest(namespace=namespace), timeout=READY_CHECK)
        except RPCError as err:
            if err.status in _CANNOT_ASK:
                raise Skipped(f"the server does not list search attributes: {err.message}") from err
            raise NotReady(f"{where} refused to list the search attributes: {err.message}") from err
        have: dict[str, int] = dict(listed.custom_attributes)
        problems = [f"{k.name} ({search_attribute_type_name(k.indexed_value_type)}) is missing" if k.name not in have
                    else f"{k.name} is {search_attribute_type_name(have[k.name])}, Fenix needs "
                         f"{search_attribute_type_name(k.indexed_value_type)}"
                    for k in SEARCH_ATTRIBUTES if have.get(k.name) != k.indexed_value_type]
        if problems:
            raise NotReady(f"namespace {namespace}: {'; '.join(problems)}; run `fenix setup`")
        return f"{', '.join(k.name for k in SEARCH_ATTRIBUTES)} registered"

    results = {"temporal": await run_check(answers)}
    for name, probe in (("namespace", namespace_exists), ("search_attributes", attributes_registered)):
        failed = next((n for n, c in results.items() if c.status == CheckStatus.FAILED), None)
        results[name] = skipped(f"the {failed} check failed") if failed else await run_check(probe)
    return results


def merge(*parts: dict[str, CheckResult]) -> Readiness:
    return Readiness(checks={name: result for part in parts for name, result in part.items()})
