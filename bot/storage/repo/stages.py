"""Stage spans: the time each incident spends in each stage of each loop."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.model import Stage, StageSpan, utcnow
from bot.domain.stages import iteration_for
from bot.storage.tables import Incident, StageSpanRow

# session.info key: the spans closed in this session, for the caller to record once committed.
CLOSED_SPANS = "ooda_closed_spans"


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


def closed_spans(session: AsyncSession) -> list[StageSpan]:
    """The spans `move_stage`/`close_spans` closed in this session, each handed out once."""
    closed: list[StageSpan] = session.info.pop(CLOSED_SPANS, [])
    return closed


async def _close_open_spans(session: AsyncSession, incident_id: int, at: datetime) -> None:
    query = select(StageSpanRow).where(
        StageSpanRow.incident_id == incident_id, StageSpanRow.ended_at.is_(None)
    )
    for open_span in (await session.scalars(query)).all():
        open_span.ended_at = at
        closed = StageSpan(Stage(open_span.stage), open_span.iteration, open_span.started_at, at)
        session.info.setdefault(CLOSED_SPANS, []).append(closed)


async def move_stage(
    session: AsyncSession, incident: Incident, stage: Stage, *, at: datetime | None = None
) -> bool:
    """Close the open span and open one for `stage`. False if already there."""
    at = at or utcnow()
    if incident.stage == stage.value and incident.status != "resolved":
        return False
    history = await spans(session, incident.id)
    await _close_open_spans(session, incident.id, at)
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
    await _close_open_spans(session, incident_id, at)


async def restart_loop(session: AsyncSession, incident: Incident, at: datetime) -> None:
    """A reopened incident starts a new pass through the loop: a fresh Observe span with the
    next iteration number, even when it was resolved during Observe."""
    incident.stage = "resolved"  # force a fresh Observe span
    before = await spans(session, incident.id)
    await move_stage(session, incident, Stage.OBSERVE, at=at)
    await session.flush()
    fresh = select(StageSpanRow).where(
        StageSpanRow.incident_id == incident.id, StageSpanRow.ended_at.is_(None)
    )
    for span in (await session.scalars(fresh)).all():
        span.iteration = max((s.iteration for s in before), default=0) + 1
