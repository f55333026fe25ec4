"""Tenant isolation of constraints (issue 9, item 1), over real HTTP on a real Temporal server.

The attack: project beta PUTs constraints for alpha's server (EVICTION, lead time 0) so that a `vnf` session
deletes it, or takes alpha's instance-group id first. Fenix 0.1 answered 200, locked alpha out (404 on its own
instance), and a session then evicted alpha's server. Now the cloud decides who may describe an instance, group
ids are each project's own, and a session ignores (and records) any constraint whose project does not own the
instance, whatever a registry holds.
"""

from __future__ import annotations

from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from demo.stack import stack
from fenix.models.constraints import ConstraintsState, InstanceConstraints, InstanceMigrationType, InstancePut
from fenix.models.session import InstanceAction, SessionState
from tests.api.helpers import assert_error, silent, two_host_seed
from workflows.constraints import ConstraintsRegistryWorkflow

EVICT_NOW = {"migration_type": "EVICTION", "lead_time": 0}


async def test_a_project_cannot_describe_or_lock_out_anothers_instances_and_groups(ts_env: WorkflowEnvironment,
                                                                                    tmp_path: Path) -> None:
    async with stack(ts_env, tmp_path, two_host_seed(), silent("alpha", "beta"), subscribe=[]) as st, \
            st.as_project("alpha") as alpha, st.as_project("beta") as beta:
        alpha0 = next(s.id for s in st.cloud.list_servers() if s.name == "alpha-0")
        # beta's write for alpha's server is refused as if the instance did not exist (no id leaks) ...
        assert_error(await beta.put(f"/instance/{alpha0}", json=EVICT_NOW), 404, alpha0)
        assert_error(await beta.get(f"/instance/{alpha0}"), 404)
        # ... also for an instance the cloud does not have, with the same words.
        assert_error(await beta.put("/instance/no-such-server", json=EVICT_NOW), 404, "no-such-server")
        # alpha keeps control of its own instance.
        r = await alpha.put(f"/instance/{alpha0}", json={"migration_type": "LIVE_MIGRATE", "lead_time": 30})
        assert r.status_code == 200, r.text
        assert (await alpha.get(f"/instance/{alpha0}")).json()["migration_type"] == "LIVE_MIGRATE"
        # The admin may write for any project, but only for the project that owns the instance.
        assert_error(await st.admin.put(f"/instance/{alpha0}", json={"project_id": "beta", **EVICT_NOW}), 404)
        r = await st.admin.put(f"/instance/{alpha0}", json={"project_id": "alpha", "lead_time": 31})
        assert r.status_code == 200 and r.json()["project_id"] == "alpha", r.text

        # Groups: beta takes the id alpha will use; alpha is not locked out, and each sees its own group.
        assert (await beta.put("/instance_group/ha", json={"max_impacted_members": 5})).status_code == 200
        r = await alpha.put("/instance_group/ha", json={"max_impacted_members": 1, "anti_affinity_group": True})
        assert r.status_code == 200, r.text
        assert (await alpha.get("/instance_group/ha")).json()["max_impacted_members"] == 1
        assert (await beta.get("/instance_group/ha")).json()["max_impacted_members"] == 5
        r = await alpha.put(f"/instance/{alpha0}", json={"group_id": "ha"})
        assert r.status_code == 200, r.text
        assert [i["instance_id"] for i in (await alpha.get("/instance", params={"group_id": "ha"})).json()[
            "instances"]] == [alpha0]
        assert (await beta.get("/instance", params={"group_id": "ha"})).json()["instances"] == []
        # beta deleting "its" ha leaves alpha's alone.
        assert (await beta.delete("/instance_group/ha")).status_code == 204
        assert (await alpha.get("/instance_group/ha")).status_code == 200


async def test_a_session_never_acts_on_another_projects_constraint(ts_env: WorkflowEnvironment,
                                                                   tmp_path: Path) -> None:
    """Defence in depth: a registry that holds beta's EVICTION constraint for alpha's server (planted in Fenix
    0.1's registry, which checked nothing) must not get alpha's server deleted by a `vnf` session."""
    async with stack(ts_env, tmp_path, two_host_seed(), silent("alpha", "beta"), subscribe=[],
                     skip_time=True) as st, st.as_project("beta") as beta:
        alpha0 = next(s.id for s in st.cloud.list_servers() if s.name == "alpha-0")
        # Through the API: refused (the attack of the test above) ...
        assert_error(await beta.put(f"/instance/{alpha0}", json=EVICT_NOW), 404)
        # ... so plant it behind the API, in the registry a 0.1 deployment left behind.
        legacy = await st.client.start_workflow(ConstraintsRegistryWorkflow.run, ConstraintsState(),
                                                id=st.settings.constraints_workflow_id,
                                                task_queue=st.settings.task_queue)
        planted = InstanceConstraints(instance_id=alpha0, project_id="beta", lead_time=0,
                                      migration_type=InstanceMigrationType.EVICTION)
        await legacy.execute_update(ConstraintsRegistryWorkflow.put_instance, InstancePut(item=planted))

        r = await st.admin.post("/maintenance/plan", json={"hosts": ["c0"]})
        assert r.status_code == 200, r.text
        asked = {i["instance_id"]: i for p in r.json()["projects"] for i in p["asked"]}
        assert asked[alpha0]["action"] != "EVICTION" and not asked[alpha0]["constraints_registered"], asked[alpha0]
        assert any(alpha0 in w and "ignored" in w for w in r.json()["warnings"]), r.json()["warnings"]

        sid = await st.start(hosts=["c0"], workflow="vnf")
        detail = await st.result(sid)
        assert detail.state == SessionState.MAINTENANCE_DONE, (detail.reason, detail.history[-5:])
        # The cloud says: alpha's server lives on (moved, not deleted), and the session said why it ignored beta.
        server = st.cloud.get_server(alpha0)
        assert server.project_id == "alpha" and server.host == "c1", server
        record = next(i for i in detail.instances if i.instance_id == alpha0)
        assert record.action == InstanceAction.LIVE_MIGRATE, record
        assert (record.action_source or "").startswith("default"), record
        notes = [h.detail for h in detail.history if alpha0 in h.detail and "ignored" in h.detail]
        assert notes and "project beta" in notes[0] and "project alpha" in notes[0], notes
