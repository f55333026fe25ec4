"""Registries filled to their documented limits still carry their state over continue-as-new, and other tenants are
unaffected (issue 9, item 2). Fenix 0.1 kept every tenant's constraints in one workflow: a few thousand maximal
items pushed its state past Temporal's 2 MB payload limit and broke it for everybody. Now each project has its own
registry, bounded by per-project limits and field bounds."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

from temporalio.client import WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from demo.stack import stack
from fenix.models.constraints import GroupConstraints, InstanceConstraints, ProjectConstraintsState
from fenix.models.limits import MAX_URL_LENGTH
from fenix.models.notification import EVENT_HOST, EVENT_PROJECT, BodyFormat, Subscription
from fenix.models.subscription import RegistryState
from tests.api.helpers import assert_error, silent, two_host_seed
from workflows.project_constraints import (
    MAX_GROUPS_PER_PROJECT,
    MAX_INSTANCES_PER_PROJECT,
    ProjectConstraintsWorkflow,
    project_constraints_id,
)
from workflows.registry import MAX_REGISTRY_BYTES, SubscriptionRegistryWorkflow, subscription_bytes

PAYLOAD_LIMIT = 2 * 1024 * 1024
BIG = "p" * 255  # the longest project id: it is repeated in every item
WIDE = "\U0001d518" * 255  # the longest name, 4 bytes a character in UTF-8


def full_state() -> ProjectConstraintsState:
    groups = [GroupConstraints(group_id=f"{n:05d}" + "g" * 250, project_id=BIG, group_name=WIDE,
                               max_instances_per_host=100_000, max_impacted_members=100_000, recovery_time=604_800)
              for n in range(MAX_GROUPS_PER_PROJECT)]
    instances = [InstanceConstraints(instance_id=f"{n:05d}" + "i" * 250, project_id=BIG, instance_name=WIDE,
                                     group_id=groups[n % len(groups)].group_id, max_interruption_time=604_800,
                                     lead_time=604_800)
                 for n in range(MAX_INSTANCES_PER_PROJECT)]
    return ProjectConstraintsState(project_id=BIG, instances=instances, groups=groups, continue_as_new_after=3)


def payload_size(state: ProjectConstraintsState | RegistryState) -> int:
    return len(pydantic_data_converter.payload_converter.to_payloads([state])[0].data)


async def test_a_full_registry_continues_as_new_and_other_tenants_are_unaffected(ts_env: WorkflowEnvironment,
                                                                                 tmp_path: Path) -> None:
    async with stack(ts_env, tmp_path, two_host_seed(), silent(BIG, "beta"), subscribe=[]) as st, \
            st.as_project(BIG) as big, st.as_project("beta") as beta:
        state = full_state()
        assert payload_size(state) < 0.7 * PAYLOAD_LIMIT, payload_size(state)
        first_id = state.instances[0].instance_id
        st.cloud.create_server(project_id=BIG, name="big-0", vcpus=1, memory_mb=64, server_id=first_id)
        wf_id = project_constraints_id(st.settings.constraints_workflow_id, BIG)
        first = await st.client.start_workflow(ProjectConstraintsWorkflow.run, state, id=wf_id,
                                               task_queue=st.settings.task_queue)

        # At its limits, a new item is refused with the reason; replacing one is fine.
        assert_error(await big.put("/instance_group/one-more", json={}), 409, "limit", str(MAX_GROUPS_PER_PROJECT))
        assert_error(await big.put("/instance/one-more", json={}), 409, "limit", str(MAX_INSTANCES_PER_PROJECT))
        for n in range(2):
            r = await big.put(f"/instance_group/{state.groups[n].group_id}", json={"group_name": WIDE,
                                                                                   "recovery_time": n})
            assert r.status_code == 200, r.text
        r = await big.put(f"/instance/{first_id}", json={"instance_name": WIDE, "lead_time": 7,
                                                          "group_id": state.groups[0].group_id})
        assert r.status_code == 200, r.text

        # Three writes with a threshold of 3: the full state was carried over, whole.
        first_run = st.client.get_workflow_handle(wf_id, run_id=first.result_run_id)
        assert (await first_run.describe()).status == WorkflowExecutionStatus.CONTINUED_AS_NEW
        latest = st.client.get_workflow_handle_for(ProjectConstraintsWorkflow.run, wf_id)
        assert (await latest.describe()).status == WorkflowExecutionStatus.RUNNING
        carried = await latest.query(ProjectConstraintsWorkflow.state)
        assert len(carried.instances) == MAX_INSTANCES_PER_PROJECT and len(carried.groups) == MAX_GROUPS_PER_PROJECT
        assert payload_size(carried) < 0.7 * PAYLOAD_LIMIT
        listed = (await big.get("/instance")).json()["instances"]
        assert len(listed) == MAX_INSTANCES_PER_PROJECT
        assert next(i for i in listed if i["instance_id"] == first_id)["lead_time"] == 7
        assert len((await big.get("/instance_group")).json()["groups"]) == MAX_GROUPS_PER_PROJECT
        r = await big.put(f"/instance_group/{state.groups[5].group_id}", json={})
        assert r.status_code == 200, r.text

        # Another tenant never noticed: its own registry, its own limits.
        beta0 = next(s.id for s in st.cloud.list_servers() if s.name == "beta-0")
        assert (await beta.put("/instance_group/g", json={"max_impacted_members": 2})).status_code == 200
        assert (await beta.put(f"/instance/{beta0}", json={"group_id": "g"})).status_code == 200
        assert [i["instance_id"] for i in (await beta.get("/instance")).json()["instances"]] == [beta0]


def worst_subscription(n: int, url_length: int = MAX_URL_LENGTH) -> Subscription:
    """A subscription at its largest: a 2,000-character URL, a 255-character project id, both event types."""
    return Subscription(id=str(uuid.UUID(int=n)), project_id=f"{n:05d}" + "p" * 250,
                        url="http://vnfm.example.net/" + "u" * (url_length - 24),
                        event_types=[EVENT_PROJECT, EVENT_HOST], format=BodyFormat.AODH,
                        created_at=datetime(2026, 1, 1, tzinfo=UTC))


def subscriptions_leaving(room: int) -> RegistryState:
    """The registry filled with subscriptions at their largest until only `room` bytes of its bound are left."""
    largest = subscription_bytes(worst_subscription(0))
    count = (MAX_REGISTRY_BYTES - room) // largest - 1
    subs = [worst_subscription(n) for n in range(count)]
    rest = MAX_REGISTRY_BYTES - room - count * largest  # a last one, shortened to leave exactly `room`
    subs.append(worst_subscription(count, MAX_URL_LENGTH - (largest - rest)))
    assert sum(subscription_bytes(s) for s in subs) == MAX_REGISTRY_BYTES - room
    return RegistryState(subscriptions=subs, continue_as_new_after=2)


async def test_the_subscription_registry_stays_carriable_at_its_limit(ts_env: WorkflowEnvironment,
                                                                      tmp_path: Path) -> None:
    """Fenix 0.1: two ~1.5 MB URLs broke the registry for every tenant (502 on subscribe, 500 on list, for ever).
    Now a URL is at most 2,000 characters and the registry holds at most MAX_REGISTRY_BYTES of subscriptions: full,
    it refuses new ones with a reason (409), and its state still carries over continue-as-new."""
    async with stack(ts_env, tmp_path, two_host_seed(), silent("alpha", "beta"), subscribe=[]) as st, \
            st.as_project("alpha") as alpha, st.as_project("beta") as beta:
        state = subscriptions_leaving(1_000)  # room for one subscription with a short URL, not for a long one
        held = len(state.subscriptions)
        assert payload_size(state) < 0.7 * PAYLOAD_LIMIT
        first = await st.client.start_workflow(SubscriptionRegistryWorkflow.run, state,
                                               id=st.settings.registry_workflow_id, task_queue=st.settings.task_queue)
        r = await alpha.post("/subscriptions", json={"url": f"{st.vnfm_url}/webhook/alpha"})
        assert r.status_code == 201, r.text
        # Full: refused with the reason, not broken.
        long_url = f"{st.vnfm_url}/webhook/beta?" + "b" * 1_500
        assert_error(await beta.post("/subscriptions", json={"url": long_url}), 409, f"{MAX_REGISTRY_BYTES:,} bytes")
        assert len((await st.admin.get("/subscriptions")).json()["subscriptions"]) == held + 1
        # A second write: the full registry continues as new, and keeps everything.
        assert (await alpha.delete(f"/subscriptions/{r.json()['id']}")).status_code == 204
        first_run = st.client.get_workflow_handle(st.settings.registry_workflow_id, run_id=first.result_run_id)
        assert (await first_run.describe()).status == WorkflowExecutionStatus.CONTINUED_AS_NEW
        listed = (await st.admin.get("/subscriptions")).json()["subscriptions"]
        assert len(listed) == held
        assert_error(await beta.post("/subscriptions", json={"url": long_url}), 409, "limit")
        r = await beta.post("/subscriptions", json={"url": f"{st.vnfm_url}/webhook/beta"})
        assert r.status_code == 201, r.text
        assert [s["project_id"] for s in (await beta.get("/subscriptions")).json()["subscriptions"]] == ["beta"]


def test_a_thousand_projects_subscriptions_fit_the_registry() -> None:
    """The registry used to hold 500 subscriptions of any size, so a cloud of 1,000 projects could not subscribe.
    Bounded by bytes, it holds one subscription per project of a much larger cloud, in well under one payload."""
    usual = [Subscription(id=str(uuid.UUID(int=n)), project_id=uuid.UUID(int=n).hex,
                          url=f"https://vnfm-{n}.tenants.example.com:8443/fenix/webhook", event_types=[EVENT_PROJECT],
                          format=BodyFormat.NATIVE, created_at=datetime(2026, 1, 1, tzinfo=UTC)) for n in range(4_000)]
    assert sum(subscription_bytes(s) for s in usual) <= MAX_REGISTRY_BYTES
    assert payload_size(RegistryState(subscriptions=usual)) < 0.7 * PAYLOAD_LIMIT
