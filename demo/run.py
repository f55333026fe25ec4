"""`make demo`: the embedded stack (Temporal dev server + Web UI, worker, API, sample VNFMs) runs sessions.

By default two, one after the other: the `default` workflow (Fenix's capacity-driven flow, on a full cloud that
needs SCALE_IN first), then the `vnf` workflow (VNFMs register constraints; a plan preview first; instances warned
one by one and paced by their groups; several hosts at once). `--workflow default|vnf` runs one.
Exits 0 only if every session reached MAINTENANCE_DONE. `--keep-running` (`make up`) leaves the last stack up.

State lives in `.fenix/`: the Temporal dev server's SQLite database (so the Web UI still shows earlier
runs), the API tokens (created on the first run) and this run's simulated cloud (re-seeded every run).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from demo.scenario import VNF_DEMO_CONSTRAINTS, demo_projects, demo_seed
from demo.stack import Stack, free_port, stack
from fenix.constants import SEARCH_ATTRIBUTES, session_workflow_id
from fenix.logs import configure_logging
from fenix.metrics import MetricsUnavailable, worker_runtime
from fenix.models.hosts import SessionHosts
from fenix.models.session import SessionDetail, SessionState
from fenix.settings import Settings
from fenix.temporal import find_bin
from workflows.leases import host_leases_id
from workflows.project_constraints import project_constraints_id

UI_PORT = 8233
WORKFLOWS = ("default", "vnf")
TERMINAL = (SessionState.MAINTENANCE_DONE, SessionState.MAINTENANCE_FAILED)


async def watch(st: Stack, sid: str, console: Console) -> SessionDetail:
    """Show the session's state and current step until it ends."""
    handle = st.client.get_workflow_handle(session_workflow_id(sid), result_type=SessionDetail)
    with console.status("maintenance starting") as status:
        while True:
            d = await handle.query("detail", result_type=SessionDetail)
            done = sum(h.maintained for h in d.hosts)
            # What an infrastructure service reads in GET /v1/hosts (docs/api.md#hosts-infrastructure-services).
            states = Counter(h.state.value for h in (await handle.query("hosts", result_type=SessionHosts)).hosts)
            status.update(f"[bold]{d.state}[/] {done}/{len(d.hosts)} hosts: {d.current}  "
                          f"[dim]({', '.join(f'{n} {s}' for s, n in sorted(states.items()))})[/]")
            if d.state in TERMINAL:
                break
            await asyncio.sleep(0.3)
    result: SessionDetail = await handle.result()
    return result


def summary(detail: SessionDetail, st: Stack, seconds: float) -> Table:
    table = Table(title=f"{detail.state} in {seconds:.1f} s", caption=f"session {detail.session_id}")
    for col in ("host", "phase", "maintained", "enabled now", "instances now"):
        table.add_column(col)
    snap = st.cloud.snapshot()
    for h in detail.hosts:
        host = snap.host(h.name)
        table.add_row(h.name, str(h.phase), str(h.maintained), str(host.enabled if host else "?"),
                      str(len(snap.servers_on(h.name))))
    return table


def preview_table(plan: dict[str, Any]) -> Table:
    table = Table(title=f"plan preview: ~{plan['estimated_duration_s']:.0f} s\n(one host at a time: "
                        f"~{plan['one_host_at_a_time_s']:.0f} s)",
                  caption="if nobody replies early and owners take 60 s per OWN_ACTION")
    for col in ("batch", "hosts", "instances"):
        table.add_column(col)
    counts = {h["host"]: h["instances"] for h in plan["hosts"]}
    for n, batch in enumerate(plan["batches"]):
        table.add_row(str(n), ", ".join(batch), str(sum(counts.get(h, 0) for h in batch)))
    return table


def metrics_runtime(port: int) -> tuple[Runtime, int]:
    """The embedded worker's metrics endpoint on loopback: `port`, or any free one if it is taken (a second demo, a
    real worker on this machine) or 0."""
    for candidate in (port, free_port()) if port else (free_port(),):
        try:
            runtime = worker_runtime(Settings(worker_metrics_host="127.0.0.1", worker_metrics_port=candidate))
        except MetricsUnavailable:  # the port is taken
            continue
        assert runtime is not None
        return runtime, candidate
    raise MetricsUnavailable("no free port for the worker's metrics")


async def run(data_dir: Path, keep_running: bool, ui_port: int = UI_PORT,
              workflows: tuple[str, ...] = WORKFLOWS, metrics_port: int = 0) -> int:
    data_dir.mkdir(parents=True, exist_ok=True)
    # The worker runs in this process on the environment's client: its runtime serves the worker's metrics.
    runtime, port = metrics_runtime(metrics_port)
    async with await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter, dev_server_existing_path=find_bin("temporal"),
        search_attributes=SEARCH_ATTRIBUTES, ui=True, ui_port=ui_port, runtime=runtime,
        dev_server_extra_args=["--db-filename", str(data_dir / "temporal.sqlite")],
    ) as env:
        worst = 0
        for n, wf in enumerate(workflows):
            last = n == len(workflows) - 1
            worst = max(worst, await one_session(env, data_dir, wf, keep_running and last, ui_port, runtime, port))
        return worst


async def one_session(env: WorkflowEnvironment, data_dir: Path, workflow: str, keep_running: bool,
                      ui_port: int, runtime: Runtime, metrics_port: int) -> int:
    console = Console()
    run_dir = data_dir / f"demo-{workflow}"
    shutil.rmtree(run_dir, ignore_errors=True)  # a fresh simulated cloud every run
    run_dir.mkdir()
    vnf = workflow == "vnf"
    seed = demo_seed(hosts=6, full=False) if vnf else demo_seed()
    projects = demo_projects(VNF_DEMO_CONSTRAINTS if vnf else None)
    async with stack(env, run_dir, seed, projects, tokens_file=data_dir / "tokens.json",
                     extra_settings={"metrics_census_s": 2.0}, census=runtime.metric_meter) as st:
        try:
            console.rule(f"workflow {workflow!r}")
            base = st.api_url.removesuffix("/v1")
            console.print(f"Temporal Web UI  http://127.0.0.1:{ui_port}\nAPI docs         {base}/docs\n"
                          f"API metrics      {base}/metrics\n"
                          f"worker metrics   http://127.0.0.1:{metrics_port}/metrics  (docs/operations.md)\n"
                          f"API tokens       {st.settings.tokens_path} (hashed)\n"
                          f"admin token      {st.admin_token}  (new each run; X-Auth-Token, or Authorize in /docs)")
            options: dict[str, Any] = {"workflow": workflow}
            if vnf:
                options["max_parallel_hosts"] = 3
                options["move_retry"] = {"interval_s": 2}  # a refused move (capacity race) is tried soon
                plan = await st.admin.post("/maintenance/plan", json={"max_parallel_hosts": 3})
                plan.raise_for_status()
                console.print(preview_table(plan.json()))
            started = time.monotonic()
            sid = await st.start(**options)
            detail = await watch(st, sid, console)
            console.print(summary(detail, st, time.monotonic() - started))
            notices = sum(1 for e in st.vnfm.state.events)
            console.print(f"{notices} notifications reached the sample VNFMs; "
                          f"{len(st.cloud.migration_log())} migrations; "
                          f"{len(st.vnfm.state.switchovers)} HA switchover(s)")
            if detail.reason:
                console.print(f"reason: {detail.reason}")
            if keep_running:
                console.print("stack kept running; Ctrl-C to stop")
                await asyncio.Event().wait()
            return 0 if detail.state == SessionState.MAINTENANCE_DONE else 1
        finally:
            # This run's subscription registry would otherwise stay open in the Web UI for ever.
            registries = [st.settings.registry_workflow_id, st.settings.constraints_workflow_id,
                          host_leases_id(st.settings.task_queue),
                          *(project_constraints_id(st.settings.constraints_workflow_id, p) for p in st.project_tokens)]
            for registry in registries:
                try:
                    await env.client.get_workflow_handle(registry).terminate("demo ended")
                except RPCError:
                    pass  # never started (nobody registered constraints in this run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data-dir", type=Path, default=Path(".fenix"))
    parser.add_argument("--keep-running", action="store_true", help="keep the stack up after the session")
    parser.add_argument("--ui-port", type=int, default=UI_PORT)
    parser.add_argument("--metrics-port", type=int, default=Settings().worker_metrics_port,
                        help="the embedded worker's metrics port (default FENIX_WORKER_METRICS_PORT, 9464; "
                             "a free one if taken)")
    parser.add_argument("--workflow", choices=[*WORKFLOWS, "both"], default="both",
                        help="which session(s) to run (default: both, one after the other)")
    args = parser.parse_args()
    chosen = WORKFLOWS if args.workflow == "both" else (args.workflow,)
    # Human-readable lines on stderr, and only problems unless FENIX_LOG_LEVEL asks for more: the demo's own output
    # is the story (each notice and webhook at INFO would bury it).
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level if "log_level" in settings.model_fields_set
                      else "WARNING")
    try:
        sys.exit(asyncio.run(run(args.data_dir, args.keep_running, args.ui_port, chosen, args.metrics_port)))
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
