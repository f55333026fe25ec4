"""Durable constraints registry: instance and instance-group constraints in one long-lived entity workflow.

Like the subscription registry (workflows/registry.py): constraints exist before any session and must survive
restarts of the API and the workers, so Temporal is their database. Writes are Updates (the API answers only once
a write is durable, and the validators reject bad writes before they reach the history); reads are Queries. The
workflow continues as new when its history grows, handing its whole state over.

Scoping: every write and delete carries the caller's project (`scope`, None for the admin). An item of another
project is reported as absent, so a project never learns another project's ids.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from fenix.models.constraints import (
        ConstraintDelete,
        ConstraintDeleted,
        ConstraintFilter,
        ConstraintsState,
        GroupConstraints,
        GroupConstraintsList,
        GroupPut,
        InstanceConstraints,
        InstanceConstraintsList,
        InstancePut,
    )
    from fenix.models.plan import ConstraintsRead, ConstraintsView
    from workflows.constraint_items import ConstraintItems
    from workflows.deadline import refuse_if_late

MAX_INSTANCES_PER_PROJECT = 2000
MAX_GROUPS_PER_PROJECT = 200

# ApplicationError types of the validators (api/errors.py maps them to HTTP, with LimitReached shared).
NOT_FOUND = "ConstraintNotFound"  # 404
INVALID = "InvalidConstraints"  # 422
CONFLICT = "ConstraintConflict"  # 409
LIMIT = "LimitReached"  # 409


@workflow.defn(name="ConstraintsRegistry")
class ConstraintsRegistryWorkflow(ConstraintItems):
    """Updates `put_instance`, `delete_instance`, `put_group`, `delete_group`; queries `instances`, `groups`."""

    @workflow.init
    def __init__(self, state: ConstraintsState) -> None:
        self._load(state.instances, state.groups, state.revision)

    @workflow.run
    async def run(self, state: ConstraintsState) -> None:
        limit = state.continue_as_new_after
        await self._until_hand_over(limit)
        workflow.continue_as_new(ConstraintsState(instances=list(self._instances.values()),
                                                  groups=list(self._groups.values()),
                                                  revision=self._revision, continue_as_new_after=limit))

    @workflow.query(name="view")
    def view(self, req: ConstraintsRead) -> ConstraintsView:
        """What a session needs: every item of the named projects, unless its copy is still current."""
        return self._view(req, set(req.project_ids))

    # --- instances ---

    @workflow.update
    def put_instance(self, req: InstancePut) -> InstanceConstraints:
        return self._store_instance(req.item)

    @put_instance.validator
    def _validate_put_instance(self, req: InstancePut) -> None:
        refuse_if_late(req.not_after, f"the constraints of instance {req.item.instance_id!r}")
        item = req.item
        old = self._instances.get(item.instance_id)
        _check_scope(old.project_id if old else None, req.scope, "instance", item.instance_id)
        if item.group_id is not None:
            group = self._groups.get(item.group_id)
            if group is None or group.project_id != item.project_id:
                raise ApplicationError(f"group_id: no instance group {item.group_id!r} in project "
                                       f"{item.project_id!r}; PUT /v1/instance_group/{item.group_id} first",
                                       type=INVALID)
        if old is None or old.project_id != item.project_id:
            own = sum(i.project_id == item.project_id for i in self._instances.values())
            if own >= MAX_INSTANCES_PER_PROJECT:
                raise ApplicationError(f"project {item.project_id} already has constraints for {own} instances "
                                       f"(limit {MAX_INSTANCES_PER_PROJECT})", type=LIMIT)

    @workflow.update
    def delete_instance(self, req: ConstraintDelete) -> ConstraintDeleted:
        return self._delete(self._instances, req)

    @delete_instance.validator
    def _validate_delete_instance(self, req: ConstraintDelete) -> None:
        refuse_if_late(req.not_after, f"the deletion of instance {req.id!r}")

    @workflow.query(name="instances")
    def list_instances(self, f: ConstraintFilter) -> InstanceConstraintsList:
        found = [i for i in self._instances.values()
                 if (f.project_id is None or i.project_id == f.project_id)
                 and (f.id is None or i.instance_id == f.id)
                 and (f.group_id is None or i.group_id == f.group_id)]
        return InstanceConstraintsList(instances=sorted(found, key=lambda i: (i.project_id, i.instance_id)))

    # --- groups ---

    @workflow.update
    def put_group(self, req: GroupPut) -> GroupConstraints:
        return self._store_group(req.item)

    @put_group.validator
    def _validate_put_group(self, req: GroupPut) -> None:
        refuse_if_late(req.not_after, f"the constraints of instance group {req.item.group_id!r}")
        item = req.item
        old = self._groups.get(item.group_id)
        _check_scope(old.project_id if old else None, req.scope, "instance group", item.group_id)
        if old is not None and old.project_id != item.project_id:
            members = [i.instance_id for i in self._instances.values() if i.group_id == item.group_id]
            if members:
                raise ApplicationError(f"instance group {item.group_id!r} still has {len(members)} member(s) in "
                                       f"project {old.project_id!r}; move or delete them before moving the group",
                                       type=CONFLICT)
        if old is None or old.project_id != item.project_id:
            own = sum(g.project_id == item.project_id for g in self._groups.values())
            if own >= MAX_GROUPS_PER_PROJECT:
                raise ApplicationError(f"project {item.project_id} already has {own} instance groups "
                                       f"(limit {MAX_GROUPS_PER_PROJECT})", type=LIMIT)

    @workflow.update
    def delete_group(self, req: ConstraintDelete) -> ConstraintDeleted:
        return self._delete(self._groups, req)  # members keep their group_id: the engine treats them as ungrouped

    @delete_group.validator
    def _validate_delete_group(self, req: ConstraintDelete) -> None:
        refuse_if_late(req.not_after, f"the deletion of instance group {req.id!r}")

    @workflow.query(name="groups")
    def list_groups(self, f: ConstraintFilter) -> GroupConstraintsList:
        found = [g for g in self._groups.values()
                 if (f.project_id is None or g.project_id == f.project_id) and (f.id is None or g.group_id == f.id)]
        return GroupConstraintsList(groups=sorted(found, key=lambda g: (g.project_id, g.group_id)))

    def _delete(self, items: dict[str, InstanceConstraints] | dict[str, GroupConstraints],
                req: ConstraintDelete) -> ConstraintDeleted:
        """Idempotent, and silent about another project's item (as if absent)."""
        old = items.get(req.id)
        if old is None or (req.scope is not None and old.project_id != req.scope):
            return ConstraintDeleted(removed=False)
        return self._remove(items, req.id)


def _check_scope(owner: str | None, scope: str | None, kind: str, item_id: str) -> None:
    """A project may not overwrite another project's item; it is told the item is not there (no id leaks)."""
    if owner is not None and scope is not None and owner != scope:
        raise ApplicationError(f"no {kind} {item_id!r} in project {scope!r}", type=NOT_FOUND)
