"""A subscription may expire (`ttl`), as a Fenix-era VNFM's AODH alarm went with its Heat stack: an expired
subscription gets no notice, is no longer listed, and posting it again makes a new one; posting a live one again
renews it."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from demo.stack import stack
from tests.workflows.test_session_flow import roomy_seed, vnfms


async def test_expired_subscriptions_get_nothing_and_live_ones_renew(dev_env: WorkflowEnvironment,
                                                                     tmp_path: Path) -> None:
    async with stack(dev_env, tmp_path, roomy_seed(), vnfms(), subscribe=[]) as st:
        def body(project: str, ttl: int | None) -> dict[str, object]:
            return {"url": f"{st.vnfm_url}/webhook/{project}", "ttl": ttl}

        async with st.as_project("vnf-web") as web, st.as_project("vnf-batch") as batch:
            r = await web.post("/subscriptions", json=body("vnf-web", 5))
            assert r.status_code == 201, r.text
            first = r.json()
            st.vnfm.trust("vnf-web", first["secret"])
            ttl = datetime.fromisoformat(first["expires_at"]) - datetime.fromisoformat(first["created_at"])
            assert ttl.total_seconds() == 5
            # Posted again with a longer ttl: the same subscription, renewed (no twin, no new secret).
            r = await web.post("/subscriptions", json=body("vnf-web", 3600))
            assert r.status_code == 200 and r.json()["id"] == first["id"], r.text
            assert datetime.fromisoformat(r.json()["expires_at"]) > datetime.fromisoformat(first["expires_at"])

            r = await batch.post("/subscriptions", json=body("vnf-batch", 1))
            assert r.status_code == 201, r.text
            gone = r.json()["id"]
            st.vnfm.trust("vnf-batch", r.json()["secret"])
            for bad in (0, -5, 10**9, "soon"):
                r = await batch.post("/subscriptions", json=body("vnf-batch", bad))  # type: ignore[arg-type]
                assert r.status_code == 422 and "ttl" in r.text, r.text
            await asyncio.sleep(1.5)
            assert (await batch.get("/subscriptions")).json()["subscriptions"] == []
            assert (await batch.get(f"/subscriptions/{gone}")).status_code == 404
            listed = (await st.admin.get("/subscriptions")).json()["subscriptions"]
            assert [s["id"] for s in listed] == [first["id"]]

            sid = await st.start()
            done = await st.result(sid, timeout=120)
            assert done.state.value == "MAINTENANCE_DONE"
            got = {e.project_id for e in st.vnfm.state.events}
            assert "vnf-web" in got, st.vnfm.state.events
            assert "vnf-batch" not in got  # expired before the session: told nothing

            # The same subscription posted after it expired is a new one (with a secret of its own).
            r = await batch.post("/subscriptions", json=body("vnf-batch", None))
            assert r.status_code == 201 and r.json()["id"] != gone, r.text
            assert "expires_at" not in r.json()
