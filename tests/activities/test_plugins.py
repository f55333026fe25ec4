"""Action plug-ins: the registry, the dummy and command plug-ins, and the activity that runs them."""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.testing import ActivityEnvironment

from activities.plugins import run_action_plugin
from fenix import plugins
from fenix.models.plugin import PluginContext, PluginRunRequest, PluginRunResult
from fenix.models.session import ActionSpec, ActionType
from fenix.plugins.command import OUTPUT_LIMIT, CommandPlugin
from fenix.plugins.dummy import DummyPlugin


def request(plugin: str, metadata: dict[str, Any], *, host: str | None = "compute-1",
            type_: ActionType = ActionType.HOST) -> PluginRunRequest:
    return PluginRunRequest(session_id="s-1", host=host,
                            spec=ActionSpec(plugin=plugin, type=type_, metadata=metadata))


def run(req: PluginRunRequest, beats: list[str] | None = None) -> PluginRunResult:
    env = ActivityEnvironment()
    if beats is not None:
        env.on_heartbeat = lambda *details: beats.append(str(details[0]))
    return env.run(run_action_plugin, req)


def run_failing(req: PluginRunRequest) -> ApplicationError:
    with pytest.raises(ApplicationError) as info:
        run(req)
    return info.value


def pid_gone(pid: int, wait_s: float = 2.0) -> bool:
    """True once the process is dead: gone, or a zombie (a killed grandchild is reaped by init, whose
    reaping may lag or, in a container without an init, never happen)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            return True
        # The state field follows the parenthesised command name.
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def wait_for_pid(pidfile: Path) -> int:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        text = pidfile.read_text().strip() if pidfile.exists() else ""
        if text:
            return int(text)
        time.sleep(0.02)
    raise AssertionError("command did not start")


# --- registry -------------------------------------------------------------------------------------


def test_registry_lists_builtin_plugins() -> None:
    names = plugins.available()
    assert {"command", "dummy"} <= set(names)
    assert names == sorted(names)
    assert isinstance(plugins.load("dummy"), DummyPlugin)
    assert isinstance(plugins.load("command"), CommandPlugin)


def test_unknown_plugin_lists_available() -> None:
    with pytest.raises(plugins.PluginNotFound) as info:
        plugins.load("nope")
    assert isinstance(info.value, KeyError)
    assert str(info.value).startswith("unknown action plug-in 'nope'; available:")
    assert "dummy" in str(info.value) and "command" in str(info.value)


def test_unknown_plugin_activity_is_non_retryable() -> None:
    err = run_failing(request("nope", {}))
    assert err.type == "PluginNotFound"
    assert err.non_retryable
    assert "available" in err.message


def test_validate_metadata_ok_and_readable_errors() -> None:
    plugins.validate_metadata("dummy", {"seconds": 0.5, "fail": True})
    plugins.validate_metadata("command", {"command": "echo 'a b' {host}", "env": {"X": "1"}})

    with pytest.raises(ValueError) as info:
        plugins.validate_metadata("dummy", {"seconds": -1})
    assert str(info.value) == ("invalid metadata for plug-in 'dummy': "
                               "seconds: Input should be greater than or equal to 0")

    with pytest.raises(ValueError, match=r"command: Field required"):
        plugins.validate_metadata("command", {})
    with pytest.raises(ValueError, match=r"command: .*at least 1 item"):
        plugins.validate_metadata("command", {"command": []})
    with pytest.raises(ValueError, match=r"timeout: Extra inputs are not permitted"):
        plugins.validate_metadata("command", {"command": ["true"], "timeout": 3})
    with pytest.raises(ValueError, match=r"No closing quotation"):
        plugins.validate_metadata("command", {"command": "echo 'oops"})
    with pytest.raises(plugins.PluginNotFound):
        plugins.validate_metadata("nope", {})


def test_bad_metadata_activity_is_non_retryable() -> None:
    err = run_failing(request("dummy", {"seconds": "soon"}))
    assert err.type == "PluginMetadataInvalid"
    assert err.non_retryable
    assert "seconds" in err.message


# --- dummy ----------------------------------------------------------------------------------------


def test_dummy_runs_with_heartbeats() -> None:
    beats: list[str] = []
    result = run(request("dummy", {"seconds": 0.35}), beats)
    assert result.state == "DONE"
    assert result.plugin == "dummy" and result.type == ActionType.HOST and result.host == "compute-1"
    assert 0.3 <= result.duration_s < 2
    assert len(beats) >= 3
    assert all("compute-1" in b for b in beats)


def test_dummy_fail_is_plugin_failed() -> None:
    err = run_failing(request("dummy", {"seconds": 0, "fail": True}, host=None, type_=ActionType.PRE))
    assert err.type == "PluginFailed"
    assert err.non_retryable
    assert "dummy failed on pre as requested" in err.message
    details = err.details[0]
    assert details["state"] == "FAILED" and details["host"] is None and details["type"] == "pre"


def test_dummy_plugin_without_temporal() -> None:
    ctx = PluginContext(session_id="s", plugin="dummy", type=ActionType.POST, metadata={"seconds": 0})
    beats: list[str] = []
    outcome = DummyPlugin().run(ctx, beats.append)
    assert outcome.state == "DONE" and beats


# --- command --------------------------------------------------------------------------------------


def test_command_substitutes_and_captures_output() -> None:
    result = run(request("command", {"command": ["sh", "-c", "echo upgrading {host} in {session_id}"]}))
    assert result.state == "DONE"
    assert result.output == "upgrading compute-1 in s-1\n"


def test_command_string_is_split_not_shelled() -> None:
    # `;` is an argument to echo, not a shell separator: nothing else runs.
    result = run(request("command", {"command": "echo 'a  b' {host}; touch /tmp/never"}))
    assert result.output == "a  b compute-1; touch /tmp/never\n"


def test_command_env_and_stderr(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    meta = {"command": ["sh", "-c", 'echo "$TOKEN $FENIX_HOST $FENIX_ACTION_TYPE"; echo oops >&2'],
            "env": {"TOKEN": "s3cr3t-value"}}
    result = run(request("command", meta))
    assert result.output == "s3cr3t-value compute-1 host\noops\n"
    assert "TOKEN" in caplog.text
    assert "s3cr3t-value" not in caplog.text


def test_command_nonzero_is_plugin_failed_with_output() -> None:
    err = run_failing(request("command", {"command": ["sh", "-c", "echo disk full on {host}; exit 3"]}))
    assert err.type == "PluginFailed"
    assert err.non_retryable
    assert "disk full on compute-1" in err.message
    assert "exited with status 3" in err.message
    assert "disk full on compute-1" in err.details[0]["output"]


def test_command_missing_program_fails() -> None:
    err = run_failing(request("command", {"command": ["/nonexistent/upgrade-tool"]}))
    assert err.type == "PluginFailed"
    assert "cannot run /nonexistent/upgrade-tool" in err.message


def test_command_output_keeps_last_8k() -> None:
    script = "head -c 20000 /dev/zero | tr '\\0' x; echo; echo THE-END"
    result = run(request("command", {"command": ["sh", "-c", script]}))
    assert len(result.output.encode()) <= OUTPUT_LIMIT
    assert result.output.endswith("THE-END\n")


def test_command_heartbeats_with_last_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(CommandPlugin, "heartbeat_interval_s", 0.1)
    beats: list[str] = []
    result = run(request("command", {"command": ["sh", "-c", "echo step-one; sleep 0.6"]}), beats)
    assert result.state == "DONE"
    assert len(beats) >= 2
    assert any("step-one" in b for b in beats)


def test_command_timeout_kills(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    meta = {"command": ["sh", "-c", f"echo started; echo $$ > {pidfile}; exec sleep 30"], "timeout_s": 0.5}
    start = time.monotonic()
    err = run_failing(request("command", meta))
    assert time.monotonic() - start < 5
    assert err.type == "PluginFailed"
    assert "timed out after 0.5s; killed" in err.message
    assert "started" in err.details[0]["output"]
    assert pid_gone(int(pidfile.read_text()))


def test_command_timeout_kills_children(tmp_path: Path) -> None:
    # The sleep is a child of sh (no exec): killing only sh would leave it running.
    pidfile = tmp_path / "pid"
    meta = {"command": ["sh", "-c", f"sleep 30 & echo $! > {pidfile}; wait"], "timeout_s": 0.5}
    err = run_failing(request("command", meta))
    assert err.type == "PluginFailed"
    assert pid_gone(wait_for_pid(pidfile))


def test_cancel_kills_command(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    env = ActivityEnvironment()
    req = request("command", {"command": ["sh", "-c", f"echo $$ > {pidfile}; exec sleep 30"]})
    # A worker thread, as in the real worker: the cancellation is raised asynchronously in it.
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(env.run, run_action_plugin, req)
        pid = wait_for_pid(pidfile)
        assert not pid_gone(pid, wait_s=0)
        env.cancel()
        with pytest.raises(CancelledError):
            future.result(timeout=10)
    assert pid_gone(pid)
