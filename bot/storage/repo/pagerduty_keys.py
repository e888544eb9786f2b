"""The one ordering key every job of a PagerDuty incident is queued under, remembered as a
finished job row `pdkey:<id>` so every receive (on any replica) agrees."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.model import utcnow
from bot.storage.inserts import insert_new
from bot.storage.jobs import ACTIVE
from bot.storage.repo.incidents import pagerduty_service_id
from bot.storage.tables import Job

KEY_MARK = "pagerduty.key"  # kind of the row remembering the key of one PagerDuty incident


async def pagerduty_ordering_key(
    session: AsyncSession, pd_incident_id: str, service_id: str | None
) -> str:
    """Its *service* (`pdsvc:`) when known (from the event, else from the link), so two pages
    on one service never both miss the open incident they should attach to; else the incident
    (`pd:`). Decided by the first receive, in its transaction, under a row lock.

    A note that named no service and came before its trigger is keyed `pd:<id>`; the trigger
    then moves that key, and the jobs still queued or running under it, to the service: one
    key, delivery order kept."""
    pd_id = pd_incident_id
    if not service_id:  # notes and responder events name only the incident
        service_id = await pagerduty_service_id(session, pd_id)
    wanted = f"pdsvc:{service_id}" if service_id else f"pd:{pd_id}"
    mark = f"pdkey:{pd_id}"[:200]
    stored = select(Job).where(Job.dedup_key == mark).with_for_update()
    row = await session.scalar(stored)
    if row is None:
        inserted = await insert_new(
            session,
            Job,
            ("dedup_key",),
            kind=KEY_MARK,
            payload={"pd_incident_id": pd_id},
            status="done",  # never claimed: it only remembers the key
            ordering_key=wanted,
            dedup_key=mark,
            finished_at=utcnow(),
        )
        if inserted is not None:
            return wanted
        # A concurrent receive decided first: use its key.
        row = await session.scalar(stored.execution_options(populate_existing=True))
        assert row is not None
    key = row.ordering_key or wanted
    if key.startswith("pd:") and wanted.startswith("pdsvc:"):
        await session.execute(
            update(Job)
            .where(Job.ordering_key == key, Job.status.in_(ACTIVE))
            .values(ordering_key=wanted)
            .execution_options(synchronize_session=False)
        )
        row.ordering_key = key = wanted
    return key
