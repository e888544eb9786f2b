"""A replica's running job across real `ooda serve` processes on one database (issue 10).

Replica A talks to a Slack that never answers, so the reminder job it claims hangs in its
handler while A's heartbeat keeps the short lease alive: replica B, polling all along, leaves it
alone. `kill -9` of A: B takes the job over once the lease runs out and posts the nudge, once.
SIGTERM of A instead: A hands the claim back at the end of its grace period, unconsumed, and B
runs it at once.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.fakes.slack_api import FakeSlack
from bot.service import reminders
from bot.storage.db import Database
from bot.storage.tables import Job
from tests.test_multi_process import (
    Server,
    db,
    nudges,
    open_incident,
    schedule_reminder,
    server_env,
    slack,
)

__all__ = ["db", "slack"]  # fixtures

LEASE = 2.0
POLL = 0.2
# Bounds while waiting on the database; never timed assertions. Without the heartbeat B would
# take the job after one lease; without a short lease it would wait 5 minutes.
WAIT_SECONDS = 20.0


@pytest.fixture
def silent_slack() -> Iterator[str]:
    """A Slack API URL that accepts connections and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/api/"
    finally:
        sock.close()


async def job_state(db: Database, key: str) -> tuple[str, int, str | None, datetime | None]:
    async with db.session() as session:
        row = (
            await session.execute(
                select(Job.status, Job.attempts, Job.locked_by, Job.locked_until).where(
                    Job.dedup_key == key
                )
            )
        ).one()
    return row[0], row[1], row[2], row[3]


async def wait_for_state(db: Database, key: str, want: str, *, by: Server | None = None) -> None:
    """Poll (bounded) until the job has status `want` (claimed by `by`'s process, if given)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        status, _, locked_by, _ = await job_state(db, key)
        if status == want and (by is None or held_by(locked_by, by)):
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"job {key} not {want} after {WAIT_SECONDS}s: {await job_state(db, key)}")


def held_by(locked_by: str | None, server: Server) -> bool:
    return (locked_by or "").startswith(f"{server.proc.pid}:")


async def renewed_past(db: Database, key: str, first: datetime) -> None:
    """Wait until the holder renewed its lease to beyond two leases after its first one."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        _, _, _, until = await job_state(db, key)
        if until is not None and (until - first).total_seconds() > 2 * LEASE:
            return
        await asyncio.sleep(0.1)
    pytest.fail("the lease was never renewed")


async def start_pair(
    database_url: str, db: Database, slack: FakeSlack, silent_slack: str, tmp_path: Path
) -> tuple[Server, Server, str, str]:
    """A holds a hanging reminder job (its Slack never answers); B runs beside it."""
    number, channel = await open_incident(db, slack, "Payments down")
    env = server_env(database_url, slack, tmp_path) | {
        "OODA_JOB_LEASE_SECONDS": str(LEASE),
        "OODA_WORKER_POLL": str(POLL),
        "OODA_WORKER_GRACE_SECONDS": "1",
    }
    a = Server(env | {"SLACK_API_URL": silent_slack}, tmp_path / "a.log")
    await a.wait_healthy()
    key = await schedule_reminder(db, number, reminders.STATUS, in_seconds=0)
    await wait_for_state(db, key, "running", by=a)
    b = Server(env, tmp_path / "b.log")
    await b.wait_healthy()
    return a, b, key, channel


async def test_kill_9_of_the_replica_running_a_job_resumes_it_on_the_other(
    database_url: str, db: Database, slack: FakeSlack, silent_slack: str, tmp_path: Path
) -> None:
    a, b = None, None
    try:
        a, b, key, channel = await start_pair(database_url, db, slack, silent_slack, tmp_path)
        _, _, _, first = await job_state(db, key)
        assert first is not None
        await renewed_past(db, key, first)  # B has been polling for over two leases
        status, attempts, locked_by, _ = await job_state(db, key)
        assert status == "running" and attempts == 1 and held_by(locked_by, a), b.output()

        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait(timeout=10)
        killed = time.monotonic()
        await wait_for_state(db, key, "done")
        resumed = time.monotonic() - killed
        _, attempts, locked_by, _ = await job_state(db, key)
        assert attempts == 2 and held_by(locked_by, b), b.output()
        assert nudges(slack, channel)[reminders.STATUS] == 1
        print(f"resumed {resumed:.1f}s after kill -9 (lease {LEASE}s, poll {POLL}s)")
    finally:
        for server in (a, b):
            if server is not None:
                server.stop()


async def test_sigterm_of_the_replica_running_a_job_hands_it_back_unconsumed(
    database_url: str, db: Database, slack: FakeSlack, silent_slack: str, tmp_path: Path
) -> None:
    a, b = None, None
    try:
        a, b, key, channel = await start_pair(database_url, db, slack, silent_slack, tmp_path)
        a.proc.send_signal(signal.SIGTERM)  # grace 1 s, then the hanging job is released
        a.proc.wait(timeout=WAIT_SECONDS)  # uvicorn re-raises SIGTERM once it has shut down
        await wait_for_state(db, key, "done")
        _, attempts, locked_by, _ = await job_state(db, key)
        assert attempts == 1 and held_by(locked_by, b), a.output() + b.output()
        assert nudges(slack, channel)[reminders.STATUS] == 1
        assert "released" in a.output()
    finally:
        for server in (a, b):
            if server is not None:
                server.stop()
