"""The slash command (`/incident` by default): a small router over subcommands."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from sqlalchemy import Table

from bot.domain.model import IncidentView, Severity, Stage, utcnow
from bot.domain.stages import time_in_current_stage
from bot.service import incidents, pagerduty_mirror, postmortems, stats
from bot.service.runtime import Runtime
from bot.slack.listen import drill_command, interactions
from bot.slack.listen.channels import active, incident_in_channel
from bot.slack.out import forms
from bot.slack.out.text import escape, from_slack, mention, render
from bot.storage import repo
from bot.storage.repo import interactions as stored

log = logging.getLogger(__name__)

Reply = Callable[..., Awaitable[Any]]


def register(app: AsyncApp, rt: Runtime) -> None:
    command = rt.settings.slash_command

    @app.command(command)
    async def on_command(ack: Any, body: dict[str, Any], respond: Reply) -> None:
        word, rest = _words(body)
        if changes_state(word, rest, body):
            also = _store_note if word == "note" else None
            await interactions.record_then_ack(
                rt, ack, body, locate=interactions.by_channel, also=also
            )
            return
        await ack()
        interactions.after_ack(rt, body, answer(rt, word, rest, body, respond))


def _words(body: dict[str, Any]) -> tuple[str, str]:
    word, _, rest = (body.get("text") or "").strip().partition(" ")
    return word.lower(), rest.strip()


def changes_state(word: str, rest: str, body: dict[str, Any]) -> bool:
    """Stored before the ack: everything but answers and modals opened with the trigger_id."""
    opens_modal = bool(body.get("trigger_id"))
    if word in ("declare", "drill"):
        return bool(from_slack(rest))
    if word == "resolve":
        return bool(rest) or not opens_modal
    if word == "postmortem":
        return not (rest.lower() == "edit" and opens_modal)
    return word in STORED_WORDS


async def run_stored(rt: Runtime, body: dict[str, Any]) -> None:
    """The `slack.interaction` job of a stored command."""
    word, rest = _words(body)
    await answer(rt, word, rest, body, interactions.responder(body))


async def answer(rt: Runtime, word: str, rest: str, body: dict[str, Any], respond: Reply) -> None:
    try:
        await dispatch(rt, word, rest, body, respond)
    except Exception:
        log.exception("slash command %r failed", word)
        await respond(response_type="ephemeral", text="Something went wrong; it is logged.")


def _store_note(
    body: dict[str, Any], number: int | None, key: str
) -> list[tuple[Table, dict[str, Any]]]:
    """Part of the ack: the note goes on the timeline when sent (PagerDuty comes in the job)."""
    _word, rest = _words(body)
    if number is None or not rest:
        return []
    text, actor = from_slack(rest), body.get("user_id")
    return [stored.note_row(number, text, actor=actor, key=note_key(key), at=utcnow())]


async def dispatch(rt: Runtime, word: str, rest: str, body: dict[str, Any], respond: Reply) -> None:
    command = rt.settings.slash_command
    user, channel = body.get("user_id"), body.get("channel_id")
    if word in ("", "help"):
        await respond(response_type="ephemeral", text=render("help", command=command))
        return
    if word == "declare":
        await _declare(rt, rest, body, respond)
        return
    if word == "drill":  # opens its own channel: works in any channel
        await drill_command.drill(rt, rest, body, respond)
        return
    if word == "stats":  # workspace-wide: works in any channel
        await _stats(rt, rest, respond, channel)
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
    title = from_slack(title)  # Slack escapes command text (should_escape): store plain words
    if not title:
        services = [s.name for s in rt.config.services]
        await rt.slack.open_view(
            body["trigger_id"], forms.declare_modal(services, channel_id=body.get("channel_id", ""))
        )
        return
    # `--drill <title>`: a rehearsal, kept out of stats, metrics and announcements.
    is_drill = title.split(" ", 1)[0].lower() == "--drill"
    if is_drill:
        title = title.split(" ", 1)[1].strip() if " " in title else ""
        if not title:
            usage = f"Usage: `{rt.settings.slash_command} declare --drill <title>`"
            await respond(response_type="ephemeral", text=escape(usage))
            return
        title = f"[DRILL] {title}"
    number = await incidents.open_incident(
        rt,
        title=title,
        severity=Severity.SEV3,
        declared_by=body.get("user_id"),
        origin_channel=None,
        is_drill=is_drill,
    )
    await respond(response_type="ephemeral", text=f"Declared INC-{number}; creating its channel…")


async def _status(
    rt: Runtime, inc: IncidentView, rest: str, user: str, body: dict[str, Any], respond: Reply
) -> None:
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
    key = note_key(interactions.interaction_key(body))
    await pagerduty_mirror.note_stored_at_ack(rt, inc, from_slack(rest), user, key)


def note_key(interaction: str) -> str:
    """The source key of a note stored at its ack (until PagerDuty's note id replaces it)."""
    return f"slack:{interaction}"[:200]


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
        await pagerduty_mirror.resolve_everywhere(
            rt, inc.number, user, fields={"summary": rest or None}
        )
        return
    await rt.slack.open_view(body["trigger_id"], forms.resolve_modal(inc))


async def _postmortem(
    rt: Runtime, inc: IncidentView, rest: str, user: str, body: dict[str, Any], respond: Reply
) -> None:
    if rest.lower() == "edit" and body.get("trigger_id"):
        await rt.slack.open_view(body["trigger_id"], forms.postmortem_edit_modal(inc))
        return
    await postmortems.publish(rt, inc.number, announce=False)


async def _followup(
    rt: Runtime, inc: IncidentView, rest: str, user: str, body: dict[str, Any], respond: Reply
) -> None:
    text, owner = postmortems.parse_followup(rest)
    if not text:
        await respond(
            response_type="ephemeral",
            text=render("followup_usage", command=rt.settings.slash_command),
        )
        return
    await postmortems.add_followup(rt, inc.number, text, owner=owner, by=user)


async def _stats(rt: Runtime, rest: str, respond: Reply, channel: str | None = None) -> None:
    """The report, to the asker only; with the word `chart`, its weekly chart is also shared
    in the channel (an ephemeral answer cannot carry a file)."""
    words = rest.split()
    chart = "chart" in words
    parsed = stats.parse_args(" ".join(w for w in words if w != "chart"))
    if isinstance(parsed, str):
        usage = render("stats_usage", command=rt.settings.slash_command)
        await respond(response_type="ephemeral", text=f"{escape(parsed)}\n{usage}")
        return
    service, days = parsed
    report = await stats.gather(rt.db, service=service, days=days)
    table = stats.format_report(report, days=days)
    await respond(response_type="ephemeral", text=render("stats", table=table))
    if chart and channel:
        await stats.post_trend_chart(rt.db, channel, service=service, days=days)


async def _ack(
    rt: Runtime, inc: IncidentView, rest: str, user: str, body: dict[str, Any], respond: Reply
) -> None:
    await pagerduty_mirror.acknowledge_everywhere(rt, inc.number, user)


async def _sev(
    rt: Runtime, inc: IncidentView, rest: str, user: str, body: dict[str, Any], respond: Reply
) -> None:
    try:
        severity = Severity.parse(rest)
    except ValueError:
        usage = render("sev_usage", command=rt.settings.slash_command)
        await respond(response_type="ephemeral", text=usage)
        return
    if not await incidents.set_severity(rt, inc.number, severity, by=user):
        text = f"{inc.ref} is already {severity.label} (or resolved)."
        await respond(response_type="ephemeral", text=text)


# <@U123> or <@U123|name>, as Slack escapes a mention in command text.
MENTION = re.compile(r"^<@([UW][A-Z0-9]{1,39})(?:\|[^>]*)?>$")  # ids fit user columns


async def _role(
    rt: Runtime, inc: IncidentView, rest: str, user: str, body: dict[str, Any], respond: Reply
) -> None:
    role, _, who = rest.strip().partition(" ")
    match = MENTION.match(who.strip())
    if role.lower() not in incidents.ROLES or match is None:
        usage = render("role_usage", command=rt.settings.slash_command)
        await respond(response_type="ephemeral", text=usage)
        return
    try:
        changed = await incidents.assign_role(rt, inc.number, role.lower(), match.group(1), by=user)
    except PermissionError as exc:
        await respond(response_type="ephemeral", text=f":no_entry: {exc}")
        return
    if not changed:
        await respond(response_type="ephemeral", text=f"Nothing changed: already {role.lower()}.")


async def _timeline(
    rt: Runtime, inc: IncidentView, rest: str, user: str, body: dict[str, Any], respond: Reply
) -> None:
    raw = rest.strip() or "10"
    if not raw.isdigit() or not 0 < int(raw) <= 100:
        usage = render("timeline_usage", command=rt.settings.slash_command)
        await respond(response_type="ephemeral", text=usage)
        return
    async with rt.db.session() as session:
        entries = await repo.timeline(session, inc.number, limit=int(raw))
    await respond(response_type="ephemeral", text=render("timeline", inc=inc, entries=entries))


STORED_WORDS = {"note", "observe", "orient", "decide", "act", "followup", "ack", "sev", "role"}

INCIDENT_COMMANDS: dict[str, Callable[..., Awaitable[None]]] = {
    "status": _status,
    "note": _note,
    "observe": _stage(Stage.OBSERVE),
    "orient": _stage(Stage.ORIENT),
    "decide": _stage(Stage.DECIDE),
    "act": _stage(Stage.ACT),
    "resolve": _resolve,
    "postmortem": _postmortem,
    "followup": _followup,
    "ack": _ack,
    "sev": _sev,
    "role": _role,
    "timeline": _timeline,
}
