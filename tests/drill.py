"""The crash drill: sessions whose worker process is killed (SIGKILL) at random moments, or that are aborted at a
random moment, judged afterwards from the cloud and from every history they produced.

A session is *clean* when it ended as it should (MAINTENANCE_DONE; MAINTENANCE_FAILED with `aborted` for an abort),
no host is left disabled, every instance it started with is still there and ACTIVE (none left in VERIFY_RESIZE or
moving), no instance was moved twice off the same host, and every history (the session's and each host child's)
replays on the current workflow code with the `Replayer`. A session that does not end within its bound is *wedged*.

`make test` runs a few of these (tests/workflows/test_crash_drill.py); `make drill` the long form:

    python -m tests.drill --sessions 20 --aborts 10

which prints a table (docs/reliability.md has the numbers).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from bench.processes import process, spawn, stop, worker_argv
from demo.stack import Stack, stack, stack_settings, worker_env
from demo.vnfm import VnfmProject
from fenix.constants import SEARCH_ATTRIBUTES, host_workflow_id, session_workflow_id
from fenix.models.cloud import CloudSnapshot, ServerStatus
from fenix.models.session import InstanceAction, SessionDetail, SessionState
from fenix.temporal import find_bin
from tests.workflows.test_session_flow import roomy_seed, vnfms
from tests.workflows.test_vnf_flow import constrained
from worker import WORKFLOWS

SESSION_BOUND_S = 150.0  # longer than any drilled session needs, kills included: past it the session is wedged


@contextmanager
def worker_process(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`python worker.py` as its own process; stopped (gracefully, then by force) when the block ends."""
    with process(worker_argv(), env, log) as proc:
        yield proc


class Workers:
    """The worker processes of one drilled session: one at a time, killed and replaced on demand."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self._env, self._log = env, log
        self._proc: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self, **extra_env: str) -> None:
        self._proc = spawn(worker_argv(), {**self._env, **extra_env}, self._log)

    def kill(self) -> None:
        assert self._proc is not None
        self._proc.kill()  # SIGKILL: no graceful shutdown, whatever the worker was doing is simply lost
        self._proc.wait()
        self._proc = None
        self.kills += 1

    def stop(self) -> None:
        if self._proc is not None:
            stop(self._proc, grace_s=10)
            self._proc = None


@dataclass
class DrillResult:
    flow: str
    session_id: str
    kills: int
    aborted: bool
    state: str = ""
    reason: str = ""  # why the session failed, when it did
    hosts_disabled: list[str] = field(default_factory=list)
    instances_not_intact: list[str] = field(default_factory=list)
    moved_twice: list[str] = field(default_factory=list)
    not_replaying: list[str] = field(default_factory=list)
    wedged: bool = False
    seconds: float = 0.0
    histories: list[WorkflowHistory] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        expected = SessionState.MAINTENANCE_FAILED if self.aborted else SessionState.MAINTENANCE_DONE
        return (self.state == expected.value and not self.hosts_disabled and not self.instances_not_intact
                and not self.moved_twice and not self.not_replaying and not self.wedged)

    def problems(self) -> str:
        why = f" ({self.reason})" if self.reason else ""
        return (f"{self.flow} session {self.session_id} (kills {self.kills}, aborted {self.aborted}): state "
                f"{self.state}{why}, hosts disabled {self.hosts_disabled}, instances not intact "
                f"{self.instances_not_intact}, moved twice {self.moved_twice}, not replaying {self.not_replaying}, "
                f"wedged {self.wedged}")


def _projects(flow: str, rng: random.Random) -> list[VnfmProject]:
    # Cold and live moves both: a cold move killed or aborted half-way is the one that can be left unconfirmed.
    action = rng.choice([InstanceAction.MIGRATE, InstanceAction.LIVE_MIGRATE])
    if flow == "default":
        return vnfms(action)
    return constrained(action, lead_time=1, recovery_time=1, ha_recovery_time=1)


async def fetch_histories(st: Stack, session_id: str, detail: SessionDetail) -> list[WorkflowHistory]:
    """The session's history and every host child's that exists."""
    ids = [session_workflow_id(session_id)]
    ids += [host_workflow_id(session_id, h.name) for h in detail.hosts]
    out: list[WorkflowHistory] = []
    for wid in ids:
        try:
            out.append(await st.client.get_workflow_handle(wid).fetch_history())
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
    return out


async def not_replaying(histories: list[WorkflowHistory]) -> list[str]:
    """Ids of the histories that do not replay on today's workflow code (with the reason)."""
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    bad: list[str] = []
    for h in histories:
        result = await replayer.replay_workflow(h, raise_on_replay_failure=False)
        if result.replay_failure is not None:
            bad.append(f"{h.workflow_id}: {str(result.replay_failure)[:300]}")
    return bad


def judge_cloud(result: DrillResult, st: Stack, before: CloudSnapshot) -> None:
    after = st.cloud.snapshot()
    result.hosts_disabled = sorted(h.name for h in after.hosts if not h.enabled)
    now = {s.id: s for s in after.servers}
    result.instances_not_intact = sorted(
        f"{s.name}: {'gone' if s.id not in now else now[s.id].status.value}" for s in before.servers
        if s.id not in now or now[s.id].status != ServerStatus.ACTIVE)
    moves = [(m.server_id, m.source_host) for m in st.cloud.migration_log()]
    result.moved_twice = sorted({f"{sid} off {src}" for sid, src in moves if moves.count((sid, src)) > 1})


async def drill_session(env: WorkflowEnvironment, tmp: Path, flow: str, rng: random.Random, *, kills: int = 1,
                        abort: bool = False, cache_zero: bool = False,
                        bound_s: float = SESSION_BOUND_S) -> DrillResult:
    """One session on its own task queue and cloud; `kills` SIGKILLs of its worker at random moments (each followed
    by a new worker), or one abort (DELETE) at a random moment. `cache_zero`: the replacement workers keep no
    workflow in memory, so every task after the first kill is a full replay."""
    tmp.mkdir(parents=True, exist_ok=True)
    queue = f"drill-{uuid.uuid4()}"
    wenv = worker_env(stack_settings(tmp, queue), env.client.service_client.config.target_host, sim_time_scale=0.5)
    workers = Workers(wenv, tmp / "worker.log")
    workers.start()
    began = time.monotonic()
    try:
        async with stack(env, tmp, roomy_seed(), _projects(flow, rng), worker=False, task_queue=queue) as st:
            before = st.cloud.snapshot()
            options = {"workflow": "vnf", "max_parallel_hosts": rng.choice([1, 2, 3])} if flow == "vnf" else {}
            sid = await st.start(hosts=["c0", "c1", "c2"], **options)
            result = DrillResult(flow=flow, session_id=sid, kills=0, aborted=abort)
            handle = st.client.get_workflow_handle(session_workflow_id(sid), result_type=SessionDetail)
            task = asyncio.ensure_future(handle.result())
            # The sessions take 3-10 s here; the moments are spread over that, so some land mid-move, some in a
            # reply wait, some between hosts, some after the end.
            for _ in range(kills):
                await asyncio.wait([task], timeout=rng.uniform(0.3, 4.0))
                if task.done():
                    break
                workers.kill()
                await asyncio.sleep(rng.uniform(0.0, 1.5))
                workers.start(**({"FENIX_WORKER_MAX_CACHED_WORKFLOWS": "0"} if cache_zero else {}))
            if abort:
                await asyncio.wait([task], timeout=rng.uniform(0.2, 5.0))
                r = await st.admin.delete(f"/maintenance/{sid}")
                assert r.status_code in (200, 409), r.text  # 409: it had ended already
                result.aborted = r.status_code == 200
            try:
                detail: SessionDetail = await asyncio.wait_for(task, bound_s)
            except TimeoutError:
                result.wedged = True
                detail = await handle.query("detail", result_type=SessionDetail)
            result.state = detail.state.value
            result.reason = detail.reason or ""
            result.kills = workers.kills
            judge_cloud(result, st, before)
            result.histories = await fetch_histories(st, sid, detail)
            result.not_replaying = await not_replaying(result.histories)
    finally:
        workers.stop()
    result.seconds = time.monotonic() - began
    return result


@asynccontextmanager
async def dev_server() -> AsyncIterator[WorkflowEnvironment]:
    """The real dev server (SQLite in memory) with Fenix's search attributes."""
    async with await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter, dev_server_existing_path=find_bin("temporal"),
        search_attributes=SEARCH_ATTRIBUTES) as env:
        yield env


def table(rows: list[tuple[str, list[DrillResult]]]) -> str:
    head = ("| drill | sessions | clean | hosts left disabled | instances not intact | histories not replaying "
            "| wedged | kills | mean s |")
    lines = [head, "|" + "---|" * 9]
    for name, rs in rows:
        lines.append(
            f"| {name} | {len(rs)} | {sum(r.clean for r in rs)}/{len(rs)} | {sum(len(r.hosts_disabled) for r in rs)} "
            f"| {sum(len(r.instances_not_intact) for r in rs)} | {sum(len(r.not_replaying) for r in rs)} "
            f"| {sum(r.wedged for r in rs)} | {sum(r.kills for r in rs)} "
            f"| {sum(r.seconds for r in rs) / max(1, len(rs)):.1f} |")
    return "\n".join(lines)


async def main(sessions: int, aborts: int, seed: int, keep: Path | None) -> int:
    rng = random.Random(seed)
    rows: list[tuple[str, list[DrillResult]]] = []
    with tempfile.TemporaryDirectory(prefix="fenix-drill-") as tmp:
        async with dev_server() as env:
            for flow in ("default", "vnf"):
                runs: list[DrillResult] = []
                for i in range(sessions):
                    r = await drill_session(env, Path(tmp) / f"{flow}-{i}", flow, rng, kills=rng.choice([1, 1, 2]),
                                            cache_zero=i % 4 == 3)
                    runs.append(r)
                    print(f"{flow} #{i + 1}: {'clean' if r.clean else r.problems()} ({r.seconds:.1f} s)", flush=True)
                    if not r.clean and keep is not None:
                        keep.mkdir(parents=True, exist_ok=True)
                        for h in r.histories:
                            (keep / f"{h.workflow_id}.json").write_text(h.to_json())
                rows.append((f"worker kill -9, {flow}", runs))
            for flow in ("default", "vnf"):
                runs = []
                for i in range(aborts):
                    r = await drill_session(env, Path(tmp) / f"abort-{flow}-{i}", flow, rng, kills=0, abort=True)
                    runs.append(r)
                    print(f"abort {flow} #{i + 1}: {'clean' if r.clean else r.problems()} ({r.seconds:.1f} s)",
                          flush=True)
                rows.append((f"abort at a random point, {flow}", runs))
    print(table(rows))
    return 0 if all(r.clean for _, rs in rows for r in rs) else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=20, help="sessions per flow with worker kills")
    parser.add_argument("--aborts", type=int, default=10, help="sessions per flow aborted at a random moment")
    parser.add_argument("--seed", type=int, default=int(time.time()), help="random seed (printed kill points)")
    parser.add_argument("--keep", type=Path, default=None, help="write the histories of unclean sessions here")
    args = parser.parse_args()
    print(f"crash drill, seed {args.seed}", flush=True)
    sys.exit(asyncio.run(main(args.sessions, args.aborts, args.seed, args.keep)))
