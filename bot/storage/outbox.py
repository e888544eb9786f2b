"""The Slack outbox: every query over slack_outbox, slack_cards and slack_lanes.

Use cases record what should be said inside the transaction that changes the state (so a
message exists exactly when its cause committed); bot.slack.delivery.sender delivers it. Ordering is per
*lane*: "inc:<n>" is an incident's own channel (which may not exist yet: its messages wait),
"ch:<id>" any other channel. Items of a lane are delivered in id order by one sender at a time.
"""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.db import SAID
from bot.storage.inserts import ensure, insert_new
from bot.storage.tables import OutboxRow, SlackCardRow, SlackLaneRow

PENDING = ("pending", "sending", "unknown")  # not yet known to be delivered
DONE = ("sent", "failed")
TOPIC = "topic"  # the card kind whose "message" is the channel topic
ENSURED_LANES = "ooda.lanes_ensured"  # session.info: lanes this transaction made sure exist
LINK = "\u0000link\u0000"  # where a post's upload permalink goes, filled in at delivery


def incident_lane(number: int) -> str:
    return f"inc:{number}"


def channel_lane(channel: str) -> str:
    return f"ch:{channel}"


async def _ensure_lane(session: AsyncSession, lane: str) -> None:
    ensured = session.info.setdefault(ENSURED_LANES, set())
    if lane not in ensured:
        await ensure(session, SlackLaneRow, ("lane",), lane=lane)
        ensured.add(lane)


async def add_item(
    session: AsyncSession,
    *,
    op: str,
    incident: int | None,
    channel: str | None = None,
    payload: dict[str, Any] | None = None,
    card: str | None = None,
    dedup_key: str | None = None,
) -> OutboxRow | None:
    lane = channel_lane(channel) if channel else incident_lane(int(incident or 0))
    session.info.setdefault(SAID, set()).add(lane)
    await _ensure_lane(session, lane)
    fields = {
        "lane": lane,
        "incident_id": incident,
        "channel_id": channel,
        "op": op,
        "card": card,
        "payload": payload or {},
        "dedup_key": dedup_key,
    }
    if dedup_key is None:
        row = OutboxRow(**fields)
        session.add(row)
        await session.flush()
        return row
    return await insert_new(session, OutboxRow, ("dedup_key",), **fields)


# ---- recording (called by use cases, inside their transaction) ------------------------------


async def post(
    session: AsyncSession,
    incident: int | None,
    text: str,
    blocks: list[dict[str, Any]] | None = None,
    *,
    channel: str | None = None,
    once: str | None = None,
    link_channel_of: int | None = None,
    link_upload: int | None = None,
) -> OutboxRow | None:
    """A message in the incident's channel (or `channel`). `once`: said at most once ever under
    that key. `link_channel_of`: appended " · join <#…>" once that incident has a channel.
    `link_upload`: an upload item whose permalink replaces LINK in the text."""
    payload: dict[str, Any] = {"text": text, "blocks": blocks}
    if link_channel_of is not None:
        payload["link_channel_of"] = link_channel_of
    if link_upload is not None:
        payload["link_upload"] = link_upload
    return await add_item(
        session, op="post", incident=incident, channel=channel, payload=payload, dedup_key=once
    )


async def card(
    session: AsyncSession,
    incident: int,
    kind: str,
    text: str,
    blocks: list[dict[str, Any]] | None = None,
    *,
    pin: bool = False,
) -> None:
    """The newest render of a card. The first render takes its place in the channel's order;
    later ones only replace what the sender will chat.update (a burst costs one call)."""
    lane = incident_lane(incident)
    session.info.setdefault(SAID, set()).add(lane)
    row = await session.scalar(
        select(SlackCardRow).where(SlackCardRow.incident_id == incident, SlackCardRow.kind == kind)
    )
    if row is None:
        row = await insert_new(
            session,
            SlackCardRow,
            ("incident_id", "kind"),
            incident_id=incident,
            kind=kind,
            lane=lane,
            text=text,
            blocks=blocks,
            version=1,
            sent_version=0,
            pin=pin,
            ts=TOPIC if kind == TOPIC else None,
        )
        if row is None:  # a concurrent first render: update that one instead
            await card(session, incident, kind, text, blocks, pin=pin)
            return
        await _ensure_lane(session, lane)
        if kind != TOPIC:
            await add_item(session, op="card", incident=incident, card=kind)
        return
    await session.execute(
        update(SlackCardRow)
        .where(SlackCardRow.id == row.id)
        .values(text=text, blocks=blocks, version=SlackCardRow.version + 1)
        .execution_options(synchronize_session=False)
    )


async def topic(session: AsyncSession, incident: int, text: str) -> None:
    await card(session, incident, TOPIC, text[:250])


async def invite(session: AsyncSession, incident: int, users: list[str]) -> None:
    users = sorted({u for u in users if u})
    if users:
        await add_item(session, op="invite", incident=incident, payload={"users": users})


def create_channel_key(incident: int) -> str:
    return f"create_channel:{incident}"


async def create_channel(session: AsyncSession, incident: int, name: str) -> None:
    await add_item(
        session,
        op="create_channel",
        incident=incident,
        payload={"name": name},
        dedup_key=create_channel_key(incident),
    )


async def upload(
    session: AsyncSession,
    incident: int | None,
    *,
    content: str | bytes,
    filename: str,
    title: str,
    comment: str | None,
    once: str | None = None,
    channel: str | None = None,
) -> OutboxRow | None:
    """A file for the incident's channel (or `channel`): text, or bytes (an image), kept as
    base64 in JSON."""
    payload: dict[str, Any] = {"filename": filename, "title": title, "comment": comment}
    if isinstance(content, bytes):
        payload["content_b64"] = base64.b64encode(content).decode("ascii")
    else:
        payload["content"] = content
    return await add_item(
        session, op="upload", incident=incident, channel=channel, payload=payload, dedup_key=once
    )


async def card_ts(session: AsyncSession, incident: int, kind: str) -> str | None:
    return await session.scalar(
        select(SlackCardRow.ts).where(
            SlackCardRow.incident_id == incident, SlackCardRow.kind == kind
        )
    )


async def said(session: AsyncSession, dedup_key: str) -> bool:
    return (
        await session.scalar(select(OutboxRow.id).where(OutboxRow.dedup_key == dedup_key))
    ) is not None
