"""The incidents and stage spans MTTA/MTTR stats are computed from."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.metrics import IncidentSample
from bot.domain.model import Stage, StageSpan
from bot.storage.repo.incidents import to_view
from bot.storage.tables import Incident, StageSpanRow


async def incident_samples(
    session: AsyncSession, *, since: datetime | None = None, service: str | None = None
) -> list[IncidentSample]:
    """Non-drill incidents opened since ``since``, with their stage spans (two queries)."""
    query = select(Incident).where(Incident.is_drill.is_(False))
    if since is not None:
        query = query.where(Incident.opened_at >= since)
    if service is not None:
        query = query.where(Incident.service == service)
    incidents = list((await session.scalars(query.order_by(Incident.id))).all())
    spans: dict[int, list[StageSpan]] = {row.id: [] for row in incidents}
    span_query = (
        select(StageSpanRow)
        .join(Incident, Incident.id == StageSpanRow.incident_id)
        .where(Incident.id.in_(query.with_only_columns(Incident.id).scalar_subquery()))
        .order_by(StageSpanRow.started_at, StageSpanRow.id)
    )
    for row in (await session.scalars(span_query)).all():
        if row.incident_id in spans:
            spans[row.incident_id].append(
                StageSpan(Stage(row.stage), row.iteration, row.started_at, row.ended_at)
            )
    return [IncidentSample.from_view(to_view(row), spans[row.id]) for row in incidents]
