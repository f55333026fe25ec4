"""What both constraints registries keep and how it changes: the items, the revision, the hand-over.

The 0.1 registry (workflows/constraints.py, every project in one workflow) and the per-project one
(workflows/project_constraints.py) differ in who may write what (scoping, the cloud's ownership check) and in their
limits; storing an item, answering a session's read and continuing as new are the same, and live here once. No
commands of their own besides the run's waits, so both registries replay as before.
"""

from __future__ import annotations

from collections.abc import Iterable

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from fenix.models.constraints import ConstraintDeleted, GroupConstraints, InstanceConstraints
    from fenix.models.plan import ConstraintsRead, ConstraintsView


class ConstraintItems:
    """The base of a registry workflow: its instance and group constraints, its write count and revision."""

    _instances: dict[str, InstanceConstraints]
    _groups: dict[str, GroupConstraints]
    _writes: int
    _revision: int

    def _load(self, instances: Iterable[InstanceConstraints], groups: Iterable[GroupConstraints],
              revision: int) -> None:
        self._instances = {i.instance_id: i for i in instances}
        self._groups = {g.group_id: g for g in groups}
        self._writes = 0
        self._revision = revision

    async def _until_hand_over(self, limit: int | None) -> None:
        """Wait until the history should be handed over (continue-as-new), and no handler is still running."""
        await workflow.wait_condition(lambda: workflow.info().is_continue_as_new_suggested()
                                      or (limit is not None and self._writes >= limit))
        await workflow.wait_condition(workflow.all_handlers_finished)

    def _changed(self) -> None:
        self._writes += 1
        self._revision += 1

    def _store_instance(self, item: InstanceConstraints) -> InstanceConstraints:
        self._instances[item.instance_id] = item
        self._changed()
        return item

    def _store_group(self, item: GroupConstraints) -> GroupConstraints:
        self._groups[item.group_id] = item
        self._changed()
        return item

    def _view(self, req: ConstraintsRead, projects: set[str] | None = None) -> ConstraintsView:
        """What a session needs: every item (of `projects`, if named), unless its copy is still current."""
        if req.known_revision == self._revision:
            return ConstraintsView(revision=self._revision, changed=False)
        return ConstraintsView(
            revision=self._revision,
            instances=sorted((i for i in self._instances.values() if not projects or i.project_id in projects),
                             key=lambda i: i.instance_id),
            groups=sorted((g for g in self._groups.values() if not projects or g.project_id in projects),
                          key=lambda g: g.group_id))

    def _remove(self, items: dict[str, InstanceConstraints] | dict[str, GroupConstraints],
                item_id: str) -> ConstraintDeleted:
        del items[item_id]
        self._changed()
        return ConstraintDeleted(removed=True)
