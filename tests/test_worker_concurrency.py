"""The worker without head-of-line blocking (issue 10): continuous claiming up to a limit,
a short lease renewed while a job runs, claims fenced by the claimer, graceful stop."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.domain.model import utcnow
from bot.storage import jobs
from bot.storage.db import Database
from bot.storage.tables import Job
from bot.worker import Worker

BOUND = 15.0  # upper bound while waiting on work; never a timed assertion


async def add(db: Database, kind: str, payload: dict[str, Any], **kwargs: Any) -> int:
    async with db.transaction() as session:
        job = jobs.add_job(session, kind, payload, **kwargs)
        await session.flush()
        return job.id


async def rows(db: Database) -> dict[int, Job]:
    async with db.session() as session:
        return {j.id: j for j in (await session.scalars(select(Job))).all()}


async def until(event: asyncio.Event) -> None:
    await asyncio.wait_for(event.wait(), BOUND)


async def expire_lease(db: Database, job_id: int) -> None:
    """What a stalled or dead claimer looks like: its lease ran out."""
    async with db.transaction() as session:
        await session.execute(
            update(Job).where(Job.id == job_id).values(locked_until=utcnow() - timedelta(seconds=1))
        )


async def test_a_hanging_job_does_not_hold_up_jobs_claimed_after_it(db: Database) -> None:
    hanging, release, all_done = asyncio.Event(), asyncio.Event(), asyncio.Event()
    done: list[int] = []

    async def hang(payload: dict) -> None:
        hanging.set()
        await release.wait()

    async def quick(payload: dict) -> None:
        done.append(payload["n"])
        if len(done) == 5:
            all_done.set()

    worker = Worker(db, poll_seconds=0.1, concurrency=4)
    worker.register("hang", hang)
    worker.register("quick", quick)
    await add(db, "hang", {}, ordering_key="incident:1")
    worker.start()
    try:
        await until(hanging)
        for n in range(5):  # other incidents' jobs, queued while the first one hangs
            await add(db, "quick", {"n": n}, ordering_key=f"incident:{n + 2}")
        worker.wake()
        await until(all_done)
        assert sorted(done) == [0, 1, 2, 3, 4]
        assert not worker.idle  # the hanging one still runs
        release.set()
        await worker.drain(BOUND)
        assert worker.idle
        assert {j.status for j in (await rows(db)).values()} == {"done"}
    finally:
        release.set()
        await worker.stop(grace=0)


async def test_no_more_jobs_run_at_once_than_the_concurrency_limit(db: Database) -> None:
    gate, full = asyncio.Event(), asyncio.Event()
    active = peak = finished = 0

    async def gated(payload: dict) -> None:
        nonlocal active, peak, finished
        active += 1
        peak = max(peak, active)
        if active == 3:
            full.set()
        await gate.wait()
        active -= 1
        finished += 1

    worker = Worker(db, poll_seconds=0.1, concurrency=3)
    worker.register("gated", gated)
    for n in range(10):
        await add(db, "gated", {"n": n})
    worker.start()
    try:
        await until(full)
        statuses = [j.status for j in (await rows(db)).values()]
        assert statuses.count("running") == 3 and worker.running == 3
        gate.set()
        await worker.drain(BOUND)
        assert finished == 10 and peak == 3
    finally:
        gate.set()
        await worker.stop(grace=0)


async def test_the_heartbeat_keeps_a_long_job_from_being_claimed_again(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    renewed, release, started = asyncio.Event(), asyncio.Event(), asyncio.Event()
    renewals = 0
    real_renew = jobs.renew

    async def counting_renew(*args: Any, **kwargs: Any) -> bool:
        nonlocal renewals
        held = await real_renew(*args, **kwargs)
        renewals += 1
        if renewals >= 4:  # more than one whole lease has gone by since the claim
            renewed.set()
        return held

    monkeypatch.setattr(jobs, "renew", counting_renew)

    async def long(payload: dict) -> None:
        started.set()
        await release.wait()

    worker = Worker(db, poll_seconds=0.1, lease_seconds=1.5)
    worker.register("long", long)
    job_id = await add(db, "long", {})
    worker.start()
    try:
        await until(started)
        await until(renewed)
        assert await jobs.claim(db, "rival") == []  # still leased: the rival gets nothing
        release.set()
        await worker.drain(BOUND)
        job = (await rows(db))[job_id]
        assert (job.status, job.attempts, job.locked_by) == ("done", 1, worker.worker_id)
    finally:
        release.set()
        await worker.stop(grace=0)


@pytest.mark.parametrize("outcome", ["completes", "fails"])
async def test_a_claim_taken_over_after_its_lease_expired_fences_out_the_first_worker(
    db: Database, outcome: str, caplog: pytest.LogCaptureFixture
) -> None:
    started, finish = asyncio.Event(), asyncio.Event()
    ran_on_b: list[int] = []

    async def stalled(payload: dict) -> None:
        started.set()
        await finish.wait()
        if outcome == "fails":
            raise RuntimeError("late failure")

    async def on_b(payload: dict) -> None:
        ran_on_b.append(payload["n"])

    first, second = Worker(db), Worker(db)
    first.register("step", stalled)
    second.register("step", on_b)
    one = await add(db, "step", {"n": 1}, ordering_key="incident:9")
    two = await add(db, "step", {"n": 2}, ordering_key="incident:9")

    running = asyncio.create_task(first.run_once())
    await until(started)
    await expire_lease(db, one)
    assert await second.run_once() == 1  # takes the abandoned claim over and finishes it
    assert ran_on_b == [1]
    # The job after it is due in the database, but the first worker still runs step 1 of
    # that ordering key: it must not start step 2 meanwhile.
    assert await first.run_once() == 0
    late = jobs.ClaimedJob(one, "step", {"n": 1}, 1, 5, first.worker_id, "incident:9")
    assert await jobs.renew(db, late) is False

    caplog.set_level(logging.WARNING, logger="bot.worker")
    finish.set()
    assert await running == 1
    job = (await rows(db))[one]
    assert (job.status, job.attempts, job.locked_by) == ("done", 2, second.worker_id)
    assert "lease lost" in caplog.text
    assert await jobs.complete(db, late) is False and await jobs.fail(db, late, "x") is False

    assert await second.run_once() == 1
    assert ran_on_b == [1, 2] and (await rows(db))[two].status == "done"


async def test_stop_lets_running_jobs_finish_within_the_grace_then_releases_the_rest(
    db: Database,
) -> None:
    finish, never, all_started = asyncio.Event(), asyncio.Event(), asyncio.Event()
    started: list[str] = []

    async def waiting(payload: dict) -> None:
        started.append(payload["name"])
        if len(started) == 3:
            all_started.set()
        await (finish if payload["name"] == "finishes" else never).wait()

    worker = Worker(db, poll_seconds=0.1, concurrency=4)
    worker.register("work", waiting)
    finishes = await add(db, "work", {"name": "finishes"})
    hangs = await add(db, "work", {"name": "hangs"})
    rollback = await add(db, "work", {"name": "rollback"}, max_attempts=1)
    worker.start()
    await until(all_started)

    stopping = asyncio.create_task(worker.stop(grace=0.5))
    finish.set()  # finishes within the grace
    await stopping
    after = await add(db, "work", {"name": "after"})  # a stopped worker claims nothing more
    worker.wake()

    got = await rows(db)
    assert (got[finishes].status, got[finishes].attempts) == ("done", 1)
    released = got[hangs]
    assert (released.status, released.attempts, released.locked_by) == ("pending", 0, None)
    assert released.due_at <= utcnow()
    # A started single-attempt job (a rollback) must not run twice: dead, not released.
    assert got[rollback].status == "dead"
    assert "shutdown" in (got[rollback].last_error or "")
    assert got[after].status == "pending" and worker.idle

    survivor = Worker(db)
    ran: list[str] = []

    async def record(payload: dict) -> None:
        ran.append(payload["name"])

    survivor.register("work", record)
    await survivor.drain(BOUND)
    assert sorted(ran) == ["after", "hangs"]
    assert (await rows(db))[hangs].attempts == 1  # the released attempt was not counted
