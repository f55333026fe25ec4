"""A sample VNFM that answers Fenix the way a real one does.

It receives webhooks (native JSON or the AODH-alarm body that Doctor's VNFM parses), checks the instance
list through the API, scales in when asked (deleting its own servers through the cloud's tenant API),
switches the active role of its HA pair away from an instance before that instance moves, chooses an
action per instance, re-creates OWN_ACTION instances itself, and scales back out at MAINTENANCE_COMPLETE.
Like Doctor's VNFM it replies from inside the webhook request.

Run alone: `python -m demo.vnfm CONFIG.json` (see `VnfmConfig`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, Literal

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from activities.webhook_body import parse_aodh_body
from fenix.cloud.driver import CloudDriver, Rejected
from fenix.cloud.simulated import SimulatedCloud
from fenix.models.session import InstanceAction
from fenix.signing import InvalidSignature, verify

log = logging.getLogger("fenix.demo.vnfm")


# The states Doctor's VNFM handles (OPNFV Doctor, maintenance test VNFM); anything else gets HTTP 500 from it.
DOCTOR_STATES = frozenset({"MAINTENANCE", "SCALE_IN", "PREPARE_MAINTENANCE", "PLANNED_MAINTENANCE",
                           "INSTANCE_ACTION_DONE", "MAINTENANCE_COMPLETE"})


class ConstraintProfile(BaseModel):
    """How a constraints-registering VNFM (the `vnf` workflow's kind) describes its instances.

    The HA pair's server group becomes an anti-affinity instance group impacted one member at a time; every other
    instance joins one scale-out group of the project.
    """

    lead_time: int = 20
    max_interruption_time: int = 120
    recovery_time: int = 10
    ha_recovery_time: int = 30
    max_impacted_members: int = 2  # of the scale-out group
    max_instances_per_host: int = 0


class VnfmProject(BaseModel):
    project_id: str
    token: str
    action: InstanceAction = InstanceAction.MIGRATE  # chosen for every instance
    behaviour: Literal["ack", "nack", "silent"] = "ack"  # silent: never replies (tests the deadline)
    nack_state: str | None = None  # with behaviour nack: only NACK this state (else every state)
    ha_group: str | None = None  # name of the server group of the HA pair (active/standby)
    scale_in_step: int = 1  # servers removed per SCALE_IN notice
    flavor_vcpus: int = 1
    flavor_memory_mb: int = 1024
    server_prefix: str = "app"
    constraints: ConstraintProfile | None = None  # register instance and group constraints before the session
    webhook_secret: str | None = None  # whsec_... of its subscription (the stack learns it when it subscribes)
    # Doctor's maintenance VNFM (the reference Fenix client): replies carry only `state` and `instance_action`
    # (never `instance_ids`), and any state it does not know is answered HTTP 500.
    doctor: bool = False


class VnfmConfig(BaseModel):
    api_url: str  # Fenix base, e.g. http://127.0.0.1:12347/v1
    sim_db: str
    port: int = 12348
    projects: list[VnfmProject]


class Event(BaseModel):
    at: float
    project_id: str
    state: str
    instance_ids: list[str] | str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    reply: dict[str, Any] | None = None
    reply_status: int | None = None


class Switchover(BaseModel):
    at: float
    project_id: str
    old_active: str
    new_active: str


class VnfmState(BaseModel):
    events: list[Event] = Field(default_factory=list)
    switchovers: list[Switchover] = Field(default_factory=list)
    active: dict[str, str] = Field(default_factory=dict)  # project -> active HA instance
    original_count: dict[str, int] = Field(default_factory=dict)
    errors: list[str] = Field(default_factory=list)
    registered: dict[str, int] = Field(default_factory=dict)  # project -> instances whose constraints it PUT
    rejected: list[str] = Field(default_factory=list)  # notices refused: bad or missing signature (why, per notice)


class SampleVnfm:
    def __init__(self, config: VnfmConfig, cloud: CloudDriver) -> None:
        self.config = config
        self.cloud = cloud
        self.state = VnfmState()
        self.projects = {p.project_id: p for p in config.projects}
        self._http = httpx.AsyncClient(timeout=60)
        self._tasks: set[asyncio.Task[None]] = set()
        self._ha_group_id: dict[str, str] = {}
        # project -> the webhook secrets of its subscriptions (from the 201 of POST /v1/subscriptions)
        self.secrets: dict[str, list[str]] = {p.project_id: [p.webhook_secret] for p in config.projects
                                              if p.webhook_secret}
        self.app = self._build_app()

    def trust(self, project_id: str, secret: str) -> None:
        """Accept notices for `project_id` signed with `secret` (a subscription's, or a rotated one)."""
        known = self.secrets.setdefault(project_id, [])
        if secret not in known:
            known.append(secret)

    def verified(self, project_id: str, headers: Any, raw: bytes) -> str | None:
        """None if the notice is signed with one of the project's secrets, within the replay window; else why not.

        A notice is what tells a VNFM where to PUT its token: an unsigned or forged one is refused (401)."""
        secrets = self.secrets.get(project_id)
        if not secrets:
            return "no webhook secret known for this project"
        reason = "no secret"
        for secret in secrets:
            try:
                verify(secret, headers, raw)
                return None
            except InvalidSignature as err:
                reason = str(err)
        return reason

    def _build_app(self) -> FastAPI:
        app = FastAPI(title="sample VNFM")

        @app.post("/webhook/{project_id}")
        async def webhook(project_id: str, request: Request) -> JSONResponse:
            raw = await request.body()
            refused = self.verified(project_id, request.headers, raw)
            if refused is not None:
                self.state.rejected.append(f"{project_id}: {refused}")
                log.warning("refused a notice for %s: %s", project_id, refused)
                return JSONResponse({"error": f"bad webhook signature: {refused}"}, status_code=401)
            body = json.loads(raw)
            payload = parse_aodh_body(body) if "reason_data" in body else body.get("payload", {})
            project = self.projects.get(project_id)
            if project is not None and project.doctor and payload.get("state") not in DOCTOR_STATES:
                self.state.events.append(Event(at=time.time(), project_id=project_id, state=str(payload.get("state")),
                                               reply_status=500))
                return JSONResponse({"error": f"unknown state {payload.get('state')}"}, status_code=500)
            await self.handle(project_id, payload)
            return JSONResponse({"result": "OK"})

        @app.get("/state")
        async def state() -> VnfmState:
            return self.state

        return app

    async def aclose(self) -> None:
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._http.aclose()

    # --- behaviour ------------------------------------------------------------------------------------
    async def handle(self, project_id: str, payload: dict[str, Any]) -> None:
        project = self.projects.get(project_id)
        state = str(payload.get("state", ""))
        event = Event(at=time.time(), project_id=project_id, state=state, instance_ids=payload.get("instance_ids"),
                      metadata=payload.get("metadata") or {})
        self.state.events.append(event)
        if project is None or state in ("INSTANCE_ACTION_DONE", "INSTANCE_ACTION_FAILED", "CAPACITY_CHANGED"):
            return
        if project.project_id not in self.state.original_count:
            servers = await asyncio.to_thread(self.cloud.list_servers, project_id=project_id)
            self.state.original_count[project_id] = len(servers)
            groups = await asyncio.to_thread(self.cloud.list_server_groups, project_id=project_id)
            ha = next((g.id for g in groups if g.name == project.ha_group), None)
            if ha is not None:
                self._ha_group_id[project_id] = ha
                members = sorted(s.id for s in servers if s.server_group_id == ha)
                if members:
                    self.state.active[project_id] = members[0]
        reply: dict[str, Any] = {"state": f"ACK_{state}"}
        if state == "MAINTENANCE":
            ids = await self._instance_ids(project, str(payload.get("instance_ids")))
            own = {s.id for s in await asyncio.to_thread(self.cloud.list_servers, project_id=project_id)}
            if not set(ids) <= own:
                reply["state"] = f"NACK_{state}"
        elif state == "SCALE_IN":
            await self._scale_in(project)
        elif state in ("PREPARE_MAINTENANCE", "PLANNED_MAINTENANCE"):
            listed = payload.get("instance_ids")
            ids = listed if isinstance(listed, list) else await self._instance_ids(project, str(listed))
            await self._switch_over(project, ids)
            if isinstance(listed, list) and len(listed) == 1:
                reply["instance_action"] = project.action.value
                if not project.doctor:
                    reply["instance_ids"] = listed  # names the instance: several may be waiting at once (vnf)
            else:
                reply["instance_actions"] = dict.fromkeys(ids, project.action.value)
            if project.action == InstanceAction.OWN_ACTION:
                self._spawn(self._reinstantiate(project, ids))
        elif state == "MAINTENANCE_COMPLETE":
            await self._scale_out(project)
            if payload.get("metadata", {}).get("session_result") == "MAINTENANCE_FAILED":
                return  # the session ended without success: no reply is expected
        if project.behaviour == "silent":
            return
        if project.behaviour == "nack" and (project.nack_state in (None, state)):
            reply["state"] = f"NACK_{state}"
        event.reply = reply
        resp = await self._http.put(str(payload["reply_url"]), json=reply, headers=self._auth(project))
        event.reply_status = resp.status_code
        if resp.status_code >= 400:
            self.state.errors.append(f"reply {reply['state']} got {resp.status_code}: {resp.text}")

    async def register_constraints(self) -> None:
        """PUT /v1/instance_group and /v1/instance for every project that has a constraint profile."""
        for project in self.projects.values():
            prof = project.constraints
            if prof is None:
                continue
            servers = await asyncio.to_thread(self.cloud.list_servers, project_id=project.project_id)
            groups = await asyncio.to_thread(self.cloud.list_server_groups, project_id=project.project_id)
            ha = next((g for g in groups if g.name == project.ha_group), None)
            scale_group = f"{project.project_id}-scale"
            bodies = [(scale_group, {"project_id": project.project_id, "group_name": scale_group,
                                     "anti_affinity_group": False,
                                     "max_instances_per_host": prof.max_instances_per_host,
                                     "max_impacted_members": prof.max_impacted_members,
                                     "recovery_time": prof.recovery_time})]
            if ha is not None:  # Fenix's advice: the instance group's id and name are those of the server group
                bodies.append((ha.id, {"project_id": project.project_id, "group_name": ha.name,
                                       "anti_affinity_group": True, "max_instances_per_host": 1,
                                       "max_impacted_members": 1, "recovery_time": prof.ha_recovery_time}))
            for gid, body in bodies:
                resp = await self._http.put(f"{self.config.api_url}/instance_group/{gid}", json=body,
                                            headers=self._auth(project))
                resp.raise_for_status()
            for server in servers:
                group = ha.id if ha is not None and server.server_group_id == ha.id else scale_group
                resp = await self._http.put(f"{self.config.api_url}/instance/{server.id}", headers=self._auth(project),
                                            json={"project_id": project.project_id, "group_id": group,
                                                  "instance_name": server.name,
                                                  "max_interruption_time": prof.max_interruption_time,
                                                  "migration_type": project.action.value,
                                                  "lead_time": prof.lead_time})
                resp.raise_for_status()
            self.state.registered[project.project_id] = len(servers)

    def _auth(self, project: VnfmProject) -> dict[str, str]:
        return {"X-Auth-Token": project.token}

    async def _instance_ids(self, project: VnfmProject, url: str) -> list[str]:
        resp = await self._http.get(url, headers=self._auth(project))
        resp.raise_for_status()
        ids: list[str] = resp.json()["instance_ids"]
        return ids

    async def _switch_over(self, project: VnfmProject, moving: list[str]) -> None:
        """Make sure the active HA instance is not one that is about to move."""
        active = self.state.active.get(project.project_id)
        if active is None or active not in moving:
            return
        servers = await asyncio.to_thread(self.cloud.list_servers, project_id=project.project_id)
        group = self._ha_group_id.get(project.project_id)
        standby = sorted(s.id for s in servers if s.server_group_id == group and s.id not in moving)
        if not standby:
            self.state.errors.append(f"{project.project_id}: no standby to take over from {active}")
            return
        self.state.active[project.project_id] = standby[0]
        self.state.switchovers.append(Switchover(at=time.time(), project_id=project.project_id,
                                                 old_active=active, new_active=standby[0]))

    async def _scale_in(self, project: VnfmProject) -> None:
        servers = await asyncio.to_thread(self.cloud.list_servers, project_id=project.project_id)
        group = self._ha_group_id.get(project.project_id)
        removable = sorted((s for s in servers if group is None or s.server_group_id != group),
                           key=lambda s: s.name, reverse=True)
        for server in removable[:project.scale_in_step]:
            await asyncio.to_thread(self.cloud.delete_server, server.id)

    async def _scale_out(self, project: VnfmProject) -> None:
        servers = await asyncio.to_thread(self.cloud.list_servers, project_id=project.project_id)
        missing = self.state.original_count.get(project.project_id, len(servers)) - len(servers)
        names = {s.name for s in servers}
        index = 0
        for _ in range(missing):
            while f"{project.server_prefix}-{index}" in names:
                index += 1
            name = f"{project.server_prefix}-{index}"
            names.add(name)
            try:
                await asyncio.to_thread(self.cloud.create_server, project_id=project.project_id, name=name,
                                        vcpus=project.flavor_vcpus, memory_mb=project.flavor_memory_mb)
            except Rejected as err:
                self.state.errors.append(f"{project.project_id}: scale out of {name} failed: {err}")

    async def _reinstantiate(self, project: VnfmProject, ids: list[str]) -> None:
        """OWN_ACTION: replace each instance by a new one (the scheduler avoids the disabled host)."""
        await asyncio.sleep(0.2)
        for iid in ids:
            try:
                old = await asyncio.to_thread(self.cloud.get_server, iid)
            except Exception:  # noqa: BLE001 - already gone is fine
                continue
            await asyncio.to_thread(self.cloud.delete_server, iid)
            try:
                await asyncio.to_thread(self.cloud.create_server, project_id=project.project_id, name=old.name,
                                        vcpus=old.vcpus, memory_mb=old.memory_mb,
                                        server_group_id=old.server_group_id)
            except Rejected as err:
                self.state.errors.append(f"{project.project_id}: re-instantiation of {old.name} failed: {err}")

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    config = VnfmConfig.model_validate_json(Path(sys.argv[1]).read_text())
    vnfm = SampleVnfm(config, SimulatedCloud(config.sim_db))
    uvicorn.run(vnfm.app, host="127.0.0.1", port=config.port, log_level="warning")


if __name__ == "__main__":
    main()
