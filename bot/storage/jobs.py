"""A durable job queue in the database: due jobs claimed with row locks.

On PostgreSQL the claim uses FOR UPDATE SKIP LOCKED so replicas never take the same row; the
conditional UPDATE (status still pending) makes the claim safe on SQLite too. Jobs sharing an
ordering key run strictly one after another in id order: events of one incident apply in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.domain.model import utcnow
from bot.storage.db import Database
from bot.storage.tables import Job

LEASE = timedelta(minutes=5)
ACTIVE = ("pending", "running")


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int


def add_job(
    session: AsyncSession,
    kind: str,
    payload: dict[str, Any],
    *,
    due_at: datetime | None = None,
    ordering_key: str | None = None,
    dedup_key: str | None = None,
    max_attempts: int = 5,
) -> Job:
    """Add a job inside the caller's transaction (so it commits with the event that caused it)."""
    job = Job(
        kind=kind,
        payload=payload,
        due_at=due_at or utcnow(),
        ordering_key=ordering_key,
        dedup_key=dedup_key,
        max_attempts=max_attempts,
    )
    session.add(job)
    return job


async def schedule_once(db: Database, kind: str, payload: dict[str, Any], **kwargs: Any) -> bool:
    """Add a job with a dedup key in its own transaction; False when it already exists."""
    try:
        async with db.transaction() as session:
            add_job(session, kind, payload, **kwargs)
        return True
    except IntegrityError:
        return False


async def claim(db: Database, worker_id: str, *, limit: int = 10) -> list[ClaimedJob]:
    now = utcnow()
    earlier = aliased(Job)
    blocked = exists().where(
        and_(
            earlier.ordering_key == Job.ordering_key,
            earlier.id < Job.id,
            earlier.status.in_(ACTIVE),
        )
    )
    # A running job whose lease expired was abandoned (its process died): retry it if it has
    # attempts left; otherwise it is dead, so it stops blocking its ordering key.
    stale_running = and_(
        Job.status == "running", Job.locked_until < now, Job.attempts < Job.max_attempts
    )
    async with db.transaction() as session:
        await session.execute(
            update(Job)
            .where(
                Job.status == "running",
                Job.locked_until < now,
                Job.attempts >= Job.max_attempts,
            )
            .values(
                status="dead",
                last_error="lease expired: the process running it stopped",
                finished_at=now,
            )
        )
    query = (
        select(Job)
        .where(((Job.status == "pending") & (Job.due_at <= now)) | stale_running)
        .where((Job.ordering_key.is_(None)) | ~blocked)
        .order_by(Job.due_at, Job.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=Job)
    )
    claimed: list[ClaimedJob] = []
    async with db.transaction() as session:
        for job in (await session.scalars(query)).all():
            # Read before the UPDATE: the ORM syncs the new values into `job`.
            job_id, status, attempts = job.id, job.status, job.attempts
            kind, payload, max_attempts = job.kind, dict(job.payload), job.max_attempts
            result = await session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == status, Job.attempts == attempts)
                .values(
                    status="running",
                    attempts=attempts + 1,
                    locked_by=worker_id,
                    locked_until=now + LEASE,
                )
                .execution_options(synchronize_session=False)
            )
            if result.rowcount == 1:  # type: ignore[attr-defined]
                claimed.append(ClaimedJob(job_id, kind, payload, attempts + 1, max_attempts))
    return claimed


async def complete(db: Database, job_id: int) -> None:
    async with db.transaction() as session:
        await session.execute(
            update(Job).where(Job.id == job_id).values(status="done", finished_at=utcnow())
        )


async def fail(db: Database, job: ClaimedJob, error: str) -> None:
    """Retry with exponential backoff; after max_attempts the job is dead and stops blocking."""
    dead = job.attempts >= job.max_attempts
    backoff = timedelta(seconds=min(2**job.attempts, 300))
    async with db.transaction() as session:
        await session.execute(
            update(Job)
            .where(Job.id == job.id)
            .values(
                status="dead" if dead else "pending",
                due_at=utcnow() + backoff,
                last_error=error[:2000],
                finished_at=utcnow() if dead else None,
            )
        )


async def cancel_in(session: AsyncSession, *, dedup_prefix: str) -> int:
    """Cancel pending jobs whose dedup key starts with the prefix (e.g. an incident's reminders)."""
    result = await session.execute(
        update(Job)
        .where(Job.dedup_key.like(f"{dedup_prefix}%"), Job.status == "pending")
        .values(status="cancelled", finished_at=utcnow())
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def pending_count(db: Database, *, within: timedelta = timedelta()) -> int:
    """Jobs pending or running that are due now (or within `within`)."""
    async with db.session() as session:
        query = select(Job.id).where(Job.status.in_(ACTIVE), Job.due_at <= utcnow() + within)
        return len((await session.scalars(query)).all())
