"""Which incident a Slack interaction is about."""

from __future__ import annotations

from bot.domain.model import IncidentView
from bot.domain.refs import parse_incident_ref as number_in
from bot.service import incidents
from bot.service.runtime import Runtime
from bot.storage import repo


async def incident_in_channel(rt: Runtime, channel_id: str | None) -> IncidentView | None:
    if not channel_id:
        return None
    async with rt.db.session() as session:
        row = await repo.incident_by_channel(session, channel_id)
        return repo.to_view(row) if row else None


async def incident_by_number(rt: Runtime, value: object) -> IncidentView | None:
    """The incident a button value or form field names ("INC-12", "12", 12), if it exists."""
    number = number_in(value)
    return await incidents.load(rt, number) if number is not None else None


async def active(rt: Runtime) -> list[IncidentView]:
    async with rt.db.session() as session:
        return [repo.to_view(r) for r in await repo.active_incidents(session)]
