"""`ooda backtest`, registered on the main Typer app by bot.cli."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from bot.catalog import ConfigError, OodaConfig, RankingSettings, load_config, load_ranking
from bot.cli_common import fail, load_settings
from bot.cli_progress import Advance, progress
from bot.service import backtest as service_backtest
from bot.service.backtest import DEFAULT_DAYS, MAX_DAYS
from bot.storage.db import Database, upgrade


def backtest(
    days: Annotated[
        float, typer.Option(help="Resolved incidents opened in the last N days.")
    ] = DEFAULT_DAYS,
    weights: Annotated[
        Path | None,
        typer.Option(help="A YAML file of ranking weights to compare with the configured ones."),
    ] = None,
) -> None:
    """Re-rank past incidents whose cause was marked Caused: top-1 and top-3 hit rate and the
    mean rank of the true cause, for the configured weights (and --weights side by side)."""
    if not 0 < days <= MAX_DAYS:
        raise fail(f"--days must be more than 0 and at most {MAX_DAYS:g}")
    settings = load_settings()
    try:
        config = load_config(settings.config_path)
        candidate = load_ranking(weights) if weights is not None else None
    except (ConfigError, OSError) as exc:
        raise fail(str(exc)) from None
    with progress("reading incidents") as advance:
        report = asyncio.run(
            _backtest(settings.database_url, config, candidate, days, weights, advance)
        )
    typer.echo(report)


async def _backtest(
    database_url: str,
    config: OodaConfig,
    candidate: RankingSettings | None,
    days: float,
    weights: Path | None,
    advance: Advance,
) -> str:
    await asyncio.to_thread(upgrade, database_url)
    db = Database(database_url)
    try:
        cases = await service_backtest.gather_cases(db, config, days=days, on_progress=advance)
    finally:
        await db.dispose()
    window = timedelta(hours=config.change_window_hours)
    mine, other = service_backtest.run(cases, config.ranking, candidate, window)
    name = weights.name if weights is not None else "candidate"
    return service_backtest.format_report(mine, other, days=days, candidate_name=name)
