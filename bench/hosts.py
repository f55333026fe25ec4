"""`python -m bench.hosts [HOSTS]` (or `make bench-hosts`): infrastructure services' view of a large session.

A `default` session over every host of a cloud of HOSTS empty hosts (2,000 by default), its window in the future, so
it announces every host (`PLANNED`) and waits; one infrastructure service subscribed to `maintenance.host`. Measures
how long the announcement takes to reach the service, what it costs the session's history, how fast
`GET /v1/hosts` pages through every host and `GET /v1/hosts/{host}` answers one, and how long the abort's `CANCELLED`
events take. The API, the worker and the receiver run in one process, the dev server beside them.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from fastapi import FastAPI, Request
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from demo.stack import free_port, serve, stack
from fenix import tokens
from fenix.cloud.simulated import SimHostSpec, SimSeed
from fenix.constants import SEARCH_ATTRIBUTES, session_workflow_id
from fenix.logs import configure_logging
from fenix.temporal import find_bin


async def wait_for(what: str, check: object, timeout: float) -> float:
    began = time.monotonic()
    while not check():  # type: ignore[operator]
        if time.monotonic() - began > timeout:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        await asyncio.sleep(0.2)
    return time.monotonic() - began


async def run(hosts: int) -> None:
    got: list[tuple[str, str]] = []  # (host, state) of every transition told
    events = [0]
    receiver = FastAPI()

    @receiver.post("/hook")
    async def hook(request: Request) -> dict[str, str]:
        payload = (await request.json())["payload"]
        got.extend((host, payload["state"]) for host in payload["hosts"])
        events[0] += 1
        return {}

    port = free_port()
    seed = SimSeed(hosts=[SimHostSpec(name=f"compute-{i:05d}", vcpus=16, memory_mb=65536) for i in range(hosts)])
    async with await WorkflowEnvironment.start_local(
            data_converter=pydantic_data_converter, dev_server_existing_path=find_bin("temporal"),
            search_attributes=SEARCH_ATTRIBUTES, dev_server_log_level="error") as env, serve(receiver, port):
        with tempfile.TemporaryDirectory() as tmp:
            async with stack(env, Path(tmp), seed) as st:
                service = tokens.add(st.settings.tokens_path, project_id="infra", name="monitoring",
                                     roles=[tokens.SERVICE_ROLE]).token
                r = await st.admin.post("/subscriptions", json={"url": f"http://127.0.0.1:{port}/hook",
                                                                "event_types": ["maintenance.host"]})
                assert r.status_code == 201, r.text
                began = time.monotonic()
                sid = await st.start(hosts=[], maintenance_at="2100-01-01 00:00:00")
                await wait_for("every host announced", lambda: len(got) >= hosts, 1800)
                planned_s = time.monotonic() - began
                handle = st.client.get_workflow_handle(session_workflow_id(sid))
                history = (await handle.describe()).raw_description.workflow_execution_info.history_length

                headers = {"X-Auth-Token": service}
                pages, page_s = 0, []
                marker = None
                listed = 0
                for _ in range(3):
                    t = time.monotonic()
                    query = "limit=1000" + (f"&marker={marker}" if marker else "")
                    body = (await st.admin.get(f"/hosts?{query}", headers=headers)).json()
                    page_s.append(time.monotonic() - t)
                    pages += 1
                    listed += len(body["hosts"])
                    marker = body["next_marker"]
                    if marker is None:
                        break
                one_s = []
                for i in range(20):
                    t = time.monotonic()
                    r = await st.admin.get(f"/hosts/compute-{(i * 97) % hosts:05d}", headers=headers)
                    assert r.status_code == 200 and r.json()["state"] == "PLANNED", r.text
                    one_s.append(time.monotonic() - t)
                answer = len(r.content)

                t = time.monotonic()
                await st.admin.delete(f"/maintenance/{sid}")
                await st.result(sid, timeout=1800)
                await wait_for("every host cancelled", lambda: len(got) >= 2 * hosts, 1800)
                cancelled_s = time.monotonic() - t
    print(f"hosts: {hosts}")
    print(f"PLANNED to every host delivered: {planned_s:.1f} s after the start; session history then "
          f"{history} events; {events[0]} webhook POSTs in all")
    print(f"GET /v1/hosts?limit=1000: {pages} pages, {listed} hosts, "
          f"{', '.join(f'{s * 1000:.0f}' for s in page_s)} ms per page")
    print(f"GET /v1/hosts/{{host}}: median {statistics.median(one_s) * 1000:.0f} ms, max {max(one_s) * 1000:.0f} ms "
          f"over {len(one_s)} ({answer} bytes)")
    print(f"abort until every CANCELLED delivered: {cancelled_s:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("hosts", nargs="?", type=int, default=2000)
    args = parser.parse_args()
    configure_logging("console", "WARNING")
    asyncio.run(run(args.hosts))


if __name__ == "__main__":
    main()
