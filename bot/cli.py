"""The `ooda` command line.

The commands that run the bot (serve, demo, postmortem, followups export) import the runtime
when they run: imported at the top, it (Bolt, the Slack SDK, aiohttp) makes `ooda --help`, and
every other command, about a third slower."""

from __future__ import annotations

import asyncio
import json
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Literal

import typer

from bot import tracing
from bot.catalog import ConfigError, load_config
from bot.cli_backtest import backtest
from bot.cli_common import fail, load_settings
from bot.cli_doctor import doctor
from bot.cli_drill import drill_app
from bot.cli_followups import followups_app
from bot.cli_pagerduty import pagerduty_app
from bot.cli_progress import progress
from bot.cli_stats import stats
from bot.domain.playbooks import (
    PlaybookError,
    default_playbooks_dir,
    load_playbooks,
    validate_directory,
)
from bot.domain.refs import format_ref, parse_incident_ref
from bot.logs import configure_logging
from bot.settings import Settings
from bot.slack.listen.manifest import build_manifest
from bot.storage.db import upgrade

app = typer.Typer(
    help="ooda-bot: incident response through the OODA loop, in Slack.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database commands.", no_args_is_help=True)
playbooks_app = typer.Typer(help="Playbook commands.", no_args_is_help=True)
config_app = typer.Typer(help="Config (OODA_CONFIG) commands.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(playbooks_app, name="playbooks")
app.add_typer(config_app, name="config")
app.add_typer(pagerduty_app, name="pagerduty")
app.add_typer(followups_app, name="followups")
app.add_typer(drill_app, name="drill")
app.command()(stats)
app.command()(backtest)
app.command()(doctor)


def package_version() -> str:
    try:
        return version("ooda-bot")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"ooda-bot {package_version()}")
        raise typer.Exit()


@app.callback()
def _options(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """ooda-bot: incident response through the OODA loop, in Slack."""


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 3000,
    socket_mode: Annotated[
        bool, typer.Option("--socket-mode/--no-socket-mode", help="Use Slack Socket Mode.")
    ] = False,
) -> None:
    """Run the bot (HTTP, or Slack Socket Mode); applies migrations first."""
    settings = load_settings()
    missing = settings.missing_for_serve(socket_mode=socket_mode)
    if missing:
        raise fail(f"{missing[0]} is not set (needed by `ooda serve`); see README.md#configuration")
    try:
        config = load_config(settings.config_path)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    from bot.server import run_server  # noqa: PLC0415 - late: the runtime slows --help by a third

    configure_logging(settings.log_level, fmt=settings.log_format)
    try:
        tracing.configure_from_environment()
    except RuntimeError as exc:
        raise fail(str(exc)) from None
    run_server(settings, config, host=host, port=port, socket_mode=socket_mode)


@app.command()
def demo(
    output: Annotated[Path | None, typer.Option(help="Where to write the postmortem.")] = None,
    ui: Annotated[
        bool, typer.Option("--ui", help="Then serve the web console on 127.0.0.1 (Ctrl-C stops).")
    ] = False,
) -> None:
    """Play a whole incident against built-in local fakes; print the transcript."""
    from bot.demo import run_demo  # noqa: PLC0415 - late: the runtime slows --help by a third

    try:
        sys.exit(asyncio.run(run_demo(output, ui=ui)))
    except KeyboardInterrupt:
        sys.exit(0)


_FORMATS: dict[str, Literal["markdown", "html"]] = {"markdown": "markdown", "html": "html"}
_TIMELINES: dict[str | None, Literal["all", "pinned"] | None] = {
    None: None,
    "all": "all",
    "pinned": "pinned",
}


@app.command()
def postmortem(
    incident: Annotated[str, typer.Argument(help="Number (42) or ref (INC-42).")],
    format: Annotated[str, typer.Option("--format", help="markdown or html.")] = "markdown",
    output: Annotated[Path | None, typer.Option(help="File to write; stdout if absent.")] = None,
    timeline: Annotated[
        str | None,
        typer.Option(
            "--timeline", help="all or pinned (default: OODA_CONFIG postmortem.timeline)."
        ),
    ] = None,
) -> None:
    """Render an incident's postmortem."""
    fmt = _FORMATS.get(format)
    if fmt is None:
        raise fail("--format must be markdown or html")
    if timeline not in _TIMELINES:
        raise fail("--timeline must be all or pinned")
    number = parse_incident_ref(incident)
    if number is None:
        raise fail(f"{incident!r} is not an incident number or ref like INC-42")
    settings = load_settings()
    text = asyncio.run(_render_postmortem(settings, number, fmt, _TIMELINES[timeline]))
    if text is None:
        # Not the URL: it may carry a database password.
        raise fail(f"no incident {format_ref(number)} in the database")
    if output:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}")
    else:
        typer.echo(text)


async def _render_postmortem(
    settings: Settings,
    number: int,
    fmt: Literal["markdown", "html"],
    timeline: Literal["all", "pinned"] | None = None,
) -> str | None:
    from bot.service import postmortems, runtime  # noqa: PLC0415 - late: the runtime slows --help

    await asyncio.to_thread(upgrade, settings.database_url)
    rt = runtime.build_runtime(settings)
    try:
        return await postmortems.render(rt, number, fmt, timeline=timeline)
    finally:
        await rt.aclose()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations."""
    settings = load_settings()
    with progress("applying migrations") as advance:
        upgrade(settings.database_url, on_step=advance)
    typer.echo("database is up to date")


@playbooks_app.command("validate")
def playbooks_validate(
    directory: Annotated[Path | None, typer.Argument(help="Playbooks directory.")] = None,
) -> None:
    """Validate playbook files; exit non-zero with precise messages on error."""
    target = directory if directory is not None else default_playbooks_dir()
    if directory is not None and not directory.is_dir():
        raise fail(f"{directory} is not a directory")
    errors = validate_directory(target)
    for line in errors:
        typer.echo(line, err=True)
    if errors:
        raise typer.Exit(code=1)
    typer.echo(f"{len(load_playbooks(target))} playbooks OK")


@playbooks_app.command("list")
def playbooks_list(
    directory: Annotated[Path | None, typer.Argument(help="Playbooks directory.")] = None,
) -> None:
    """List playbooks: id, kind, risk, who may run them."""
    try:
        books = load_playbooks(directory if directory is not None else default_playbooks_dir())
    except PlaybookError as exc:
        raise fail(str(exc)) from None
    for p in books:
        typer.echo(f"{p.id:28} {p.kind:12} {p.risk:7} {','.join(p.requires.roles):24} {p.title}")


@config_app.command("validate")
def config_validate(
    path: Annotated[Path | None, typer.Argument(help="Config file (default OODA_CONFIG).")] = None,
) -> None:
    """Validate the services catalog; errors name the line."""
    target = path or Path(load_settings().config_path)
    if not target.exists():
        raise fail(f"{target} does not exist")
    try:
        config = load_config(target)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"{target}: {len(config.services)} services OK")


@app.command()
def manifest(
    url: Annotated[
        str | None, typer.Option(help="Public base URL, e.g. https://ooda.example.com")
    ] = None,
    socket_mode: Annotated[
        bool,
        typer.Option(
            "--socket-mode/--no-socket-mode", help="For `ooda serve --socket-mode`: no URLs."
        ),
    ] = False,
) -> None:
    """Print the Slack app manifest (JSON) for the configured command and URL."""
    settings = load_settings()
    base = url or settings.public_url or "https://ooda.example.com"
    built = build_manifest(
        command=settings.slash_command,
        base_url=base,
        socket_mode=socket_mode,
        console=bool(settings.slack_client_id),  # the web console's Sign in with Slack
    )
    typer.echo(json.dumps(built, indent=2, ensure_ascii=False))


def main() -> None:
    app()
