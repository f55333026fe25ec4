"""Waiting in tests for something another process or the engine will do, with a bound and a reason."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any


async def poll(probe: Any, what: str, timeout: float = 10.0, every: float = 0.05) -> Any:
    """Call `probe` (sync or async) until it returns something truthy; fail saying `what` after `timeout` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: Any = None
    while loop.time() < deadline:
        last = probe()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
