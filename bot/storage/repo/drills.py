"""Drills: the scenario and clock of each drill incident, and what its scorecard reads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.model import Verdict
from bot.storage.tables import ChangeRow, DrillRow, Incident, IncidentChangeRow


def add_drill(
    session: AsyncSession,
    number: int,
    *,
    scenario_name: str,
    scenario: dict[str, Any],
    started_at: datetime,
    speed: float,
    started_by: str | None,
    start_key: str | None = None,
) -> DrillRow:
    row = DrillRow(
        start_key=start_key,
        incident_id=number,
        scenario_name=scenario_name,
        scenario=scenario,
        started_at=started_at,
        speed=speed,
        started_by=started_by,
    )
    session.add(row)
    return row


async def drill(session: AsyncSession, number: int, *, lock: bool = False) -> DrillRow | None:
    query = select(DrillRow).where(DrillRow.incident_id == number)
    if lock:
        query = query.with_for_update()
    return (await session.scalars(query)).first()


async def planted_changes_of(session: AsyncSession, number: int, is_drill: bool) -> int | None:
    """The drill whose planted changes an incident's Orient ranks: its own number for a
    scenario drill; None (the real changes) for a real incident or a `declare --drill` one."""
    if not is_drill:
        return None
    query = select(DrillRow.incident_id).where(DrillRow.incident_id == number)
    return await session.scalar(query)


async def drill_started_by(session: AsyncSession, start_key: str) -> int | None:
    """The drill a request already started (a replayed or retried command)."""
    query = select(DrillRow.incident_id).where(DrillRow.start_key == start_key)
    return await session.scalar(query)


async def drills(
    session: AsyncSession, *, scenario: str | None = None, limit: int = 50
) -> list[tuple[DrillRow, Incident]]:
    """The latest drills, newest first, with their incidents."""
    query = select(DrillRow, Incident).join(Incident, Incident.id == DrillRow.incident_id)
    if scenario:
        query = query.where(DrillRow.scenario_name == scenario)
    query = query.order_by(DrillRow.started_at.desc(), DrillRow.incident_id.desc()).limit(limit)
    return [(d, i) for d, i in (await session.execute(query)).all()]


async def marked_changes(
    session: AsyncSession, number: int
) -> list[tuple[str, Verdict, datetime | None]]:
    """The incident's changes responders gave a verdict: (external id, verdict, when)."""
    query = (
        select(ChangeRow.external_id, IncidentChangeRow.verdict, IncidentChangeRow.verdict_at)
        .join(ChangeRow, ChangeRow.id == IncidentChangeRow.change_id)
        .where(IncidentChangeRow.incident_id == number, IncidentChangeRow.verdict.is_not(None))
        .order_by(IncidentChangeRow.rank)
    )
    return [(e, Verdict(v), at) for e, v, at in (await session.execute(query)).all() if v]
