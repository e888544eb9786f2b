"""A durable job queue in the database: due jobs claimed with row locks and a short lease.

On PostgreSQL the claim uses FOR UPDATE SKIP LOCKED so replicas never take the same row; the
conditional UPDATE (status still pending) makes the claim safe on SQLite too. Jobs sharing an
ordering key run strictly one after another in id order: events of one incident apply in order.

A claim is identified by (id, locked_by, attempts). The claimer renews its lease while the job
runs; completion, failure, renewal and release are fenced by that identity, so a worker whose
lease ran out (and was taken over) cannot finish someone else's claim.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot import context
from bot.domain.model import utcnow
from bot.storage.db import QUEUED, Database, rowcount
from bot.storage.tables import Job

LEASE = timedelta(seconds=30)
ACTIVE = ("pending", "running")


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    worker_id: str = ""
    ordering_key: str | None = None


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
    """Add a job inside the caller's transaction (so it commits with the event that caused it).
    It carries the bound context (bot.context: the delivery and incident its lines name, the
    trace) unless the payload brings its own."""
    carry = payload[context.CARRY] if context.CARRY in payload else context.carried()
    payload = {k: v for k, v in payload.items() if k != context.CARRY}
    if carry:
        payload[context.CARRY] = carry
    job = Job(
        kind=kind,
        payload=payload,
        due_at=due_at or utcnow(),
        ordering_key=ordering_key,
        dedup_key=dedup_key,
        max_attempts=max_attempts,
    )
    session.add(job)
    session.info[QUEUED] = True
    return job


async def schedule_once(db: Database, kind: str, payload: dict[str, Any], **kwargs: Any) -> bool:
    """Add a job with a dedup key in its own transaction; False when it already exists."""
    try:
        async with db.transaction() as session:
            add_job(session, kind, payload, **kwargs)
        return True
    except IntegrityError:
        return False


async def _bury_exhausted(db: Database, now: datetime) -> None:
    """A running job whose lease expired with no attempts left is dead: it stops blocking."""
    exhausted = (
        (Job.status == "running") & (Job.locked_until < now) & (Job.attempts >= Job.max_attempts)
    )
    async with db.session() as session:  # read first: most claims find none (no write lock)
        if await session.scalar(select(Job.id).where(exhausted).limit(1)) is None:
            return
    async with db.transaction() as session:
        await session.execute(
            update(Job)
            .where(exhausted)
            .values(
                status="dead",
                last_error="lease expired: the process running it stopped",
                finished_at=now,
            )
        )


async def claim(
    db: Database,
    worker_id: str,
    *,
    limit: int = 10,
    lease: timedelta = LEASE,
    exclude_ids: Collection[int] = (),
    exclude_keys: Collection[str] = (),
    bury: bool = True,
) -> list[ClaimedJob]:
    """Claim up to `limit` due jobs. `exclude_ids`/`exclude_keys`: jobs and ordering keys this
    process still runs (say, after losing a lease), which it must not take again meanwhile.
    `bury`: first mark dead the expired jobs with no attempts left (a worker does it now and
    then, not at every claim)."""
    now = utcnow()
    if bury:
        await _bury_exhausted(db, now)
    earlier = aliased(Job)
    blocked = exists().where(
        and_(
            earlier.ordering_key == Job.ordering_key,
            earlier.id < Job.id,
            earlier.status.in_(ACTIVE),
        )
    )
    # A running job whose lease expired was abandoned (its process died or stalled): retry it.
    stale_running = and_(
        Job.status == "running", Job.locked_until < now, Job.attempts < Job.max_attempts
    )
    query = (
        select(Job)
        .where(((Job.status == "pending") & (Job.due_at <= now)) | stale_running)
        .where((Job.ordering_key.is_(None)) | ~blocked)
        .order_by(Job.due_at, Job.id)
        .limit(limit)
    )
    if exclude_ids:
        query = query.where(Job.id.not_in(list(exclude_ids)))
    if exclude_keys:
        query = query.where(
            Job.ordering_key.is_(None) | Job.ordering_key.not_in(list(exclude_keys))
        )
    if db.is_sqlite:
        # SQLite has one writer: look without the write lock first, as most claims find nothing.
        async with db.session() as session:
            if await session.scalar(query.with_only_columns(Job.id)) is None:
                return []
    query = query.with_for_update(skip_locked=True, of=Job)
    claimed: list[ClaimedJob] = []
    async with db.transaction() as session:
        for job in (await session.scalars(query)).all():
            # Read before the UPDATE: the ORM syncs the new values into `job`.
            job_id, status, attempts = job.id, job.status, job.attempts
            kind, payload, max_attempts = job.kind, dict(job.payload), job.max_attempts
            key = job.ordering_key
            result = await session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == status, Job.attempts == attempts)
                .values(
                    status="running",
                    attempts=attempts + 1,
                    locked_by=worker_id,
                    locked_until=now + lease,
                )
                .execution_options(synchronize_session=False)
            )
            if rowcount(result) == 1:
                claimed.append(
                    ClaimedJob(job_id, kind, payload, attempts + 1, max_attempts, worker_id, key)
                )
    return claimed


def _held(job: ClaimedJob) -> Any:
    """The claim is still this worker's: nobody took it over after its lease ran out."""
    return and_(
        Job.id == job.id,
        Job.status == "running",
        Job.locked_by == job.worker_id,
        Job.attempts == job.attempts,
    )


async def _fenced(db: Database, job: ClaimedJob, **values: Any) -> bool:
    async with db.transaction() as session:
        result = await session.execute(
            update(Job)
            .where(_held(job))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    return rowcount(result) == 1


async def complete(db: Database, job: ClaimedJob) -> bool:
    """Mark the job done; False when the claim was lost (the result is discarded)."""
    return await _fenced(db, job, status="done", finished_at=utcnow(), locked_until=None)


async def fail(db: Database, job: ClaimedJob, error: str) -> bool:
    """Retry with exponential backoff; after max_attempts the job is dead and stops blocking.
    False when the claim was lost."""
    dead = job.attempts >= job.max_attempts
    backoff = timedelta(seconds=min(2**job.attempts, 300))
    now = utcnow()
    return await _fenced(
        db,
        job,
        status="dead" if dead else "pending",
        due_at=now + backoff,
        last_error=error[:2000],
        finished_at=now if dead else None,
        locked_until=None,
    )


async def renew(db: Database, job: ClaimedJob, lease: timedelta = LEASE) -> bool:
    """Extend the lease; False when it was lost (taken over after it expired)."""
    return await _fenced(db, job, locked_until=utcnow() + lease)


async def release(db: Database, job: ClaimedJob, *, started: bool) -> bool:
    """Hand a claim back at shutdown, due now, its attempt not counted. A single-attempt job
    whose handler had started (an action run) must never run twice: it is dead instead."""
    if started and job.max_attempts <= 1:
        return await _fenced(
            db,
            job,
            status="dead",
            last_error="stopped at shutdown while running",
            finished_at=utcnow(),
            locked_until=None,
        )
    return await _fenced(
        db,
        job,
        status="pending",
        attempts=job.attempts - 1,
        due_at=utcnow(),
        locked_by=None,
        locked_until=None,
    )


async def cancel_in(session: AsyncSession, *, dedup_prefix: str, keep: str | None = None) -> int:
    """Cancel pending jobs whose dedup key starts with the prefix (e.g. an incident's reminders),
    except the one whose dedup key is `keep`."""
    query = update(Job).where(Job.dedup_key.like(f"{dedup_prefix}%"), Job.status == "pending")
    if keep is not None:
        query = query.where(Job.dedup_key != keep)
    result = await session.execute(query.values(status="cancelled", finished_at=utcnow()))
    return rowcount(result)


async def has_pending(
    session: AsyncSession,
    *,
    kind: str | None = None,
    ordering_key: str | None = None,
    dedup_prefix: str | None = None,
) -> bool:
    """Whether a pending job matches every filter given (kind, ordering key, dedup prefix)."""
    query = select(Job.id).where(Job.status == "pending")
    if kind is not None:
        query = query.where(Job.kind == kind)
    if ordering_key is not None:
        query = query.where(Job.ordering_key == ordering_key)
    if dedup_prefix is not None:
        query = query.where(Job.dedup_key.like(f"{dedup_prefix}%"))
    return (await session.scalar(query.limit(1))) is not None


async def status_of(session: AsyncSession, dedup_key: str) -> str | None:
    """The status of the job with this dedup key; None when there is none."""
    return await session.scalar(select(Job.status).where(Job.dedup_key == dedup_key))


async def done_count(session: AsyncSession, dedup_key: str) -> int:
    """Jobs done under this dedup key or one of its variants (`<dedup_key>:…`)."""
    query = (
        select(func.count())
        .select_from(Job)
        .where(
            (Job.dedup_key == dedup_key) | Job.dedup_key.like(f"{dedup_key}:%"),
            Job.status == "done",
        )
    )
    return int(await session.scalar(query) or 0)


async def pending_count(db: Database, *, within: timedelta = timedelta()) -> int:
    """Jobs pending or running that are due now (or within `within`)."""
    async with db.session() as session:
        query = select(Job.id).where(Job.status.in_(ACTIVE), Job.due_at <= utcnow() + within)
        return len((await session.scalars(query)).all())
