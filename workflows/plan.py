"""Plan preview (dry run): read the cloud and the constraints, simulate the `vnf` planner, change nothing.

A workflow (not an API-side computation) because only workers reach the cloud; it is short-lived and its id
starts with `plan-`, so the session list never shows it.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.cloud import CloudActivities
    from fenix.models.cloud import CloudSnapshot
    from fenix.models.cloud_ops import EstimatesRequest, SnapshotRequest
    from fenix.models.plan import (
        ConstraintsRead,
        ConstraintsView,
        MoveEstimates,
        PlanInput,
        PlanPreview,
        PlanSimulation,
    )
    from workflows.options import CLOUD_CALL, PLANNING, REGISTRY_QUERY


@workflow.defn(name="PlanPreview")
class PlanPreviewWorkflow:
    @workflow.run
    async def run(self, inp: PlanInput) -> PlanPreview:
        snap: CloudSnapshot = await workflow.execute_activity_method(
            CloudActivities.snapshot, SnapshotRequest(hosts=inp.hosts), **CLOUD_CALL)
        est: MoveEstimates = await workflow.execute_activity_method(CloudActivities.estimates, EstimatesRequest(),
                                                                    **CLOUD_CALL)
        hosts = set(inp.hosts) or {h.name for h in snap.hosts}
        projects = sorted({s.project_id for s in snap.servers if s.host in hosts})
        view: ConstraintsView = await workflow.execute_activity(
            "read_constraints", ConstraintsRead(project_ids=projects), result_type=ConstraintsView, **REGISTRY_QUERY)
        preview: PlanPreview = await workflow.execute_activity(
            "simulate_plan", PlanSimulation(plan=inp, snapshot=snap, instances=view.instances, groups=view.groups,
                                            estimates=est),
            result_type=PlanPreview, **PLANNING)
        preview.warnings += view.ignored  # constraints whose project does not own the instance in the cloud
        disabled = sorted(h.name for h in snap.hosts if h.name in hosts and not h.enabled)
        if disabled:
            preview.feasible = False
            preview.warnings.append(f"host(s) already disabled (a session would refuse them): {', '.join(disabled)}")
        return preview
