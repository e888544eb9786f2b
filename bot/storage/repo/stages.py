"""Stage spans: the time each incident spends in each stage of each loop."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.model import Stage, StageSpan, utcnow
from bot.domain.stages import iteration_for
from bot.metrics import note_closed_span
from bot.storage.tables import Incident, StageSpanRow


async def spans(session: AsyncSession, incident_id: int) -> list[StageSpan]:
    query = (
        select(StageSpanRow)
        .where(StageSpanRow.incident_id == incident_id)
        .order_by(StageSpanRow.started_at, StageSpanRow.id)
    )
    return [
        StageSpan(Stage(r.stage), r.iteration, r.started_at, r.ended_at)
        for r in (await session.scalars(query)).all()
    ]


async def move_stage(
    session: AsyncSession, incident: Incident, stage: Stage, *, at: datetime | None = None
) -> bool:
    """Close the open span and open one for `stage`. False if already there."""
    at = at or utcnow()
    if incident.stage == stage.value and incident.status != "resolved":
        return False
    history = await spans(session, incident.id)
    query = select(StageSpanRow).where(
        StageSpanRow.incident_id == incident.id, StageSpanRow.ended_at.is_(None)
    )
    for open_span in (await session.scalars(query)).all():
        open_span.ended_at = at
        note_closed_span(session, open_span.stage, open_span.started_at, at)
    session.add(
        StageSpanRow(
            incident_id=incident.id,
            stage=stage.value,
            iteration=iteration_for(history, stage),
            started_at=at,
        )
    )
    incident.stage = stage.value
    return True


async def close_spans(session: AsyncSession, incident_id: int, at: datetime) -> None:
    query = select(StageSpanRow).where(
        StageSpanRow.incident_id == incident_id, StageSpanRow.ended_at.is_(None)
    )
    for open_span in (await session.scalars(query)).all():
        open_span.ended_at = at
        note_closed_span(session, open_span.stage, open_span.started_at, at)
