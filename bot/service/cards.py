"""Posting and keeping current the bot's messages in an incident channel."""

from __future__ import annotations

import hashlib
import logging

from slack_sdk.errors import SlackApiError

from bot.domain.model import IncidentView, utcnow
from bot.domain.ranking import pick_suspect
from bot.service.runtime import Runtime
from bot.slack import views
from bot.slack.blocks import Block
from bot.storage import repo

log = logging.getLogger(__name__)


async def post_or_update(
    rt: Runtime, inc: IncidentView, kind: str, text: str, blocks: list[Block]
) -> str | None:
    """Post the card the first time; chat.update it afterwards (one message per kind)."""
    if not inc.channel_id:
        return None
    async with rt.db.session() as session:
        ts = await repo.message_ts(session, inc.number, kind)
    if ts:
        try:
            await rt.slack.update(inc.channel_id, ts, text, blocks)
            return ts
        except SlackApiError as exc:
            if exc.response.get("error") != "message_not_found":
                raise
    ts = await rt.slack.post(inc.channel_id, text, blocks)
    async with rt.db.transaction() as session:
        await repo.remember_message(session, inc.number, kind, inc.channel_id, ts)
    return ts


async def say(rt: Runtime, inc: IncidentView, text: str, blocks: list[Block] | None = None) -> None:
    if inc.channel_id:
        await rt.slack.post(inc.channel_id, text, blocks)


async def refresh_summary(rt: Runtime, number: int) -> None:
    """Update the pinned live summary and the channel topic from the database."""
    async with rt.db.session() as session:
        row = await repo.get_incident(session, number)
        if row is None or not row.channel_id:
            return
        inc = repo.to_view(row)
        spans = await repo.spans(session, number)
        ranked = await repo.ranked_changes(session, number)
        actions = await repo.action_runs(session, number)
        had_summary = await repo.message_ts(session, number, "summary")
    last = actions[-1] if actions else None
    last_text = f"{last.title}: {last.status}" if last else None
    text, blocks = views.summary(
        inc, spans, top=pick_suspect(ranked), last_action=last_text, now=utcnow()
    )
    ts = await post_or_update(rt, inc, "summary", text, blocks)
    if ts and not had_summary:
        await rt.slack.pin(inc.channel_id, ts)
    try:
        await rt.slack.set_topic(inc.channel_id, views.topic(inc))
    except SlackApiError as exc:  # a topic is nice to have, never worth failing a job
        log.warning("could not set topic for %s: %s", inc.ref, exc.response.get("error"))


async def load_view(rt: Runtime, number: int) -> IncidentView | None:
    async with rt.db.session() as session:
        row = await repo.get_incident(session, number)
        return repo.to_view(row) if row else None


def message_kind(prefix: str, channel: str) -> str:
    """An incident_messages kind naming one message in one channel (the column holds 40)."""
    kind = f"{prefix}:{channel}"
    if len(kind) <= 40:
        return kind
    return f"{prefix}:" + hashlib.sha256(channel.encode()).hexdigest()[: 39 - len(prefix)]


async def post_once(
    rt: Runtime,
    inc: IncidentView,
    kind: str,
    channel: str,
    text: str,
    blocks: list[Block] | None = None,
) -> str | None:
    """Post a message unless this kind was already posted for the incident: a retried job does
    not say the same thing twice. Returns the ts when it posted."""
    async with rt.db.session() as session:
        if await repo.message_ts(session, inc.number, kind):
            return None
    ts = await rt.slack.post(channel, text, blocks)
    async with rt.db.transaction() as session:
        await repo.remember_message(session, inc.number, kind, channel, ts)
    return ts
