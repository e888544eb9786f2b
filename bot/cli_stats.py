"""`ooda stats`, registered on the main Typer app by bot.cli."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from bot.cli_common import fail, load_settings
from bot.service import stats as service_stats
from bot.service.stats import DEFAULT_DAYS, MAX_DAYS
from bot.storage.db import Database, upgrade


def stats(
    service: Annotated[str | None, typer.Option(help="Only this service.")] = None,
    days: Annotated[
        float, typer.Option(help="Incidents opened in the last N days.")
    ] = DEFAULT_DAYS,
    playbooks: Annotated[
        bool, typer.Option("--playbooks", help="What worked: runs and effectiveness per playbook.")
    ] = False,
    png: Annotated[
        Path | None,
        typer.Option(help="Also write a chart of MTTA, MTTR and time per stage by week (PNG)."),
    ] = None,
) -> None:
    """Count by severity, MTTA, MTTR and median time per OODA stage (drills excluded);
    --playbooks: how often each playbook worked per service, and how fast alerts cleared."""
    if not 0 < days <= MAX_DAYS:
        raise fail(f"--days must be more than 0 and at most {MAX_DAYS}")
    settings = load_settings()
    typer.echo(asyncio.run(_stats(settings.database_url, service, days, playbooks=playbooks)))
    if png is not None:
        chart = asyncio.run(_chart(settings.database_url, service, days))
        try:
            png.write_bytes(chart)
        except OSError as exc:
            raise fail(f"cannot write {png}: {exc.strerror or exc}") from None
        typer.echo(f"Chart written to {png}")


async def _chart(database_url: str, service: str | None, days: float) -> bytes:
    db = Database(database_url)
    try:
        return await service_stats.trend_chart(db, service=service, days=days)
    finally:
        await db.dispose()


async def _stats(database_url: str, service: str | None, days: float, *, playbooks: bool) -> str:
    await asyncio.to_thread(upgrade, database_url)
    db = Database(database_url)
    try:
        if playbooks:
            records = await service_stats.playbook_records(db, service=service, days=days)
            return service_stats.format_playbooks(records, days=days)
        report = await service_stats.gather(db, service=service, days=days)
    finally:
        await db.dispose()
    return service_stats.format_report(report, days=days)
