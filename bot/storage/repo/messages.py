"""The Slack messages the bot keeps updating (cards, summary), by incident and kind."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.tables import IncidentMessageRow


async def message_ts(session: AsyncSession, incident_id: int, kind: str) -> str | None:
    query = select(IncidentMessageRow.ts).where(
        IncidentMessageRow.incident_id == incident_id, IncidentMessageRow.kind == kind
    )
    return (await session.scalars(query)).first()


async def remember_message(
    session: AsyncSession, incident_id: int, kind: str, channel_id: str, ts: str
) -> None:
    query = select(IncidentMessageRow).where(
        IncidentMessageRow.incident_id == incident_id, IncidentMessageRow.kind == kind
    )
    row = (await session.scalars(query)).first()
    if row is None:
        session.add(
            IncidentMessageRow(incident_id=incident_id, kind=kind, channel_id=channel_id, ts=ts)
        )
    else:
        row.channel_id, row.ts = channel_id, ts
