"""`ooda stats` and `ooda followups export`, registered on the main Typer app by bot.cli."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer

from bot.domain.refs import format_ref, parse_incident_ref
from bot.service.stats import DEFAULT_DAYS, MAX_DAYS
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.service.postmortems import ExportResult

followups_app = typer.Typer(help="Follow-up (action item) commands.", no_args_is_help=True)


def stats(
    service: Annotated[str | None, typer.Option(help="Only this service.")] = None,
    days: Annotated[
        float, typer.Option(help="Incidents opened in the last N days.")
    ] = DEFAULT_DAYS,
) -> None:
    """Count by severity, MTTA, MTTR and median time per OODA stage (drills excluded)."""
    from bot.cli import fail, load_settings

    if not 0 < days <= MAX_DAYS:
        raise fail(f"--days must be more than 0 and at most {MAX_DAYS}")
    settings = load_settings()
    typer.echo(asyncio.run(_stats(settings.database_url, service, days)))


async def _stats(database_url: str, service: str | None, days: float) -> str:
    from bot.service import stats as service_stats
    from bot.storage.db import Database, upgrade

    await asyncio.to_thread(upgrade, database_url)
    db = Database(database_url)
    try:
        report = await service_stats.gather(db, service=service, days=days)
    finally:
        await db.dispose()
    return service_stats.format_report(report, days=days)


@followups_app.command("export")
def followups_export(
    incident: Annotated[str, typer.Argument(help="Number (42) or ref (INC-42).")],
) -> None:
    """Create a GitHub issue per follow-up in the service's repository (skips exported ones)."""
    from bot.cli import fail, load_settings

    number = parse_incident_ref(incident)
    if number is None:
        raise fail(f"{incident!r} is not an incident number or ref like INC-42")
    settings = load_settings()
    result = asyncio.run(_export(settings, number))
    if result.error:
        raise fail(result.error)
    for text, url in result.created:
        typer.echo(f"created {url}  {text}")
    typer.echo(
        f"{format_ref(number)}: {len(result.created)} exported, {result.skipped} already exported"
    )


async def _export(settings: Settings, number: int) -> ExportResult:
    from bot.service import postmortems
    from bot.service.runtime import build_runtime
    from bot.storage.db import upgrade
    from integrations.http import UpstreamError

    await asyncio.to_thread(upgrade, settings.database_url)
    rt = build_runtime(settings)
    try:
        return await postmortems.export_followups(rt, number)
    except UpstreamError as exc:
        # Issues created before the failure are stored: a rerun continues from there.
        return postmortems.ExportResult(error=str(exc))
    finally:
        await rt.aclose()


def register(app: typer.Typer) -> None:
    app.command()(stats)
    app.add_typer(followups_app, name="followups")
