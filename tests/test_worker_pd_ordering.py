"""Every event of one PagerDuty incident is applied in delivery order, whatever state the
incident was in when the event arrived (issue 10): a burst sent with no pause keeps its order."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select, text

from bot.devstack import DevStack
from bot.fakes.pagerduty_api import FakePagerDuty
from bot.storage import jobs
from bot.storage.db import Database
from bot.storage.tables import Job, PagerDutyLink, TimelineRow
from bot.web.pagerduty import ordering_key

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


@pytest.fixture
def stack_config() -> dict[str, Any]:
    return CONFIG


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


async def test_a_burst_of_events_per_incident_is_applied_in_delivery_order(stack: DevStack) -> None:
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
    await stack.settle(180)  # a bound, not a wait: 100 events on a loaded 2-core machine

    expected = ["opened", "escalated", *(f"note {n}" for n in range(NOTES))]
    results = {pd_id: await applied(stack, pd_id) for pd_id in ids}
    wrong = {pd_id: seen for pd_id, seen in results.items() if seen != expected}
    assert not wrong, wrong
    # One key per PagerDuty incident: its service's, since the trigger named it.
    async with stack.runtime.db.session() as session:
        keys = set(
            (
                await session.scalars(select(Job.ordering_key).where(Job.kind == "pagerduty.event"))
            ).all()
        )
    assert keys == {f"pdsvc:PSVC{n:03d}" for n in range(SERVICES)}


# ---- the key itself, decided in the receiving transaction ------------------------------


def pd_event(event_type: str, **data: Any) -> dict[str, Any]:
    fake = FakePagerDuty()
    fake.add_incident("PEARLY1", number=7, title="Early", service_id="PSVCX", service_name="x")
    return fake.webhook_event(event_type, "PEARLY1", data_extra=data or None)["event"]


async def receive(db: Database, event: dict[str, Any]) -> str:
    """What the webhook route does with the key: queue the event's job under it."""
    async with db.transaction() as session:
        key = await ordering_key(session, event, "PEARLY1")
        jobs.add_job(session, "pagerduty.event", {}, ordering_key=key)
    return key


async def event_keys(db: Database) -> list[str | None]:
    async with db.session() as session:
        query = select(Job.ordering_key).where(Job.kind == "pagerduty.event").order_by(Job.id)
        return list((await session.scalars(query)).all())


async def test_a_note_received_before_its_trigger_moves_to_the_service_key_with_it(
    db: Database,
) -> None:
    assert await receive(db, pd_event("incident.annotated", content="first")) == "pd:PEARLY1"
    assert await receive(db, pd_event("incident.triggered")) == "pdsvc:PSVCX"
    assert await receive(db, pd_event("incident.annotated", content="later")) == "pdsvc:PSVCX"
    # The early note's job moved too: all three keep their delivery (id) order under one key.
    assert await event_keys(db) == ["pdsvc:PSVCX"] * 3


async def test_concurrent_first_events_of_an_incident_agree_on_its_key(db: Database) -> None:
    """The trigger's transaction decided first but has not committed when a note arrives: the
    note waits for it and takes its key, instead of deciding `pd:` on its own."""
    if db.is_sqlite:
        pytest.skip("SQLite runs one write transaction at a time: no such race")
    async with db.sessions() as session, session.begin():
        first = await ordering_key(session, pd_event("incident.triggered"), "PEARLY1")
        note = asyncio.create_task(receive(db, pd_event("incident.annotated", content="n")))
        await blocked_on_a_lock(db)
    assert first == "pdsvc:PSVCX"
    assert await asyncio.wait_for(note, 10) == "pdsvc:PSVCX"


async def blocked_on_a_lock(db: Database) -> None:
    """Wait (bounded) until another session of this database waits on a row lock."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    for _ in range(500):
        async with db.session() as session:
            if await session.scalar(query):
                return
        await asyncio.sleep(0.02)
    pytest.fail("the second receive never waited for the first")
