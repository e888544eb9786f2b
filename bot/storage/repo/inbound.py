"""Verified inbound events (webhooks), stored once per dedup key."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.inserts import insert_new
from bot.storage.tables import InboundEvent


async def record_inbound(
    session: AsyncSession,
    source: str,
    dedup_key: str,
    event_type: str | None,
    payload: dict[str, Any],
) -> InboundEvent | None:
    """Store a verified inbound event; None when this dedup key was seen before."""
    return await insert_new(
        session,
        InboundEvent,
        ("source", "dedup_key"),
        source=source,
        dedup_key=dedup_key,
        event_type=event_type,
        payload=payload,
    )


async def inbound_event(session: AsyncSession, inbound_id: int) -> InboundEvent | None:
    return await session.get(InboundEvent, inbound_id)
