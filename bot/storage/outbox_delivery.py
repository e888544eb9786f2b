"""The Slack outbox, delivery side: the queries bot.slack.delivery.sender runs to claim a channel's
lane, read what it has to deliver and record what Slack answered. (Recording what to say is
bot.storage.outbox.)"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.model import utcnow
from bot.storage.db import rowcount
from bot.storage.outbox import PENDING, TOPIC, add_item
from bot.storage.tables import Incident, OutboxRow, SlackCardRow, SlackLaneRow


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
    rendered: Card | None = None  # a card item's card, read with the item


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


async def claim_lane(session: AsyncSession, lane: str, owner: str, lease: timedelta) -> str:
    """Take the lane for `lease` if nobody holds it: a conditional UPDATE, atomic on SQLite and
    PostgreSQL alike (PostgreSQL re-checks the condition after waiting for the row lock).

    Returns "" when it is held, "clean" when the last sender released it, "taken_over" when
    the last sender's lease ran out instead (it died, maybe in the middle of a call)."""
    now = utcnow()
    before = await session.scalar(select(SlackLaneRow.leased_by).where(SlackLaneRow.lane == lane))
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
    if not rowcount(result):
        return ""
    return "taken_over" if before not in (None, owner) else "clean"


async def renew_lane(session: AsyncSession, lane: str, owner: str, lease: timedelta) -> bool:
    result = await session.execute(
        update(SlackLaneRow)
        .where(SlackLaneRow.lane == lane, SlackLaneRow.leased_by == owner)
        .values(lease_until=utcnow() + lease)
        .execution_options(synchronize_session=False)
    )
    return bool(rowcount(result))


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
    rows = (await session.scalars(query)).all()
    cards: dict[tuple[int, str], Card] = {}
    wanted = {(r.incident_id, r.card) for r in rows if r.op == "card" and r.incident_id}
    if wanted:  # in the same round trip's session: the sender posts them without another read
        incidents = {number for number, _kind in wanted}
        found = await session.scalars(
            select(SlackCardRow).where(SlackCardRow.incident_id.in_(incidents))
        )
        cards = {(c.incident_id, c.kind): _card(c) for c in found}
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
            cards.get((r.incident_id or 0, r.card or "")),
        )
        for r in rows
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
    await add_item(session, op="card", incident=card.incident_id, card=card.kind)


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
