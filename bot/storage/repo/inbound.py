"""Verified inbound events (webhooks), stored once per dedup key."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.tables import InboundEvent


async def record_inbound(
    session: AsyncSession,
    source: str,
    dedup_key: str,
    event_type: str | None,
    payload: dict[str, Any],
) -> InboundEvent | None:
    """Store a verified inbound event; None when this dedup key was seen before."""
    row = InboundEvent(source=source, dedup_key=dedup_key, event_type=event_type, payload=payload)
    try:
        async with session.begin_nested():
            session.add(row)
        return row
    except IntegrityError:
        return None


async def inbound_event(session: AsyncSession, inbound_id: int) -> InboundEvent | None:
    return await session.get(InboundEvent, inbound_id)
