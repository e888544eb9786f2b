"""Which incident a Slack interaction is about."""

from __future__ import annotations

from bot.domain.model import IncidentView
from bot.service.runtime import Runtime
from bot.storage import repo


async def incident_in_channel(rt: Runtime, channel_id: str | None) -> IncidentView | None:
    if not channel_id:
        return None
    async with rt.db.session() as session:
        row = await repo.incident_by_channel(session, channel_id)
        return repo.to_view(row) if row else None


async def incident_by_number(rt: Runtime, value: str | int | None) -> IncidentView | None:
    try:
        number = int(str(value).upper().removeprefix("INC-"))
    except (TypeError, ValueError):
        return None
    async with rt.db.session() as session:
        row = await repo.get_incident(session, number)
        return repo.to_view(row) if row else None


async def active(rt: Runtime) -> list[IncidentView]:
    async with rt.db.session() as session:
        return [repo.to_view(r) for r in await repo.active_incidents(session)]
