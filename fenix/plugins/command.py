"""The ``command`` action plug-in: runs a program (no shell) for the session or for one host.

Example action::

    {"plugin": "command", "type": "host",
     "metadata": {"command": ["ansible-playbook", "upgrade.yml", "-l", "{host}"], "timeout_s": 1800}}

``{host}`` and ``{session_id}`` are replaced in every argument. The program also gets the environment
variables ``FENIX_SESSION_ID``, ``FENIX_HOST``, ``FENIX_ACTION_TYPE`` and ``FENIX_PLUGIN``, plus the
action's ``env`` (whose values are never logged: they may hold secrets).
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from typing import IO, Annotated, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from fenix.models.plugin import PluginContext, PluginOutcome
from fenix.plugins import DONE, FAILED, parse_metadata

log = logging.getLogger(__name__)

# Only the end of the output is kept: it is stored in workflow history, where payloads must stay small,
# and the end is where a failing command explains itself.
OUTPUT_LIMIT = 8 * 1024


def _split_command(value: object) -> object:
    # A string is split like a shell would split it, but never run by a shell (no injection via {host}).
    return shlex.split(value) if isinstance(value, str) else value


class CommandMetadata(BaseModel):
    """Metadata of the ``command`` plug-in."""

    # Unknown keys are errors: a typo such as "timeout" would otherwise silently use the default.
    model_config = ConfigDict(extra="forbid")

    command: Annotated[list[str], BeforeValidator(_split_command), Field(min_length=1)] = Field(
        description="argv list, or a string split with shell rules (no shell runs it)"
    )
    # Below the plug-in activity's 4 h start-to-close (workflows/options.py PLUGIN): past that, Temporal would
    # time the activity out and retry it while the command still runs.
    timeout_s: float = Field(600, gt=0, le=4 * 3600 - 60, description="Kill the command after this many seconds")
    env: dict[str, str] = Field(default_factory=dict, description="Extra environment variables")


def substitute(arg: str, ctx: PluginContext) -> str:
    """Replace ``{host}`` and ``{session_id}`` in one argument.

    Plain replacement, not ``str.format``: arguments may hold other braces (awk programs, ``${VAR}``).

    Args:
        arg: One command-line argument.
        ctx: The run's context; a missing host (pre/post actions) becomes an empty string.

    Returns:
        The argument with the placeholders replaced.
    """
    return arg.replace("{host}", ctx.host or "").replace("{session_id}", ctx.session_id)


def _read_tail(out: IO[bytes], limit: int) -> str:
    out.flush()
    size = out.seek(0, os.SEEK_END)
    out.seek(max(0, size - limit))
    # The cut may land inside a multi-byte character: replace it rather than fail.
    return out.read().decode(errors="replace")


class CommandPlugin:
    """Runs ``command`` with subprocess, heartbeating while it runs; DONE on exit status 0, else FAILED."""

    Metadata: ClassVar[type[CommandMetadata]] = CommandMetadata
    poll_s: ClassVar[float] = 0.1
    heartbeat_interval_s: ClassVar[float] = 1.0
    # After SIGTERM, how long the command may clean up before SIGKILL.
    kill_grace_s: ClassVar[float] = 3.0

    def run(self, ctx: PluginContext, heartbeat: Callable[[str], None]) -> PluginOutcome:
        """Run the command to its end, its timeout, or a cancellation.

        Args:
            ctx: The run's context; ``metadata`` follows :class:`CommandMetadata`.
            heartbeat: Progress callback, called about every ``heartbeat_interval_s`` with the last
                output line. If it raises (cancellation), the command is killed and the error re-raised.

        Returns:
            DONE on exit status 0; FAILED on another status, on timeout, or if the program cannot start.
            ``output`` is the last 8 KiB of stdout and stderr combined, plus a note on failure.
        """
        meta = parse_metadata(self.Metadata, ctx.metadata, plugin=ctx.plugin)
        argv = [substitute(a, ctx) for a in meta.command]
        prog = argv[0]
        where = ctx.host or ctx.type.value
        env = {
            **os.environ,
            "FENIX_SESSION_ID": ctx.session_id,
            "FENIX_HOST": ctx.host or "",
            "FENIX_ACTION_TYPE": ctx.type.value,
            "FENIX_PLUGIN": ctx.plugin,
            **meta.env,
        }
        # Names only: the values may be passwords or tokens.
        log.info("running %s on %s (timeout %gs, extra env: %s)", prog, where, meta.timeout_s,
                 ", ".join(sorted(meta.env)) or "none")

        # A temporary file instead of a pipe: nothing has to drain it while we poll, so a chatty
        # command can never block on a full pipe, and a background grandchild still holding the
        # descriptor cannot make us wait for EOF.
        with tempfile.TemporaryFile() as out:
            try:
                # New session: the command gets its own process group, so a kill also reaches the
                # children it spawned (sh -c, ansible forks...).
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                        stderr=subprocess.STDOUT, env=env, start_new_session=True)
            except OSError as exc:
                log.warning("cannot run %s on %s: %s", prog, where, exc)
                return PluginOutcome(state=FAILED, output=f"[cannot run {prog}: {exc}]")

            start = time.monotonic()
            deadline = start + meta.timeout_s
            last_beat = float("-inf")
            timed_out = False
            try:
                while True:
                    try:
                        proc.wait(timeout=self.poll_s)
                        break
                    except subprocess.TimeoutExpired:
                        pass
                    now = time.monotonic()
                    if now >= deadline:
                        timed_out = True
                        self._kill(proc)
                        break
                    if now - last_beat >= self.heartbeat_interval_s:
                        last_beat = now
                        heartbeat(self._progress(prog, where, now - start, out))
            except BaseException:
                # Cancellation arrives here as an exception raised in this thread (from heartbeat or
                # between two polls): never leave the command running behind a cancelled activity.
                self._kill(proc)
                log.warning("%s on %s interrupted; killed it", prog, where)
                raise

            elapsed = time.monotonic() - start
            output = _read_tail(out, OUTPUT_LIMIT)

        rc = proc.returncode
        if timed_out:
            log.warning("%s on %s timed out after %gs; killed it", prog, where, meta.timeout_s)
            return PluginOutcome(state=FAILED,
                                 output=f"{output}\n[timed out after {meta.timeout_s:g}s; killed]")
        log.info("%s on %s exited with status %s after %.1fs", prog, where, rc, elapsed)
        if rc != 0:
            return PluginOutcome(state=FAILED, output=f"{output}\n[exited with status {rc}]")
        return PluginOutcome(state=DONE, output=output)

    @staticmethod
    def _progress(prog: str, where: str, elapsed: float, out: IO[bytes]) -> str:
        # The last output line makes the heartbeat details a live progress view in the Web UI.
        lines = [ln for ln in _read_tail(out, 512).splitlines() if ln.strip()]
        last = lines[-1][:200] if lines else ""
        return f"{prog} on {where}: {elapsed:.0f}s" + (f": {last}" if last else "")

    def _kill(self, proc: subprocess.Popen[bytes]) -> None:
        """Stop the command's whole process group: SIGTERM, a grace period, then SIGKILL."""
        self._signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=self.kill_grace_s)
        except subprocess.TimeoutExpired:
            pass
        # Also reaches children that ignored SIGTERM after the leader exited.
        self._signal_group(proc, signal.SIGKILL)
        proc.wait()

    @staticmethod
    def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            # Already gone (PermissionError: macOS reports a zombie-only group this way).
            pass
