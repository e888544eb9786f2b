"""Boolean options are on/off flag pairs (`--socket-mode` / `--no-socket-mode`): typer 0.29
shows a bare `--socket-mode` as taking a <bool> value, then refuses `--socket-mode true`."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli import app

WIDE = {"COLUMNS": "160", "NO_COLOR": "1", "TERM": "dumb"}


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env from the checkout
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(app, list(args), env=WIDE | (env or {}))


@pytest.mark.parametrize("command", ["serve", "manifest"])
def test_help_shows_both_flag_forms(command: str) -> None:
    result = invoke(command, "--help")
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if "--socket-mode" in line)
    assert re.search(r"--socket-mode\s+--no-socket-mode", line), line
    assert "no-socket-mode" in line.split("--no-socket-mode", 1)[1]  # the default is named


def test_manifest_flag_forms() -> None:
    on = invoke("manifest", "--socket-mode", "--url", "https://x.example")
    off = invoke("manifest", "--no-socket-mode", "--url", "https://x.example")
    default = invoke("manifest", "--url", "https://x.example")
    assert {on.exit_code, off.exit_code, default.exit_code} == {0}, on.output + off.output
    assert json.loads(on.stdout)["settings"]["socket_mode_enabled"] is True
    assert json.loads(off.stdout)["settings"].get("socket_mode_enabled", False) is False
    assert json.loads(default.stdout) == json.loads(off.stdout)


@pytest.mark.parametrize(
    ("flag", "missing"),
    [("--socket-mode", "SLACK_APP_TOKEN"), ("--no-socket-mode", "SLACK_SIGNING_SECRET")],
)
def test_serve_parses_each_form(flag: str, missing: str) -> None:
    # The flag is read (no usage error): serve then names what that mode still needs.
    result = invoke("serve", flag, env={"SLACK_BOT_TOKEN": "xoxb-test"})
    assert result.exit_code == 2
    assert f"error: {missing} is not set" in result.output
    assert "No such option" not in result.output
