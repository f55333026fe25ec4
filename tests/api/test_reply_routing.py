"""Which instance a reply without `instance_ids` answers, in the `vnf` flow (per-instance notices).

Fenix-era VNFMs reply with only `{"state", "instance_action"}`. Such a reply answers the one instance of the project
that waits for that state; when several wait it is refused with a 409 that names them, never credited to a guess.
"""

from __future__ import annotations

from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from demo.stack import stack
from fenix.cloud.simulated import SimHostSpec, SimSeed, SimServerSpec
from tests.api.helpers import LONG_WINDOWS, answer, assert_error, detail, silent
from tests.waiting import poll


def seed() -> SimSeed:
    return SimSeed(hosts=[SimHostSpec(name="c0", vcpus=4, memory_mb=8192), SimHostSpec(name="c1", vcpus=4,
                                                                                         memory_mb=8192)],
                   servers=[SimServerSpec(name=f"alpha-{n}", project_id="alpha", vcpus=1, memory_mb=512, host="c0")
                            for n in range(2)])


async def test_a_bare_reply_answers_the_one_waiting_instance_and_is_refused_when_several_wait(
        ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with stack(ts_env, tmp_path, seed(), silent("alpha")) as st:
        ids = sorted(s.id for s in st.cloud.snapshot().servers)
        async with st.as_project("alpha") as alpha:
            for iid in ids:
                r = await alpha.put(f"/instance/{iid}", json={"lead_time": 3600, "migration_type": "MIGRATE"})
                assert r.status_code == 200, r.text
        sid = await st.start(hosts=["c0"], workflow="vnf", reply_windows={**LONG_WINDOWS, "maintenance": 1})

        async def both_warned() -> bool:
            d = await detail(st, sid)
            return sum(1 for i in d["instances"] if i["notified_at"]) == 2

        await poll(both_warned, "both instances to be warned", timeout=30)
        # Two wait: a bare reply could mean either, so it is refused, naming both.
        assert_error(await answer(st, sid, "alpha", "ACK_PREPARE_MAINTENANCE", instance_action="LIVE_MIGRATE"), 409,
                     "names no instance", ids[0], ids[1])
        # Naming one is taken; then the bare reply can only mean the other one.
        r = await answer(st, sid, "alpha", "ACK_PREPARE_MAINTENANCE", instance_action="MIGRATE", instance_ids=[ids[0]])
        assert r.status_code == 200, r.text
        r = await answer(st, sid, "alpha", "ACK_PREPARE_MAINTENANCE", instance_action="LIVE_MIGRATE")
        assert r.status_code == 200, r.text
        d = await detail(st, sid)
        chosen = {i["instance_id"]: (i["action"], i["action_source"]) for i in d["instances"]}
        assert chosen[ids[0]] == ("MIGRATE", "reply") and chosen[ids[1]] == ("LIVE_MIGRATE", "reply"), chosen
        # Nothing waits any more: the same bare reply again is a retry of the last one (200), a different one stale.
        assert (await answer(st, sid, "alpha", "ACK_PREPARE_MAINTENANCE", instance_action="LIVE_MIGRATE")
                ).status_code == 200
        assert_error(await answer(st, sid, "alpha", "ACK_PREPARE_MAINTENANCE", instance_action="MIGRATE"), 409,
                     "not waiting")
