"""A replica's running job across real `ooda serve` processes on one database.

Replica A talks to a PagerDuty that never answers, so the responders job it claims (it asks
PagerDuty for the incident's assignees) hangs in its handler while A's heartbeat keeps the short
lease alive: replica B, polling all along, leaves it alone. `kill -9` of A: B takes the job over
once the lease runs out and runs it, once. SIGTERM of A instead: A hands the claim back at the
end of its grace period, unconsumed, and B runs it at once.
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

from bot.domain.jobs import JobKind
from bot.fakes import FakePagerDuty
from bot.fakes.slack_api import FakeSlack
from bot.storage import jobs
from bot.storage.db import Database
from bot.storage.tables import Incident, Job
from tests.helpers.serve import Server, open_incident, server_env

PD_ID = "PHANG01"

LEASE = 2.0
POLL = 0.2
# Bounds while waiting on the database; never timed assertions. Without the heartbeat B would
# take the job after one lease; without a short lease it would wait 5 minutes.
WAIT_SECONDS = 20.0


@pytest.fixture
def silent_api() -> Iterator[str]:
    """An API base URL that accepts connections and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


@pytest.fixture
def pagerduty() -> Iterator[FakePagerDuty]:
    fake = FakePagerDuty().start()
    fake.add_incident(PD_ID, number=42, title="Payments down", service_id="PPAY", service_name="p")
    try:
        yield fake
    finally:
        fake.stop()


def asked(pagerduty: FakePagerDuty) -> int:
    """How many times PagerDuty was asked for the incident (the job's one call)."""
    return sum(1 for c in pagerduty.calls if c.path == f"/incidents/{PD_ID}")


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
    database_url: str,
    db: Database,
    slack: FakeSlack,
    pagerduty: FakePagerDuty,
    silent_api: str,
    tmp_path: Path,
) -> tuple[Server, Server, str]:
    """A holds a hanging responders job (its PagerDuty never answers); B runs beside it."""
    number, _channel = await open_incident(db, slack, "Payments down")
    async with db.transaction() as session:
        incident = await session.get(Incident, number)
        assert incident is not None
        incident.pd_incident_id = PD_ID
    env = server_env(database_url, slack, tmp_path) | {
        "OODA_JOB_LEASE_SECONDS": str(LEASE),
        "OODA_WORKER_POLL": str(POLL),
        "OODA_WORKER_GRACE_SECONDS": "1",
        "PAGERDUTY_API_TOKEN": "pd-token",
        "PAGERDUTY_API_URL": pagerduty.url,
    }
    a = Server(env | {"PAGERDUTY_API_URL": silent_api}, tmp_path / "a.log")
    await a.wait_healthy()
    key = f"responders:{number}"
    assert await jobs.schedule_once(
        db, JobKind.INCIDENT_RESPONDERS, {"incident": number}, dedup_key=key
    )
    await wait_for_state(db, key, "running", by=a)
    b = Server(env, tmp_path / "b.log")
    await b.wait_healthy()
    return a, b, key


async def test_kill_9_of_the_replica_running_a_job_resumes_it_on_the_other(
    database_url: str,
    db: Database,
    slack: FakeSlack,
    pagerduty: FakePagerDuty,
    silent_api: str,
    tmp_path: Path,
) -> None:
    a, b = None, None
    try:
        a, b, key = await start_pair(database_url, db, slack, pagerduty, silent_api, tmp_path)
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
        assert asked(pagerduty) >= 1  # B ran it (a slow answer may be retried by the client)
        print(f"resumed {resumed:.1f}s after kill -9 (lease {LEASE}s, poll {POLL}s)")
    finally:
        for server in (a, b):
            if server is not None:
                server.stop()


async def test_sigterm_of_the_replica_running_a_job_hands_it_back_unconsumed(
    database_url: str,
    db: Database,
    slack: FakeSlack,
    pagerduty: FakePagerDuty,
    silent_api: str,
    tmp_path: Path,
) -> None:
    a, b = None, None
    try:
        a, b, key = await start_pair(database_url, db, slack, pagerduty, silent_api, tmp_path)
        a.proc.send_signal(signal.SIGTERM)  # grace 1 s, then the hanging job is released
        a.proc.wait(timeout=WAIT_SECONDS)  # uvicorn re-raises SIGTERM once it has shut down
        await wait_for_state(db, key, "done")
        _, attempts, locked_by, _ = await job_state(db, key)
        assert attempts == 1 and held_by(locked_by, b), a.output() + b.output()
        assert asked(pagerduty) >= 1  # B ran it (a slow answer may be retried by the client)
        assert "released" in a.output()
    finally:
        for server in (a, b):
            if server is not None:
                server.stop()
