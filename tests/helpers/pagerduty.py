"""PagerDuty through the real app (DevStack): a catalog with one PagerDuty service, incidents
seeded on the fake, webhooks delivered, and what they left in the database and the channel."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from bot.devstack import DevStack
from bot.storage.tables import Incident, PagerDutyLink, TimelineRow

CONFIG: dict[str, Any] = {
    "services": [{"name": "checkout", "pagerduty_service_ids": ["PCHKOUT"]}],
}
PD = "PINC001"  # seed_incident's PagerDuty id


def seed_incident(stack: DevStack, pd_id: str = PD, *, number: int = 101, **kw: Any) -> dict:
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


async def deliver(stack: DevStack, event_type: str, pd_id: str = PD) -> None:
    """PagerDuty sends the incident's `event_type` webhook; the bot has done its work after."""
    event = stack.pagerduty.webhook_event(event_type, pd_id)
    assert (await stack.pagerduty_webhook(event)).status_code == 202
    await stack.settle()


def observe_card(stack: DevStack, channel: str, number: int = 1) -> dict[str, Any]:
    """INC-<number>'s Observe card in `channel` (there is one, updated in place)."""
    prefix = f"INC-{number} Observe"
    cards = [m for m in stack.slack.messages(channel) if m["text"].startswith(prefix)]
    assert len(cards) == 1, [m["text"] for m in stack.slack.messages(channel)]
    return cards[0]


def invited(stack: DevStack, channel: str) -> set[str]:
    """Everyone the bot invited to `channel`."""
    users: set[str] = set()
    for call in stack.slack.calls("conversations.invite"):
        if call.params.get("channel") == channel:
            users |= set(str(call.params.get("users", "")).split(","))
    return users


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
