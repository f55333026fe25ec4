"""A session's detail page by page, its bounded summary and its ring log, over real HTTP on real Temporal.

The bounds (fenix/models/session_pages.py) are lowered here so a session of 21 instances is "large": the worker runs
in this process and reads them at call time, so the session cuts and rings exactly as one of thousands would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from demo.stack import Stack, stack
from fenix.cloud.simulated import SimHostSpec, SimSeed, SimServerSpec
from fenix.models import session_pages
from tests.api.helpers import LONG_WINDOWS, assert_error, detail, silent, wait_asked

HOSTS = ["pg0", "pg1", "pg2", "pg3"]
PROJECTS = ["alpha", "beta", "gamma"]


def seed() -> SimSeed:
    """7 instances of each project, spread over the first three hosts; the last host is empty."""
    return SimSeed(hosts=[SimHostSpec(name=h, vcpus=32, memory_mb=65536) for h in HOSTS],
                   servers=[SimServerSpec(name=f"{p}-{i}", project_id=p, vcpus=1, memory_mb=512, host=HOSTS[i % 3])
                            for p in PROJECTS for i in range(7)])


async def walk(http: httpx.AsyncClient, path: str, key: str, limit: int, **params: Any) -> list[dict[str, Any]]:
    """Every page from the first, by `next`; each page holds at most `limit` and says the same total."""
    items: list[dict[str, Any]] = []
    cursor: Any = None
    totals = set()
    for _ in range(100):
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor is not None else {})}
        r = await http.get(path, params=query)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page[key]) <= limit, page
        items += page[key]
        totals.add(page["total"])
        cursor = page["next"]
        if cursor is None:
            break
    assert totals == {len(items)}, (totals, len(items))
    return items


@pytest.fixture
def small_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session_pages, "SUMMARY_INSTANCES", 5)
    monkeypatch.setattr(session_pages, "SUMMARY_HOSTS", 2)
    monkeypatch.setattr(session_pages, "SUMMARY_HISTORY", 3)
    monkeypatch.setattr(session_pages, "LOG_MAX", 4)


async def start_waiting(st: Stack) -> str:
    """A session over every host whose projects stay silent: it waits at MAINTENANCE with all its instances."""
    sid = await st.start(hosts=HOSTS, reply_windows=LONG_WINDOWS)
    for pid in PROJECTS:
        await wait_asked(st, sid, pid, "MAINTENANCE")
    return sid


@pytest.mark.usefixtures("small_bounds")
async def test_pages_walk_every_instance_once_and_a_project_sees_only_its_own(ts_env: WorkflowEnvironment,
                                                                               tmp_path: Path) -> None:
    async with stack(ts_env, tmp_path, seed(), silent(*PROJECTS)) as st, \
            st.as_project("alpha") as alpha:
        sid = await start_waiting(st)
        servers = {s.id: s for s in st.cloud.list_servers()}
        base = f"/maintenance/{sid}/detail"

        # Every instance exactly once, in pages of at most 4, whatever the page size.
        for limit in (4, 1, 1000):
            ids = [i["instance_id"] for i in await walk(st.admin, f"{base}/instances", "instances", limit)]
            assert sorted(ids) == ids and set(ids) == set(servers), ids
        # Filters: by project, by current host, by state (nobody has answered: every instance waits).
        betas = await walk(st.admin, f"{base}/instances", "instances", 3, project_id="beta")
        assert {i["instance_id"] for i in betas} == {k for k, s in servers.items() if s.project_id == "beta"}
        on_pg1 = await walk(st.admin, f"{base}/instances", "instances", 2, host="pg1")
        assert {i["instance_id"] for i in on_pg1} == {k for k, s in servers.items() if s.host == "pg1"}
        assert len(await walk(st.admin, f"{base}/instances", "instances", 50, state="WAITING")) == 21
        assert await walk(st.admin, f"{base}/instances", "instances", 50, state="DONE") == []

        # A project's token: its own instances only, asked for or not; another project's are refused.
        own = await walk(alpha, f"{base}/instances", "instances", 2)
        assert {i["project_id"] for i in own} == {"alpha"} and len(own) == 7
        assert len(await walk(alpha, f"{base}/instances", "instances", 5, project_id="alpha", host="pg0")) == 3
        assert_error(await alpha.get(f"{base}/instances", params={"project_id": "beta"}), 403, "itself")
        assert_error(await alpha.get(f"{base}/hosts"), 403)
        assert_error(await alpha.get(f"{base}/history"), 403)

        # Hosts by name, filtered by phase.
        hosts = await walk(st.admin, f"{base}/hosts", "hosts", 1)
        assert [h["name"] for h in hosts] == HOSTS
        assert len(await walk(st.admin, f"{base}/hosts", "hosts", 3, phase="PENDING")) == 4
        assert await walk(st.admin, f"{base}/hosts", "hosts", 3, phase="MAINTAINED") == []

        # Bad parameters are 422 with a reason; an unknown session 404.
        for path, params in ((f"{base}/instances", {"limit": 0}),
                             (f"{base}/instances", {"limit": session_pages.PAGE_MAX + 1}),
                             (f"{base}/instances", {"state": "SLEEPING"}),
                             (f"{base}/instances", {"host": "bad'name"}),
                             (f"{base}/hosts", {"phase": "nope"}),
                             (f"{base}/hosts", {"cursor": ""}),
                             (f"{base}/history", {"cursor": -1}),
                             (f"{base}/history", {"cursor": "x"})):
            r = await st.admin.get(path, params=params)
            assert_error(r, 422)
        assert_error(await st.admin.get("/maintenance/no-such-session/detail/instances"), 404)

        # The abort ends the session; its result is a summary that cut the instances, so the pages still come
        # whole (a worker replays the ended session to answer).
        assert (await st.admin.delete(f"/maintenance/{sid}")).status_code == 200
        ended = await st.result(sid, timeout=60)
        assert ended.instances_total == 21 and len(ended.instances) == 5 and "instances" in ended.truncated
        ids = [i["instance_id"] for i in await walk(st.admin, f"{base}/instances", "instances", 8)]
        assert set(ids) == set(servers) and len(ids) == 21
        assert len(await walk(alpha, f"{base}/instances", "instances", 8)) == 7


@pytest.mark.usefixtures("small_bounds")
async def test_detail_is_bounded_and_the_history_a_ring_read_by_cursor(ts_env: WorkflowEnvironment,
                                                                       tmp_path: Path) -> None:
    async with stack(ts_env, tmp_path, seed(), silent(*PROJECTS)) as st:
        sid = await start_waiting(st)
        d = await detail(st, sid)
        # Every list within its bound, with the full counts and the names of the lists cut.
        assert len(d["instances"]) == 5 and d["instances_total"] == 21
        assert len(d["hosts"]) == 2 and d["hosts_total"] == 4 and d["hosts_maintained"] == 0
        assert d["projects_total"] == 3 and len(d["projects"]) == 3
        assert set(d["truncated"]) == {"instances", "hosts", "history"}, d["truncated"]
        assert len(d["history"]) == 3
        # The session keeps the last 4 entries of a longer log (a state, a notice per project, ...).
        logged = d["history_dropped"] + len(d["history"])
        assert d["history_dropped"] > 0 and logged >= 5, d
        status = (await st.admin.get(f"/maintenance/{sid}")).json()
        assert status["hosts_total"] == 4, status

        # From the start: what was dropped is counted, the kept entries follow, numbered on.
        r = await st.admin.get(f"/maintenance/{sid}/detail/history", params={"cursor": 0, "limit": 2})
        page = r.json()
        assert r.status_code == 200 and page["dropped"] == page["first"] == logged - 4, page
        assert len(page["entries"]) == 2 and page["next"] == page["first"] + 2
        rest = (await st.admin.get(f"/maintenance/{sid}/detail/history", params={"cursor": page["next"]})).json()
        assert rest["dropped"] == 0 and rest["first"] == page["next"] and rest["next"] == logged
        assert [e["detail"] for e in page["entries"] + rest["entries"]][-3:] == [e["detail"] for e in d["history"]]
        # Nothing new yet: an empty page, and the same cursor to ask again with.
        again = (await st.admin.get(f"/maintenance/{sid}/detail/history", params={"cursor": logged})).json()
        assert again == {"entries": [], "first": logged, "next": logged, "dropped": 0}
        await st.admin.delete(f"/maintenance/{sid}")
        await st.result(sid, timeout=60)


async def test_a_small_session_keeps_its_whole_detail(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    """Under the bounds, the detail is what it always was (Fenix clients), with the counts beside it."""
    async with stack(ts_env, tmp_path, seed(), silent(*PROJECTS)) as st:
        sid = await start_waiting(st)
        d = await detail(st, sid)
        assert len(d["instances"]) == d["instances_total"] == 21 and len(d["hosts"]) == 4
        assert d["truncated"] == [] and d["history_dropped"] == 0
        await st.admin.delete(f"/maintenance/{sid}")
        ended = await st.result(sid, timeout=60)
        assert len(ended.instances) == 21 and ended.truncated == []
        # An ended session whose result holds everything is paged from it.
        hosts = (await st.admin.get(f"/maintenance/{sid}/detail/hosts", params={"phase": "PENDING"})).json()
        assert hosts["total"] == len(hosts["hosts"]) and hosts["next"] is None
