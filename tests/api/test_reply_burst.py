"""A burst of replies is taken, all of it: every project gets MAINTENANCE at the same moment and answers at once.

Temporal admits 10 Updates in flight per workflow; one Update per reply refused most of a burst, and a Fenix-era VNFM
does not send a refused reply again. The API batches a session's replies (api/reply_batch.py): each is still checked
on its own, so a bad reply in a batch is refused alone, with its usual status.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from demo.stack import Stack, stack
from fenix.cloud.simulated import SimHostSpec, SimSeed, SimServerSpec
from fenix.constants import SESSION_WORKFLOW_TYPE, session_workflow_id
from fenix.models.reply import ProjectReply, ReplyResult
from fenix.models.reply_batch import ProjectReplies
from tests.api.helpers import LONG_WINDOWS, assert_error, detail, silent
from tests.api.test_errors import probe_stack, start_waiting
from tests.waiting import poll
from workflows.session import MaintenanceSessionWorkflow

PROJECTS = 100
PER_HOST = 20


def burst_seed() -> SimSeed:
    hosts = PROJECTS // PER_HOST + 1  # one spare host's worth of room
    return SimSeed(hosts=[SimHostSpec(name=f"c{i}", vcpus=PER_HOST * 2, memory_mb=PER_HOST * 2048)
                          for i in range(hosts)],
                   servers=[SimServerSpec(name=f"p{n}-0", project_id=f"p{n}", vcpus=1, memory_mb=512,
                                          host=f"c{n // PER_HOST}") for n in range(PROJECTS)])


async def all_asked(st: Stack, sid: str) -> None:
    async def asked() -> bool:
        projects = (await detail(st, sid))["projects"]
        return sum(1 for p in projects if p["awaiting"] and p["state"] == "MAINTENANCE") == PROJECTS

    await poll(asked, f"session {sid} to ask all {PROJECTS} projects for MAINTENANCE", timeout=120)


async def test_a_burst_of_replies_is_taken_all_of_it(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    names = [f"p{n}" for n in range(PROJECTS)]
    async with stack(dev_env, tmp_path, burst_seed(), silent(*names, "outsider"), subscribe=names) as st:
        sid = await st.start(reply_windows=LONG_WINDOWS)
        await all_asked(st, sid)
        # Most answer ACK_MAINTENANCE; in the same burst, replies the session must refuse, each with its own status.
        bodies: dict[str, tuple[str, int]] = dict.fromkeys(names[:94], ("ACK_MAINTENANCE", 200))
        bodies |= dict.fromkeys(names[94:97], ("ACK_SCALE_IN", 409))  # not what is asked
        bodies |= dict.fromkeys(names[97:], ("ACK_BOGUS", 422))  # no such state
        bodies["outsider"] = ("ACK_MAINTENANCE", 404)  # no instance in the session
        clients = {p: st.as_project(p) for p in bodies}
        try:
            async def reply(project: str) -> httpx.Response:
                return await clients[project].put(f"/maintenance/{sid}/{project}",
                                                  json={"state": bodies[project][0]})

            answers = dict(zip(bodies, await asyncio.gather(*(reply(p) for p in bodies)), strict=True))
        finally:
            for c in clients.values():
                await c.aclose()
        for project, (state, status) in bodies.items():
            if status == 200:
                r = answers[project]
                assert r.status_code == 200, f"{project}: {r.status_code} {r.text}"
                assert r.json()["state"] == state
            else:
                assert_error(answers[project], status)
        # None lost: every accepted reply is in the session; the refused ones changed nothing.
        projects = {p["project_id"]: p for p in (await detail(st, sid))["projects"]}
        for project, (_, status) in bodies.items():
            if project == "outsider":
                assert project not in projects
            elif status == 200:
                assert (projects[project]["state"], projects[project]["awaiting"]) == ("ACK_MAINTENANCE", False)
            else:
                assert (projects[project]["state"], projects[project]["awaiting"]) == ("MAINTENANCE", True), project
        # Taken in batches: far fewer Updates than replies (one Update per reply is what Temporal refused).
        updates = await accepted_updates(st, sid)
        assert 0 < updates <= len(bodies) // 4, f"{updates} Updates for {len(bodies)} replies"
        await st.admin.delete(f"/maintenance/{sid}")


async def accepted_updates(st: Stack, sid: str) -> int:
    handle = st.client.get_workflow_handle(session_workflow_id(sid))
    accepted = 0
    async for event in handle.fetch_history_events():
        accepted += event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    return accepted


async def test_a_batch_refuses_only_its_bad_replies(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with probe_stack(ts_env, tmp_path) as st:
        sid = await start_waiting(st)
        handle = st.client.get_workflow_handle_for(MaintenanceSessionWorkflow.run, session_workflow_id(sid))
        late = datetime.now(UTC) - timedelta(days=1)
        batch = [ProjectReply(project_id="alpha", state="ACK_MAINTENANCE"),
                 ProjectReply(project_id="gamma", state="ACK_MAINTENANCE"),  # no instance in the session
                 ProjectReply(project_id="beta", state="ACK_MAINTENANCE", not_after=late),  # after its deadline
                 ProjectReply(project_id="beta", state="ACK_SCALE_IN"),  # not what is asked
                 ProjectReply(project_id="alpha", state="ACK_MAINTENANCE")]  # a retry: answered as the first time
        got = (await handle.execute_update(MaintenanceSessionWorkflow.replies, ProjectReplies(replies=batch))).outcomes
        summary: list[Any] = [(o.result.accepted if o.result else None, o.error_type) for o in got]
        assert summary == [(True, ""), (None, "UnknownProject"), (None, "DeadlinePassed"), (None, "StaleReply"),
                           (True, "")], summary
        assert got[4].result is not None and "taken before" in got[4].result.detail
        projects = {p["project_id"]: p for p in (await detail(st, sid))["projects"]}
        assert (projects["alpha"]["state"], projects["alpha"]["awaiting"]) == ("ACK_MAINTENANCE", False)
        assert (projects["beta"]["state"], projects["beta"]["awaiting"]) == ("MAINTENANCE", True)
        # Over HTTP the refusals keep their statuses: beta's late-free reply is still taken afterwards.
        beta = st.as_project("beta")
        try:
            assert_error(await beta.put(f"/maintenance/{sid}/beta", json={"state": "ACK_SCALE_IN"}), 409)
            assert (await beta.put(f"/maintenance/{sid}/beta", json={"state": "ACK_MAINTENANCE"})).status_code == 200
        finally:
            await beta.aclose()


@workflow.defn(name=SESSION_WORKFLOW_TYPE)
class SessionBeforeBatches:
    """A session of a release older than the `replies` Update: it takes replies one `reply` Update at a time."""

    def __init__(self) -> None:
        self.taken: list[str] = []
        self.ended = False

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: self.ended)  # running until the test has every answer
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.taken

    @workflow.signal
    def end(self) -> None:
        self.ended = True

    @workflow.update
    def reply(self, reply: ProjectReply) -> ReplyResult:
        self.taken.append(reply.project_id)
        return ReplyResult(accepted=True, state=reply.state)

    @reply.validator
    def _validate(self, reply: ProjectReply) -> None:
        if reply.project_id == "gamma":
            raise ApplicationError("project 'gamma' has no instances in this session", type="UnknownProject")


async def test_a_session_of_an_older_release_gets_its_replies_one_by_one(dev_env: WorkflowEnvironment,
                                                                        tmp_path: Path) -> None:
    async with probe_stack(dev_env, tmp_path) as st:
        sid, queue = str(uuid.uuid4()), f"tq-{uuid.uuid4()}"
        async with Worker(st.client, task_queue=queue, workflows=[SessionBeforeBatches],
                          workflow_runner=UnsandboxedWorkflowRunner()):  # defined here: the sandbox cannot re-import it
            handle = await st.client.start_workflow(SessionBeforeBatches.run, id=session_workflow_id(sid),
                                                    task_queue=queue)
            clients = {p: st.as_project(p) for p in ("alpha", "beta", "gamma")}
            try:
                answers = await asyncio.gather(*(http.put(f"/maintenance/{sid}/{p}", json={"state": "ACK_MAINTENANCE"})
                                                 for p, http in clients.items()))
            finally:
                for c in clients.values():
                    await c.aclose()
            assert [r.status_code for r in answers[:2]] == [200, 200], [r.text for r in answers]
            assert_error(answers[2], 404, "no instances")
            await handle.signal(SessionBeforeBatches.end)
            assert sorted(await handle.result()) == ["alpha", "beta"]
        # Its result is not a Fenix session's detail: reading the ended session is the upstream's fault (502, with
        # the reason), never a 500 that drops the connection (seen from `fenix session list --long` on a shared
        # dev server).
        for path in (f"/maintenance/{sid}", f"/maintenance/{sid}/detail"):
            assert_error(await st.admin.get(path), 502, "not a Fenix session's")
