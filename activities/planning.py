"""The plan preview's simulation, as an activity: pure CPU (seconds on a large cloud), so it runs on the worker's
thread pool and not inside a workflow task, where anything over 2 s counts as a deadlock."""

from __future__ import annotations

from temporalio import activity

from fenix.models.plan import PlanPreview, PlanSimulation
from fenix.planning.preview import simulate


@activity.defn(name="simulate_plan")
def simulate_plan(req: PlanSimulation) -> PlanPreview:
    hosts = req.plan.hosts or sorted(h.name for h in req.snapshot.hosts)
    _, preview = simulate(req.snapshot, hosts, req.plan, req.instances, req.groups, req.estimates)
    baseline = req.plan.model_copy(update={"max_parallel_hosts": 1, "warn_ahead": False})
    _, one_by_one = simulate(req.snapshot, hosts, baseline, req.instances, req.groups, req.estimates)
    preview.one_host_at_a_time_s = one_by_one.estimated_duration_s
    return preview
