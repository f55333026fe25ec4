"""One project's instance and instance-group constraints: a long-lived entity workflow per project.

Fenix 0.1 kept every project's constraints in one workflow (workflows/constraints.py), keyed by id alone. That had
two faults this layout removes (docs/security.md#tenant-isolation):

- any project could write constraints for another project's instance, or take a group id first and lock its owner
  out. Here a project's items live in its own workflow, so group ids are the project's own namespace, and an
  instance's constraints are stored only after the cloud says the instance is the project's (an activity, in the
  Update's handler: a workflow does no I/O itself);
- one workflow's state grew with every tenant, until carrying it over continue-as-new broke Temporal's 2 MB
  payload limit for everybody. Here each state is bounded by the per-project limits and the field bounds
  (MAX_INSTANCES_PER_PROJECT instances and MAX_GROUPS_PER_PROJECT groups of at most ~2 KB each, about 1.4 MB), and
  one tenant filling its own registry leaves the others alone.

Writes are Updates (answered once durable; validators refuse bad writes before they reach the history, and the
API's deadline as everywhere); reads are Queries.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from fenix.models.constraints import (
        ConstraintDelete,
        ConstraintDeleted,
        ConstraintFilter,
        GroupConstraints,
        GroupConstraintsList,
        GroupPut,
        InstanceConstraints,
        InstanceConstraintsList,
        InstanceOwner,
        InstanceOwnerQuery,
        InstancePut,
        ProjectConstraintsState,
    )
    from fenix.models.plan import ConstraintsRead, ConstraintsView
    from workflows.constraint_items import ConstraintItems
    from workflows.constraints import INVALID, LIMIT, NOT_FOUND
    from workflows.deadline import DEADLINE_PASSED, refuse_if_late
    from workflows.options import OWNER_CHECK

PROJECT_CONSTRAINTS_TYPE = "ProjectConstraints"
# Sized so that a full registry (every item at its largest) stays well inside one 2 MB payload when carried over
# continue-as-new (tests/api/test_registry_limits.py fills one and measures it).
MAX_INSTANCES_PER_PROJECT = 500
MAX_GROUPS_PER_PROJECT = 200
CLOUD_UNAVAILABLE = "CloudUnavailable"  # 503: the ownership check could not reach the cloud


def project_constraints_id(base: str, project_id: str) -> str:
    """The workflow id of a project's registry (`FENIX_CONSTRAINTS_WORKFLOW_ID` + the project)."""
    return f"{base}/project/{project_id}"


@workflow.defn(name=PROJECT_CONSTRAINTS_TYPE)
class ProjectConstraintsWorkflow(ConstraintItems):
    """Updates `put_instance`, `delete_instance`, `put_group`, `delete_group`; queries `instances`, `groups`,
    `view`, `revision`, `state`."""

    @workflow.init
    def __init__(self, state: ProjectConstraintsState) -> None:
        self._project = state.project_id
        self._load(state.instances, state.groups, state.revision)

    @workflow.run
    async def run(self, state: ProjectConstraintsState) -> None:
        limit = state.continue_as_new_after
        await self._until_hand_over(limit)
        workflow.continue_as_new(self._state(limit))

    def _state(self, limit: int | None) -> ProjectConstraintsState:
        return ProjectConstraintsState(project_id=self._project, instances=list(self._instances.values()),
                                       groups=list(self._groups.values()), revision=self._revision,
                                       continue_as_new_after=limit)

    @workflow.query(name="view")
    def view(self, req: ConstraintsRead) -> ConstraintsView:
        """What a session needs: every item, unless its copy is still current."""
        return self._view(req)

    @workflow.query(name="revision")
    def revision(self, _: ConstraintsRead) -> ConstraintsView:
        """Only the revision: how a session finds out cheaply whether anything changed."""
        return ConstraintsView(revision=self._revision, changed=False)

    @workflow.query(name="state")
    def state(self) -> ProjectConstraintsState:
        """What continue-as-new would carry over (its size is what must stay under the payload limit)."""
        return self._state(None)

    # --- instances ---

    @workflow.update
    async def put_instance(self, req: InstancePut) -> InstanceConstraints:
        item = req.item
        # Ownership is the cloud's word, not the registry's: a project may describe only its own instances.
        try:
            owner: InstanceOwner = await workflow.execute_activity(
                "instance_owner", InstanceOwnerQuery(instance_id=item.instance_id), result_type=InstanceOwner,
                **OWNER_CHECK)
        except ActivityError as err:
            raise ApplicationError(f"could not ask the cloud who owns instance {item.instance_id!r}; try again",
                                   type=CLOUD_UNAVAILABLE) from err
        if owner.project_id != self._project:
            # The same answer whether the instance is absent or another project's: no ids leak across projects.
            raise ApplicationError(f"no instance {item.instance_id!r} of project {self._project!r} in the cloud",
                                   type=NOT_FOUND)
        if req.not_after is not None and workflow.now() > req.not_after:
            raise ApplicationError(f"the constraints of instance {item.instance_id!r} reached Fenix after their "
                                   "deadline (the API had already answered 503): not applied", type=DEADLINE_PASSED)
        self._check_instance(item)  # again: other writes may have landed while the cloud answered
        return self._store_instance(item)

    @put_instance.validator
    def _validate_put_instance(self, req: InstancePut) -> None:
        refuse_if_late(req.not_after, f"the constraints of instance {req.item.instance_id!r}")
        self._check_instance(req.item)

    def _check_instance(self, item: InstanceConstraints) -> None:
        self._check_project(item.project_id)
        if item.group_id is not None and item.group_id not in self._groups:
            raise ApplicationError(f"group_id: no instance group {item.group_id!r} in project {self._project!r}; "
                                   f"PUT /v1/instance_group/{item.group_id} first", type=INVALID)
        if item.instance_id not in self._instances and len(self._instances) >= MAX_INSTANCES_PER_PROJECT:
            raise ApplicationError(f"project {self._project} already has constraints for {len(self._instances)} "
                                   f"instances (limit {MAX_INSTANCES_PER_PROJECT})", type=LIMIT)

    def _check_project(self, project_id: str) -> None:
        if project_id != self._project:  # the API routes every item to its project's registry
            raise ApplicationError(f"project_id {project_id!r}: this registry holds project {self._project!r}",
                                   type=INVALID)

    @workflow.update
    def delete_instance(self, req: ConstraintDelete) -> ConstraintDeleted:
        return self._delete(self._instances, req.id)

    @delete_instance.validator
    def _validate_delete_instance(self, req: ConstraintDelete) -> None:
        refuse_if_late(req.not_after, f"the deletion of instance {req.id!r}")

    @workflow.query(name="instances")
    def list_instances(self, f: ConstraintFilter) -> InstanceConstraintsList:
        found = [i for i in self._instances.values()
                 if (f.id is None or i.instance_id == f.id) and (f.group_id is None or i.group_id == f.group_id)]
        return InstanceConstraintsList(instances=sorted(found, key=lambda i: i.instance_id))

    # --- groups ---

    @workflow.update
    def put_group(self, req: GroupPut) -> GroupConstraints:
        return self._store_group(req.item)

    @put_group.validator
    def _validate_put_group(self, req: GroupPut) -> None:
        refuse_if_late(req.not_after, f"the constraints of instance group {req.item.group_id!r}")
        item = req.item
        self._check_project(item.project_id)
        if item.group_id not in self._groups and len(self._groups) >= MAX_GROUPS_PER_PROJECT:
            raise ApplicationError(f"project {self._project} already has {len(self._groups)} instance groups "
                                   f"(limit {MAX_GROUPS_PER_PROJECT})", type=LIMIT)

    @workflow.update
    def delete_group(self, req: ConstraintDelete) -> ConstraintDeleted:
        return self._delete(self._groups, req.id)  # members keep their group_id: the engine treats them as ungrouped

    @delete_group.validator
    def _validate_delete_group(self, req: ConstraintDelete) -> None:
        refuse_if_late(req.not_after, f"the deletion of instance group {req.id!r}")

    @workflow.query(name="groups")
    def list_groups(self, f: ConstraintFilter) -> GroupConstraintsList:
        found = [g for g in self._groups.values() if f.id is None or g.group_id == f.id]
        return GroupConstraintsList(groups=sorted(found, key=lambda g: g.group_id))

    def _delete(self, items: dict[str, InstanceConstraints] | dict[str, GroupConstraints],
                item_id: str) -> ConstraintDeleted:
        """Idempotent: deleting what is not there is not an error."""
        if item_id not in items:
            return ConstraintDeleted(removed=False)
        return self._remove(items, item_id)

