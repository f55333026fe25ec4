"""Instance and instance-group constraints (`/v1/instance`, `/v1/instance_group`), kept durably in the
constraints registry workflow. Project-scoped: a project sees and changes only its own; another project's item
answers 404, as if absent. See docs/constraints.md."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response
from pydantic import BaseModel, ConfigDict
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy

from api.auth import Principal
from api.deadline import BoundedRoute, DeadlineDep
from api.deps import ClientDep, PrincipalDep, SettingsDep, list_scope
from fenix.models.constraints import (
    ConstraintDelete,
    ConstraintFilter,
    ConstraintsState,
    GroupConstraints,
    GroupConstraintsList,
    GroupFields,
    GroupPut,
    Id,
    InstanceConstraints,
    InstanceConstraintsList,
    InstanceFields,
    InstancePut,
)
from fenix.settings import Settings
from workflows.constraints import ConstraintsRegistryWorkflow

router = APIRouter(tags=["constraints"], route_class=BoundedRoute)

Registry = WorkflowHandle[ConstraintsRegistryWorkflow, None]
PathId = Annotated[str, Path(min_length=1, max_length=255)]


class InstanceIn(InstanceFields):
    """PUT body: every field optional; the id defaults to the URL's, the project to the caller's."""

    model_config = ConfigDict(extra="ignore")  # clients (Tacker, Doctor) may send more than we keep

    instance_id: Id | None = None
    project_id: Id | None = None


class GroupIn(GroupFields):
    model_config = ConfigDict(extra="ignore")

    group_id: Id | None = None
    project_id: Id | None = None


class InstancesOut(BaseModel):
    instances: list[InstanceConstraints]


class GroupsOut(BaseModel):
    groups: list[GroupConstraints]


async def registry(client: Client, settings: Settings) -> Registry:
    """The registry workflow, started on first use (an existing one is reused). The handle returned names no
    run, so it follows the workflow across continue-as-new."""
    await client.start_workflow(ConstraintsRegistryWorkflow.run, ConstraintsState(),
                                id=settings.constraints_workflow_id, task_queue=settings.task_queue,
                                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)
    return client.get_workflow_handle_for(ConstraintsRegistryWorkflow.run, settings.constraints_workflow_id)


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
                         project_id: str | None = None, group_id: str | None = None) -> InstancesOut:
    """Own instances' constraints (optionally one group's members); the admin sees all, or `?project_id=`."""
    handle = await registry(client, settings)
    found: InstanceConstraintsList = await handle.query(
        ConstraintsRegistryWorkflow.list_instances,
        ConstraintFilter(project_id=list_scope(who, project_id, "constraints"), group_id=group_id))
    return InstancesOut(instances=found.instances)


@router.get("/instance/{instance_id}", response_model=InstanceConstraints)
async def get_instance(instance_id: PathId, who: PrincipalDep, client: ClientDep,
                       settings: SettingsDep) -> InstanceConstraints:
    handle = await registry(client, settings)
    found: InstanceConstraintsList = await handle.query(
        ConstraintsRegistryWorkflow.list_instances, ConstraintFilter(project_id=who.scope, id=instance_id))
    if not found.instances:
        raise HTTPException(404, f"no constraints for instance {instance_id!r}")
    return found.instances[0]


@router.put("/instance/{instance_id}", response_model=InstanceConstraints)
async def put_instance(instance_id: PathId, body: InstanceIn, who: PrincipalDep, client: ClientDep,
                       settings: SettingsDep, deadline: DeadlineDep) -> InstanceConstraints:
    """Create or replace an instance's constraints (the latest PUT wins); answers the stored object."""
    _same_id("instance_id", instance_id, body.instance_id)
    fields = body.model_dump(exclude={"instance_id", "project_id"})
    item = InstanceConstraints(instance_id=instance_id, project_id=_owner(who, body.project_id), **fields)
    handle = await registry(client, settings)
    # Validator refusals (404/409/422, 503 past the deadline) are mapped by api/errors.py, as for every Update.
    return await handle.execute_update(ConstraintsRegistryWorkflow.put_instance,
                                       InstancePut(item=item, scope=who.scope, not_after=deadline.not_after))


@router.delete("/instance/{instance_id}", status_code=204)
async def delete_instance(instance_id: PathId, who: PrincipalDep, client: ClientDep,
                          settings: SettingsDep, deadline: DeadlineDep) -> Response:
    """Idempotent: 204 whether or not there was anything to delete (the instance may be long gone)."""
    handle = await registry(client, settings)
    await handle.execute_update(ConstraintsRegistryWorkflow.delete_instance,
                                ConstraintDelete(id=instance_id, scope=who.scope, not_after=deadline.not_after))
    return Response(status_code=204)


# --- instance groups ---


@router.get("/instance_group", response_model=GroupsOut)
async def list_groups(who: PrincipalDep, client: ClientDep, settings: SettingsDep,
                      project_id: str | None = None) -> GroupsOut:
    """Own instance groups; the admin sees all, or one project's with `?project_id=`."""
    scope = list_scope(who, project_id, "constraints")
    handle = await registry(client, settings)
    found: GroupConstraintsList = await handle.query(ConstraintsRegistryWorkflow.list_groups,
                                                     ConstraintFilter(project_id=scope))
    return GroupsOut(groups=found.groups)


@router.get("/instance_group/{group_id}", response_model=GroupConstraints)
async def get_group(group_id: PathId, who: PrincipalDep, client: ClientDep,
                    settings: SettingsDep) -> GroupConstraints:
    handle = await registry(client, settings)
    found: GroupConstraintsList = await handle.query(
        ConstraintsRegistryWorkflow.list_groups, ConstraintFilter(project_id=who.scope, id=group_id))
    if not found.groups:
        raise HTTPException(404, f"no instance group {group_id!r}")
    return found.groups[0]


@router.put("/instance_group/{group_id}", response_model=GroupConstraints)
async def put_group(group_id: PathId, body: GroupIn, who: PrincipalDep, client: ClientDep,
                    settings: SettingsDep, deadline: DeadlineDep) -> GroupConstraints:
    """Create or replace an instance group's constraints (the latest PUT wins); answers the stored object."""
    _same_id("group_id", group_id, body.group_id)
    fields = body.model_dump(exclude={"group_id", "project_id"})
    item = GroupConstraints(group_id=group_id, project_id=_owner(who, body.project_id), **fields)
    handle = await registry(client, settings)
    # Validator refusals (404/409/422, 503 past the deadline) are mapped by api/errors.py, as for every Update.
    return await handle.execute_update(ConstraintsRegistryWorkflow.put_group,
                                       GroupPut(item=item, scope=who.scope, not_after=deadline.not_after))


@router.delete("/instance_group/{group_id}", status_code=204)
async def delete_group(group_id: PathId, who: PrincipalDep, client: ClientDep, settings: SettingsDep,
                       deadline: DeadlineDep) -> Response:
    """Idempotent: 204 whether or not there was anything to delete. Members keep their `group_id`."""
    handle = await registry(client, settings)
    await handle.execute_update(ConstraintsRegistryWorkflow.delete_group,
                                ConstraintDelete(id=group_id, scope=who.scope, not_after=deadline.not_after))
    return Response(status_code=204)
