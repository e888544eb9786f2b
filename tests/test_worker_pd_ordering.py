"""Every event of one PagerDuty incident is applied in delivery order, whatever state the
incident was in when the event arrived (issue 10): a burst sent with no pause keeps its order."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.devstack import DevStack
from bot.storage.tables import Job, PagerDutyLink, TimelineRow

INCIDENTS = 20
NOTES = 3
# Two incidents per PagerDuty service: events of different incidents share a service key too.
SERVICES = INCIDENTS // 2
CONFIG: dict[str, Any] = {
    "services": [
        {"name": f"svc{n}", "pagerduty_service_ids": [f"PSVC{n:03d}"]} for n in range(SERVICES)
    ],
    "dedup_window_minutes": 0,  # every trigger opens its own incident
}


async def post(stack: DevStack, event: dict[str, Any]) -> None:
    response = await stack.pagerduty_webhook(event)
    assert response.status_code in (200, 202), response.text


async def burst(stack: DevStack, pd_id: str) -> None:
    """Trigger, escalation, then three notes, each sent as soon as the previous was accepted."""
    pd = stack.pagerduty
    await post(stack, pd.webhook_event("incident.triggered", pd_id))
    await post(stack, pd.webhook_event("incident.escalated", pd_id))
    for n in range(NOTES):
        note = {"content": f"{pd_id} note {n}"}
        await post(stack, pd.webhook_event("incident.annotated", pd_id, data_extra=note))


async def applied(stack: DevStack, pd_id: str) -> list[str]:
    """What the incident's timeline shows of the burst, in the order it was applied."""
    async with stack.runtime.db.session() as session:
        number = await session.scalar(
            select(PagerDutyLink.incident_id).where(PagerDutyLink.pd_incident_id == pd_id)
        )
        assert number is not None, f"{pd_id} opened no incident"
        rows = await session.scalars(
            select(TimelineRow)
            .where(TimelineRow.incident_id == number)
            .order_by(TimelineRow.at, TimelineRow.id)
        )
        entries = rows.all()
    seen = []
    for entry in entries:
        if entry.kind == "opened":
            seen.append("opened")
        elif entry.kind == "pagerduty" and "escalated" in entry.text:
            seen.append("escalated")
        elif entry.kind == "note":
            seen.append(entry.text.removeprefix(f"{pd_id} "))
    return seen


async def test_a_burst_of_events_per_incident_is_applied_in_delivery_order(
    tmp_path: Path, database_url: str
) -> None:
    async with DevStack(tmp_path, config=CONFIG, database_url=database_url) as stack:
        ids = [f"PBRST{n:02d}" for n in range(INCIDENTS)]
        for n, pd_id in enumerate(ids):
            stack.pagerduty.add_incident(
                pd_id,
                number=500 + n,
                title=f"Outage {n}",
                service_id=f"PSVC{n % SERVICES:03d}",
                service_name=f"svc{n % SERVICES}",
            )
            stack.pagerduty.add_alert(pd_id, summary=f"{pd_id} errors")
        await asyncio.gather(*(burst(stack, pd_id) for pd_id in ids))
        await stack.settle(60)

        expected = ["opened", "escalated", *(f"note {n}" for n in range(NOTES))]
        results = {pd_id: await applied(stack, pd_id) for pd_id in ids}
        wrong = {pd_id: seen for pd_id, seen in results.items() if seen != expected}
        assert not wrong, wrong
        # One key per PagerDuty incident: its service's, since the trigger named it.
        async with stack.runtime.db.session() as session:
            keys = set(
                (
                    await session.scalars(
                        select(Job.ordering_key).where(Job.kind == "pagerduty.event")
                    )
                ).all()
            )
        assert keys == {f"pdsvc:PSVC{n:03d}" for n in range(SERVICES)}
