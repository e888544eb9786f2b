"""`ooda backtest` on incidents stored the way Orient stores them: the hit rates a reader can
work out from the scenario, and another weights file side by side."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.domain.model import Change, ChangeKind, ChangeStatus, Severity, Status, Verdict, utcnow
from bot.domain.ranking import RankingConfig, rank_changes
from bot.storage import repo
from bot.storage.db import Database, upgrade

M = timedelta(minutes=1)
CONFIG = """\
services:
  - name: checkout
    depends_on: [payments]
  - name: payments
  - name: search
"""


@pytest.fixture(autouse=True)
def clean_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def change(key: str, at: Any, service: str, kind: ChangeKind = ChangeKind.DEPLOY) -> Change:
    return Change("github", key, key, at, service, kind=kind, status=ChangeStatus.SUCCESS)


async def seed(url: str) -> None:
    """Three resolved checkout incidents, days apart so their change windows do not overlap:
    the cause ranks 1st, 2nd (a dependency's config change under checkout's own deploy), and
    not at all (30 h old: outside today's 24 h window; it was ranked under a 48 h one)."""
    await asyncio.to_thread(upgrade, url)
    db = Database(url)
    now = utcnow()
    story = [
        (
            now - timedelta(days=10),
            [
                ("cause-1", 10 * M, "checkout", ChangeKind.DEPLOY),
                ("other-1", 1 * M, "search", ChangeKind.DEPLOY),
            ],
            False,
        ),
        (
            now - timedelta(days=8),
            [
                ("cause-2", 30 * M, "payments", ChangeKind.CONFIG),
                ("deploy-2", 5 * M, "checkout", ChangeKind.DEPLOY),
            ],
            False,
        ),
        (
            now - timedelta(days=6),
            [
                ("cause-3", 30 * 60 * M, "checkout", ChangeKind.DEPLOY),
                ("deploy-3", 5 * M, "checkout", ChangeKind.DEPLOY),
            ],
            True,
        ),
    ]
    try:
        for alert, changes, drill in story:
            async with db.transaction() as session:
                row = await repo.create_incident(
                    session,
                    title="checkout 5xx",
                    severity=int(Severity.SEV2),
                    service="checkout",
                    first_alert_at=alert,
                    opened_at=alert,
                    is_drill=drill,
                )
                stored = {}
                for key, before, service, kind in changes:
                    found = change(key, alert - before, service, kind)
                    stored[key] = await repo.upsert_change(session, found)
                ranked = rank_changes(
                    [repo.change_from_row(r) for r in stored.values()],
                    service="checkout",
                    dependencies={"payments"},
                    first_alert_at=alert,
                    config=RankingConfig(window=timedelta(hours=48)),
                )
                await repo.save_ranking(
                    session, row.id, [(stored[r.change.external_id], r) for r in ranked]
                )
                cause = changes[0][0]
                assert await repo.set_verdict(
                    session, row.id, f"github:{cause}", Verdict.CAUSED, "U1"
                )
                row.status, row.resolved_at = Status.RESOLVED.value, alert + 30 * M
    finally:
        await db.dispose()


def invoke(tmp_path: Path, database_url: str, *args: str, config: str = CONFIG) -> Any:
    (tmp_path / "ooda.yaml").write_text(config, encoding="utf-8")
    env = {"DATABASE_URL": database_url, "OODA_CONFIG": str(tmp_path / "ooda.yaml")}
    return CliRunner().invoke(app, ["backtest", *args], env=env)


def row(output: str, label: str) -> str:
    return next(line for line in output.splitlines() if line.startswith(label))


@pytest.mark.db
def test_backtest_prints_hit_rates_and_compares_weights(tmp_path: Path, database_url: str) -> None:
    asyncio.run(seed(database_url))
    weights = tmp_path / "config-heavy.yaml"
    weights.write_text("ranking:\n  kind_bonus:\n    config: 0.5\n", encoding="utf-8")

    alone = invoke(tmp_path, database_url)
    assert alone.exit_code == 0, alone.output
    assert "3 resolved incident(s) in the last 90 days" in alone.stdout
    assert "(1 of them drills)" in alone.stdout
    assert "33% (1/3)" in row(alone.stdout, "top-1 hit rate")
    assert "67% (2/3)" in row(alone.stdout, "top-3 hit rate")
    assert "1.50" in row(alone.stdout, "mean rank of cause")
    assert "rank 2 of 2" in row(alone.stdout, "INC-2 ")
    assert "rank not ranked of 1" in row(alone.stdout, "INC-3 (drill)")

    both = invoke(tmp_path, database_url, "--weights", str(weights))
    assert both.exit_code == 0, both.output
    assert "config-heavy.yaml" in both.stdout
    top1 = row(both.stdout, "top-1 hit rate")
    assert top1.index("33% (1/3)") < top1.index("67% (2/3)")  # configured, then the file
    assert row(both.stdout, "mean rank of cause").split()[-2:] == ["1.50", "1.00"]
    assert "rank 2 → 1 of 2" in row(both.stdout, "INC-2 ")

    # The configured side is OODA_CONFIG's own `ranking:`.
    configured = invoke(tmp_path, database_url, config=CONFIG + weights.read_text())
    assert "67% (2/3)" in row(configured.stdout, "top-1 hit rate")

    recent = invoke(tmp_path, database_url, "--days", "7")
    assert "1 resolved incident(s) in the last 7 days" in recent.stdout


def test_backtest_refuses_a_bad_weights_file(tmp_path: Path, database_url: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("ranking:\n  scoop: 1\n", encoding="utf-8")
    result = invoke(tmp_path, database_url, "--weights", str(bad))
    assert result.exit_code == 2
    assert "bad.yaml:2: ranking.scoop" in result.output
    assert invoke(tmp_path, database_url, "--days", "0").exit_code == 2


def test_backtest_with_nothing_marked_says_how_to_get_a_history(
    tmp_path: Path, database_url: str
) -> None:
    result = invoke(tmp_path, database_url)
    assert result.exit_code == 0, result.output
    assert "mark the change that caused an incident as Caused" in result.stdout
