"""`fenix token create|list` on a data dir of the test's own (FENIX_DATA_DIR)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from fenix import tokens


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("FENIX_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("FENIX_TOKENS_FILE", raising=False)
    return CliRunner()


def test_create_prints_the_secret_once(runner: CliRunner, tmp_path: Path) -> None:
    first = runner.invoke(app, ["token", "create", "--project", "vnf-web"])
    assert first.exit_code == 0, first.output
    secret = first.stdout.strip()
    path = tmp_path / "tokens.json"
    entry = tokens.load(path).find(secret)
    assert entry is not None and entry.project_id == "vnf-web" and entry.roles == []
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "only time" in first.stderr and secret not in first.stderr

    again = runner.invoke(app, ["token", "create", "--project", "vnf-web"])
    assert again.exit_code == 1
    assert secret not in again.output and "--name" in again.stderr

    other = runner.invoke(app, ["token", "create", "--project", "vnf-web", "--name", "vnf-web-2"])
    assert other.exit_code == 0, other.output
    assert other.stdout.strip() != secret
    assert len(tokens.load(path).tokens) == 2


def test_admin_and_service_roles(runner: CliRunner, tmp_path: Path) -> None:
    admin = runner.invoke(app, ["token", "create", "--project", "ops", "--admin"])
    service = runner.invoke(app, ["token", "create", "--project", "monitoring", "--service"])
    assert admin.exit_code == 0 and service.exit_code == 0, admin.output + service.output
    data = tokens.load(tmp_path / "tokens.json")
    assert (found := data.find(admin.stdout.strip())) is not None and found.roles == [tokens.ADMIN_ROLE]
    assert (found := data.find(service.stdout.strip())) is not None and found.roles == [tokens.SERVICE_ROLE]


def test_list_masks_secrets(runner: CliRunner, tmp_path: Path) -> None:
    empty = runner.invoke(app, ["token", "list"])
    assert empty.exit_code == 0 and "No tokens" in empty.stderr

    admin = tokens.ensure_admin(tmp_path / "tokens.json", "admin")
    assert admin is not None
    created = runner.invoke(app, ["token", "create", "--project", "vnf-ha"])
    listed = runner.invoke(app, ["token", "list"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0, listed.output
    assert "vnf-ha" in listed.stdout and "admin" in listed.stdout
    for secret in (admin.token, created.stdout.strip()):
        assert secret not in listed.output and secret[:8] not in listed.output
    assert secret not in (tmp_path / "tokens.json").read_text()


def test_unreadable_token_file_is_an_error_not_a_traceback(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "tokens.json").write_text("{not json")
    result = runner.invoke(app, ["token", "list"])
    assert result.exit_code == 1
    assert "tokens file" in result.stderr and "not valid JSON" in result.stderr
    assert isinstance(result.exception, SystemExit)  # typer.Exit(1), not an exception escaping the command


def test_migrate_rewrites_a_clear_text_file(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_text('{"tokens": [{"token": "clear-secret-of-0.1-xxxxxxxxxxxxxxxx", "name": "web", '
                    '"project_id": "vnf-web", "roles": []}]}')
    listed = runner.invoke(app, ["token", "list"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0 and "fenix token migrate" in listed.stderr, listed.output
    assert "clear-secret" not in listed.output
    migrated = runner.invoke(app, ["token", "migrate"])
    assert migrated.exit_code == 0 and "rewritten" in migrated.stderr, migrated.output
    assert "clear-secret" not in path.read_text() and "scrypt$" in path.read_text()
    assert tokens.load(path).find("clear-secret-of-0.1-xxxxxxxxxxxxxxxx") is not None
    again = runner.invoke(app, ["token", "migrate"])
    assert again.exit_code == 0 and "nothing to do" in again.stderr
