"""Shared helpers for PagerDuty tests through the real app (DevStack)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from bot.devstack import DevStack
from bot.storage.tables import InboundEvent, Incident, PagerDutyLink, TimelineRow

CONFIG: dict[str, Any] = {
    "services": [{"name": "checkout", "pagerduty_service_ids": ["PCHKOUT"]}],
}


def seed_incident(stack: DevStack, pd_id: str = "PINC001", *, number: int = 101, **kw: Any) -> dict:
    """A PagerDuty incident on the checkout service with one firing alert."""
    incident = stack.pagerduty.add_incident(
        pd_id,
        number=number,
        title=kw.pop("title", "Checkout 5xx errors"),
        service_id=kw.pop("service_id", "PCHKOUT"),
        service_name="checkout",
        **kw,
    )
    stack.pagerduty.add_alert(pd_id, summary=f"{pd_id} 5xx rate 12%")
    return incident


async def count(stack: DevStack, table: type) -> int:
    async with stack.runtime.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)


async def incidents(stack: DevStack) -> list[Incident]:
    async with stack.runtime.db.session() as session:
        return list((await session.scalars(select(Incident).order_by(Incident.id))).all())


async def timeline(stack: DevStack, number: int = 1) -> list[TimelineRow]:
    async with stack.runtime.db.session() as session:
        query = (
            select(TimelineRow)
            .where(TimelineRow.incident_id == number)
            .order_by(TimelineRow.at, TimelineRow.id)
        )
        return list((await session.scalars(query)).all())


async def links(stack: DevStack) -> list[PagerDutyLink]:
    async with stack.runtime.db.session() as session:
        return list((await session.scalars(select(PagerDutyLink).order_by(PagerDutyLink.id))).all())


__all__ = ["CONFIG", "InboundEvent", "count", "incidents", "links", "seed_incident", "timeline"]
