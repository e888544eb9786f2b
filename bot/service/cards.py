"""What the bot says in an incident's channel, recorded in the Slack outbox.

Every function here runs inside the caller's transaction, so a message is recorded exactly
when the state change that caused it commits; bot.slack.delivery.sender delivers it (in order, once),
woken by that commit. Cards (Observe, Orient, Decide, the live summary, the topic) are desired
state: recording a newer render replaces what will be sent.
"""

from __future__ import annotations

import hashlib

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.model import IncidentView, utcnow
from bot.domain.ranking import pick_suspect
from bot.service.runtime import Runtime
from bot.slack.out import views
from bot.slack.out.blocks import Block
from bot.storage import outbox, repo


async def say(
    session: AsyncSession,
    number: int,
    text: str,
    blocks: list[Block] | None = None,
    *,
    once: str | None = None,
) -> bool:
    """A message in the incident's channel (held until the channel exists). With `once`, at
    most one message is ever recorded under that key. False when `once` said it already."""
    return await outbox.post(session, number, text, blocks, once=once) is not None


async def show(
    session: AsyncSession,
    number: int,
    kind: str,
    text: str,
    blocks: list[Block] | None,
    *,
    pin: bool = False,
) -> None:
    """The newest render of a card: posted the first time, updated in place afterwards."""
    await outbox.card(session, number, kind, text, blocks, pin=pin)


async def invite(session: AsyncSession, number: int, users: list[str]) -> None:
    await outbox.invite(session, number, users)


async def refresh_summary(session: AsyncSession, number: int) -> None:
    """Record the pinned live summary and the channel topic as they are now."""
    row = await repo.get_incident(session, number)
    if row is None:
        return
    inc = repo.to_view(row)
    spans = await repo.spans(session, number)
    ranked = await repo.ranked_changes(session, number)
    actions = await repo.action_runs(session, number)
    last = actions[-1] if actions else None
    last_text = f"{last.title}: {last.status}" if last else None
    text, blocks = views.summary(
        inc, spans, top=pick_suspect(ranked), last_action=last_text, now=utcnow()
    )
    await outbox.card(session, number, "summary", text, blocks, pin=True)
    await outbox.topic(session, number, views.topic(inc))


async def refresh(rt: Runtime, number: int) -> None:
    """Record the live summary in a transaction of its own, and deliver it."""
    async with rt.db.transaction() as session:
        await refresh_summary(session, number)


def message_kind(prefix: str, channel: str) -> str:
    """A short key naming one message in one channel (announcements, once per channel)."""
    kind = f"{prefix}:{channel}"
    if len(kind) <= 40:
        return kind
    return f"{prefix}:" + hashlib.sha256(channel.encode()).hexdigest()[: 39 - len(prefix)]


async def announce_in(
    session: AsyncSession,
    inc: IncidentView,
    channel: str,
    text: str,
    *,
    once: str | None = None,
    link_channel: bool = True,
    link_upload: int | None = None,
    text_no_link: str | None = None,
) -> None:
    """A post in another channel (announcements), naming the incident channel once it exists."""
    key = f"{inc.number}:{message_kind(once, channel)}" if once else None
    row = await outbox.post(
        session,
        inc.number,
        text,
        channel=channel,
        once=key,
        link_channel_of=inc.number if link_channel else None,
        link_upload=link_upload,
    )
    if row is not None and text_no_link is not None:
        row.payload = {**row.payload, "text_no_link": text_no_link}


async def say_now(
    rt: Runtime,
    number: int,
    text: str,
    blocks: list[Block] | None = None,
    *,
    once: str | None = None,
) -> None:
    """`say` in a transaction of its own, for a message that follows a state change already
    committed (a job's report). `once` keeps a retried job from saying it twice."""
    async with rt.db.transaction() as session:
        await say(session, number, text, blocks, once=once)
