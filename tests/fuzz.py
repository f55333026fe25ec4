"""Schemathesis over the live OpenAPI of an embedded stack (`make fuzz`; a bounded run is in `make test`).

The stack is the real one (API over HTTP, worker, simulated cloud, Temporal dev server with visibility); schemathesis
runs as its own process against it, once with the admin's token and once with a project's, with every check, positive
and negative data and stateful links. Exit status 0 only if no run found a failure (a 5xx, an answer that is not what
the schema declares, ...). Sessions the fuzzer started are terminated at the end.

    python -m tests.fuzz [--max-examples 100] [--seed N]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from demo.scenario import demo_projects, demo_seed
from demo.stack import stack
from fenix.constants import SEARCH_ATTRIBUTES
from fenix.temporal import find_bin

SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
# The plan preview simulates a whole maintenance: seconds each, and nothing in it is reachable otherwise.
SLOW = "/v1/maintenance/plan"


@dataclass
class FuzzRun:
    who: str
    code: int
    output: str


# The bounded run of `make test`: what the issue asks to be zero, server errors and answers the schema does not
# declare. `make fuzz` runs every check (also whether validation is as strict as the schema says).
CONTRACT_CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
                   "response_headers_conformance,response_schema_conformance")


async def run_schemathesis(base: str, token: str, who: str, max_examples: int, seed: int | None,
                           report_dir: Path, phases: str = "examples,coverage,fuzzing,stateful",
                           checks: str = "all") -> FuzzRun:
    cmd = [SCHEMATHESIS, "run", f"{base}/openapi.json", "--checks", checks, "--header", f"X-Auth-Token: {token}",
           "--max-examples", str(max_examples), "--phases", phases, "--request-timeout", "60",
           "--workers", "1", "--suppress-health-check", "all", "--exclude-path", SLOW, "--no-color",
           "--report", "junit", "--report-dir", str(report_dir / who)]
    if seed is not None:
        cmd += ["--seed", str(seed)]
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    return FuzzRun(who, proc.returncode or 0, out.decode(errors="replace"))


async def terminate_sessions(client: Client, task_queue: str) -> int:
    n = 0
    async for wf in client.list_workflows(f"TaskQueue = '{task_queue}' AND ExecutionStatus = 'Running'"):
        await client.get_workflow_handle(wf.id, run_id=wf.run_id).terminate("fuzzing ended")
        n += 1
    return n


async def fuzz(env: WorkflowEnvironment, data_dir: Path, max_examples: int, seed: int | None = None,
               phases: str = "examples,coverage,fuzzing,stateful", checks: str = "all") -> list[FuzzRun]:
    """Both runs (admin, then a project) against one stack; returns them."""
    queue = f"fuzz-{uuid.uuid4().hex[:8]}"
    async with stack(env, data_dir, demo_seed(hosts=4, full=False), demo_projects(), task_queue=queue,
                     extra_settings={"api_write_timeout_s": 10, "api_read_timeout_s": 10}) as st:
        base = st.api_url.removesuffix("/v1")
        project = next(iter(st.project_tokens))
        try:
            return [await run_schemathesis(base, st.admin_token, "admin", max_examples, seed, data_dir, phases,
                                           checks),
                    await run_schemathesis(base, st.project_tokens[project], f"project-{project}", max_examples,
                                           seed, data_dir, phases, checks)]
        finally:
            await terminate_sessions(st.client, queue)


async def main_async(max_examples: int, seed: int | None, checks: str) -> int:
    async with await WorkflowEnvironment.start_local(
            data_converter=pydantic_data_converter, dev_server_existing_path=find_bin("temporal"),
            search_attributes=SEARCH_ATTRIBUTES) as env:
        with tempfile.TemporaryDirectory(prefix="fenix-fuzz-") as tmp:
            runs = await fuzz(env, Path(tmp), max_examples, seed, checks=checks)
    worst = 0
    for run in runs:
        sys.stdout.write(f"===== schemathesis as {run.who}: exit {run.code}\n{run.output}\n")
        worst = max(worst, run.code)
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--max-examples", type=int, default=100, help="examples per operation and phase")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--checks", default="all", help=f"schemathesis checks (the bounded run: {CONTRACT_CHECKS})")
    args = parser.parse_args()
    sys.exit(asyncio.run(main_async(args.max_examples, args.seed, args.checks)))


if __name__ == "__main__":
    main()
