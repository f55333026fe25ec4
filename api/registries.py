"""The registry workflows behind the API: webhook subscriptions, host leases, and each project's constraints.

Each registry is one long-lived workflow with a fixed id. The API starts it the first time a request needs it
(USE_EXISTING: one that runs is reused) and from then on knows that it runs, so a request makes one call to Temporal
(its Update or query), not two: it used to start the workflow again on every request to find it. The handle names
no run, so it follows the registry across continue-as-new. A registry ended since (terminated by an operator, or
deleted) answers an Update with NOT_FOUND and refuses a query (`QueryRejectCondition.NOT_OPEN`): it is started
again, once, and the call repeated.

Started on first use, not when the API connects: an operator (or a test) may start a registry with a state of its
own before the API first needs it, and a registry no one uses is never started.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from fastapi import HTTPException
from temporalio.client import Client, WorkflowHandle, WorkflowQueryRejectedError
from temporalio.common import QueryRejectCondition, WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode
from temporalio.types import MethodSyncOrAsyncSingleParam
from temporalio.workflow import UpdateMethodMultiParam

from api.errors import is_not_found
from api.temporal_link import TemporalLink
from api.update_limit import REGISTRY_IN_FLIGHT, until_taken
from fenix.models.constraints import ConstraintDelete, ConstraintFilter, ProjectConstraintsState
from fenix.models.lease import LeasesState
from fenix.models.subscription import RegistryState
from fenix.settings import Settings
from workflows.leases import HostLeasesWorkflow, host_leases_id
from workflows.project_constraints import PROJECT_CONSTRAINTS_TYPE, ProjectConstraintsWorkflow, project_constraints_id
from workflows.registry import SubscriptionRegistryWorkflow

log = logging.getLogger("fenix.api")

WorkflowT = TypeVar("WorkflowT")
ArgT = TypeVar("ArgT")
StateT = TypeVar("StateT")
ResultT = TypeVar("ResultT")

# Project registries the API remembers as started; one it forgot costs one more start (USE_EXISTING) at its next write.
MAX_KNOWN_PROJECTS = 10_000


class Registry(Generic[WorkflowT]):
    """One registry workflow: started once, on first use, then reached by a handle that names no run."""

    def __init__(self, handle: WorkflowHandle[WorkflowT, None], start: Callable[[], Awaitable[object]]) -> None:
        self.handle = handle
        self._start = start
        self._running = False  # started (or found running) by this API process
        self._starting = asyncio.Lock()  # concurrent first requests share one start
        # Every tenant's writes meet here (the subscriptions, the host leases): past Temporal's 10 Updates in flight
        # per workflow they were refused, and 32 writers at once wedged a registry. Queued here, retried if refused.
        self._in_flight = asyncio.Semaphore(REGISTRY_IN_FLIGHT)

    async def ensure_running(self) -> None:
        if self._running:
            return
        async with self._starting:
            if not self._running:
                await self._start()
                self._running = True

    async def update(self, update: UpdateMethodMultiParam[[WorkflowT, ArgT], ResultT], arg: ArgT) -> ResultT:
        """Send an Update; its refusals (WorkflowUpdateFailedError) are mapped to HTTP by api/errors.py. At most
        REGISTRY_IN_FLIGHT at a time from this process; Temporal's refusals for now are tried again, with the same id
        (api/update_limit.py)."""
        update_id = str(uuid.uuid4())
        async with self._in_flight:
            return await self._call(lambda: until_taken(lambda: self.handle.execute_update(update, arg, id=update_id)))

    async def query(self, query: MethodSyncOrAsyncSingleParam[WorkflowT, ArgT, ResultT], arg: ArgT) -> ResultT:
        """Run a query on the running registry (never on an ended run's last state)."""
        return await self._call(lambda: self.handle.query(query, arg, reject_condition=QueryRejectCondition.NOT_OPEN))

    async def _call(self, call: Callable[[], Awaitable[ResultT]]) -> ResultT:
        await self.ensure_running()
        try:
            return await call()
        except (RPCError, WorkflowQueryRejectedError) as err:
            if not (is_not_found(err) or isinstance(err, WorkflowQueryRejectedError)):
                raise
        log.warning("registry workflow %s has ended (terminated or deleted outside Fenix): starting it again",
                    self.handle.id)
        self._running = False
        await self.ensure_running()
        return await call()


class ConstraintRegistries:
    """One `ProjectConstraints` registry per project (workflows/project_constraints.py).

    A write starts its project's registry (`of`); reads and deletes never start one: a project that never wrote
    any constraints has none, and nothing to show or delete."""

    def __init__(self, client: Client, settings: Settings) -> None:
        self._client = client
        self._settings = settings
        self._known: OrderedDict[str, Registry[ProjectConstraintsWorkflow]] = OrderedDict()

    def workflow_id(self, project_id: str) -> str:
        return project_constraints_id(self._settings.constraints_workflow_id, project_id)

    def of(self, project_id: str) -> Registry[ProjectConstraintsWorkflow]:
        """The project's registry, for a write."""
        registry = self._known.get(project_id)
        if registry is None:
            registry = self._known[project_id] = started_on_first_use(
                self._client, ProjectConstraintsWorkflow.run, ProjectConstraintsState(project_id=project_id),
                self.workflow_id(project_id), self._settings.task_queue)
            while len(self._known) > MAX_KNOWN_PROJECTS:
                self._known.popitem(last=False)
        self._known.move_to_end(project_id)
        return registry

    async def projects(self) -> list[str]:
        """Every project with a running registry (from Temporal visibility), for the admin's reads across projects."""
        prefix = self.workflow_id("")
        query = (f"WorkflowType = '{PROJECT_CONSTRAINTS_TYPE}' AND ExecutionStatus = 'Running' AND "
                 f"WorkflowId STARTS_WITH '{prefix.replace(chr(39), chr(92) + chr(39))}'")
        found: set[str] = set()
        try:
            async for execution in self._client.list_workflows(query):
                found.add(execution.id[len(prefix):])
        except RPCError as err:
            if err.status != RPCStatusCode.UNIMPLEMENTED:
                raise
            # A Temporal without visibility (the time-skipping test server) cannot list the projects' registries.
            raise HTTPException(503, "listing every project's constraints needs Temporal visibility; name the "
                                     "project with ?project_id=") from err
        return sorted(found)

    async def ask_each(self, projects: list[str],
                       query: MethodSyncOrAsyncSingleParam[ProjectConstraintsWorkflow, ConstraintFilter, ResultT],
                       which: ConstraintFilter) -> list[ResultT]:
        """The answer of each project's registry to `query`; a project without a registry has none."""
        answers: list[ResultT] = []
        for project in projects:
            handle = self._client.get_workflow_handle_for(ProjectConstraintsWorkflow.run, self.workflow_id(project))
            try:
                answers.append(await handle.query(query, which))
            except RPCError as err:
                if not is_not_found(err):
                    raise
        return answers

    async def delete_each(self, projects: list[str], request: ConstraintDelete, *, group: bool) -> None:
        """Delete the item from each project's registry; a project without a registry has nothing to delete."""
        update = ProjectConstraintsWorkflow.delete_group if group else ProjectConstraintsWorkflow.delete_instance
        for project in projects:
            handle = self._client.get_workflow_handle_for(ProjectConstraintsWorkflow.run, self.workflow_id(project))
            try:
                await handle.execute_update(update, request)
            except RPCError as err:
                if not is_not_found(err):
                    raise


class Registries:
    """The API's registries, made once the API is connected to Temporal (api/temporal_link.py). Kept on `app.state`
    and handed to the routes by api/deps.py; until Temporal is connected, asking for one answers 503."""

    def __init__(self, link: TemporalLink, settings: Settings) -> None:
        self._link = link
        self._settings = settings
        self._subscriptions: Registry[SubscriptionRegistryWorkflow] | None = None
        self._leases: Registry[HostLeasesWorkflow] | None = None
        self._constraints: ConstraintRegistries | None = None

    @property
    def subscriptions(self) -> Registry[SubscriptionRegistryWorkflow]:
        """The webhook subscriptions, id FENIX_REGISTRY_WORKFLOW_ID (workflows/registry.py)."""
        if self._subscriptions is None:
            self._subscriptions = started_on_first_use(
                self._link.client, SubscriptionRegistryWorkflow.run, RegistryState(),
                self._settings.registry_workflow_id, self._settings.task_queue)
        return self._subscriptions

    @property
    def leases(self) -> Registry[HostLeasesWorkflow]:
        """Which running session holds which hosts, one per task queue (workflows/leases.py)."""
        if self._leases is None:
            self._leases = started_on_first_use(
                self._link.client, HostLeasesWorkflow.run, LeasesState(), host_leases_id(self._settings.task_queue),
                self._settings.task_queue)
        return self._leases

    @property
    def constraints(self) -> ConstraintRegistries:
        if self._constraints is None:
            self._constraints = ConstraintRegistries(self._link.client, self._settings)
        return self._constraints


def started_on_first_use(client: Client, run: Callable[[WorkflowT, StateT], Awaitable[None]], state: StateT,
                         workflow_id: str, task_queue: str) -> Registry[WorkflowT]:
    """A registry that is started with `state` the first time it is used, unless it runs already."""

    async def start() -> None:
        await client.start_workflow(run, state, id=workflow_id, task_queue=task_queue,
                                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)

    return Registry(client.get_workflow_handle_for(run, workflow_id), start)
