"""`fenix session|host` against a real API (demo stack), run as `python -m cli` in a subprocess.

A subprocess, not CliRunner: the API serves from this test's event loop, so the CLI must not block it, and a
separate process also checks the real entry point, its exit codes and that no traceback reaches the user.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from demo.stack import Stack, free_port, stack
from fenix.cloud.simulated import SimHostSpec, SimSeed
from fenix.constants import session_workflow_id
from tests.cli.helpers import fenix, poll_cli
from tests.workflows.test_session_flow import roomy_seed, vnfms


def admin_token(st: Stack) -> str:
    return st.admin_token


async def test_start_then_watch_reaches_done(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with stack(ts_env, tmp_path, roomy_seed(), vnfms()) as st:
        token, url = admin_token(st), ("--url", st.api_url)
        started = await fenix("session", "start", "--host", "c2", "--reply-window", "maintenance=120",
                              "--action", 'dummy:pre:{"seconds": 0}', "--metadata", "openstack_version=Next",
                              *url, token=token)
        assert started.code == 0, started
        sid = started.stdout.strip()
        assert f"fenix session watch {sid}" in started.stderr

        watched = await fenix("session", "watch", sid, "--interval", "0.1", "--timeout", "60", *url, token=token)
        assert watched.code == 0, watched
        assert f"session {sid} MAINTENANCE_DONE: 1/1 hosts maintained" in watched.stdout
        # A timestamped progress line per change (just the last one if the session ended before the first poll).
        assert re.search(r"^\d\d:\d\d:\d\d  MAINTENANCE_DONE  1/1 hosts", watched.stdout, re.M), watched

        shown = await fenix("session", "show", sid, "--history", "3", *url, token=token)
        assert shown.code == 0, shown
        for fragment in ("MAINTENANCE_DONE", "c2", "MAINTAINED", "vnf-batch", "dummy", "last 3 of"):
            assert fragment in shown.stdout, shown
        # What the options asked for reached the session.
        detail = (await st.admin.get(f"/maintenance/{sid}/detail")).json()
        assert detail["metadata"] == {"openstack_version": "Next"}
        assert [(r["plugin"], r["type"]) for r in detail["plugin_runs"]] == [("dummy", "pre")]


async def test_api_errors_and_abort(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with stack(ts_env, tmp_path, roomy_seed(), vnfms()) as st:
        token, url = admin_token(st), ("--url", st.api_url)

        bad = await fenix("session", "start", "--host", "c0", *url, token="not-a-token")
        assert bad.code == 1 and "invalid token (HTTP 401)" in bad.stderr and not bad.stdout, bad
        project = await fenix("session", "start", "--host", "c0", *url, token=st.project_tokens["vnf-web"])
        assert project.code == 1 and "needs the admin role" in project.stderr, project
        invalid = await fenix("session", "start", "--host", "c0", "--workflow", "nope", *url, token=token)
        assert invalid.code == 1 and "unknown workflow 'nope'" in invalid.stderr, invalid
        no_v1 = await fenix("session", "list", "--url", st.api_url.removesuffix("/v1"), token=token)
        assert no_v1.code == 1 and "ending in /v1" in no_v1.stderr, no_v1
        missing = await fenix("session", "show", "no-such-session", *url, token=token)
        assert missing.code == 1 and "no maintenance session 'no-such-session'" in missing.stderr, missing
        # Usage errors (exit 2) are caught before anything is sent.
        typo = await fenix("session", "start", "--host", "c0", "--reply-window", "maintenace=5", *url, token=token)
        assert typo.code == 2 and "maintenance, scale_in" in typo.stderr, typo
        everything = await fenix("session", "start", *url, token=token)
        assert everything.code == 2 and "--all-hosts" in everything.stderr, everything

        # A session waiting for its window (far away) is aborted; watching it then ends in failure, exit 1.
        started = await fenix("session", "start", "-H", "c0,c1", "--at", "2099-01-01 00:00:00", *url, token=token)
        assert started.code == 0, started
        sid = started.stdout.strip()
        aborted = await fenix("session", "abort", sid, *url, token=token)
        assert aborted.code == 0 and f"Aborting session {sid}" in aborted.stdout, aborted
        watched = await fenix("session", "watch", sid, "--interval", "0.1", "--timeout", "60", *url, token=token)
        assert watched.code == 1 and "MAINTENANCE_FAILED" in watched.stderr, watched
        assert "aborted by the admin" in watched.stderr, watched
        again = await fenix("session", "abort", sid, *url, token=token)
        assert again.code == 1 and "already ended (MAINTENANCE_FAILED)" in again.stderr, again
        assert (await st.admin.get(f"/maintenance/{sid}")).status_code == 200, "abort must never delete a session"


async def test_unreachable_api_names_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    for args in (("session", "list"), ("session", "watch", "some-id"), ("host", "status", "c0")):
        run = await fenix(*args, "--url", url, token="anything")
        assert run.code == 1, run
        assert f"cannot connect to the Fenix API at {url} (connection refused)" in run.stderr, run
    no_token = await fenix("session", "list", "--url", url)
    assert no_token.code == 1 and "FENIX_TOKEN" in no_token.stderr, no_token


async def test_list_and_host_status_on_the_dev_server(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    """Visibility (session list, host status) needs the dev server; the time-skipping one has none."""
    host = f"cli-{uuid.uuid4().hex[:8]}"  # the dev server is shared: no other test's session holds this host
    seed = SimSeed(hosts=[SimHostSpec(name=host, vcpus=4, memory_mb=8192)])
    async with stack(dev_env, tmp_path, seed) as st:
        token, url = admin_token(st), ("--url", st.api_url)
        # A host plug-in that works long enough to find the host out of service (visibility lags ~1 s).
        started = await fenix("session", "start", "--host", host, "--action", 'dummy:host:{"seconds": 4}',
                              *url, token=token)
        assert started.code == 0, started
        sid = started.stdout.strip()
        status = await poll_cli(lambda r: ": in maintenance" in r.stdout, "host", "status", host, *url, token=token)
        assert f"{host}: in maintenance (" in status.stdout and f"session {sid}, back by " in status.stdout, status
        await poll_cli(lambda r: sid in r.stdout.split(), "session", "list", *url, token=token)

        await st.result(sid, timeout=30)
        long = await fenix("session", "list", "--long", *url, token=token)
        assert long.code == 0 and any(sid in line and "MAINTENANCE_DONE" in line and "1/1" in line
                                      for line in long.stdout.splitlines()), long
        await poll_cli(lambda r: f"{host}: not in maintenance" in r.stdout, "host", "status", host, *url,
                       token=token)


async def test_list_long_shows_a_session_without_worker_as_unknown(dev_env: WorkflowEnvironment,
                                                                   tmp_path: Path) -> None:
    """A session whose worker is gone (its query cannot be answered) is one `unknown` row, not a failed listing:
    found when the suite's shared dev server held sessions of tests that had ended."""
    seed = roomy_seed()
    for sub in ("gone", "live"):
        (tmp_path / sub).mkdir()
    async with stack(dev_env, tmp_path / "gone", seed, vnfms(), task_queue=f"gone-{uuid.uuid4()}") as gone:
        orphan = await gone.start(hosts=["c2"], maintenance_at="2099-01-01 00:00:00")
    # That stack's worker has stopped; its session runs on, waiting for 2099, with nobody to answer for it.
    async with stack(dev_env, tmp_path / "live", seed, vnfms(),
                     extra_settings={"api_read_timeout_s": 2.0}) as st:
        token, url = admin_token(st), ("--url", st.api_url)
        sid = await st.start(hosts=["c1"])
        await st.result(sid, timeout=60)
        listed = await poll_cli(lambda r: orphan in r.stdout and sid in r.stdout, "session", "list", "--long", *url,
                                token=token, timeout=30)
        rows = {line.split()[1]: line for line in listed.stdout.splitlines() if len(line.split()) > 2}
        assert "unknown" in rows[orphan] and "HTTP 503" in listed.stdout, listed
        assert "MAINTENANCE_DONE" in rows[sid], listed
        await dev_env.client.get_workflow_handle(session_workflow_id(orphan)).terminate("test cleanup")
