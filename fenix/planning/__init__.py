"""Planning: pure, deterministic decisions over a cloud snapshot, shared by workflows, activities and the benchmark.

No I/O, no clock of its own and no Temporal import: workflow code imports these modules through
`workflow.unsafe.imports_passed_through()` and calls them, so the same inputs must always give the same decisions
(a replayed history depends on it).

- `placement`: the `default` flow's placement (which host to empty next, where each instance goes).
- The `vnf` flow's planner, `pacer.Pacer`, is built from one part per concept: `model` (the planner's types),
  `state` (hosts, instances, capacity and the events that change them), `targets` (where an instance may go),
  `forecast` (the admission look-ahead), `urgency` (which host first), `scale_in` (what to ask projects to
  remove), `explain` (why a host waits) and `pacer` (the decision loop).
- `preview`: the plan preview, the same Pacer in simulated time (run by the `simulate_plan` activity).
"""
