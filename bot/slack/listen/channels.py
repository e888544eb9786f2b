"""Which incident a Slack interaction is about."""

from __future__ import annotations

from typing import Any

from bot.domain.model import IncidentView
from bot.service.runtime import Runtime
from bot.storage import repo

MAX_NUMBER = 2**31 - 1  # incidents.id is a 32-bit integer on PostgreSQL


def number_in(value: Any) -> int | None:
    """An incident number from "INC-12", "12" or 12; None for anything else (a bool, a float,
    text, a number no incident can have)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        text = value.strip().upper().removeprefix("INC-")
        if not text.isascii() or not text.isdigit() or len(text) > 10:
            return None
        number = int(text)
    else:
        return None
    return number if 0 < number <= MAX_NUMBER else None


async def incident_in_channel(rt: Runtime, channel_id: str | None) -> IncidentView | None:
    if not channel_id:
        return None
    async with rt.db.session() as session:
        row = await repo.incident_by_channel(session, channel_id)
        return repo.to_view(row) if row else None


async def incident_by_number(rt: Runtime, value: object) -> IncidentView | None:
    """The incident a button value or form field names ("INC-12", "12", 12), if it exists."""
    number = number_in(value)
    if number is None:
        return None
    async with rt.db.session() as session:
        row = await repo.get_incident(session, number)
        return repo.to_view(row) if row else None


async def active(rt: Runtime) -> list[IncidentView]:
    async with rt.db.session() as session:
        return [repo.to_view(r) for r in await repo.active_incidents(session)]
