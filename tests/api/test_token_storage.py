"""The tokens file keeps salted hashes, 0.1 files are migrated, and a broken file never turns into 500s
(issue 9, item 7), through the real API on a real Temporal server."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from demo.stack import free_port, serve, stack
from fenix import tokens
from tests.api.helpers import assert_error, silent, two_host_seed
from tests.cli.helpers import cli_env

CLEAR_ADMIN = "clear-admin-token-of-fenix-0.1-aaaaaaaaaaaaaaaaaaaa"
CLEAR_PROJECT = "clear-project-token-of-fenix-0.1-bbbbbbbbbbbbbbbbbb"


def old_file(path: Path) -> None:
    """A tokens file as Fenix 0.1 wrote it: the secrets in clear."""
    path.write_text(json.dumps({"tokens": [
        {"token": CLEAR_ADMIN, "name": "admin", "project_id": "admin", "roles": ["admin"]},
        {"token": CLEAR_PROJECT, "name": "alpha", "project_id": "alpha", "roles": []}]}))


def test_tokens_are_stored_as_salted_hashes(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    one = tokens.add(path, project_id="alpha")
    two = tokens.add(path, project_id="beta")
    text = path.read_text()
    assert one.token not in text and two.token not in text and '"token"' not in text
    entries = json.loads(text)["tokens"]
    assert all(e["hash"].startswith("scrypt$16384$8$1$") for e in entries)
    assert entries[0]["hash"].split("$")[4] != entries[1]["hash"].split("$")[4]  # own salt each
    data = tokens.load(path)
    assert data.find(one.token) is not None and data.find(one.token + "x") is None
    with pytest.raises(tokens.TokenFileError, match="already has a token"):
        tokens.add(path, project_id="alpha")  # its secret cannot be handed out again


async def test_a_clear_text_file_is_migrated_and_its_tokens_keep_working(ts_env: WorkflowEnvironment,
                                                                         tmp_path: Path) -> None:
    async with stack(ts_env, tmp_path, two_host_seed(), silent("alpha"), subscribe=[]) as st:
        legacy = tmp_path / "legacy-tokens.json"
        old_file(legacy)
        port = free_port()
        app = create_app(st.settings.model_copy(update={"tokens_file": legacy}), st.client)
        async with serve(app, port), httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/v1", timeout=30) as http:
            text = legacy.read_text()
            assert CLEAR_ADMIN not in text and CLEAR_PROJECT not in text and "scrypt$" in text
            r = await http.get("/subscriptions", headers={"X-Auth-Token": CLEAR_PROJECT})
            assert r.status_code == 200, r.text
            r = await http.get("/subscriptions", headers={"Authorization": f"Bearer {CLEAR_ADMIN}"})
            assert r.status_code == 200, r.text
            assert_error(await http.get("/maintenance", headers={"X-Auth-Token": CLEAR_ADMIN[:-1]}), 401)


async def test_a_file_that_breaks_while_running_keeps_the_last_good_tokens(ts_env: WorkflowEnvironment,
                                                                           tmp_path: Path,
                                                                           caplog: pytest.LogCaptureFixture) -> None:
    """Every authenticated call answered 500 once the file was broken. Now the last good tokens stay in force, the
    API logs why, and the file is used again once it is fixed."""
    async with stack(ts_env, tmp_path, two_host_seed(), silent("alpha"), subscribe=[]) as st:
        path = st.settings.tokens_path
        good = path.read_text()
        async with st.as_project("alpha") as alpha:
            assert (await alpha.get("/subscriptions")).status_code == 200
            for broken in ("{not json", '{"tokens": [{"name": "x"}]}', "[]"):
                path.write_text(broken)
                stamp = path.stat().st_mtime + 1
                os.utime(path, (stamp, stamp))
                with caplog.at_level(logging.ERROR, logger="fenix.api.auth"):
                    r = await alpha.get("/subscriptions")
                assert r.status_code == 200, r.text
                assert_error(await st.admin.get("/maintenance/x", headers={"X-Auth-Token": "unknown"}), 401)
                assert "keeping the last good tokens" in caplog.text, caplog.text
                caplog.clear()
            # Fixed: a new token works, and tokens no longer in the file stop working.
            path.write_text(good)
            newcomer = tokens.add(path, project_id="gamma")
            data = tokens.load(path)
            data.tokens = [t for t in data.tokens if t.project_id != "alpha"]
            tokens.save(path, data)
            stamp = path.stat().st_mtime + 2
            os.utime(path, (stamp, stamp))
            assert_error(await alpha.get("/subscriptions"), 401)
        async with httpx.AsyncClient(base_url=st.api_url, headers={"X-Auth-Token": newcomer.token}) as gamma:
            assert (await gamma.get("/subscriptions")).status_code == 200


async def test_the_api_refuses_to_start_on_a_broken_tokens_file(tmp_path: Path) -> None:
    (tmp_path / "tokens.json").write_text('{"tokens": [')
    env = cli_env(data_dir=str(tmp_path), api_port=str(free_port()), temporal_address="127.0.0.1:1",
                  temporal_connect_timeout_s="0")
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "cli", "api", env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    text = err.decode()
    assert proc.returncode not in (0, None), text
    assert "cannot use the tokens file" in text and "not valid JSON" in text, text
