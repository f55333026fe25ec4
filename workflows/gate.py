"""The health gate between batches: `"type": "gate"` plug-ins that must pass before the next host starts.

Like StarlingX's alarm restrictions: once a host has been maintained, no further host is disabled until every gate
plug-in passes again (for example: no Nova service down, no instance in ERROR, a command that returns 0). A failing
gate does not fail the session: it pauses it (`paused_by: "session"`, the reason carries the gate's output), and
after the admin resumes, the gate runs again. Sessions without gate plug-ins issue nothing here.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from fenix.models.plugin import PluginRunRequest, PluginRunResult
    from fenix.models.session import ActionSpec, ActionType, PluginRunRecord, SessionDetail, SessionInput
    from workflows.options import PLUGIN
    from workflows.steering import SESSION_ACTOR, Steering

MAX_OUTPUT_IN_REASON = 300


class HealthGate:
    def __init__(self, inp: SessionInput, detail: SessionDetail, steering: Steering) -> None:
        self._inp, self._detail, self._steering = inp, detail, steering
        self._passed_at = 0  # hosts maintained when the gate last passed (none before the first batch)

    async def check(self) -> None:
        """Before a host starts: run the gate if a batch ended since it last passed; hold while it fails."""
        gates = [a for a in self._inp.actions if a.type == ActionType.GATE]
        done = sum(h.maintained for h in self._detail.hosts)
        if not gates or done <= self._passed_at:
            return
        while (failed := await self._run(gates)) is not None:
            self._steering.pause(SESSION_ACTOR, f"health gate {failed}")
            await self._steering.wait_unpaused()
        self._passed_at = done

    async def _run(self, gates: list[ActionSpec]) -> str | None:
        """The first failing gate and its output, or None when all pass."""
        for spec in gates:
            try:
                res: PluginRunResult = await workflow.execute_activity(
                    "run_action_plugin", PluginRunRequest(session_id=self._inp.session_id, host=None, spec=spec,
                                                          session_metadata=self._inp.metadata),
                    result_type=PluginRunResult, **PLUGIN)
            except ActivityError as err:
                cause = err.cause or err
                output = str(getattr(cause, "message", None) or cause)
                self._detail.plugin_runs.append(PluginRunRecord(plugin=spec.plugin, type=ActionType.GATE, host=None,
                                                                state="FAILED", output=output))
                return f"{spec.plugin!r} failed: {output[:MAX_OUTPUT_IN_REASON]}"
            self._detail.plugin_runs.append(PluginRunRecord(plugin=res.plugin, type=res.type, host=None,
                                                            state=res.state, output=res.output,
                                                            duration_s=res.duration_s))
        return None
