"""The action plug-in activity: runs one registered plug-in for a session (pre/post) or one host.

A sync `def` on the worker's thread pool: plug-ins block (subprocesses, SSH, vendor SDKs). Temporal
delivers a cancellation to a sync activity as an exception raised in its thread, typically while
it heartbeats; plug-ins clean up (kill their subprocess) and let it propagate.

Unexpected exceptions from a plug-in (bugs) propagate unchanged, so the caller's retry policy decides;
a FAILED outcome, an unknown plug-in or bad metadata are final (non-retryable) failures.
"""

from __future__ import annotations

import time

from temporalio import activity
from temporalio.exceptions import ApplicationError

from fenix.metrics import Figures
from fenix.models.plugin import PluginContext, PluginRunRequest, PluginRunResult
from fenix.plugins import FAILED, PluginNotFound, load, validate_metadata

# How much output goes into the failure message (the full 8 KiB tail is in the details).
MESSAGE_OUTPUT_CHARS = 2000


def _heartbeat(message: str) -> None:
    activity.heartbeat(message)


@activity.defn
def run_action_plugin(req: PluginRunRequest) -> PluginRunResult:
    """Run the plug-in named by ``req.spec`` and report its outcome.

    Args:
        req: Session, host (None for pre/post actions), the action spec and the session metadata.

    Returns:
        The run's record (state DONE, output, duration).

    Raises:
        ApplicationError: ``PluginNotFound`` for an unregistered plug-in, ``PluginMetadataInvalid``
            for metadata the plug-in's model rejects, ``PluginFailed`` when the outcome is FAILED
            (message ends with the output tail; details hold the PluginRunResult as a dict). All
            three are non-retryable.
    """
    name = req.spec.plugin
    try:
        plugin = load(name)
        # Checked again here although the API checks it: sessions may be started by other clients.
        validate_metadata(name, req.spec.metadata)
    except PluginNotFound as err:
        raise ApplicationError(str(err), type="PluginNotFound", non_retryable=True) from err
    except ValueError as err:
        raise ApplicationError(str(err), type="PluginMetadataInvalid", non_retryable=True) from err

    ctx = PluginContext(session_id=req.session_id, plugin=name, type=req.spec.type, host=req.host,
                        metadata=req.spec.metadata, session_metadata=req.session_metadata)
    where = req.host or req.spec.type.value
    activity.logger.info("plug-in %s (%s) starting on %s", name, req.spec.type.value, where)
    start = time.monotonic()
    try:
        outcome = plugin.run(ctx, _heartbeat)
    except BaseException:
        # A bug in the plug-in, or its cancellation (an abort): counted, then handed on unchanged.
        Figures(activity.metric_meter()).plugin_run(name, req.spec.type.value, "error", time.monotonic() - start)
        raise
    result = PluginRunResult(plugin=name, type=req.spec.type, host=req.host, state=outcome.state,
                             output=outcome.output, duration_s=round(time.monotonic() - start, 3))
    activity.logger.info("plug-in %s (%s) on %s: %s in %.1fs", name, req.spec.type.value, where,
                         result.state, result.duration_s)
    Figures(activity.metric_meter()).plugin_run(name, req.spec.type.value, "failed" if result.state == FAILED
                                                else "done", result.duration_s)
    if result.state == FAILED:
        tail = result.output[-MESSAGE_OUTPUT_CHARS:].strip()
        raise ApplicationError(
            f"plug-in {name} ({req.spec.type.value}) failed on {where} after {result.duration_s:.1f}s"
            + (f": {tail}" if tail else ""),
            result.model_dump(mode="json"),
            type="PluginFailed",
            non_retryable=True,
        )
    return result
