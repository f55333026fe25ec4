"""`python -m bench` (or `make bench`): the `vnf` workflow's makespan on the reference cloud.

Real sessions through the API on the time-skipping Temporal server, on the simulated cloud with its real move
durations (they pass in Temporal's virtual time, so the run takes a minute, not an hour). Nobody replies early:
every instance waits its full lead time, as the lower bound assumes. Prints one row per run and the ratios the
issue asks for: parallel vs the lower bound (target <= 1.10) and one-host-at-a-time vs parallel (target >= 3).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from bench.reference import GROUPS, instance_fields, lower_bound, seed
from demo.stack import stack
from fenix.checks import constraint_violations
from fenix.constants import session_workflow_id
from fenix.logs import configure_logging
from fenix.models.session import SessionState
from fenix.settings import Settings
from fenix.temporal import find_bin, register_search_attributes


@dataclass
class Run:
    name: str
    parallel: int
    warn_ahead: bool
    makespan_s: float = 0.0
    preview_s: float = 0.0
    moves: int = 0
    wall_s: float = 0.0
    violations: int = 0
    state: str = ""
    events: int = 0  # the session workflow's history length (Temporal's limit is 51,200)
    refused: int = 0  # moves the cloud refused or failed (each retried after move_retry.interval_s)
    history_dropped: int = 0  # history entries before those the result keeps (their errors are not in `refused`)


def makespan(history: WorkflowHistory) -> float:
    """From the first host disabled to the last host maintained and enabled (session time), from the session's
    workflow history: its own log is a ring of the last entries, which at this size no longer holds the first."""
    activity_types: dict[int, str] = {}
    starts, ends = [], []
    for event in history.events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            activity_types[event.event_id] = event.activity_task_scheduled_event_attributes.activity_type.name
        elif event.HasField("activity_task_completed_event_attributes"):
            scheduled = event.activity_task_completed_event_attributes.scheduled_event_id
            if activity_types.get(scheduled) == "disable_host":
                starts.append(event.event_time.ToDatetime())
        elif event.HasField("child_workflow_execution_completed_event_attributes"):
            ends.append(event.event_time.ToDatetime())  # a HostMaintenance child: its host maintained and enabled
    return (max(ends) - min(starts)).total_seconds()


async def one(env: WorkflowEnvironment, run: Run, poll_s: float) -> None:
    from fenix.models.constraints import GroupConstraints, InstanceConstraints

    with tempfile.TemporaryDirectory() as tmp:
        async with stack(env, Path(tmp), seed(), [], time_scale=1.0, skip_time=True) as st:
            before = st.cloud.snapshot()
            groups = [GroupConstraints(group_id=g.name, project_id=g.project, **g.fields.model_dump()) for g in GROUPS]
            for g in groups:
                r = await st.admin.put(f"/instance_group/{g.group_id}", json=g.model_dump(exclude={"group_id"}))
                r.raise_for_status()
            by_name = {g.name: g for g in GROUPS}
            instances = []
            for s in before.servers:
                fields = instance_fields(by_name[s.name.rsplit("-", 1)[0]])
                item = InstanceConstraints(instance_id=s.id, project_id=s.project_id, **fields.model_dump())
                r = await st.admin.put(f"/instance/{s.id}", json=item.model_dump(exclude={"instance_id"}))
                r.raise_for_status()
                instances.append(item)
            options = {"max_parallel_hosts": run.parallel, "warn_ahead": run.warn_ahead}
            r = await st.admin.post("/maintenance/plan", json=options)
            r.raise_for_status()
            run.preview_s = r.json()["estimated_duration_s"]
            started = time.monotonic()
            sid = await st.start(workflow="vnf", move_retry={"poll_s": poll_s}, **options)
            detail = await st.result(sid, timeout=1800)
            run.wall_s = time.monotonic() - started
            run.state = detail.state.value
            history = await st.client.get_workflow_handle(session_workflow_id(sid)).fetch_history()
            if detail.state == SessionState.MAINTENANCE_DONE:
                run.makespan_s = makespan(history)
            run.moves = len(st.cloud.migration_log())
            # The result keeps the last 500 history entries (docs/api.md#session-detail): errors before them are not
            # counted, and the table says so.
            run.refused = sum(1 for h in detail.history if h.kind == "error")
            run.history_dropped = detail.history_dropped
            run.events = len(history.events)
            run.violations = len(constraint_violations(st.cloud, before, instances, groups))


def reference_bound() -> float:
    from fenix.cloud.simulated import SimulatedCloud

    with tempfile.TemporaryDirectory() as tmp:
        cloud = SimulatedCloud(Path(tmp) / "c.sqlite", time_scale=1.0)
        snap = cloud.seed(seed())
        est = cloud.move_estimates()
    members: dict[str, dict[str, int]] = {h.name: {} for h in snap.hosts}
    for s in snap.servers:
        g = s.name.rsplit("-", 1)[0]
        members[s.host or ""][g] = members[s.host or ""].get(g, 0) + 1
    return lower_bound(est, 0.0, members)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parallel", type=int, default=8, help="max_parallel_hosts of the parallel run")
    parser.add_argument("--poll", type=float, default=1.0, help="seconds between looks at a running move")
    parser.add_argument("--quick", action="store_true", help="skip the one-host-at-a-time runs")
    args = parser.parse_args()
    # Only problems on stderr unless FENIX_LOG_LEVEL asks for more: the table is the output (each notice at INFO
    # would bury it, and formatting thousands of lines costs the engine time the makespan counts).
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level if "log_level" in settings.model_fields_set
                      else "WARNING")
    runs = [Run(f"vnf, up to {args.parallel} hosts at once", args.parallel, True)]
    if not args.quick:
        runs += [Run("one host at a time, warned ahead", 1, True),
                 Run("one host at a time, warned at host start (Fenix)", 1, False)]
    bound = reference_bound()
    async with await WorkflowEnvironment.start_time_skipping(
            data_converter=pydantic_data_converter,
            test_server_existing_path=find_bin("temporal-test-server")) as env:
        await register_search_attributes(env.client)
        for run in runs:
            await one(env, run, args.poll)
    table = Table(title=f"Reference cloud: 24 hosts, {len(seed().servers)} instances, {len(GROUPS)} groups "
                        f"(lower bound {bound:.0f} s)")
    for col in ("run", "state", "makespan s", "/ lower bound", "preview s", "moves", "refused", "violations",
                "events", "wall s"):
        table.add_column(col, justify="left" if col in ("run", "state") else "right")
    for r in runs:
        table.add_row(r.name, r.state, f"{r.makespan_s:.0f}", f"{r.makespan_s / bound:.3f}", f"{r.preview_s:.0f}",
                      str(r.moves), str(r.refused), str(r.violations), str(r.events), f"{r.wall_s:.1f}")
    console = Console(width=160)
    console.print(table)
    for r in runs:
        if r.history_dropped:
            console.print(f"{r.name}: `refused` counts the last 500 history entries only "
                          f"({r.history_dropped} earlier ones are not in the result)")
    if not args.quick and runs[0].makespan_s:
        fenix = runs[2].makespan_s / runs[0].makespan_s
        ahead = runs[1].makespan_s / runs[0].makespan_s
        console.print(f"parallel vs lower bound: {runs[0].makespan_s / bound:.3f} (target <= 1.10); "
                      f"speed-up over one host at a time: {fenix:.2f}x Fenix-style, {ahead:.2f}x warned ahead "
                      f"(target >= 3)")


if __name__ == "__main__":
    asyncio.run(main())
