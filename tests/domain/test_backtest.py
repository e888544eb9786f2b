"""The backtest re-ranks past incidents and says where the true cause landed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.catalog import RankingSettings
from bot.domain.backtest import BacktestCase, backtest
from bot.domain.model import Change, ChangeKind, ChangeStatus
from bot.domain.ranking import RankingConfig

ALERT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
M = timedelta(minutes=1)


def change(
    key: str, before: timedelta, service: str, kind: ChangeKind = ChangeKind.DEPLOY
) -> Change:
    return Change(
        source="github",
        external_id=key,
        summary=key,
        created_at=ALERT - before,
        service=service,
        kind=kind,
        status=ChangeStatus.SUCCESS,
    )


def cases() -> list[BacktestCase]:
    deps = frozenset({"payments"})
    return [
        # Its own deploy 10 min before beats another service's deploy 1 min before.
        BacktestCase(
            1,
            "checkout",
            deps,
            ALERT,
            (change("cause-1", 10 * M, "checkout"), change("other-1", 1 * M, "search")),
            ("github", "cause-1"),
        ),
        # A dependency's config change 30 min before, below checkout's own deploy 5 min before
        # (0.604 against 0.850 with the default weights).
        BacktestCase(
            2,
            "checkout",
            deps,
            ALERT,
            (
                change("cause-2", 30 * M, "payments", ChangeKind.CONFIG),
                change("deploy-2", 5 * M, "checkout"),
            ),
            ("github", "cause-2"),
        ),
        # The cause is 30 h old: outside the 24 h window, so not a candidate at all.
        BacktestCase(
            3,
            "checkout",
            deps,
            ALERT,
            (change("cause-3", 30 * 60 * M, "checkout"), change("deploy-3", 5 * M, "checkout")),
            ("github", "cause-3"),
            is_drill=True,
        ),
    ]


def test_default_weights_rank_the_causes_first_second_and_not_at_all() -> None:
    score = backtest(cases(), RankingConfig())
    assert [r.rank for r in score.results] == [1, 2, None]
    assert score.hits(1) == 1 and score.hit_rate(1) == pytest.approx(1 / 3)
    assert score.hits(3) == 2 and score.hit_rate(3) == pytest.approx(2 / 3)
    assert score.mean_rank == pytest.approx(1.5)
    assert score.not_ranked == 1


def test_other_weights_are_scored_on_the_same_history() -> None:
    heavier_config = RankingSettings(kind_bonus={ChangeKind.CONFIG: 0.5}).config()
    score = backtest(cases(), heavier_config)
    assert [r.rank for r in score.results] == [1, 1, None]
    assert score.hit_rate(1) == pytest.approx(2 / 3)
    assert score.mean_rank == pytest.approx(1.0)


def test_a_cause_merged_into_a_linked_deploy_counts_as_found() -> None:
    gh = Change(
        "github",
        "d1",
        "deploy",
        ALERT - 5 * M,
        "checkout",
        sha="a" * 40,
        status=ChangeStatus.SUCCESS,
    )
    argo = Change("argocd", "sync-9", "sync", ALERT - 4 * M, "checkout", sha="a" * 40)
    case = BacktestCase(1, "checkout", frozenset(), ALERT, (gh, argo), ("github", "d1"))
    (result,) = backtest([case], RankingConfig()).results
    assert result.rank == 1 and result.candidates == 1  # one deploy, reported twice


def test_no_cases_means_no_rates() -> None:
    score = backtest([], RankingConfig())
    assert score.count == 0 and score.hit_rate(1) is None and score.mean_rank is None
