"""Retention: finished jobs and inbound webhook events older than OODA_RETENTION_DAYS (14 by
default) are deleted, so the database does not grow forever.

Delivered Slack outbox items go after the same time (their dedup keys, such as "announced once
per channel", outlive any retry of what said them).

What is never deleted, whatever its age:
- a pending or running job;
- a finished job whose dedup key may still stop a duplicate: one with a dedup key whose payload
  names an incident that is not resolved (a stage-stall reminder of an incident open for weeks);
- an inbound event a pending or running job still reads (payload ``{"inbound": id}``), or one
  younger than MIN_DEDUP_WINDOW: its (source, dedup_key) is what makes a vendor's redelivery a
  no-op, and PagerDuty retries for up to 48 hours.

The fingerprints of accepted Slack requests (source "slack-request") only stop a replay within
Slack's 5-minute window: they go once older than REPLAY_KEEP, whatever OODA_RETENTION_DAYS says.

`purge` does the deleting, in batches; `schedule_retention` queues the periodic job (one per
RUN_EVERY slot, whichever replica queues it first) and `handler` is what runs it. Wiring, in
bot/job_handlers.py and at start-up:

    rt.worker.register(
        JobKind.STORAGE_RETENTION, retention.handler(rt.db, rt.settings.retention_days)
    )
    await retention.schedule_retention(rt.db)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select

from bot.domain.jobs import JobKind
from bot.domain.model import utcnow
from bot.storage import jobs, outbox
from bot.storage.db import Database, rowcount
from bot.storage.repo.interactions import REQUESTS
from bot.storage.tables import InboundEvent, Incident, Job, OutboxRow

FINISHED = ("done", "cancelled", "dead")
MIN_DEDUP_WINDOW = timedelta(days=3)
REPLAY_KEEP = timedelta(minutes=10)  # Slack refuses a timestamp older than 5 minutes
RUN_EVERY = timedelta(hours=6)
BATCH = 1000


@dataclass(frozen=True)
class Purged:
    jobs: int
    inbound_events: int
    outbox_items: int = 0  # delivered (or refused) Slack messages


def _deletable_jobs(cutoff: datetime) -> Any:
    incident = Job.payload["incident"].as_integer()
    open_incidents = select(Incident.id).where(Incident.status != "resolved")
    return select(Job.id).where(
        Job.status.in_(FINISHED),
        func.coalesce(Job.finished_at, Job.created_at) < cutoff,
        Job.dedup_key.is_(None) | incident.is_(None) | incident.not_in(open_incidents),
    )


def _deletable_inbound(cutoff: datetime) -> Any:
    inbound = Job.payload["inbound"].as_integer()
    still_read = select(inbound).where(Job.status.in_(jobs.ACTIVE), inbound.is_not(None))
    return select(InboundEvent.id).where(
        InboundEvent.received_at < cutoff, InboundEvent.id.not_in(still_read)
    )


async def _delete_in_batches(
    db: Database, table: type[Job | InboundEvent | OutboxRow], ids: Any, batch: int
) -> int:
    total = 0
    while True:
        async with db.transaction() as session:
            result = await session.execute(
                delete(table).where(table.id.in_(ids.limit(batch).scalar_subquery()))
            )
        deleted = rowcount(result)
        total += deleted
        if deleted < batch:
            return total


async def purge(
    db: Database, *, days: float, now: datetime | None = None, batch: int = BATCH
) -> Purged:
    """Delete what is older than `days` (see the module doc for what is kept); the counts."""
    if days <= 0:
        raise ValueError("retention days must be positive")
    now = now or utcnow()
    cutoff = now - timedelta(days=days)
    inbound_cutoff = min(cutoff, now - MIN_DEDUP_WINDOW)
    # Jobs first: an inbound event is only kept for a job that is still active anyway.
    deleted_jobs = await _delete_in_batches(db, Job, _deletable_jobs(cutoff), batch)
    deleted_inbound = await _delete_in_batches(
        db, InboundEvent, _deletable_inbound(inbound_cutoff), batch
    )
    stale = select(InboundEvent.id).where(
        InboundEvent.source == REQUESTS, InboundEvent.received_at < now - REPLAY_KEEP
    )
    deleted_inbound += await _delete_in_batches(db, InboundEvent, stale, batch)
    delivered = select(OutboxRow.id).where(
        OutboxRow.status.in_(outbox.DONE), OutboxRow.sent_at < cutoff
    )
    deleted_outbox = await _delete_in_batches(db, OutboxRow, delivered, batch)
    return Purged(deleted_jobs, deleted_inbound, deleted_outbox)


def _next_slot(now: datetime) -> datetime:
    step = int(RUN_EVERY.total_seconds())
    return datetime.fromtimestamp((int(now.timestamp()) // step + 1) * step, now.tzinfo)


async def schedule_retention(db: Database, *, now: datetime | None = None) -> bool:
    """Queue the next retention run (at the next RUN_EVERY boundary after `now`); False when a
    replica already queued that one. Safe to call at every start and after every run."""
    due = _next_slot(now or utcnow())
    slot = int(due.timestamp())
    return await jobs.schedule_once(
        db,
        JobKind.STORAGE_RETENTION,
        {"slot": slot},
        due_at=due,
        dedup_key=f"{JobKind.STORAGE_RETENTION}:{slot}",
        max_attempts=3,
    )


def handler(db: Database, days: float) -> Callable[[dict[str, Any]], Awaitable[None]]:
    """The job handler: purge, then queue the run after this one's slot."""

    async def run(payload: dict[str, Any]) -> None:
        await purge(db, days=days)
        slot = payload.get("slot")
        now = utcnow()
        if isinstance(slot, int):
            now = max(now, datetime.fromtimestamp(slot, UTC))
        await schedule_retention(db, now=now)

    return run
