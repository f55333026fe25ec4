"""Infrastructure services hear every transition of every host (`maintenance.host`), in order, over real webhooks,
in both body formats: PLANNED at the session's start, DISABLED, IN_MAINTENANCE, MAINTENANCE_COMPLETE; an aborted
session's untouched hosts are CANCELLED."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from demo.stack import Stack, stack
from fenix import tokens
from fenix.models.hosts import HostState
from fenix.models.session import SessionState
from fenix.tokens import SERVICE_ROLE
from tests.api.helpers import LONG_WINDOWS, answer, silent, two_host_seed, wait_asked
from tests.api.hooks import Hooks, hooks
from tests.waiting import poll
from tests.workflows.test_session_flow import roomy_seed, vnfms

LIFE = [HostState.PLANNED, HostState.DISABLED, HostState.IN_MAINTENANCE, HostState.MAINTENANCE_COMPLETE]


async def subscribe_service(st: Stack, received: Hooks) -> None:
    """An infrastructure service (service role, not admin) subscribes twice: Fenix's native body and AODH's."""
    service_token = tokens.add(st.settings.tokens_path, project_id="infra", name="monitoring",
                               roles=[SERVICE_ROLE]).token
    async with httpx.AsyncClient(base_url=st.api_url, headers={"X-Auth-Token": service_token}, timeout=30) as infra:
        for fmt in ("native", "aodh"):
            r = await infra.post("/subscriptions", json={"url": f"{received.url}/{fmt}", "format": fmt,
                                                         "event_types": ["maintenance.host"]})
            assert r.status_code == 201, r.text


@pytest.mark.parametrize("flow", ["default", "vnf"])
async def test_every_host_transition_reaches_a_service_in_order(ts_env: WorkflowEnvironment, tmp_path: Path,
                                                                flow: str) -> None:
    async with hooks() as received, stack(ts_env, tmp_path, roomy_seed(), vnfms()) as st:
        await subscribe_service(st, received)
        sid = await st.start(hosts=[], workflow=flow)
        ended = await st.result(sid, timeout=120)
        assert ended.state == SessionState.MAINTENANCE_DONE, ended.reason
        hosts = sorted(h.name for h in ended.hosts)
        assert hosts == ["c0", "c1", "c2"]
        want = 4 * len(hosts)
        await poll(lambda: all(len(received.host_events(f)) >= want for f in ("native", "aodh")) or None,
                   "every host event delivered", 10)
        native, aodh = received.host_events("native"), received.host_events("aodh")
        assert native == aodh, (native, aodh)  # one order, both formats
        assert len(native) == want, native
        for host in hosts:
            assert [state for h, state in native if h == host] == LIFE, (host, native)
        # Every host is announced before the first one goes down.
        assert {h for h, _ in native[:len(hosts)]} == set(hosts) and \
            {state for _, state in native[:len(hosts)]} == {HostState.PLANNED}
        # The session is announced in one event (a few for thousands of hosts); the other transitions one by one.
        bodies = [b["payload"] for b in received.got["native"]]
        assert len(bodies) == 1 + 3 * len(hosts) and bodies[0]["hosts"] == hosts and bodies[0]["host"] == "", bodies
        assert all(b["hosts"] == [b["host"]] for b in bodies[1:]), bodies
        # The payload says which session, and when a disabled host is expected back.
        assert {b["session_id"] for b in bodies} == {sid}
        assert all(b["expected_end"] for b in bodies if b["state"] == HostState.DISABLED), bodies
        assert all(b["maintenance_at"] == "2020-01-01 00:00:00" for b in bodies if b["state"] == HostState.PLANNED)


async def test_an_aborted_session_tells_what_is_back_and_what_is_off(ts_env: WorkflowEnvironment,
                                                                     tmp_path: Path) -> None:
    async with hooks() as received, stack(ts_env, tmp_path, roomy_seed(), silent("vnf-ha", "vnf-web", "vnf-batch"),
                                          ) as st:
        await subscribe_service(st, received)
        sid = await st.start(hosts=["c0", "c1"], reply_windows=LONG_WINDOWS)
        await poll(lambda: len(received.host_events("native")) >= 2 or None, "the hosts planned", 10)
        r = await st.admin.delete(f"/maintenance/{sid}")
        assert r.status_code == 200 and r.json()["aborting"] is True, r.text
        ended = await st.result(sid, timeout=60)
        assert ended.aborted
        await poll(lambda: all(len(received.host_events(f)) >= 4 for f in ("native", "aodh")) or None,
                   "the cancellations delivered", 10)
        for fmt in ("native", "aodh"):
            assert received.host_events(fmt) == [("c0", HostState.PLANNED), ("c1", HostState.PLANNED),
                                                  ("c0", HostState.CANCELLED), ("c1", HostState.CANCELLED)], fmt


async def test_a_host_disabled_by_an_aborted_session_is_back_in_service(ts_env: WorkflowEnvironment,
                                                                        tmp_path: Path) -> None:
    async with hooks() as received, stack(ts_env, tmp_path, two_host_seed(busy="c0", empty="c1"),
                                          silent("alpha", "beta")) as st:
        await subscribe_service(st, received)
        sid = await st.start(hosts=["c0", "c1"], reply_windows=LONG_WINDOWS)
        for pid in ("alpha", "beta"):
            await wait_asked(st, sid, pid, "MAINTENANCE")
            assert (await answer(st, sid, pid, "ACK_MAINTENANCE")).status_code == 200
        # c1 (empty) is maintained; c0 is disabled and its owners asked, who stay silent.
        await wait_asked(st, sid, "alpha", "PLANNED_MAINTENANCE")
        assert (await st.admin.delete(f"/maintenance/{sid}")).status_code == 200
        assert (await st.result(sid, timeout=60)).aborted
        want = [("c0", HostState.PLANNED), ("c1", HostState.PLANNED), ("c1", HostState.DISABLED),
                ("c1", HostState.IN_MAINTENANCE), ("c1", HostState.MAINTENANCE_COMPLETE), ("c0", HostState.DISABLED),
                ("c0", HostState.MAINTENANCE_COMPLETE)]
        await poll(lambda: all(len(received.host_events(f)) >= len(want) for f in ("native", "aodh")) or None,
                   "c0 back in service", 10)
        for fmt in ("native", "aodh"):
            assert received.host_events(fmt) == want, fmt
        assert all(h.enabled for h in st.cloud.snapshot().hosts)
