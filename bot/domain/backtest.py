"""Backtest of the suspect ranking: re-rank past incidents whose cause is known and see where
the true cause lands.

Pure: a case is what was known at an incident's first alert (its service, the changes, the
change responders marked Caused); the score is the same for the same cases and weights.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.domain.model import Change, RankedChange
from bot.domain.ranking import RankingConfig, rank_changes

ChangeKey = tuple[str, str]  # (source, external_id)


@dataclass(frozen=True)
class BacktestCase:
    number: int
    service: str | None
    dependencies: frozenset[str]
    first_alert_at: datetime
    changes: tuple[Change, ...]
    cause: ChangeKey  # the change responders marked Caused
    is_drill: bool = False


@dataclass(frozen=True)
class CaseResult:
    case: BacktestCase
    rank: int | None  # 1 = top suspect; None: the cause was not among the candidates
    candidates: int


@dataclass(frozen=True)
class BacktestScore:
    results: tuple[CaseResult, ...]

    @property
    def count(self) -> int:
        return len(self.results)

    def hits(self, within: int) -> int:
        return sum(1 for r in self.results if r.rank is not None and r.rank <= within)

    def hit_rate(self, within: int) -> float | None:
        return self.hits(within) / self.count if self.count else None

    @property
    def not_ranked(self) -> int:
        return sum(1 for r in self.results if r.rank is None)

    @property
    def mean_rank(self) -> float | None:
        """Over the cases whose cause was ranked at all (`not_ranked` counts the others)."""
        ranks = [r.rank for r in self.results if r.rank is not None]
        return sum(ranks) / len(ranks) if ranks else None


def _keys(change: Change) -> set[ChangeKey]:
    """The change and every report merged into it (a deploy seen by GitHub and Argo CD)."""
    keys = {(change.source, change.external_id)}
    for linked in change.data.get("linked_changes") or []:
        source, _, external_id = str(linked).partition(":")
        keys.add((source, external_id))
    return keys


def rank_of(ranked: Sequence[RankedChange], cause: ChangeKey) -> int | None:
    for index, item in enumerate(ranked, start=1):
        if cause in _keys(item.change):
            return index
    return None


def backtest(cases: Iterable[BacktestCase], config: RankingConfig) -> BacktestScore:
    results = []
    for case in cases:
        ranked = rank_changes(
            case.changes,
            service=case.service,
            dependencies=case.dependencies,
            first_alert_at=case.first_alert_at,
            config=config,
        )
        results.append(CaseResult(case, rank_of(ranked, case.cause), len(ranked)))
    return BacktestScore(tuple(results))
