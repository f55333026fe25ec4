"""A webhook receiver for tests: an HTTP server that keeps every body it is sent, by path."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request

from demo.stack import free_port, serve


@dataclass
class Hooks:
    url: str
    got: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def host_events(self, name: str) -> list[tuple[str, str]]:
        """(host, state) of every host's transition in the maintenance.host events `name` got, in the order it got
        them, in either format."""
        found = []
        for body in self.got.get(name, []):
            if "payload" in body:  # native
                assert body["event_type"] == "maintenance.host", body
                payload = body["payload"]
            else:  # AODH: the payload as string traits
                event = body["reason_data"]["event"]
                assert event["event_type"] == "maintenance.host", body
                payload = {trait[0]: trait[2] for trait in event["traits"]}
            hosts = payload.get("hosts") or [payload["host"]]
            # PLANNED and CANCELLED name many hosts at once; an AODH trait holds the list as JSON text.
            for host in json.loads(hosts) if isinstance(hosts, str) else hosts:
                found.append((host, payload["state"]))
        return found


@asynccontextmanager
async def hooks() -> AsyncIterator[Hooks]:
    port = free_port()
    received = Hooks(url=f"http://127.0.0.1:{port}/hook")
    app = FastAPI()

    @app.post("/hook/{name}")
    async def hook(name: str, request: Request) -> dict[str, str]:
        received.got.setdefault(name, []).append(await request.json())
        return {}

    async with serve(app, port):
        yield received
