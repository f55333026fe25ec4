"""`make demo`: the embedded stack (Temporal dev server + Web UI, worker, API, sample VNFMs) runs one session.

Exits 0 only if the session reached MAINTENANCE_DONE. `--keep-running` (`make up`) leaves it all up.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from demo.scenario import demo_projects, demo_seed
from demo.stack import stack
from fenix.constants import SEARCH_ATTRIBUTES, session_workflow_id
from fenix.models.session import SessionDetail, SessionState
from fenix.temporal import find_bin


async def run(keep_running: bool) -> int:
    console = Console()
    async with await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter, dev_server_existing_path=find_bin("temporal"),
        search_attributes=SEARCH_ATTRIBUTES, ui=True, ui_port=8233,
    ) as env:
        projects = demo_projects()
        with tempfile.TemporaryDirectory(prefix="fenix-demo-") as tmp:
            async with stack(env, Path(tmp), demo_seed(), projects) as st:
                console.print(f"API docs: {st.api_url.removesuffix('/v1')}/docs   Web UI: http://127.0.0.1:8233")
                started = time.monotonic()
                sid = await st.start()
                handle = env.client.get_workflow_handle(session_workflow_id(sid), result_type=SessionDetail)
                with console.status("maintenance running") as status:
                    while True:
                        d = await handle.query("detail", result_type=SessionDetail)
                        status.update(f"{d.state}: {d.current}")
                        if d.state in (SessionState.MAINTENANCE_DONE, SessionState.MAINTENANCE_FAILED):
                            break
                        await asyncio.sleep(0.5)
                detail = await handle.result()
                table = Table(title=f"session {sid}: {detail.state} in {time.monotonic() - started:.1f}s")
                for col in ("host", "phase", "maintained"):
                    table.add_column(col)
                for h in detail.hosts:
                    table.add_row(h.name, str(h.phase), str(h.maintained))
                console.print(table)
                if detail.reason:
                    console.print(f"reason: {detail.reason}")
                if keep_running:
                    console.print("stack kept running; Ctrl-C to stop")
                    await asyncio.Event().wait()
                return 0 if detail.state == SessionState.MAINTENANCE_DONE else 1


def main() -> None:
    sys.exit(asyncio.run(run("--keep-running" in sys.argv)))


if __name__ == "__main__":
    main()
