"""The ``dummy`` action plug-in: waits a while, heartbeating, then succeeds (or fails on request).

Useful for demos and tests of the engine: it stands in for an upgrade step without touching a host.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from fenix.models.plugin import PluginContext, PluginOutcome
from fenix.plugins import DONE, FAILED, parse_metadata


class DummyMetadata(BaseModel):
    """Metadata of the ``dummy`` plug-in."""

    # Unknown keys are errors: a typo such as "second" would otherwise silently use the default.
    model_config = ConfigDict(extra="forbid")

    seconds: float = Field(1.0, ge=0, description="How long to pretend to work")
    fail: bool = Field(False, description="Return FAILED instead of DONE")


class DummyPlugin:
    """Sleeps ``seconds`` in small steps, heartbeating at each, and returns DONE (FAILED if ``fail``)."""

    Metadata: ClassVar[type[DummyMetadata]] = DummyMetadata
    # Short steps so a cancellation (raised in the thread between steps) is noticed quickly.
    step_s: ClassVar[float] = 0.1

    def run(self, ctx: PluginContext, heartbeat: Callable[[str], None]) -> PluginOutcome:
        """Pretend to work.

        Args:
            ctx: The run's context; ``metadata`` follows :class:`DummyMetadata`.
            heartbeat: Progress callback, called every step.

        Returns:
            DONE, or FAILED if the metadata asks for it.
        """
        meta = parse_metadata(self.Metadata, ctx.metadata, plugin=ctx.plugin)
        where = ctx.host or ctx.type.value
        start = time.monotonic()
        while True:
            elapsed = time.monotonic() - start
            heartbeat(f"dummy on {where}: {elapsed:.1f}/{meta.seconds:g}s")
            remaining = meta.seconds - elapsed
            if remaining <= 0:
                break
            time.sleep(min(self.step_s, remaining))
        if meta.fail:
            return PluginOutcome(state=FAILED, output=f"dummy failed on {where} as requested")
        return PluginOutcome(state=DONE, output=f"dummy worked {meta.seconds:g}s on {where}")
