"""`ooda drill …`: list and validate the scenarios, play one on the fakes, list past scores."""

from __future__ import annotations

import asyncio
from importlib.abc import Traversable
from pathlib import Path
from typing import Annotated

import typer

from bot.catalog import ConfigError, OodaConfig, load_config
from bot.cli_common import fail, load_settings
from bot.domain.drills import Scenario, default_drills_dir, scan, unknown_playbooks
from bot.domain.playbooks import PlaybookError, default_playbooks_dir, load_playbooks
from bot.service import drills as service_drills
from bot.service.runtime import playbooks_dir
from bot.settings import Settings
from bot.storage.db import Database, upgrade

drill_app = typer.Typer(
    help="Drills: rehearse a scenario, scored at resolve (kept out of stats).",
    no_args_is_help=True,
)

DirOption = Annotated[
    Path | None,
    typer.Option("--dir", help="The scenarios' folder (default: drills_dir in OODA_CONFIG)."),
]


def _config() -> tuple[Settings, OodaConfig]:
    """The settings and OODA_CONFIG (none yet: the defaults)."""
    settings = load_settings()
    if not Path(settings.config_path).exists():
        return settings, OodaConfig()
    try:
        return settings, load_config(settings.config_path)
    except ConfigError as exc:
        raise fail(str(exc)) from None


def _directory(given: Path | None) -> Path | Traversable:
    """--dir, else `drills_dir` in OODA_CONFIG (relative to it), else the shipped scenarios."""
    if given is not None:
        return given
    settings, config = _config()
    if config.drills_dir:
        return (Path(settings.config_path).parent / config.drills_dir).resolve()
    return default_drills_dir()


def _playbook_ids() -> set[str]:
    """The playbooks the bot would load (OODA_CONFIG's playbooks_dir, or the shipped ones)."""
    settings, config = _config()
    directory = playbooks_dir(settings, config)
    try:
        return {p.id for p in load_playbooks(directory or default_playbooks_dir())}
    except PlaybookError as exc:
        raise fail(f"the playbooks do not load: {exc}") from None


def _scenarios(directory: Path | Traversable) -> list[Scenario]:
    found, problems = scan(directory)
    for problem in problems:
        typer.echo(f"warning: {problem}", err=True)
    return found


@drill_app.command("list")
def list_drills(directory: DirOption = None) -> None:
    """The scenarios: name, severity, service, what it rehearses."""
    found = _scenarios(_directory(directory))
    if not found:
        raise fail("no valid drill scenarios found")
    width = max(len(s.name) for s in found)
    for s in found:
        cause = "a change" if s.expected.cause else "no change to blame"
        typer.echo(f"{s.name:<{width}}  {s.severity}  {s.service:<10} {s.title} ({cause})")


@drill_app.command()
def validate(
    directory: Annotated[Path | None, typer.Argument(help="The folder to check.")] = None,
) -> None:
    """Check every scenario file; each problem names its file, field and line."""
    where = directory if directory is not None else _directory(None)
    found, problems = scan(where)
    problems += unknown_playbooks(found, _playbook_ids())
    for problem in problems:
        typer.echo(problem, err=True)
    if problems:
        raise typer.Exit(code=1)
    typer.echo(f"{len(found)} scenario(s) valid in {where}")


@drill_app.command()
def run(
    name: Annotated[str, typer.Argument(help="The scenario's name (ooda drill list).")],
    local: Annotated[
        bool,
        typer.Option("--local", help="Play it on the built-in fakes with a scripted responder."),
    ] = False,
    directory: DirOption = None,
) -> None:
    """Play a scenario: with --local, against the built-in fakes (no account needed), printing
    what Slack showed and the scorecard. In Slack, `/incident drill NAME` starts a real one."""
    if not local:
        raise fail(
            "only --local runs from here; in Slack, start a drill with `/incident drill NAME`"
        )
    where = _directory(directory)
    scenario = next((s for s in _scenarios(where) if s.name == name), None)
    if scenario is None:
        raise fail(f"no drill scenario {name!r} (see `ooda drill list`)")
    from bot.drill_run import run_local  # noqa: PLC0415 - late: the runtime slows --help by a third

    raise typer.Exit(asyncio.run(run_local(scenario, directory=where)))


@drill_app.command()
def scores(
    scenario: Annotated[str | None, typer.Option(help="Only this scenario.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 50,
) -> None:
    """Past drills, newest first: score, cause found, action, mitigation, the ranking's grade."""
    settings = load_settings()
    typer.echo(asyncio.run(_scores(settings.database_url, scenario, limit)))


async def _scores(database_url: str, scenario: str | None, limit: int) -> str:
    await asyncio.to_thread(upgrade, database_url)
    db = Database(database_url)
    try:
        rows = await service_drills.past_drills(db, scenario=scenario, limit=limit)
    finally:
        await db.dispose()
    return service_drills.format_scores(rows)
