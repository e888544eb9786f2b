"""CLI manners: `python -m bot`, `ooda --version`, progress on a terminal and silence when piped."""

from __future__ import annotations

import io
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from rich.console import Console
from typer.testing import CliRunner

from bot.cli import app
from bot.cli_progress import progress

ROOT = Path(__file__).resolve().parents[1]


def test_python_dash_m_bot_runs_the_cli(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "--version"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"ooda-bot {version('ooda-bot')}"


def test_version_comes_from_the_package_metadata() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"ooda-bot {version('ooda-bot')}"


def test_db_upgrade_piped_prints_only_its_result(database_url: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "db", "upgrade"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "DATABASE_URL": database_url},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "database is up to date\n"
    assert "\x1b[" not in done.stderr and "applying migrations" not in done.stderr


def test_progress_draws_on_a_terminal() -> None:
    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=80)
    with progress("applying migrations", terminal) as advance:
        advance(1, 4)
        advance(4, 4)
    assert "applying migrations" in screen.getvalue()
    assert "4/4" in screen.getvalue()


def test_progress_is_silent_when_not_a_terminal() -> None:
    piped = io.StringIO()
    with progress("creating issues", Console(file=piped, force_terminal=False)) as advance:
        advance(1, 1)
    assert piped.getvalue() == ""
