"""Slack interactions stored before their ack: one row per Slack id, a redelivery is a no-op."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.model import TimelineKind, utcnow
from bot.storage.tables import InboundEvent, Incident, TimelineRow

SOURCE = "slack-interaction"  # inbound_events.source (Events API deliveries are "slack")


async def record_interaction(
    session: AsyncSession, key: str, kind: str | None, payload: dict[str, Any]
) -> int | None:
    """Insert the interaction under its key; its id, or None when the key was stored before.

    One INSERT … ON CONFLICT DO NOTHING: no savepoint round trips on the ack path."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(InboundEvent)
        .values(
            source=SOURCE,
            dedup_key=key,
            event_type=kind,
            payload=payload,
            received_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["source", "dedup_key"])
        .returning(InboundEvent.id)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def interaction(session: AsyncSession, inbound_id: int) -> dict[str, Any] | None:
    """The stored payload of one interaction."""
    query = select(InboundEvent.payload).where(
        InboundEvent.id == inbound_id, InboundEvent.source == SOURCE
    )
    payload = await session.scalar(query)
    return dict(payload) if payload is not None else None


async def seen(session: AsyncSession, key: str) -> bool:
    query = select(InboundEvent.id).where(
        InboundEvent.source == SOURCE, InboundEvent.dedup_key == key
    )
    return (await session.scalar(query)) is not None


async def incident_for_channel(session: AsyncSession, channel_id: str | None) -> int | None:
    if not channel_id:
        return None
    return await session.scalar(select(Incident.id).where(Incident.channel_id == channel_id))


def add_note(
    session: AsyncSession, number: int, text: str, *, actor: str | None, key: str, at: datetime
) -> None:
    """The note's timeline entry, in the ack's transaction: its place is when it was sent."""
    session.add(
        TimelineRow(
            incident_id=number,
            at=at,
            kind=TimelineKind.NOTE.value,
            actor=actor,
            text=text,
            data={"slack": key},  # found by this even after its PagerDuty key replaced `key`
            source_key=key,
            pinned=False,
        )
    )


async def stored_note(session: AsyncSession, number: int, key: str) -> tuple[int, str] | None:
    """(id, current source key) of the note stored at the ack under `key`."""
    query = select(TimelineRow.id, TimelineRow.source_key).where(
        TimelineRow.incident_id == number,
        TimelineRow.kind == TimelineKind.NOTE.value,
        TimelineRow.data["slack"].as_string() == key,
    )
    row = (await session.execute(query)).first()
    return (row[0], str(row[1])) if row else None


async def rekey_note(session: AsyncSession, number: int, entry_id: int, new_key: str) -> bool:
    """Give a stored note the key its PagerDuty echo carries. True when the echo had landed
    first: ours keeps its place, the echo's copy goes."""
    echo = await session.scalar(
        select(TimelineRow).where(
            TimelineRow.incident_id == number, TimelineRow.source_key == new_key
        )
    )
    if echo is not None:
        await session.delete(echo)
        await session.flush()
    await session.execute(
        update(TimelineRow).where(TimelineRow.id == entry_id).values(source_key=new_key)
    )
    return echo is not None
