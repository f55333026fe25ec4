"""POST /v1/subscriptions is idempotent by content, so a client may retry it (after a 503, or an answer lost on the
way): the same project, URL, format and event types answer the existing subscription with 200."""

from __future__ import annotations

from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from demo.stack import stack
from tests.api.helpers import assert_error, silent, two_host_seed
from workflows.registry import MAX_SUBSCRIPTIONS_PER_PROJECT


async def test_the_same_subscription_twice_is_one(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with stack(ts_env, tmp_path, two_host_seed(), silent("alpha", "beta"), subscribe=[]) as st:
        url = "http://vnfm.example.net:12348"
        async with st.as_project("alpha") as alpha:
            first = await alpha.post("/subscriptions", json={"url": url, "format": "aodh"})
            assert first.status_code == 201, first.text
            again = await alpha.post("/subscriptions", json={"url": f"{url}/", "format": "aodh",
                                                             "event_types": ["maintenance.scheduled"] * 2})
            assert again.status_code == 200, again.text
            # The same subscription, without its secret: that is shown only when it is created.
            assert again.json() == {k: v for k, v in first.json().items() if k != "secret"}
            # Another format is another subscription.
            native = await alpha.post("/subscriptions", json={"url": url})
            assert native.status_code == 201 and native.json()["id"] != first.json()["id"], native.text
            listed = (await alpha.get("/subscriptions")).json()["subscriptions"]
            assert sorted(s["id"] for s in listed) == sorted([first.json()["id"], native.json()["id"]])

        # The admin, for beta, both event types in either order: one subscription of beta's.
        both = {"url": url, "project_id": "beta", "event_types": ["maintenance.scheduled", "maintenance.host"]}
        r1 = await st.admin.post("/subscriptions", json=both)
        r2 = await st.admin.post("/subscriptions", json={**both, "event_types": both["event_types"][::-1]})
        assert (r1.status_code, r2.status_code) == (201, 200), (r1.text, r2.text)
        assert r1.json()["id"] == r2.json()["id"] and r1.json()["project_id"] == "beta"

        # At the limit, a retry still gets its subscription; only a new one is refused.
        async with st.as_project("beta") as beta:
            for i in range(MAX_SUBSCRIPTIONS_PER_PROJECT - 1):
                assert (await beta.post("/subscriptions", json={"url": f"{url}/{i}"})).status_code == 201
            retry = await beta.post("/subscriptions", json={"url": f"{url}/0"})
            assert retry.status_code == 200, retry.text
            assert_error(await beta.post("/subscriptions", json={"url": f"{url}/new"}), 409, "limit")
            assert len((await beta.get("/subscriptions")).json()["subscriptions"]) == MAX_SUBSCRIPTIONS_PER_PROJECT
