"""`ooda backtest`: how often the suspect ranking put the true cause on top, on the resolved
incidents whose cause responders marked, with the configured weights and (optionally) another
set side by side."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from bot.catalog import OodaConfig, RankingSettings
from bot.domain.backtest import BacktestCase, BacktestScore, backtest
from bot.domain.model import utcnow
from bot.domain.refs import format_ref
from bot.storage import repo
from bot.storage.db import Database

DEFAULT_DAYS = 90.0
MAX_DAYS = 3650.0


async def gather_cases(
    db: Database,
    config: OodaConfig,
    *,
    days: float,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[BacktestCase]:
    """Each resolved incident of the last `days` with a change marked Caused, with the changes
    the bot could see at its first alert (the same window Orient ranks). `on_progress(done,
    total)` follows the incidents read."""
    window = timedelta(hours=config.change_window_hours)
    cases = []
    async with db.session() as session:
        found = await repo.caused_incidents(session, utcnow() - timedelta(days=days))
        for incident, source, external_id in found:
            first_alert = incident.first_alert_at or incident.opened_at
            drill = await repo.planted_changes_of(session, incident.id, incident.is_drill)
            rows = await repo.changes_since(session, first_alert - window, drill=drill)
            cases.append(
                BacktestCase(
                    number=incident.id,
                    service=incident.service,
                    dependencies=frozenset(config.dependencies_of(incident.service)),
                    first_alert_at=first_alert,
                    changes=tuple(repo.change_from_row(r) for r in rows),
                    cause=(source, external_id),
                    is_drill=incident.is_drill,
                )
            )
            if on_progress is not None:
                on_progress(len(cases), len(found))
    return cases


def run(
    cases: list[BacktestCase],
    configured: RankingSettings,
    candidate: RankingSettings | None,
    window: timedelta,
) -> tuple[BacktestScore, BacktestScore | None]:
    mine = backtest(cases, configured.config(window))
    other = backtest(cases, candidate.config(window)) if candidate is not None else None
    return mine, other


def _rate(score: BacktestScore, within: int) -> str:
    rate = score.hit_rate(within)
    if rate is None:
        return "–"
    return f"{rate:.0%} ({score.hits(within)}/{score.count})"


def _mean(score: BacktestScore) -> str:
    return "–" if score.mean_rank is None else f"{score.mean_rank:.2f}"


def _rank(rank: int | None) -> str:
    return "not ranked" if rank is None else str(rank)


def format_report(
    score: BacktestScore,
    candidate: BacktestScore | None = None,
    *,
    days: float,
    candidate_name: str = "candidate",
) -> str:
    """A plain-text table: top-1 and top-3 hit rate and mean rank of the true cause."""
    drills = sum(1 for r in score.results if r.case.is_drill)
    window = f"{days:g} day{'s' if days != 1 else ''}"
    lines = [
        f"Backtest of the suspect ranking: {score.count} resolved incident(s) in the last "
        f"{window} with a change marked Caused ({drills} of them drills)"
    ]
    if score.count == 0:
        lines.append("Nothing to backtest: mark the change that caused an incident as Caused.")
        return "\n".join(lines)
    sides = [("configured", score)] + ([(candidate_name, candidate)] if candidate else [])
    width = max(18, *(len(name) + 2 for name, _ in sides))
    lines += [
        "",
        f"{'':<22}" + "".join(f"{name:>{width}}" for name, _ in sides),
        f"{'top-1 hit rate':<22}" + "".join(f"{_rate(s, 1):>{width}}" for _, s in sides),
        f"{'top-3 hit rate':<22}" + "".join(f"{_rate(s, 3):>{width}}" for _, s in sides),
        f"{'mean rank of cause':<22}" + "".join(f"{_mean(s):>{width}}" for _, s in sides),
        f"{'cause not ranked':<22}" + "".join(f"{s.not_ranked:>{width}}" for _, s in sides),
        "",
    ]
    others = candidate.results if candidate else [None] * score.count
    for mine, theirs in zip(score.results, others, strict=True):
        case = mine.case
        rank = _rank(mine.rank) if theirs is None else f"{_rank(mine.rank)} → {_rank(theirs.rank)}"
        drill = " (drill)" if case.is_drill else ""
        lines.append(
            f"{format_ref(case.number)}{drill}  {case.service or '(no service)'}  "
            f"cause {case.cause[0]}:{case.cause[1]}  rank {rank} of {mine.candidates}"
        )
    return "\n".join(lines)
