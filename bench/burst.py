"""`python -m bench.burst` (or `make bench-burst`): every project answers MAINTENANCE at the same moment.

Every affected project gets the MAINTENANCE notice at the same moment, so their replies arrive together. A Fenix-era
VNFM sends its reply once and treats any answer other than 200 as a failure: a refused reply is a lost reply, and the
project then gets its default action against its will. For each size, a session over a cloud with one instance per
project, all projects subscribed and silent until every one is asked; then all reply at once, each with its own
token over real HTTP. Prints p50/p95/p99 of the reply latency and how many replies were lost (not answered 200).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from demo.stack import Stack, stack
from demo.vnfm import VnfmProject
from fenix.cloud.simulated import SimHostSpec, SimSeed, SimServerSpec
from fenix.constants import SEARCH_ATTRIBUTES
from fenix.logs import configure_logging
from fenix.temporal import find_bin

PER_HOST = 20  # one-vCPU instances per host; one spare host's worth of room is left free


@dataclass
class Burst:
    projects: int
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    wall_s: float = 0.0

    @property
    def lost(self) -> int:
        return sum(n for code, n in self.statuses.items() if code != 200)

    def pct(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))] if ordered else 0.0


def seed(projects: int) -> SimSeed:
    hosts = math.ceil(projects / PER_HOST) + 1
    return SimSeed(hosts=[SimHostSpec(name=f"c{i}", vcpus=PER_HOST * 2, memory_mb=PER_HOST * 2048)
                          for i in range(hosts)],
                   servers=[SimServerSpec(name=f"p{n}-0", project_id=f"p{n}", vcpus=1, memory_mb=1024,
                                          host=f"c{n // PER_HOST}") for n in range(projects)])


async def asked_all(st: Stack, sid: str, projects: int, timeout: float = 300) -> None:
    """Wait until the session waits for every project's MAINTENANCE reply (each notice delivered)."""
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        r = await st.admin.get(f"/maintenance/{sid}/detail")
        if r.status_code == 200:
            waiting = [p for p in r.json()["projects"] if p["awaiting"] and p["state"] == "MAINTENANCE"]
            if len(waiting) == projects:
                return
        await asyncio.sleep(1.0)
    raise TimeoutError(f"not every project was asked MAINTENANCE within {timeout:.0f} s")


async def one(env: WorkflowEnvironment, run: Burst) -> None:
    names = [f"p{n}" for n in range(run.projects)]
    vnfms = [VnfmProject(project_id=p, token="", behaviour="silent", server_prefix=p) for p in names]
    with tempfile.TemporaryDirectory() as tmp:
        async with stack(env, Path(tmp), seed(run.projects), vnfms, time_scale=0.01) as st:
            sid = await st.start(reply_windows={"maintenance": 3600})
            await asked_all(st, sid, run.projects)
            clients = [st.as_project(p) for p in names]
            try:
                async def reply(http: object, project: str) -> None:
                    began = time.monotonic()
                    r = await http.put(f"/maintenance/{sid}/{project}",  # type: ignore[attr-defined]
                                       json={"state": "ACK_MAINTENANCE"})
                    run.latencies.append(time.monotonic() - began)
                    run.statuses[r.status_code] = run.statuses.get(r.status_code, 0) + 1

                began = time.monotonic()
                await asyncio.gather(*(reply(c, p) for c, p in zip(clients, names, strict=True)))
                run.wall_s = time.monotonic() - began
            finally:
                for c in clients:
                    await c.aclose()
            await st.admin.delete(f"/maintenance/{sid}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[50, 200], help="projects replying at once")
    args = parser.parse_args()
    configure_logging("console", "WARNING")
    runs = [Burst(n) for n in args.sizes]
    async with await WorkflowEnvironment.start_local(
            data_converter=pydantic_data_converter, dev_server_existing_path=find_bin("temporal"),
            search_attributes=SEARCH_ATTRIBUTES, dev_server_log_level="error") as env:
        for run in runs:
            await one(env, run)
    table = Table(title="A burst of MAINTENANCE replies: every project at once, each over its own connection")
    for col in ("projects", "lost", "answers", "p50 ms", "p95 ms", "p99 ms", "wall s"):
        table.add_column(col, justify="right")
    for r in runs:
        answers = ", ".join(f"{n}×{code}" for code, n in sorted(r.statuses.items()))
        table.add_row(str(r.projects), str(r.lost), answers, f"{r.pct(50) * 1000:.0f}", f"{r.pct(95) * 1000:.0f}",
                      f"{r.pct(99) * 1000:.0f}", f"{r.wall_s:.1f}")
    Console(width=140).print(table)


if __name__ == "__main__":
    asyncio.run(main())
