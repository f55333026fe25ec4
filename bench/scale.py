"""`python -m bench.scale` (or `make bench-scale`): one session per cloud size and flow, on real processes.

A Temporal dev server, a worker (`python worker.py`) and the API (`python -m cli api`), each its own process, on the
simulated cloud with instant moves (`FENIX_SIM_TIME_SCALE=0`, `FENIX_CLOUD_POLL_S=0.01`): ~10 one-vCPU instances
per host (one host left empty), 10 projects, nobody subscribed, so every default applies at once. While a session
runs, the bench reads it as a watcher would, through the paged reads (a project's instances, hosts by phase, the
history since its last cursor) and the bounded detail, and times each read. Prints one row per run: hosts,
instances, flow, how it ended, wall time, moves/s, the largest workflow history (events and bytes; the session's or
a host child's), the paged reads' p95, the detail's p95, the plan preview's time, and the worker's CPU and peak RSS.
docs/benchmarks.md#scale.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from bench.processes import process, worker_argv
from demo.stack import free_port, stack_settings, worker_env
from fenix import tokens
from fenix.cloud.simulated import SimHostSpec, SimSeed, SimServerSpec, SimulatedCloud
from fenix.constants import SEARCH_ATTRIBUTES, host_workflow_id, session_workflow_id
from fenix.models.cloud import Server
from fenix.temporal import find_bin

PER_HOST = 10
PROJECTS = 10
TERMINAL = ("MAINTENANCE_DONE", "MAINTENANCE_FAILED")
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    hosts: int
    flow: str
    instances: int = 0
    state: str = "–"
    reason: str = ""
    wall_s: float = 0.0
    moves: int = 0
    preview_s: float = 0.0
    events: int = 0  # the largest history of the run's workflows, and whose it is
    history_bytes: int = 0
    largest: str = ""
    read_ms: dict[str, list[float]] = field(default_factory=dict)  # kind of read -> latencies
    constraints_s: float = 0.0  # `vnf`: writing every instance's constraints before the session
    notes: list[str] = field(default_factory=list)
    read_errors: dict[int, int] = field(default_factory=dict)
    cpu_s: float = 0.0
    rss_mb: float = 0.0


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))] if ordered else 0.0


def seed(hosts: int) -> SimSeed:
    """`hosts` hosts of 16 vCPUs; ten instances on each but the last, of ten projects in turn."""
    return SimSeed(hosts=[SimHostSpec(name=f"s{i:04d}", vcpus=16, memory_mb=65536) for i in range(hosts)],
                   servers=[SimServerSpec(name=f"p{n % PROJECTS}-{n}", project_id=f"p{n % PROJECTS}", vcpus=1,
                                          memory_mb=1024, host=f"s{n // PER_HOST:04d}")
                            for n in range((hosts - 1) * PER_HOST)])


def process_usage(pid: int) -> tuple[float, float]:
    """CPU seconds (user + system) and resident MB of a live process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICKS
    rss_kb = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                  if line.startswith("VmRSS:"))
    return cpu, rss_kb / 1024


async def timed(http: httpx.AsyncClient, run: Run, kind: str, path: str,
                **params: str | int) -> dict[str, object] | None:
    began = time.monotonic()
    r = await http.get(path, params=params)
    run.read_ms.setdefault(kind, []).append((time.monotonic() - began) * 1000)
    if r.status_code != 200:
        run.read_errors[r.status_code] = run.read_errors.get(r.status_code, 0) + 1
        return None
    body: dict[str, object] = r.json()
    return body


async def watch(http: httpx.AsyncClient, sid: str, run: Run, timeout_s: float, worker_pid: int) -> None:
    """Read the session as a watcher would until it ends, timing every read; sample the worker meanwhile."""
    base = f"/maintenance/{sid}"
    cursor = 0
    rng = random.Random(1)
    give_up = time.monotonic() + timeout_s
    while time.monotonic() < give_up:
        cpu, rss = process_usage(worker_pid)
        run.cpu_s, run.rss_mb = cpu, max(run.rss_mb, rss)
        await timed(http, run, "instances", f"{base}/detail/instances", project_id=f"p{rng.randrange(PROJECTS)}",
                    limit=100)
        await timed(http, run, "hosts", f"{base}/detail/hosts", phase="MAINTAINED", limit=100)
        page = await timed(http, run, "history", f"{base}/detail/history", cursor=cursor, limit=1000)
        if page is not None:
            cursor = int(str(page["next"]))
        detail = await timed(http, run, "detail", f"{base}/detail")
        status = await timed(http, run, "status", base) or {}  # the smallest query: what any read costs at least
        if status.get("state") in TERMINAL:
            run.state, run.reason = str(status["state"]), str(status.get("reason") or "")
            return
        if detail is None and status.get("state") is None:
            run.reason = f"status: {status}"
        await asyncio.sleep(1.0)
    run.state, run.reason = "timed out", f"still running after {timeout_s:.0f} s"


async def largest_history(client: Client, sid: str, hosts: list[str], run: Run) -> None:
    for wid in [session_workflow_id(sid)] + [host_workflow_id(sid, h) for h in hosts]:
        try:
            history = await client.get_workflow_handle(wid).fetch_history()
        except RPCError:
            continue  # a host that never got its child
        size = sum(e.ByteSize() for e in history.events)
        if size > run.history_bytes:
            run.events, run.history_bytes, run.largest = len(history.events), size, wid
        run.events = max(run.events, len(history.events))


async def no_lead_time(http: httpx.AsyncClient, servers: list[Server]) -> None:
    """Every instance may move at once (lead time 0; the default is 120 s): the `vnf` run measures the engine."""
    pending = list(servers)

    async def writer() -> None:
        while pending:
            s = pending.pop()
            for _ in range(5):  # a 503 (the registry busy) is tried again
                r = await http.put(f"/instance/{s.id}", json={"project_id": s.project_id, "lead_time": 0,
                                                              "migration_type": "LIVE_MIGRATE"})
                if r.status_code != 503:
                    break
            r.raise_for_status()

    await asyncio.gather(*(writer() for _ in range(4)))  # a few at a time: the registry takes writes one by one


async def one(env: WorkflowEnvironment, run: Run, timeout_s: float, logs: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = stack_settings(Path(tmp), f"scale-{uuid.uuid4().hex[:8]}", api_port=free_port())
        cloud = SimulatedCloud(settings.sim_db_path, time_scale=0)
        snap = cloud.seed(seed(run.hosts))
        run.instances = len(snap.servers)
        admin = tokens.add(settings.tokens_path, project_id=settings.admin_project_id, name="bench",
                           roles=[tokens.ADMIN_ROLE], replace=True).token
        fenix_env = {**worker_env(settings, env.client.service_client.config.target_host, sim_time_scale=0),
                     "FENIX_CLOUD_POLL_S": "0.01", "FENIX_WORKER_HEALTH_PORT": "0",
                     "FENIX_API_PORT": str(settings.api_port), "FENIX_LOG_LEVEL": "WARNING"}
        tag = f"{run.flow}-{run.hosts}"
        with process(worker_argv(), fenix_env, logs / f"scale-worker-{tag}.log") as worker, \
                process([sys.executable, "-m", "cli", "api"], fenix_env, logs / f"scale-api-{tag}.log"):
            async with httpx.AsyncClient(base_url=settings.api_url, headers={"X-Auth-Token": admin},
                                         timeout=60) as http:
                for _ in range(120):
                    try:
                        if (await http.get(settings.api_url.removesuffix("/v1") + "/readyz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.5)
                options = {"max_parallel_hosts": 10} if run.flow == "vnf" else {}
                if run.flow == "vnf":
                    began = time.monotonic()
                    await no_lead_time(http, snap.servers)
                    run.constraints_s = time.monotonic() - began
                began = time.monotonic()
                try:
                    r = await http.post("/maintenance/plan", json=options, timeout=120)
                    run.preview_s = time.monotonic() - began if r.status_code == 200 else float("nan")
                    if r.status_code != 200:
                        run.notes.append(f"preview {r.status_code}: {r.text[:200]}")
                except httpx.TimeoutException:
                    run.preview_s = float("nan")
                    run.notes.append("preview: no answer within 120 s")
                began = time.monotonic()
                r = await http.post("/maintenance", json={"workflow": run.flow, "maintenance_at": "2020-01-01 00:00:00",
                                                          **options})
                r.raise_for_status()
                sid = r.json()["session_id"]
                try:
                    await watch(http, sid, run, timeout_s, worker.pid)
                finally:
                    run.wall_s = time.monotonic() - began
                    run.moves = len(cloud.migration_log())
                    if run.state not in TERMINAL:
                        await http.delete(f"/maintenance/{sid}")
                await largest_history(env.client, sid, [h.name for h in snap.hosts], run)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", nargs="*", type=int, default=[100, 300], help="cloud sizes (hosts)")
    parser.add_argument("--flows", nargs="*", default=["default", "vnf"], choices=["default", "vnf"])
    parser.add_argument("--timeout", type=float, default=900, help="seconds a session may run before it is aborted")
    parser.add_argument("--logs", type=Path, default=Path(tempfile.gettempdir()), help="where process logs go")
    args = parser.parse_args()
    runs = [Run(h, f) for h in args.hosts for f in args.flows]
    console = Console(width=260)
    async with await WorkflowEnvironment.start_local(
            data_converter=pydantic_data_converter, dev_server_existing_path=find_bin("temporal"),
            search_attributes=SEARCH_ATTRIBUTES, dev_server_log_level="error") as env:
        for run in runs:
            try:
                await one(env, run, args.timeout, args.logs)
            except Exception as err:  # noqa: BLE001 (one size that breaks must not lose the others' rows)
                run.state, run.reason = "bench error", f"{type(err).__name__}: {err}"
            console.print(f"{run.flow} {run.hosts} hosts: {run.state} in {run.wall_s:.0f} s {run.reason}; "
                          + ", ".join(f"{kind} p95 {pct(v, 95):.0f} ms" for kind, v in run.read_ms.items())
                          + f"; events {run.events}, {run.history_bytes / 1e6:.1f} MB; preview {run.preview_s:.1f} s; "
                          f"worker {run.cpu_s:.0f} CPU s, {run.rss_mb:.0f} MB; moves {run.moves}")
    table = Table(title=f"One session per size: instant moves, {PER_HOST} instances per host, {PROJECTS} projects "
                        "(separate dev server, worker and API processes)")
    reads = ("status", "instances", "hosts", "history", "detail")
    for col in ("hosts", "instances", "flow", "state", "wall s", "moves/s", "max events", "max history MB",
                *(f"{kind} p95 ms" for kind in reads), "reads failed", "preview s", "worker CPU s", "worker RSS MB"):
        table.add_column(col, justify="left" if col in ("flow", "state") else "right")
    for r in runs:
        failed = ", ".join(f"{n}×{code}" for code, n in sorted(r.read_errors.items())) or "0"
        table.add_row(str(r.hosts), str(r.instances), r.flow, r.state, f"{r.wall_s:.0f}",
                      f"{r.moves / r.wall_s:.2f}" if r.wall_s else "–", str(r.events),
                      f"{r.history_bytes / 1e6:.1f}", *(f"{pct(r.read_ms.get(kind, []), 95):.0f}" for kind in reads),
                      failed, f"{r.preview_s:.1f}", f"{r.cpu_s:.0f}", f"{r.rss_mb:.0f}")
    console.print(table)
    for r in runs:
        samples = ", ".join(f"{kind} {len(v)}" for kind, v in r.read_ms.items())
        console.print(f"{r.flow} {r.hosts}: reads timed: {samples}; largest history: {r.largest}"
                      + (f"; constraints written in {r.constraints_s:.0f} s" if r.constraints_s else "")
                      + (f"; {r.reason}" if r.reason else "") + "".join(f"; {n}" for n in r.notes))


if __name__ == "__main__":
    asyncio.run(main())
