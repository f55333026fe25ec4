"""Instance and instance-group constraints (`/v1/instance`, `/v1/instance_group`), kept durably in one registry
workflow per project (workflows/project_constraints.py). Project-scoped: a project sees and changes only its own;
another project's item answers 404, as if absent. An instance's constraints are stored only for the project that
owns the instance in the cloud. See docs/constraints.md and docs/security.md#tenant-isolation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import APIRouter, HTTPException, Path, Query, Response
from pydantic import BaseModel, ConfigDict
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from api.auth import Principal
from api.deadline import BoundedRoute, DeadlineDep
from api.deps import ClientDep, PrincipalDep, SettingsDep, list_scope
from fenix.models.constraints import (
    ConstraintDelete,
    ConstraintFilter,
    GroupConstraints,
    GroupFields,
    GroupPut,
    InstanceConstraints,
    InstanceFields,
    InstancePut,
    ProjectConstraintsState,
)
from fenix.models.limits import ID_PATTERN, ID_RULE, ApiId
from fenix.settings import Settings
from workflows.project_constraints import PROJECT_CONSTRAINTS_TYPE, ProjectConstraintsWorkflow, project_constraints_id

T = TypeVar("T")

router = APIRouter(tags=["constraints"], route_class=BoundedRoute)

Registry = WorkflowHandle[ProjectConstraintsWorkflow, None]
PathId = Annotated[str, Path(min_length=1, max_length=255, pattern=ID_PATTERN, description=ID_RULE)]
# The admin names the project of an item it reads or deletes by id (without it: every project's).
ProjectQuery = Annotated[str | None, Query(max_length=255)]


class InstanceIn(InstanceFields):
    """PUT body: every field optional; the id defaults to the URL's, the project to the caller's."""

    model_config = ConfigDict(extra="ignore")  # clients (Tacker, Doctor) may send more than we keep

    instance_id: ApiId | None = None
    project_id: ApiId | None = None
    group_id: ApiId | None = None


class GroupIn(GroupFields):
    model_config = ConfigDict(extra="ignore")

    group_id: ApiId | None = None
    project_id: ApiId | None = None


class InstancesOut(BaseModel):
    instances: list[InstanceConstraints]


class GroupsOut(BaseModel):
    groups: list[GroupConstraints]


async def registry(client: Client, settings: Settings, project_id: str) -> Registry:
    """The project's registry workflow, started on first write (an existing one is reused). The handle names no
    run, so it follows the workflow across continue-as-new."""
    wf_id = project_constraints_id(settings.constraints_workflow_id, project_id)
    await client.start_workflow(ProjectConstraintsWorkflow.run, ProjectConstraintsState(project_id=project_id),
                                id=wf_id, task_queue=settings.task_queue,
                                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)
    return client.get_workflow_handle_for(ProjectConstraintsWorkflow.run, wf_id)


async def _projects(client: Client, settings: Settings, who: Principal, project_id: str | None) -> list[str]:
    """The registries a read or delete looks at: the caller's own; the admin's named one, or every project's."""
    scope = list_scope(who, project_id, "constraints")
    if scope is not None:
        return [scope]
    prefix = project_constraints_id(settings.constraints_workflow_id, "")
    query = (f"WorkflowType = '{PROJECT_CONSTRAINTS_TYPE}' AND ExecutionStatus = 'Running' AND "
             f"WorkflowId STARTS_WITH '{prefix.replace(chr(39), chr(92) + chr(39))}'")
    found: set[str] = set()
    try:
        async for wf in client.list_workflows(query):
            found.add(wf.id[len(prefix):])
    except RPCError as err:
        if err.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        # A Temporal without visibility (the time-skipping test server) cannot list the projects' registries.
        raise HTTPException(503, "listing every project's constraints needs Temporal visibility; name the project "
                                 "with ?project_id=") from err
    return sorted(found)


async def _ask_registries(client: Client, settings: Settings, projects: list[str],
                          query: Callable[[ProjectConstraintsWorkflow, ConstraintFilter], T],
                          f: ConstraintFilter) -> list[T]:
    """The answer of each project's registry to `query` (a project that never wrote any has none)."""
    answers: list[T] = []
    for project in projects:
        handle = client.get_workflow_handle_for(
            ProjectConstraintsWorkflow.run, project_constraints_id(settings.constraints_workflow_id, project))
        try:
            answers.append(await handle.query(query, f))
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
    return answers


async def _instances(client: Client, settings: Settings, projects: list[str],
                     f: ConstraintFilter) -> list[InstanceConstraints]:
    parts = await _ask_registries(client, settings, projects, ProjectConstraintsWorkflow.list_instances, f)
    return sorted((i for part in parts for i in part.instances), key=lambda i: (i.project_id, i.instance_id))


async def _groups(client: Client, settings: Settings, projects: list[str],
                  f: ConstraintFilter) -> list[GroupConstraints]:
    parts = await _ask_registries(client, settings, projects, ProjectConstraintsWorkflow.list_groups, f)
    return sorted((g for part in parts for g in part.groups), key=lambda g: (g.project_id, g.group_id))


async def _delete(client: Client, settings: Settings, projects: list[str], req: ConstraintDelete,
                  group: bool) -> None:
    for project in projects:
        handle = client.get_workflow_handle_for(
            ProjectConstraintsWorkflow.run, project_constraints_id(settings.constraints_workflow_id, project))
        update = ProjectConstraintsWorkflow.delete_group if group else ProjectConstraintsWorkflow.delete_instance
        try:
            await handle.execute_update(update, req)
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise  # no registry: nothing to delete


def _owner(who: Principal, body_project: str | None) -> str:
    """The project an item is written for: the caller's own, or (admin only) the one the body names."""
    project = body_project or who.project_id
    if not who.may_act_for(project):
        raise HTTPException(403, f"project_id: a project can only set constraints for itself "
                                 f"({who.project_id!r}), not for {project!r}")
    return project


def _same_id(field: str, url_id: str, body_id: str | None) -> None:
    if body_id is not None and body_id != url_id:
        raise HTTPException(422, f"{field}: {body_id!r} in the body does not match {url_id!r} in the URL")


# --- instances ---


@router.get("/instance", response_model=InstancesOut)
async def list_instances(who: PrincipalDep, client: ClientDep, settings: SettingsDep,
                         project_id: ProjectQuery = None,
                         group_id: Annotated[str | None, Query(max_length=255)] = None) -> InstancesOut:
    """Own instances' constraints (optionally one group's members); the admin sees all, or `?project_id=`."""
    projects = await _projects(client, settings, who, project_id)
    return InstancesOut(instances=await _instances(client, settings, projects, ConstraintFilter(group_id=group_id)))


@router.get("/instance/{instance_id}", response_model=InstanceConstraints)
async def get_instance(instance_id: PathId, who: PrincipalDep, client: ClientDep, settings: SettingsDep,
                       project_id: ProjectQuery = None) -> InstanceConstraints:
    projects = await _projects(client, settings, who, project_id)
    found = await _instances(client, settings, projects, ConstraintFilter(id=instance_id))
    if not found:
        raise HTTPException(404, f"no constraints for instance {instance_id!r}")
    return found[0]


@router.put("/instance/{instance_id}", response_model=InstanceConstraints)
async def put_instance(instance_id: PathId, body: InstanceIn, who: PrincipalDep, client: ClientDep,
                       settings: SettingsDep, deadline: DeadlineDep) -> InstanceConstraints:
    """Create or replace an instance's constraints (the latest PUT wins); answers the stored object. Only the
    project that owns the instance in the cloud may (404 otherwise, as for an absent instance)."""
    _same_id("instance_id", instance_id, body.instance_id)
    fields = body.model_dump(exclude={"instance_id", "project_id"})
    project = _owner(who, body.project_id)
    item = InstanceConstraints(instance_id=instance_id, project_id=project, **fields)
    handle = await registry(client, settings, project)
    # Refusals (404 not the project's instance, 409 limit, 422, 503 past the deadline or the cloud unreachable)
    # are mapped by api/errors.py, as for every Update.
    return await handle.execute_update(ProjectConstraintsWorkflow.put_instance,
                                       InstancePut(item=item, scope=who.scope, not_after=deadline.not_after))


@router.delete("/instance/{instance_id}", status_code=204)
async def delete_instance(instance_id: PathId, who: PrincipalDep, client: ClientDep, settings: SettingsDep,
                          deadline: DeadlineDep, project_id: ProjectQuery = None) -> Response:
    """Idempotent: 204 whether or not there was anything to delete (the instance may be long gone)."""
    projects = await _projects(client, settings, who, project_id)
    await _delete(client, settings, projects, ConstraintDelete(id=instance_id, scope=who.scope,
                                                               not_after=deadline.not_after), group=False)
    return Response(status_code=204)


# --- instance groups ---


@router.get("/instance_group", response_model=GroupsOut)
async def list_groups(who: PrincipalDep, client: ClientDep, settings: SettingsDep,
                      project_id: ProjectQuery = None) -> GroupsOut:
    """Own instance groups; the admin sees all, or one project's with `?project_id=`."""
    projects = await _projects(client, settings, who, project_id)
    return GroupsOut(groups=await _groups(client, settings, projects, ConstraintFilter()))


@router.get("/instance_group/{group_id}", response_model=GroupConstraints)
async def get_group(group_id: PathId, who: PrincipalDep, client: ClientDep, settings: SettingsDep,
                    project_id: ProjectQuery = None) -> GroupConstraints:
    """A group of the caller's project (group ids are each project's own); the admin: the first project's with
    that id, or the named project's."""
    projects = await _projects(client, settings, who, project_id)
    found = await _groups(client, settings, projects, ConstraintFilter(id=group_id))
    if not found:
        raise HTTPException(404, f"no instance group {group_id!r}")
    return found[0]


@router.put("/instance_group/{group_id}", response_model=GroupConstraints)
async def put_group(group_id: PathId, body: GroupIn, who: PrincipalDep, client: ClientDep,
                    settings: SettingsDep, deadline: DeadlineDep) -> GroupConstraints:
    """Create or replace one of the project's instance groups (the latest PUT wins); answers the stored object."""
    _same_id("group_id", group_id, body.group_id)
    fields = body.model_dump(exclude={"group_id", "project_id"})
    project = _owner(who, body.project_id)
    item = GroupConstraints(group_id=group_id, project_id=project, **fields)
    handle = await registry(client, settings, project)
    return await handle.execute_update(ProjectConstraintsWorkflow.put_group,
                                       GroupPut(item=item, scope=who.scope, not_after=deadline.not_after))


@router.delete("/instance_group/{group_id}", status_code=204)
async def delete_group(group_id: PathId, who: PrincipalDep, client: ClientDep, settings: SettingsDep,
                       deadline: DeadlineDep, project_id: ProjectQuery = None) -> Response:
    """Idempotent: 204 whether or not there was anything to delete. Members keep their `group_id`."""
    projects = await _projects(client, settings, who, project_id)
    await _delete(client, settings, projects, ConstraintDelete(id=group_id, scope=who.scope,
                                                               not_after=deadline.not_after), group=True)
    return Response(status_code=204)
