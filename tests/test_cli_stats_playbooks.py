"""`ooda stats --playbooks`: what worked, per playbook and service (the record itself is
exercised end to end in tests/service/test_similar.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app


@pytest.fixture(autouse=True)
def clean_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def test_stats_playbooks_on_a_database_without_runs(tmp_path: Path, database_url: str) -> None:
    env = {"DATABASE_URL": database_url}
    result = CliRunner().invoke(app, ["stats", "--playbooks", "--days", "7"], env=env)
    assert result.exit_code == 0, result.output
    assert "Playbook runs judged by the verify step in the last 7 days" in result.stdout
    assert result.stdout.strip().endswith(": none")
