"""The slash command (`/incident` by default): a small router over subcommands."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.domain.model import IncidentView, Severity, Stage, utcnow
from bot.service import incidents, postmortems
from bot.service.runtime import Runtime
from bot.slack import views
from bot.slack.context import active, incident_in_channel
from bot.slack.text import mention, render
from bot.storage import repo

log = logging.getLogger(__name__)

Reply = Callable[..., Awaitable[Any]]


def register(app: AsyncApp, rt: Runtime) -> None:
    command = rt.settings.slash_command

    @app.command(command)
    async def on_command(ack: Any, body: dict[str, Any], respond: Reply) -> None:
        await ack()
        text = (body.get("text") or "").strip()
        word, _, rest = text.partition(" ")
        try:
            await dispatch(rt, word.lower(), rest.strip(), body, respond)
        except Exception:
            log.exception("slash command %r failed", word)
            await respond(response_type="ephemeral", text="Something went wrong; it is logged.")


async def dispatch(rt: Runtime, word: str, rest: str, body: dict[str, Any], respond: Reply) -> None:
    command = rt.settings.slash_command
    user, channel = body.get("user_id"), body.get("channel_id")
    if word in ("", "help"):
        await respond(response_type="ephemeral", text=render("help", command=command))
        return
    if word == "declare":
        await _declare(rt, rest, body, respond)
        return
    handler = INCIDENT_COMMANDS.get(word)
    if handler is None:
        await respond(
            response_type="ephemeral",
            text=render("unknown_command", word=word) + "\n" + render("help", command=command),
        )
        return
    inc = await incident_in_channel(rt, channel)
    if inc is None:
        await respond(
            response_type="ephemeral", text=render("no_incident_here", active=await active(rt))
        )
        return
    await handler(rt, inc, rest, user, body, respond)


async def _declare(rt: Runtime, title: str, body: dict[str, Any], respond: Reply) -> None:
    if not title:
        services = [s.name for s in rt.config.services]
        await rt.slack.open_view(
            body["trigger_id"], views.declare_modal(services, channel_id=body.get("channel_id", ""))
        )
        return
    number = await incidents.open_incident(
        rt,
        title=title,
        severity=Severity.SEV3,
        declared_by=body.get("user_id"),
        origin_channel=None,
    )
    await respond(response_type="ephemeral", text=f"Declared INC-{number}; creating its channel…")


async def _status(
    rt: Runtime, inc: IncidentView, rest: str, user: str, body: dict[str, Any], respond: Reply
) -> None:
    from bot.domain.stages import time_in_current_stage

    async with rt.db.session() as session:
        spans = await repo.spans(session, inc.number)
        row = await repo.get_incident(session, inc.number)
    alerts = ((row.observation if row else {}) or {}).get("alerts", [])[:5]
    text = render(
        "status",
        inc=inc,
        in_stage=time_in_current_stage(spans, utcnow()),
        commander=mention(inc.roles.get("commander")),
        comms=mention(inc.roles.get("comms")),
        scribe=mention(inc.roles.get("scribe")),
        alerts=alerts,
    )
    await respond(response_type="ephemeral", text=text)


async def _note(
    rt: Runtime, inc: IncidentView, rest: str, user: str, body: dict[str, Any], respond: Reply
) -> None:
    if not rest:
        await respond(
            response_type="ephemeral", text=f"Usage: `{rt.settings.slash_command} note <text>`"
        )
        return
    await incidents.add_note(rt, inc.number, rest, by=user)


def _stage(stage: Stage) -> Callable[..., Awaitable[None]]:
    async def move(
        rt: Runtime, inc: IncidentView, rest: str, user: str, body: dict[str, Any], respond: Reply
    ) -> None:
        if not await incidents.move_stage(rt, inc.number, stage, by=user):
            await respond(response_type="ephemeral", text=f"{inc.ref} is already in {stage.value}.")

    return move


async def _resolve(
    rt: Runtime, inc: IncidentView, rest: str, user: str, body: dict[str, Any], respond: Reply
) -> None:
    if rest or not body.get("trigger_id"):
        await incidents.resolve(rt, inc.number, by=user, fields={"summary": rest or None})
        return
    await rt.slack.open_view(body["trigger_id"], views.resolve_modal(inc))


async def _postmortem(
    rt: Runtime, inc: IncidentView, rest: str, user: str, body: dict[str, Any], respond: Reply
) -> None:
    await postmortems.publish(rt, inc.number)


async def _ack(
    rt: Runtime, inc: IncidentView, rest: str, user: str, body: dict[str, Any], respond: Reply
) -> None:
    from bot.service.sync import acknowledge_everywhere

    await acknowledge_everywhere(rt, inc.number, user)


INCIDENT_COMMANDS: dict[str, Callable[..., Awaitable[None]]] = {
    "status": _status,
    "note": _note,
    "observe": _stage(Stage.OBSERVE),
    "orient": _stage(Stage.ORIENT),
    "decide": _stage(Stage.DECIDE),
    "act": _stage(Stage.ACT),
    "resolve": _resolve,
    "postmortem": _postmortem,
    "ack": _ack,
}
