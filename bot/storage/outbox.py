"""The Slack outbox: every query over slack_outbox, slack_cards and slack_lanes.

Use cases record what should be said inside the transaction that changes the state (so a
message exists exactly when its cause committed); bot.slack.sender delivers it. Ordering is per
*lane*: "inc:<n>" is an incident's own channel (which may not exist yet: its messages wait),
"ch:<id>" any other channel. Items of a lane are delivered in id order by one sender at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.model import utcnow
from bot.storage.tables import Incident, OutboxRow, SlackCardRow, SlackLaneRow

PENDING = ("pending", "sending", "unknown")  # not yet known to be delivered
DONE = ("sent", "failed")
TOPIC = "topic"  # the card kind whose "message" is the channel topic
LINK = "\u0000link\u0000"  # where a post's upload permalink goes, filled in at delivery


def incident_lane(number: int) -> str:
    return f"inc:{number}"


def channel_lane(channel: str) -> str:
    return f"ch:{channel}"


async def _ensure_lane(session: AsyncSession, lane: str) -> None:
    if await session.get(SlackLaneRow, lane) is not None:
        return
    try:
        async with session.begin_nested():
            session.add(SlackLaneRow(lane=lane))
    except IntegrityError:  # another transaction created it first
        pass


async def _add(
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
    await _ensure_lane(session, lane)
    row = OutboxRow(
        lane=lane,
        incident_id=incident,
        channel_id=channel,
        op=op,
        card=card,
        payload=payload or {},
        dedup_key=dedup_key,
    )
    if dedup_key is None:
        session.add(row)
        await session.flush()
        return row
    if await session.scalar(select(OutboxRow.id).where(OutboxRow.dedup_key == dedup_key)):
        return None
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return None
    return row


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
    return await _add(
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
    row = await session.scalar(
        select(SlackCardRow).where(SlackCardRow.incident_id == incident, SlackCardRow.kind == kind)
    )
    if row is None:
        row = SlackCardRow(
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
        try:
            async with session.begin_nested():
                session.add(row)
        except IntegrityError:  # a concurrent first render: update that one instead
            await card(session, incident, kind, text, blocks, pin=pin)
            return
        await _ensure_lane(session, lane)
        if kind != TOPIC:
            await _add(session, op="card", incident=incident, card=kind)
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
        await _add(session, op="invite", incident=incident, payload={"users": users})


def create_channel_key(incident: int) -> str:
    return f"create_channel:{incident}"


async def create_channel(session: AsyncSession, incident: int, name: str) -> None:
    await _add(
        session,
        op="create_channel",
        incident=incident,
        payload={"name": name},
        dedup_key=create_channel_key(incident),
    )


async def upload(
    session: AsyncSession,
    incident: int,
    *,
    content: str,
    filename: str,
    title: str,
    comment: str | None,
    once: str | None = None,
) -> OutboxRow | None:
    payload = {"content": content, "filename": filename, "title": title, "comment": comment}
    return await _add(session, op="upload", incident=incident, payload=payload, dedup_key=once)


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


# ---- delivery (called by the sender) -------------------------------------------------------


@dataclass(frozen=True)
class Item:
    id: int
    lane: str
    incident_id: int | None
    channel_id: str | None
    op: str
    card: str | None
    payload: dict[str, Any]
    status: str
    attempts: int


@dataclass(frozen=True)
class Card:
    id: int
    incident_id: int
    kind: str
    text: str
    blocks: list[Any] | None
    version: int
    ts: str | None
    pin: bool


async def lanes_with_work(session: AsyncSession, *, limit: int, free: bool = True) -> list[str]:
    """Lanes that have something to deliver; `free`: only those a sender may claim now (no
    live lease, no 429 wait)."""
    now = utcnow()
    pending = select(OutboxRow.lane).where(OutboxRow.status.in_(PENDING))
    dirty = select(SlackCardRow.lane).where(
        SlackCardRow.version > SlackCardRow.sent_version, SlackCardRow.ts.is_not(None)
    )
    query = select(SlackLaneRow.lane).where(
        or_(SlackLaneRow.lane.in_(pending), SlackLaneRow.lane.in_(dirty))
    )
    if free:
        query = query.where(
            or_(SlackLaneRow.lease_until.is_(None), SlackLaneRow.lease_until < now),
            or_(SlackLaneRow.not_before.is_(None), SlackLaneRow.not_before <= now),
        )
    return list((await session.scalars(query.order_by(SlackLaneRow.lane).limit(limit))).all())


async def claim_lane(session: AsyncSession, lane: str, owner: str, lease: timedelta) -> bool:
    """Take the lane for `lease` if nobody holds it: a conditional UPDATE, atomic on SQLite and
    PostgreSQL alike (PostgreSQL re-checks the condition after waiting for the row lock)."""
    now = utcnow()
    result = await session.execute(
        update(SlackLaneRow)
        .where(
            SlackLaneRow.lane == lane,
            or_(
                SlackLaneRow.lease_until.is_(None),
                SlackLaneRow.lease_until < now,
                SlackLaneRow.leased_by == owner,
            ),
            or_(SlackLaneRow.not_before.is_(None), SlackLaneRow.not_before <= now),
        )
        .values(leased_by=owner, lease_until=now + lease)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def renew_lane(session: AsyncSession, lane: str, owner: str, lease: timedelta) -> bool:
    result = await session.execute(
        update(SlackLaneRow)
        .where(SlackLaneRow.lane == lane, SlackLaneRow.leased_by == owner)
        .values(lease_until=utcnow() + lease)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def release_lane(
    session: AsyncSession, lane: str, owner: str, *, not_before: datetime | None = None
) -> None:
    await session.execute(
        update(SlackLaneRow)
        .where(SlackLaneRow.lane == lane, SlackLaneRow.leased_by == owner)
        .values(leased_by=None, lease_until=None, not_before=not_before)
        .execution_options(synchronize_session=False)
    )


async def next_items(session: AsyncSession, lane: str, *, limit: int = 20) -> list[Item]:
    query = (
        select(OutboxRow)
        .where(OutboxRow.lane == lane, OutboxRow.status.in_(PENDING))
        .order_by(OutboxRow.id)
        .limit(limit)
    )
    return [
        Item(
            r.id,
            r.lane,
            r.incident_id,
            r.channel_id,
            r.op,
            r.card,
            dict(r.payload or {}),
            r.status,
            r.attempts,
        )
        for r in (await session.scalars(query)).all()
    ]


def _card(r: SlackCardRow) -> Card:
    return Card(r.id, r.incident_id, r.kind, r.text, r.blocks, r.version, r.ts, r.pin)


async def get_card(session: AsyncSession, incident: int, kind: str) -> Card | None:
    row = await session.scalar(
        select(SlackCardRow).where(SlackCardRow.incident_id == incident, SlackCardRow.kind == kind)
    )
    return _card(row) if row else None


async def dirty_cards(session: AsyncSession, lane: str) -> list[Card]:
    query = (
        select(SlackCardRow)
        .where(
            SlackCardRow.lane == lane,
            SlackCardRow.version > SlackCardRow.sent_version,
            SlackCardRow.ts.is_not(None),
        )
        .order_by(SlackCardRow.id)
    )
    return [_card(r) for r in (await session.scalars(query)).all()]


async def set_status(
    session: AsyncSession,
    item_id: int,
    status: str,
    *,
    error: str | None = None,
    result: dict[str, Any] | None = None,
    attempt: bool = False,
    attempts: int | None = None,
) -> None:
    """`attempt`: count one more try; `attempts`: set the count back (a try that did not count)."""
    values: dict[str, Any] = {"status": status}
    if attempts is not None:
        values["attempts"] = attempts
    if error is not None:
        values["last_error"] = error[:2000]
    if result is not None:
        values["result"] = result
    if status in ("sent", "failed"):
        values["sent_at"] = utcnow()
    if attempt:
        values["attempts"] = OutboxRow.attempts + 1
    await session.execute(
        update(OutboxRow)
        .where(OutboxRow.id == item_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


async def card_sent(session: AsyncSession, card_id: int, version: int, ts: str | None) -> None:
    values: dict[str, Any] = {"sent_version": version}
    if ts is not None:
        values["ts"] = ts
    await session.execute(
        update(SlackCardRow)
        .where(SlackCardRow.id == card_id, SlackCardRow.sent_version < version)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


async def card_lost(session: AsyncSession, card: Card) -> None:
    """Its message is gone from Slack: post the newest render again, at the end of the lane."""
    await session.execute(
        update(SlackCardRow)
        .where(SlackCardRow.id == card.id)
        .values(ts=None, sent_version=0)
        .execution_options(synchronize_session=False)
    )
    await _add(session, op="card", incident=card.incident_id, card=card.kind)


async def item_result(session: AsyncSession, item_id: int) -> tuple[str, dict[str, Any]] | None:
    row = await session.get(OutboxRow, item_id)
    return (row.status, dict(row.result or {})) if row else None


async def incident_channel(session: AsyncSession, incident: int) -> str | None:
    return await session.scalar(select(Incident.channel_id).where(Incident.id == incident))


async def set_incident_channel(
    session: AsyncSession, incident: int, channel_id: str, name: str
) -> None:
    await session.execute(
        update(Incident)
        .where(Incident.id == incident)
        .values(channel_id=channel_id, channel_name=name)
        .execution_options(synchronize_session=False)
    )


async def undelivered(session: AsyncSession) -> int:
    """Items not yet delivered plus cards whose newest render is not in Slack yet."""
    items = await session.scalar(
        select(func.count()).select_from(OutboxRow).where(OutboxRow.status.in_(PENDING))
    )
    cards = await session.scalar(
        select(func.count())
        .select_from(SlackCardRow)
        .where(SlackCardRow.version > SlackCardRow.sent_version)
        .where(
            or_(
                SlackCardRow.ts.is_not(None),
                and_(SlackCardRow.kind != TOPIC, SlackCardRow.sent_version == 0),
            )
        )
    )
    return int(items or 0) + int(cards or 0)


async def counts_by_status(session: AsyncSession) -> dict[str, int]:
    query = select(OutboxRow.status, func.count()).group_by(OutboxRow.status)
    return {status: int(n) for status, n in (await session.execute(query)).all()}


async def prune(session: AsyncSession, before: datetime) -> int:
    result = await session.execute(
        delete(OutboxRow).where(
            OutboxRow.status.in_(("sent", "failed")), OutboxRow.sent_at < before
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
