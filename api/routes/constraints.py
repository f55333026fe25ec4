"""Instance and instance-group constraints (`/v1/instance`, `/v1/instance_group`), kept durably in one registry
workflow per project (workflows/project_constraints.py, reached through api/registries.py). Project-scoped: a
project sees and changes only its own; another project's item answers 404, as if absent. An instance's constraints
are stored only for the project that owns the instance in the cloud. See docs/constraints.md and
docs/security.md#tenant-isolation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Response

from api.audit import audit
from api.auth import Principal
from api.deadline import BoundedRoute, DeadlineDep
from api.deps import ConstraintRegistriesDep, PrincipalDep, list_scope
from api.registries import ConstraintRegistries
from api.schemas import GroupIn, InstanceIn
from fenix.models.constraints import (
    ConstraintDelete,
    ConstraintFilter,
    GroupConstraints,
    GroupConstraintsList,
    GroupPut,
    InstanceConstraints,
    InstanceConstraintsList,
    InstancePut,
)
from fenix.models.limits import ID_PATTERN, ID_RULE
from workflows.project_constraints import ProjectConstraintsWorkflow

router = APIRouter(tags=["constraints"], route_class=BoundedRoute)

PathId = Annotated[str, Path(min_length=1, max_length=255, pattern=ID_PATTERN, description=ID_RULE)]
# The admin names the project of an item it reads or deletes by id (without it: every project's).
ProjectQuery = Annotated[str | None, Query(max_length=255)]


async def _projects_to_read(registries: ConstraintRegistries, who: Principal, project_id: str | None) -> list[str]:
    """The registries a read or delete looks at: the caller's own; the admin's named one, or every project's."""
    scope = list_scope(who, project_id, "constraints")
    return [scope] if scope is not None else await registries.projects()


async def _instances(registries: ConstraintRegistries, projects: list[str],
                     which: ConstraintFilter) -> list[InstanceConstraints]:
    parts = await registries.ask_each(projects, ProjectConstraintsWorkflow.list_instances, which)
    return sorted((i for part in parts for i in part.instances), key=lambda i: (i.project_id, i.instance_id))


async def _groups(registries: ConstraintRegistries, projects: list[str],
                  which: ConstraintFilter) -> list[GroupConstraints]:
    parts = await registries.ask_each(projects, ProjectConstraintsWorkflow.list_groups, which)
    return sorted((g for part in parts for g in part.groups), key=lambda g: (g.project_id, g.group_id))


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


@router.get("/instance", response_model=InstanceConstraintsList)
async def list_instances(who: PrincipalDep, registries: ConstraintRegistriesDep, project_id: ProjectQuery = None,
                         group_id: Annotated[str | None, Query(max_length=255)] = None) -> InstanceConstraintsList:
    """Own instances' constraints (optionally one group's members); the admin sees all, or `?project_id=`."""
    projects = await _projects_to_read(registries, who, project_id)
    return InstanceConstraintsList(
        instances=await _instances(registries, projects, ConstraintFilter(group_id=group_id)))


@router.get("/instance/{instance_id}", response_model=InstanceConstraints)
async def get_instance(instance_id: PathId, who: PrincipalDep, registries: ConstraintRegistriesDep,
                       project_id: ProjectQuery = None) -> InstanceConstraints:
    projects = await _projects_to_read(registries, who, project_id)
    found = await _instances(registries, projects, ConstraintFilter(id=instance_id))
    if not found:
        raise HTTPException(404, f"no constraints for instance {instance_id!r}")
    return found[0]


@router.put("/instance/{instance_id}", response_model=InstanceConstraints)
async def put_instance(instance_id: PathId, body: InstanceIn, who: PrincipalDep, registries: ConstraintRegistriesDep,
                       deadline: DeadlineDep) -> InstanceConstraints:
    """Create or replace an instance's constraints (the latest PUT wins); answers the stored object. Only the
    project that owns the instance in the cloud may (404 otherwise, as for an absent instance)."""
    _same_id("instance_id", instance_id, body.instance_id)
    fields = body.model_dump(exclude={"instance_id", "project_id"})
    project = _owner(who, body.project_id)
    item = InstanceConstraints(instance_id=instance_id, project_id=project, **fields)
    audit(who, "constraints.put_instance", project_id=project, instance_id=instance_id)
    # Refusals (404 not the project's instance, 409 limit, 422, 503 past the deadline or the cloud unreachable)
    # are mapped by api/errors.py, as for every Update.
    return await registries.of(project).update(ProjectConstraintsWorkflow.put_instance,
                                               InstancePut(item=item, scope=who.scope, not_after=deadline.not_after))


@router.delete("/instance/{instance_id}", status_code=204)
async def delete_instance(instance_id: PathId, who: PrincipalDep, registries: ConstraintRegistriesDep,
                          deadline: DeadlineDep, project_id: ProjectQuery = None) -> Response:
    """Idempotent: 204 whether or not there was anything to delete (the instance may be long gone)."""
    projects = await _projects_to_read(registries, who, project_id)
    audit(who, "constraints.delete_instance", project_id=project_id, instance_id=instance_id)
    await registries.delete_each(projects, ConstraintDelete(id=instance_id, scope=who.scope,
                                                            not_after=deadline.not_after), group=False)
    return Response(status_code=204)


# --- instance groups ---


@router.get("/instance_group", response_model=GroupConstraintsList)
async def list_groups(who: PrincipalDep, registries: ConstraintRegistriesDep,
                      project_id: ProjectQuery = None) -> GroupConstraintsList:
    """Own instance groups; the admin sees all, or one project's with `?project_id=`."""
    projects = await _projects_to_read(registries, who, project_id)
    return GroupConstraintsList(groups=await _groups(registries, projects, ConstraintFilter()))


@router.get("/instance_group/{group_id}", response_model=GroupConstraints)
async def get_group(group_id: PathId, who: PrincipalDep, registries: ConstraintRegistriesDep,
                    project_id: ProjectQuery = None) -> GroupConstraints:
    """A group of the caller's project (group ids are each project's own); the admin: the first project's with
    that id, or the named project's."""
    projects = await _projects_to_read(registries, who, project_id)
    found = await _groups(registries, projects, ConstraintFilter(id=group_id))
    if not found:
        raise HTTPException(404, f"no instance group {group_id!r}")
    return found[0]


@router.put("/instance_group/{group_id}", response_model=GroupConstraints)
async def put_group(group_id: PathId, body: GroupIn, who: PrincipalDep, registries: ConstraintRegistriesDep,
                    deadline: DeadlineDep) -> GroupConstraints:
    """Create or replace one of the project's instance groups (the latest PUT wins); answers the stored object."""
    _same_id("group_id", group_id, body.group_id)
    fields = body.model_dump(exclude={"group_id", "project_id"})
    project = _owner(who, body.project_id)
    item = GroupConstraints(group_id=group_id, project_id=project, **fields)
    audit(who, "constraints.put_group", project_id=project, group_id=group_id)
    return await registries.of(project).update(ProjectConstraintsWorkflow.put_group,
                                               GroupPut(item=item, scope=who.scope, not_after=deadline.not_after))


@router.delete("/instance_group/{group_id}", status_code=204)
async def delete_group(group_id: PathId, who: PrincipalDep, registries: ConstraintRegistriesDep,
                       deadline: DeadlineDep, project_id: ProjectQuery = None) -> Response:
    """Idempotent: 204 whether or not there was anything to delete. Members keep their `group_id`."""
    projects = await _projects_to_read(registries, who, project_id)
    audit(who, "constraints.delete_group", project_id=project_id, group_id=group_id)
    await registries.delete_each(projects, ConstraintDelete(id=group_id, scope=who.scope,
                                                            not_after=deadline.not_after), group=True)
    return Response(status_code=204)
