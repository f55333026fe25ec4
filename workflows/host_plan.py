"""How long a session plans a host to stay disabled, at most: the figure the "host disabled longer than its plan"
alert compares with (docs/operations.md). Pure: computed when the session disables the host, from what it knows
then, with no activity (no command, nothing to patch).

The plan is the session's own allowances, not a forecast: the owners' reply window (or the longest lead time of the
host's instances), the own-action window, one move-retry window, an allowance per instance moved and per host
plug-in. A host out longer than all of that together is worth a look.
"""

from __future__ import annotations

from fenix.models.session import ActionType, SessionInput

MOVE_ALLOWANCE_S = 300.0  # one instance's move (a live migration of a large, busy server takes minutes)
PLUGIN_ALLOWANCE_S = 1800.0  # one host or compute plug-in (a firmware upgrade and reboot)


def host_plan_s(inp: SessionInput, instances: int, reply_s: float | None = None) -> float:
    """Seconds the host may stay disabled. `reply_s`: the owners' time to answer (default: the prepare window)."""
    plugins = sum(1 for a in inp.actions if a.type in (ActionType.HOST, ActionType.COMPUTE))
    reply = inp.windows.prepare if reply_s is None else reply_s
    return (reply + inp.windows.own_action + inp.move_retry.window_s + instances * MOVE_ALLOWANCE_S
            + plugins * PLUGIN_ALLOWANCE_S)
