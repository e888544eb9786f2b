"""The web console's reads: incidents filtered and paged by number (keyset on the primary
key), the services they name, and timeline entries after the last one a page has shown."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.model import IncidentView, TimelineEntry, TimelineKind
from bot.storage.repo.incidents import to_view
from bot.storage.tables import Incident, TimelineRow


@dataclass(frozen=True)
class IncidentFilter:
    status: str | None = None
    severity: int | None = None
    service: str | None = None
    opened_from: datetime | None = None  # inclusive
    opened_to: datetime | None = None  # exclusive
    drills: bool = False  # drills are hidden unless asked for
    text: str | None = None  # in the title, summary or service


@dataclass(frozen=True)
class IncidentPage:
    incidents: list[IncidentView]
    older: int | None  # `before` for the next page (older incidents), None on the last one
    newer: int | None  # `after` for the previous page, None on the first one


def _filtered(query: Select[Any], f: IncidentFilter) -> Select[Any]:
    if f.status:
        query = query.where(Incident.status == f.status)
    if f.severity is not None:
        query = query.where(Incident.severity == f.severity)
    if f.service:
        query = query.where(Incident.service == f.service)
    if f.opened_from is not None:
        query = query.where(Incident.opened_at >= f.opened_from)
    if f.opened_to is not None:
        query = query.where(Incident.opened_at < f.opened_to)
    if not f.drills:
        query = query.where(Incident.is_drill.is_(False))
    if f.text:
        query = query.where(
            or_(
                Incident.title.icontains(f.text, autoescape=True),
                Incident.summary.icontains(f.text, autoescape=True),
                Incident.service.icontains(f.text, autoescape=True),
            )
        )
    return query


async def incident_page(
    session: AsyncSession,
    f: IncidentFilter,
    *,
    before: int | None = None,
    after: int | None = None,
    limit: int = 50,
) -> IncidentPage:
    """Newest first. `before`: numbers below it (older); `after`: numbers above it (newer)."""
    query = _filtered(select(Incident), f)
    if after is not None:
        query = query.where(Incident.id > after).order_by(Incident.id.asc())
    else:
        if before is not None:
            query = query.where(Incident.id < before)
        query = query.order_by(Incident.id.desc())
    rows = list((await session.scalars(query.limit(limit + 1))).all())
    more = len(rows) > limit
    rows = rows[:limit]
    if after is not None:
        rows.reverse()
    if not rows:
        return IncidentPage([], None, None)
    newest, oldest = rows[0].id, rows[-1].id
    if after is not None:
        older_exists = await _exists(
            session, _filtered(select(Incident.id), f), Incident.id < oldest
        )
        return IncidentPage([to_view(r) for r in rows], oldest if older_exists else None,
                            newest if more else None)  # fmt: skip
    newer_exists = before is not None and await _exists(
        session, _filtered(select(Incident.id), f), Incident.id > newest
    )
    return IncidentPage(
        [to_view(r) for r in rows], oldest if more else None, newest if newer_exists else None
    )


async def _exists(session: AsyncSession, query: Select[Any], *where: Any) -> bool:
    return (await session.scalar(query.where(*where).limit(1))) is not None


async def incident_services(session: AsyncSession) -> list[str]:
    query = select(Incident.service).where(Incident.service.is_not(None)).distinct()
    return sorted(s for s in (await session.scalars(query)).all() if s)


async def timeline_after(
    session: AsyncSession, incident_id: int, after_id: int = 0, *, limit: int = 500
) -> list[tuple[int, TimelineEntry]]:
    """Entries with ids above `after_id`, oldest first by id: what a live page has not shown."""
    query = (
        select(TimelineRow)
        .where(TimelineRow.incident_id == incident_id, TimelineRow.id > after_id)
        .order_by(TimelineRow.id)
        .limit(limit)
    )
    rows = (await session.scalars(query)).all()
    return [
        (
            r.id,
            TimelineEntry(
                r.at, TimelineKind(r.kind), r.text, r.actor, dict(r.data or {}), r.pinned
            ),
        )
        for r in rows
    ]
