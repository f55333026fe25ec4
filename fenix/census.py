"""The gauges of what is going on now: running sessions by state, hosts by phase, hosts waiting, hosts disabled,
sessions that show no progress.

They are facts about the whole deployment, not about one process, so no workflow or activity can count them (a
workflow moves between workers, and a gauge it left on one worker would stay there). A worker with a metrics
endpoint reads them instead, every FENIX_METRICS_CENSUS_S: Temporal's visibility lists the running sessions of its
task queue, and each answers its `gauges` query (read-only; no command, nothing in the history). The figures go on
the worker's own endpoint, beside the SDK's. Every worker that runs the census reports the same figures: dashboards
and alerts take the `max` over workers.

Labels of a session or a host that is gone are set to 0 once (the exporter cannot drop a series).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from datetime import datetime, timedelta

from temporalio.client import Client
from temporalio.common import MetricMeter, QueryRejectCondition
from temporalio.exceptions import TemporalError
from temporalio.service import RPCError

from fenix import metrics as m
from fenix.constants import SESSION_WORKFLOW_TYPE
from fenix.metrics import PROJECT_LABELS
from fenix.models.gauges import SessionGauges
from fenix.models.session import HostPhase, SessionState

log = logging.getLogger("fenix.census")

MAX_SESSIONS = 500  # more running sessions than this in one deployment is not a case Fenix is built for
QUERY_TIMEOUT = timedelta(seconds=5)
WORKFLOWS = ("default", "vnf")

Labels = tuple[tuple[str, str], ...]


class Census:
    """One deployment's gauges (one task queue), set on `meter` by `once()`."""

    def __init__(self, client: Client, task_queue: str, meter: MetricMeter) -> None:
        self._client = client
        self._query = (f"WorkflowType = '{SESSION_WORKFLOW_TYPE}' AND ExecutionStatus = 'Running' "
                       f"AND TaskQueue = '{task_queue}'")
        # Labelled like the SDK's own figures, so one Prometheus can watch several Fenix deployments.
        self._meter = meter.with_additional_attributes({"task_queue": task_queue})
        self._seen: dict[str, set[Labels]] = {}  # gauge -> label sets set last time (to zero those now gone)

    async def once(self) -> None:
        """Read every running session and set the gauges; a session that does not answer is left out this time."""
        ids = [wf.id async for wf in self._client.list_workflows(self._query, limit=MAX_SESSIONS)]
        found = await asyncio.gather(*(self._read(i) for i in ids))
        self.set_gauges([g for g in found if g is not None], time.time())

    async def _read(self, workflow_id: str) -> SessionGauges | None:
        try:
            # NOT_OPEN: visibility lags, and a session that has just ended must not be queried. A worker answers a
            # query on a workflow it does not hold in memory by replaying its history, and the SDK then counts the
            # figures of the last workflow task once more (its final one: the session's end, counted twice).
            gauges: SessionGauges = await self._client.get_workflow_handle(workflow_id).query(
                "gauges", result_type=SessionGauges, rpc_timeout=QUERY_TIMEOUT,
                reject_condition=QueryRejectCondition.NOT_OPEN)
            return gauges
        except (TemporalError, RuntimeError) as err:
            # Ended meanwhile (rejected), or a worker of an older Fenix (no `gauges` query) still runs it.
            log.debug("census: %s did not answer: %s", workflow_id, err)
            return None

    def set_gauges(self, sessions: list[SessionGauges], now: float) -> None:
        sessions_by: dict[tuple[str, str], int] = {(w, s.value): 0 for w in WORKFLOWS for s in SessionState}
        hosts_by = dict.fromkeys((p.value for p in HostPhase), 0)
        quiet: dict[Labels, float] = {}
        waiting: dict[Labels, float] = {}
        disabled: dict[Labels, float] = {}
        plan: dict[Labels, float] = {}
        for s in sessions:
            key = (s.workflow, s.state.value)
            sessions_by[key] = sessions_by.get(key, 0) + 1
            # Progress: a history entry, or a deadline the session was waiting for that has passed.
            mark = s.last_progress_at.timestamp()
            if s.waiting_until is not None:
                mark = max(mark, min(now, s.waiting_until.timestamp()))
            quiet[(("session_id", s.session_id),)] = max(0.0, now - mark)
            for h in s.hosts:
                hosts_by[h.phase.value] += 1
                if h.disabled_at is not None:
                    disabled[(("host", h.host),)] = _since(h.disabled_at, now)
                    plan[(("host", h.host),)] = h.plan_s or 0.0
                for w in h.waits:
                    labels = (("host", h.host), ("reason", w.reason),
                              ("project", PROJECT_LABELS(w.project_id) if w.project_id else ""))
                    waiting[labels] = max(waiting.get(labels, 0.0), _since(w.since, now))
        self._set(m.SESSIONS, {(("workflow", w), ("state", st)): n for (w, st), n in sessions_by.items()},
                  whole=True)
        self._set(m.HOSTS, {(("phase", p),): n for p, n in hosts_by.items()}, whole=True)
        self._set(m.SESSION_QUIET, quiet)
        self._set(m.HOST_WAITING, waiting)
        self._set(m.HOST_DISABLED, disabled)
        self._set(m.HOST_DISABLED_PLAN, plan)

    def _set(self, name: str, values: Mapping[Labels, float], *, whole: bool = False) -> None:
        rows = [*values.items(), *((labels, 0.0) for labels in self._seen.get(name, set()) - set(values))]
        if whole:
            counts = self._meter.create_gauge(name, m.DESCRIPTIONS[name])
            for labels, value in rows:
                counts.set(int(value), dict(labels))
        else:
            seconds = self._meter.create_gauge_float(name, m.DESCRIPTIONS[name], "s")
            for labels, value in rows:
                seconds.set(value, dict(labels))
        self._seen[name] = set(values)

    def count_run(self, outcome: str) -> None:
        self._meter.create_counter(m.CENSUS_RUNS, m.DESCRIPTIONS[m.CENSUS_RUNS]).add(1, {"outcome": outcome})


def _since(at: datetime, now: float) -> float:
    return max(0.0, now - at.timestamp())


async def run_census(client: Client, task_queue: str, meter: MetricMeter, every_s: float) -> None:
    """Set the gauges every `every_s` seconds until cancelled; a failed round (Temporal unreachable) is logged and
    counted, and the next one tries again."""
    census = Census(client, task_queue, meter)
    while True:
        try:
            await census.once()
            census.count_run("ok")
        except Exception as err:  # the gauges must never take the worker down
            census.count_run("error")
            log.warning("census of running sessions failed: %s", err, exc_info=not isinstance(err, RPCError))
        await asyncio.sleep(every_s)
