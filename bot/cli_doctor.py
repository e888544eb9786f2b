"""`ooda doctor`, registered on the main Typer app by bot.cli: the deployment checks of
bot.service.doctor as a table (or JSON), exit 1 when anything a page needs is broken."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from bot.cli_common import fail, load_settings
from bot.service.doctor.findings import DEFAULT_DEADLINE, Report, Status
from bot.slack.listen.manifest import BOT_SCOPES

_STYLE = {Status.OK: "green", Status.WARN: "yellow", Status.FAIL: "bold red", Status.SKIP: "dim"}


def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="Print the findings as JSON.")] = False,
    socket_mode: Annotated[
        bool,
        typer.Option("--socket-mode/--no-socket-mode", help="Check for `serve --socket-mode`."),
    ] = False,
    timeout: Annotated[
        float, typer.Option(help="Seconds each area (Slack, PagerDuty, ...) may take.")
    ] = DEFAULT_DEADLINE,
) -> None:
    """Check the deployment before the first page: settings, OODA_CONFIG, the database,
    Slack, PagerDuty, GitHub and Argo CD. Exits 1 when anything a page needs is broken."""
    if timeout <= 0:
        raise fail("--timeout must be more than 0")
    settings = load_settings()
    from bot.service.doctor.diagnose import diagnose  # noqa: PLC0415 - late: vendor clients slow --help

    report = asyncio.run(
        diagnose(settings, required_scopes=BOT_SCOPES, socket_mode=socket_mode, deadline=timeout)
    )
    if as_json:
        typer.echo(json.dumps(report.as_json(), indent=2, ensure_ascii=False))
    else:
        print_report(report, Console())
    if not report.healthy:
        raise typer.Exit(code=1)


def print_report(report: Report, console: Console) -> None:
    table = Table(show_lines=False, header_style="bold")
    for column in ("area", "check", "", "finding", "next step"):
        table.add_column(column, overflow="fold")
    for f in report.findings:
        # Text, not markup: a channel name or a vendor's message may hold [brackets].
        table.add_row(
            Text(f.area),
            Text(f.check),
            Text(f.status.value, style=_STYLE[f.status]),
            Text(f.detail),
            Text(f.next_step),
        )
    console.print(table)
    failed = sum(f.status is Status.FAIL for f in report.findings)
    warned = sum(f.status is Status.WARN for f in report.findings)
    if failed:
        console.print(f"{failed} problem(s) a page would trip over; {warned} warning(s)")
    else:
        console.print(f"ready for a page; {warned} warning(s)")
