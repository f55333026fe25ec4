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
import json
import math
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from bench.processes import process, worker_argv
from demo.stack import Stack, stack, stack_settings, worker_env
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
    taken: int = 0  # projects whose reply the session's detail shows

    @property
    def lost(self) -> int:
        """Replies not answered 200, or answered 200 and not in the session (the worse kind)."""
        return max(sum(n for code, n in self.statuses.items() if code != 200), self.projects - self.taken)

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


async def one(env: WorkflowEnvironment, run: Burst, inline: bool) -> None:
    names = [f"p{n}" for n in range(run.projects)]
    vnfms = [VnfmProject(project_id=p, token="", behaviour="silent", server_prefix=p) for p in names]
    with tempfile.TemporaryDirectory() as tmp:
        queue = f"tq-{uuid.uuid4()}"
        address = env.client.service_client.config.target_host
        worker: AbstractContextManager[None] = nullcontext() if inline else worker_process(
            worker_env(stack_settings(Path(tmp), queue), address, sim_time_scale=0.01), Path(tmp) / "worker.log")
        with worker:
            await stack_run(env, Path(tmp), run, names, vnfms, task_queue=queue, inline=inline)


@contextmanager
def worker_process(env: dict[str, str], log: Path) -> Iterator[None]:
    """`python worker.py` as its own process, as deployed; stopped when the block ends."""
    with process(worker_argv(), env, log):
        yield


async def stack_run(env: WorkflowEnvironment, tmp: Path, run: Burst, names: list[str], vnfms: list[VnfmProject], *,
                    task_queue: str, inline: bool) -> None:
    """One session: every project asked, then all reply at once (from `fire`'s process)."""
    async with stack(env, tmp, seed(run.projects), vnfms, time_scale=0.01, worker=inline,
                     task_queue=task_queue) as st:
        sid = await st.start(reply_windows={"maintenance": 3600})
        await asked_all(st, sid, run.projects)
        fired = await fire(st.api_url, sid, {p: st.project_tokens[p] for p in names})
        run.latencies, run.wall_s = fired["latencies"], fired["wall_s"]
        run.statuses = {int(code): n for code, n in fired["statuses"].items()}
        r = await st.admin.get(f"/maintenance/{sid}/detail")
        assert r.status_code == 200, r.text
        run.taken = sum(1 for p in r.json()["projects"] if p["state"] == "ACK_MAINTENANCE" and not p["awaiting"])
        await st.admin.delete(f"/maintenance/{sid}")


async def fire(api_url: str, sid: str, tokens: dict[str, str]) -> dict[str, Any]:
    """The projects' side in a process of its own (VNFMs are other machines): in the API's process, the clients'
    own work (1,000 httpx requests) would be counted as the API's latency."""
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bench.burst", "--fire",
                                                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(json.dumps({"api_url": api_url, "sid": sid, "tokens": tokens}).encode() + b"\n")
        await proc.stdin.drain()
        assert (await proc.stdout.readline()).strip() == b"ready", "the projects' process did not get ready"
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
        answer: dict[str, Any] = json.loads(await proc.stdout.readline())
        return answer
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


class Connection:
    """One project's kept-alive HTTP/1.1 connection, requests written as prepared bytes: a load generator's cost per
    request (like wrk's), so that what is measured is the API, not a Python HTTP client's own work."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        return cls(*await asyncio.open_connection(host, port))

    async def request(self, raw: bytes) -> int:
        self.writer.write(raw)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return int(status_line.split()[1])

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


def raw_request(method: str, host: str, path: str, token: str, body: bytes = b"") -> bytes:
    head = (f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nX-Auth-Token: {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode("latin-1") + body


async def projects_reply() -> None:
    """`--fire`: every project connects (a VNFM keeps a connection to the API, and has just read its instance list
    over it), then, on `go`, all reply ACK_MAINTENANCE at once; prints latencies and statuses as JSON."""
    loop = asyncio.get_running_loop()
    job = json.loads(await loop.run_in_executor(None, sys.stdin.readline))
    url = httpx.URL(job["api_url"])
    host, port, prefix = url.host, url.port or 80, url.path.rstrip("/")
    tokens: dict[str, str] = job["tokens"]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    opening = asyncio.Semaphore(50)

    async def connect(project: str) -> Connection:
        async with opening:
            conn = await Connection.open(host, port)
            assert await conn.request(raw_request("GET", host, "/healthz", tokens[project])) == 200
            return conn

    conns = dict(zip(tokens, await asyncio.gather(*(connect(p) for p in tokens)), strict=True))
    body = json.dumps({"state": "ACK_MAINTENANCE"}).encode()
    puts = {p: raw_request("PUT", host, f"{prefix}/maintenance/{job['sid']}/{p}", t, body) for p, t in tokens.items()}
    try:
        print("ready", flush=True)
        await loop.run_in_executor(None, sys.stdin.readline)

        async def reply(project: str) -> None:
            began = time.monotonic()
            try:
                code = await conns[project].request(puts[project])
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
                code = 0  # no answer at all: lost as well
            latencies.append(time.monotonic() - began)
            statuses[code] = statuses.get(code, 0) + 1

        began = time.monotonic()
        await asyncio.gather(*(reply(p) for p in tokens))
        wall_s = time.monotonic() - began
    finally:
        for conn in conns.values():
            await conn.close()
    print(json.dumps({"latencies": latencies, "statuses": statuses, "wall_s": wall_s}), flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[50, 200, 1000], help="projects replying at once")
    parser.add_argument("--inline-worker", action="store_true",
                        help="run the worker in the API's process (by default it is a process of its own, as deployed)")
    parser.add_argument("--fire", action="store_true", help=argparse.SUPPRESS)  # the projects' process
    args = parser.parse_args()
    if args.fire:
        await projects_reply()
        return
    configure_logging("console", "WARNING")
    runs = [Burst(n) for n in args.sizes]
    async with await WorkflowEnvironment.start_local(
            data_converter=pydantic_data_converter, dev_server_existing_path=find_bin("temporal"),
            search_attributes=SEARCH_ATTRIBUTES, dev_server_log_level="error") as env:
        for run in runs:
            await one(env, run, args.inline_worker)
    where = "the worker in the API's process" if args.inline_worker else "API and worker in processes of their own"
    table = Table(title=f"A burst of MAINTENANCE replies: every project at once, each over its own connection "
                        f"({where})")
    for col in ("projects", "lost", "taken", "answers", "p50 ms", "p95 ms", "p99 ms", "wall s"):
        table.add_column(col, justify="right")
    for r in runs:
        answers = ", ".join(f"{n}×{code}" for code, n in sorted(r.statuses.items()))
        table.add_row(str(r.projects), str(r.lost), str(r.taken), answers, f"{r.pct(50) * 1000:.0f}",
                      f"{r.pct(95) * 1000:.0f}", f"{r.pct(99) * 1000:.0f}", f"{r.wall_s:.1f}")
    Console(width=140).print(table)


if __name__ == "__main__":
    asyncio.run(main())
