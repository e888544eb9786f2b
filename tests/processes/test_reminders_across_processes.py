"""Reminders across real `ooda serve` processes on one database.

Two server processes share a database and race for a burst of due reminders: each is posted
exactly once. Every process is stopped, a reminder is left in the database alone, and a fresh
process fires it once: reminders live in the database, not in a process's memory. Which process
wins a race is timing; the last test pins the race down with a rival claim run in between one
claim's SELECT and its UPDATE, so a claim that is not exclusive fails it every time.
"""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import event, func, select

from bot.domain.jobs import JobKind
from bot.domain.model import utcnow
from bot.fakes.slack_api import FakeSlack
from bot.service import reminders
from bot.storage import jobs
from bot.storage.db import Database
from bot.storage.tables import Job
from tests.helpers.serve import Server, open_incident, server_env

FIRE_SECONDS = 15.0
QUIET_SECONDS = 1.5  # after a reminder fired: time for a second worker to (wrongly) fire it too
# Many reminders due at the same moment keep both workers claiming back to back, so a claim
# that is not exclusive shows up as a duplicate nudge.
INCIDENTS = 12
NUDGE_WORDS = {reminders.STALL: "has been in", reminders.STATUS: "status update due"}


async def schedule_reminder(
    db: Database, number: int, kind: str, *, in_seconds: float = 0, due_at: datetime | None = None
) -> str:
    """The job `reminders` schedules for a stalled Observe stage or a due status update: same
    kind, payload and dedup key as the product's."""
    due = due_at or utcnow() + timedelta(seconds=in_seconds)
    if kind == reminders.STALL:
        key = f"{reminders.prefix(number, kind)}1"
        payload = {"incident": number, "kind": kind, "stage": "observe", "span": 1}
    else:
        seq = int(due.timestamp())
        key = f"{reminders.prefix(number, kind)}{seq}"
        payload = {"incident": number, "kind": kind, "seq": seq}
    added = await jobs.schedule_once(
        db, JobKind.INCIDENT_REMINDER, payload, due_at=due, dedup_key=key, max_attempts=3
    )
    assert added
    return key


async def wait_fired(db: Database, keys: list[str]) -> None:
    """Wait (bounded) until the jobs are finished, then give the other workers time to
    misbehave (fire one again)."""
    deadline = time.monotonic() + FIRE_SECONDS
    while time.monotonic() < deadline:
        async with db.session() as session:
            done = await session.scalar(
                select(func.count())
                .select_from(Job)
                .where(Job.dedup_key.in_(keys), Job.status == "done")
            )
        if done == len(keys):
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(QUIET_SECONDS)


def nudges(slack: FakeSlack, channel: str) -> dict[str, int]:
    texts = [m["text"] for m in slack.messages(channel)]
    return {kind: sum(words in t for t in texts) for kind, words in NUDGE_WORDS.items()}


async def attempts(db: Database, keys: list[str]) -> list[tuple[str, int]]:
    async with db.session() as session:
        rows = await session.execute(
            select(Job.status, Job.attempts).where(Job.dedup_key.in_(keys))
        )
    return [(status, n) for status, n in rows.all()]


async def test_two_serve_processes_fire_each_reminder_exactly_once(
    database_url: str, db: Database, slack: FakeSlack, tmp_path: Path
) -> None:
    opened = [await open_incident(db, slack, f"Outage {n}") for n in range(INCIDENTS)]
    env = server_env(database_url, slack, tmp_path)
    servers: list[Server] = []
    try:
        for n in range(2):
            servers.append(Server(env, tmp_path / f"serve-{n}.log"))
        await asyncio.gather(*(s.wait_healthy() for s in servers))
        burst = utcnow() + timedelta(seconds=2)  # all due at one moment: both workers race
        keys = [
            await schedule_reminder(db, number, kind, due_at=burst)
            for number, _ in opened
            for kind in NUDGE_WORDS
        ]

        await wait_fired(db, keys)
        logs = "\n".join(s.output() for s in servers)
        for _, channel in opened:
            assert nudges(slack, channel) == {reminders.STALL: 1, reminders.STATUS: 1}, logs
        assert await attempts(db, keys) == [("done", 1)] * len(keys), logs
    finally:
        for server in servers:
            server.stop()


async def test_a_reminder_outlives_the_processes_and_fires_once_after_a_restart(
    database_url: str, db: Database, slack: FakeSlack, tmp_path: Path
) -> None:
    number, channel = await open_incident(db, slack, "Search slow")
    env = server_env(database_url, slack, tmp_path)
    servers: list[Server] = []
    restarted: Server | None = None
    try:
        for n in range(2):
            servers.append(Server(env, tmp_path / f"before-{n}.log"))
        await asyncio.gather(*(s.wait_healthy() for s in servers))
        for server in servers:
            server.stop()  # every process is gone: the reminder can only be in the database
        assert all(s.proc.returncode is not None for s in servers)
        key = await schedule_reminder(db, number, reminders.STATUS, in_seconds=3)
        assert await attempts(db, [key]) == [("pending", 0)]

        restarted = Server(env, tmp_path / "after.log")
        await restarted.wait_healthy()
        await wait_fired(db, [key])
        assert nudges(slack, channel) == {reminders.STALL: 0, reminders.STATUS: 1}, (
            restarted.output()
        )
        assert await attempts(db, [key]) == [("done", 1)], restarted.output()
        # The chain carries on from the database too: the next status reminder is pending.
        async with db.session() as session:
            following = await session.scalars(
                select(Job.dedup_key).where(
                    Job.dedup_key.like(f"{reminders.prefix(number, reminders.STATUS)}%"),
                    Job.status == "pending",
                )
            )
            assert len(following.all()) == 1
    finally:
        for server in servers:
            server.stop()
        if restarted is not None:
            restarted.stop()


async def test_a_claim_interrupted_by_another_process_claiming_hands_the_job_out_once(
    database_url: str, db: Database
) -> None:
    """The race above made deterministic: a second engine (another process) runs a whole claim
    between this claim's SELECT and its UPDATE. The due job goes to exactly one of them."""
    key = await schedule_reminder(db, 1, reminders.STATUS, due_at=utcnow())
    rival: list[jobs.ClaimedJob] = []
    raced: list[str] = []

    async def rival_claim() -> None:
        other = Database(database_url)
        try:
            rival.extend(await jobs.claim(other, "rival"))
        finally:
            await other.dispose()

    racers: list[threading.Thread] = []

    def rival_claims_now(*args: object) -> None:
        statement = str(args[2])
        if not raced and statement.lstrip().startswith("SELECT") and "ORDER BY jobs" in statement:
            # Blocks this process's event loop, as a slow moment between SELECT and UPDATE would.
            raced.append(statement)
            racer = threading.Thread(target=asyncio.run, args=(rival_claim(),))
            racer.start()
            racers.append(racer)
            if mine.is_sqlite:
                # A SQLite write transaction holds the write lock from BEGIN (IMMEDIATE): the
                # rival's claim cannot start before this one commits; it runs right after.
                return
            racer.join(timeout=10)
            assert not racer.is_alive(), "the rival claim is stuck behind this one"

    mine = Database(database_url)
    event.listen(mine.engine.sync_engine, "after_cursor_execute", rival_claims_now)
    try:
        claimed = await jobs.claim(mine, "me")
    finally:
        await mine.dispose()
    for racer in racers:
        await asyncio.to_thread(racer.join, 30)
        assert not racer.is_alive(), "the rival claim never finished"
    assert len(raced) == 1  # the rival really ran inside this claim
    assert len(claimed) + len(rival) == 1, (claimed, rival)
    assert await attempts(db, [key]) == [("running", 1)]
