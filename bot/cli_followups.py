"""`ooda followups export`, added to the main Typer app by bot.cli."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli_common import fail, load_settings
from bot.cli_progress import Advance, progress
from bot.domain.refs import format_ref, parse_incident_ref
from bot.settings import Settings
from bot.storage.db import upgrade
from integrations.http import UpstreamError

if TYPE_CHECKING:
    from bot.service.postmortems import ExportResult

followups_app = typer.Typer(help="Follow-up (action item) commands.", no_args_is_help=True)


@followups_app.command("export")
def followups_export(
    incident: Annotated[str, typer.Argument(help="Number (42) or ref (INC-42).")],
) -> None:
    """Create a GitHub issue per follow-up in the service's repository (skips exported ones)."""
    number = parse_incident_ref(incident)
    if number is None:
        raise fail(f"{incident!r} is not an incident number or ref like INC-42")
    settings = load_settings()
    with progress("creating issues") as advance:
        result = asyncio.run(_export(settings, number, advance))
    if result.error:
        raise fail(result.error)
    for text, url in result.created:
        typer.echo(f"created {url}  {text}")
    typer.echo(
        f"{format_ref(number)}: {len(result.created)} exported, {result.skipped} already exported"
    )


async def _export(settings: Settings, number: int, advance: Advance) -> ExportResult:
    from bot.service import postmortems, runtime  # noqa: PLC0415 - late: the runtime slows --help

    await asyncio.to_thread(upgrade, settings.database_url)
    rt = runtime.build_runtime(settings)
    try:
        return await postmortems.export_followups(rt, number, on_progress=advance)
    except UpstreamError as exc:
        # Issues created before the failure are stored: a rerun continues from there.
        return postmortems.ExportResult(error=str(exc))
    finally:
        await rt.aclose()
