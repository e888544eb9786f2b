"""The durable job queue: attempts, retries, dead jobs, ordering keys, abandoned leases."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from bot.domain.model import utcnow
from bot.storage import jobs
from bot.storage.db import Database, upgrade
from bot.storage.tables import Job
from bot.worker import Worker


async def _db(database_url: str) -> Database:
    upgrade(database_url)
    return Database(database_url)


async def test_a_failing_job_runs_exactly_max_attempts_times(database_url: str) -> None:
    db = await _db(database_url)
    runs: list[int] = []

    async def flaky(payload: dict) -> None:
        runs.append(1)
        raise RuntimeError("upstream down")

    worker = Worker(db)
    worker.register("flaky", flaky)
    async with db.transaction() as session:
        jobs.add_job(session, "flaky", {}, max_attempts=3)
    for _ in range(5):
        await worker.run_once()
        async with db.transaction() as session:  # make the backoff due now
            await session.execute(update(Job).values(due_at=utcnow() - timedelta(seconds=1)))
    async with db.session() as session:
        job = (await session.scalars(select(Job))).one()
    assert len(runs) == 3
    assert job.status == "dead" and job.attempts == 3
    assert "upstream down" in (job.last_error or "")
    await db.dispose()


async def test_jobs_with_one_ordering_key_run_in_order_and_a_dead_one_unblocks(
    database_url: str,
) -> None:
    db = await _db(database_url)
    seen: list[int] = []

    async def record(payload: dict) -> None:
        seen.append(payload["n"])

    worker = Worker(db)
    worker.register("record", record)
    async with db.transaction() as session:
        for n in range(4):
            jobs.add_job(session, "record", {"n": n}, ordering_key="incident:1")
    while await worker.run_once():
        pass
    assert seen == [0, 1, 2, 3]
    await db.dispose()


async def test_an_abandoned_single_attempt_job_is_never_rerun_and_stops_blocking(
    database_url: str,
) -> None:
    """A rollback job whose process died must not run again, nor block later incident jobs."""
    db = await _db(database_url)
    ran: list[str] = []

    async def record(payload: dict) -> None:
        ran.append(payload["name"])

    worker = Worker(db)
    worker.register("record", record)
    async with db.transaction() as session:
        jobs.add_job(
            session, "record", {"name": "rollback"}, ordering_key="incident:7", max_attempts=1
        )
        jobs.add_job(session, "record", {"name": "later"}, ordering_key="incident:7")
    claimed = await jobs.claim(db, "replica-that-dies", limit=1)
    assert [c.payload["name"] for c in claimed] == ["rollback"]
    async with db.transaction() as session:  # its lease runs out
        await session.execute(
            update(Job)
            .where(Job.id == claimed[0].id)
            .values(locked_until=utcnow() - timedelta(seconds=1))
        )
    while await worker.run_once():
        pass
    async with db.session() as session:
        rows = {j.payload["name"]: j for j in (await session.scalars(select(Job))).all()}
    assert ran == ["later"]
    assert rows["rollback"].status == "dead" and "lease expired" in (
        rows["rollback"].last_error or ""
    )
    await db.dispose()


async def test_an_abandoned_retryable_job_is_claimed_again(database_url: str) -> None:
    db = await _db(database_url)
    async with db.transaction() as session:
        jobs.add_job(session, "observe", {}, max_attempts=3)
    first = await jobs.claim(db, "a")
    assert await jobs.claim(db, "b") == []  # leased
    async with db.transaction() as session:
        await session.execute(update(Job).values(locked_until=utcnow() - timedelta(seconds=1)))
    second = await jobs.claim(db, "b")
    assert [j.id for j in second] == [first[0].id]
    assert second[0].attempts == 2
    await db.dispose()
