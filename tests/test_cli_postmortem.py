"""`ooda postmortem`, `ooda stats` and `ooda followups export` against a database an incident
was played into through the real app."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.demo import CONFIG, DemoIncident
from bot.devstack import DevStack
from bot.fakes.github_api import FakeGitHub
from tests.helpers.stack import FAST_VERIFY, MakeStack


async def _play(stack: DevStack, followups: list[str]) -> None:
    async with stack:
        demo = await DemoIncident(stack).play()
        for text in followups:
            await stack.command(f"followup {text}", user=demo.scenario.alice, channel=demo.channel)
        await stack.settle()


@pytest.fixture
def played_db(
    make_stack: MakeStack, tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Env for the CLI: the database the demo incident was played into, and its config."""
    workdir = tmp_path / "stack"
    workdir.mkdir()
    stack = make_stack(CONFIG, env=FAST_VERIFY, workdir=workdir)
    asyncio.run(_play(stack, ["Alert on payment retry queue depth @bob"]))
    monkeypatch.chdir(tmp_path)  # no stray .env from the checkout
    return {"DATABASE_URL": database_url, "OODA_CONFIG": str(workdir / "ooda.yaml")}


def test_postmortem_markdown_to_stdout_by_ref_and_number(played_db: dict[str, str]) -> None:
    runner = CliRunner()
    by_ref = runner.invoke(app, ["postmortem", "INC-1"], env=played_db)
    assert by_ref.exit_code == 0, by_ref.output
    assert "# INC-1: Checkout 5xx errors above SLO" in by_ref.stdout
    assert "Decision log" in by_ref.stdout
    assert "c0ffee1" in by_ref.stdout  # the suspect deploy
    assert "Alert on payment retry queue depth" in by_ref.stdout  # the follow-up
    by_number = runner.invoke(app, ["postmortem", "1"], env=played_db)
    assert by_number.exit_code == 0
    assert by_number.stdout.splitlines()[0] == by_ref.stdout.splitlines()[0]


def test_postmortem_html_and_markdown_to_files(played_db: dict[str, str], tmp_path: Path) -> None:
    runner = CliRunner()
    html_path, md_path = tmp_path / "pm.html", tmp_path / "pm.md"
    html = runner.invoke(
        app, ["postmortem", "INC-1", "--format", "html", "--output", str(html_path)], env=played_db
    )
    assert html.exit_code == 0, html.output
    assert f"wrote {html_path}" in html.stdout
    page = html_path.read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype html>")
    assert "<svg" in page and "Checkout 5xx errors above SLO" in page
    md = runner.invoke(app, ["postmortem", "1", "--output", str(md_path)], env=played_db)
    assert md.exit_code == 0, md.output
    assert md_path.read_text(encoding="utf-8").startswith("# INC-1: Checkout 5xx errors above SLO")


def test_postmortem_unknown_incident_is_a_one_line_error(played_db: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["postmortem", "INC-99"], env=played_db)
    assert result.exit_code != 0
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == ["error: no incident INC-99 in the database"]
    bad = CliRunner().invoke(app, ["postmortem", "INC-x"], env=played_db)
    assert bad.exit_code != 0 and "not an incident number" in bad.stderr
    fmt = CliRunner().invoke(app, ["postmortem", "1", "--format", "pdf"], env=played_db)
    assert fmt.exit_code != 0 and "--format must be markdown or html" in fmt.stderr


def test_stats_cli_counts_the_played_incident(played_db: dict[str, str]) -> None:
    result = CliRunner().invoke(
        app, ["stats", "--service", "checkout", "--days", "7"], env=played_db
    )
    assert result.exit_code == 0, result.output
    assert "Incidents in the last 7 days for checkout: 1 (drills excluded)" in result.stdout
    assert "SEV2 1" in result.stdout  # PagerDuty priority P2 → SEV2
    other = CliRunner().invoke(app, ["stats", "--service", "payments"], env=played_db)
    assert "for payments: 0" in other.stdout
    bad = CliRunner().invoke(app, ["stats", "--days", "0"], env=played_db)
    assert bad.exit_code != 0 and "--days" in bad.stderr


def test_followups_export_creates_issues_once(played_db: dict[str, str]) -> None:
    github = FakeGitHub()
    github.start()
    try:
        env = played_db | {"GITHUB_TOKEN": "ghp-test", "GITHUB_API_URL": github.url}
        first = CliRunner().invoke(app, ["followups", "export", "INC-1"], env=env)
        assert first.exit_code == 0, first.output
        assert len(github.issues) == 1
        issue = github.issues[0]
        assert issue["repo"] == "acme/checkout"
        assert issue["title"] == "Alert on payment retry queue depth"
        assert "INC-1" in issue["body"] and "@bob" in issue["body"]
        assert issue["html_url"] in first.stdout
        assert "1 exported, 0 already exported" in first.stdout

        again = CliRunner().invoke(app, ["followups", "export", "1"], env=env)
        assert again.exit_code == 0, again.output
        assert len(github.issues) == 1  # idempotent
        assert "0 exported, 1 already exported" in again.stdout

        md = CliRunner().invoke(app, ["postmortem", "INC-1"], env=env)
        assert issue["html_url"] in md.stdout  # the postmortem links the exported issue

        missing = CliRunner().invoke(app, ["followups", "export", "INC-5"], env=env)
        assert missing.exit_code != 0 and "no incident INC-5" in missing.stderr
    finally:
        github.stop()


def test_followups_export_without_github_token_says_so(played_db: dict[str, str]) -> None:
    env = played_db | {"GITHUB_TOKEN": ""}
    result = CliRunner().invoke(app, ["followups", "export", "INC-1"], env=env)
    assert result.exit_code != 0
    assert "GITHUB_TOKEN is not set" in result.stderr
