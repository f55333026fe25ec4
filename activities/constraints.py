"""Constraints and the cloud: who owns an instance (checked before a project's constraints for it are stored), and
the constraints a session reads, kept only where the cloud agrees (docs/security.md#tenant-isolation).

A session must never act on a constraint whose project does not own the instance it names, whatever a registry
holds (an item written before ownership was checked, a bug): `read_constraints` drops such items, says why in
`ignored` (the session records it in its history), and the instance is paced with its own project's defaults.
"""

from __future__ import annotations

import asyncio

from temporalio import activity
from temporalio.client import Client

from activities.registry_query import query_registry
from fenix.cloud.driver import CloudDriver, NotFound
from fenix.models.constraints import GroupConstraints, InstanceConstraints, InstanceOwner, InstanceOwnerQuery
from fenix.models.plan import ConstraintsRead, ConstraintsView
from workflows.project_constraints import project_constraints_id


class ConstraintActivities:
    def __init__(self, client: Client, registry_workflow_id: str, driver: CloudDriver) -> None:
        self._client = client
        self._base_id = registry_workflow_id  # the 0.1 registry's id, and the prefix of the per-project ones
        self._driver = driver

    @activity.defn(name="instance_owner")
    def owner(self, q: InstanceOwnerQuery) -> InstanceOwner:
        try:
            return InstanceOwner(project_id=self._driver.get_server(q.instance_id).project_id)
        except NotFound:
            return InstanceOwner(project_id=None)

    @activity.defn(name="read_constraints")
    async def read(self, req: ConstraintsRead) -> ConstraintsView:
        projects = sorted(set(req.project_ids))
        # One revision for the whole read: the per-project registries' and the 0.1 registry's, summed. Each only
        # grows and the session's projects are only ever added, so the sum changes exactly when something did.
        revisions = await asyncio.gather(self._legacy(ConstraintsRead(project_ids=projects, known_revision=-1)),
                                         *(self._project(p, "revision", ConstraintsRead()) for p in projects))
        revision = sum(v.revision for v in revisions)
        if req.known_revision == revision:
            return ConstraintsView(revision=revision, changed=False)
        views = await asyncio.gather(self._legacy(ConstraintsRead(project_ids=projects)),
                                     *(self._project(p, "view", ConstraintsRead()) for p in projects))
        instances: dict[tuple[str, str], InstanceConstraints] = {}
        groups: dict[tuple[str, str], GroupConstraints] = {}
        for view in views:  # the 0.1 registry first: a project's own registry wins over it
            instances.update(((i.project_id, i.instance_id), i) for i in view.instances)
            groups.update(((g.project_id, g.group_id), g) for g in view.groups)
        owners = {s.id: s.project_id for s in await asyncio.to_thread(self._driver.list_servers)}
        kept, ignored = [], []
        for (project, iid), item in sorted(instances.items()):
            owner = owners.get(iid)
            if owner is None:
                continue  # not in the cloud (deleted, or never was): there is nothing to act on
            if owner != project:
                ignored.append(f"constraints of project {project} for instance {iid} ignored: the instance belongs "
                               f"to project {owner} in the cloud, which gets its defaults for it")
                continue
            kept.append(item)
        kept_groups, kept = _unique_group_ids(sorted(groups.values(), key=lambda g: (g.project_id, g.group_id)), kept)
        return ConstraintsView(revision=revision, instances=sorted(kept, key=lambda i: i.instance_id),
                               groups=kept_groups, ignored=ignored)

    async def _project(self, project_id: str, query: str, req: ConstraintsRead) -> ConstraintsView:
        # A project that never wrote has no registry: revision 0, nothing.
        return await query_registry(self._client, project_constraints_id(self._base_id, project_id), query, req,
                                    ConstraintsView, ConstraintsView(revision=0))

    async def _legacy(self, req: ConstraintsRead) -> ConstraintsView:
        return await query_registry(self._client, self._base_id, "view", req, ConstraintsView,
                                    ConstraintsView(revision=0))


def _unique_group_ids(groups: list[GroupConstraints], instances: list[InstanceConstraints]
                      ) -> tuple[list[GroupConstraints], list[InstanceConstraints]]:
    """Group ids are each project's own; the planner keys groups by id alone. Where two projects of one session use
    the same id, both are shown as `<project>/<group>` (and their members follow), so they stay two groups."""
    projects_of: dict[str, set[str]] = {}
    for g in groups:
        projects_of.setdefault(g.group_id, set()).add(g.project_id)
    shared = {gid for gid, ps in projects_of.items() if len(ps) > 1}
    if not shared:
        return groups, instances
    out_groups = [g.model_copy(update={"group_id": f"{g.project_id}/{g.group_id}"}) if g.group_id in shared else g
                  for g in groups]
    out_instances = [i.model_copy(update={"group_id": f"{i.project_id}/{i.group_id}"})
                     if i.group_id in shared else i for i in instances]
    return out_groups, out_instances
