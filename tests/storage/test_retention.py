"""Retention on a real database: old finished jobs and inbound events go; active jobs, what they
still read, recent dedup keys and reminders of open incidents stay."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.domain.jobs import JobKind
from bot.domain.model import utcnow
from bot.settings import Settings
from bot.storage import repo, retention
from bot.storage.db import Database
from bot.storage.repo.interactions import REQUESTS
from bot.storage.tables import InboundEvent, Job, OutboxRow
from bot.worker import Worker

NOW = utcnow()
OLD = NOW - timedelta(days=20)


async def add_job(db: Database, name: str, status: str, at: Any, **fields: Any) -> None:
    async with db.transaction() as session:
        job = Job(kind="test", payload=fields.pop("payload", {"name": name}), status=status,
                  created_at=at, due_at=at, **fields)  # fmt: skip
        if status in retention.FINISHED and "finished_at" not in fields:
            job.finished_at = at
        session.add(job)


async def add_inbound(db: Database, key: str, at: Any) -> int:
    async with db.transaction() as session:
        row = await repo.record_inbound(session, "pagerduty", key, "incident.triggered", {})
        assert row is not None
        row.received_at = at
        await session.flush()
        return row.id


async def incident(db: Database, status: str) -> int:
    async with db.transaction() as session:
        row = await repo.create_incident(session, title="t", severity=3)
        row.status = status
        return row.id


async def names(db: Database) -> set[str]:
    async with db.session() as session:
        rows = (await session.scalars(select(Job))).all()
    return {r.dedup_key or r.payload.get("name") for r in rows}


async def inbound_keys(db: Database) -> set[str]:
    async with db.session() as session:
        return set((await session.scalars(select(InboundEvent.dedup_key))).all())


async def test_purge_keeps_what_is_active_recent_or_still_deduplicating(db: Database) -> None:
    open_number, resolved_number = await incident(db, "triggered"), await incident(db, "resolved")
    await add_job(db, "old-done", "done", OLD)
    await add_job(db, "old-dead", "dead", OLD, last_error="boom")
    await add_job(db, "old-cancelled", "cancelled", OLD)
    await add_job(db, "old-done-unfinished-stamp", "done", OLD, finished_at=None)
    await add_job(db, "recent-done", "done", NOW - timedelta(days=2))
    await add_job(db, "old-pending", "pending", OLD)
    await add_job(db, "old-running", "running", OLD)
    await add_job(db, "x", "done", OLD, dedup_key=f"reminder:{open_number}:stall:1",
                  payload={"incident": open_number})  # fmt: skip
    await add_job(db, "x", "done", OLD, dedup_key=f"reminder:{resolved_number}:stall:1",
                  payload={"incident": resolved_number})  # fmt: skip
    await add_job(db, "x", "done", OLD, dedup_key="pin:Ev01")
    still_read = await add_inbound(db, "old-read-by-pending", OLD)
    done_read = await add_inbound(db, "old-read-by-done", OLD)
    await add_job(
        db,
        "reads-inbound",
        "pending",
        NOW,
        payload={"inbound": still_read, "name": "reads-inbound"},
    )
    await add_job(
        db, "read-inbound", "done", OLD, payload={"inbound": done_read, "name": "read-inbound"}
    )
    await add_inbound(db, "old", OLD)
    await add_inbound(db, "recent", NOW - timedelta(days=2))

    purged = await retention.purge(db, days=14, now=NOW, batch=2)

    assert await names(db) == {
        "recent-done",
        "old-pending",
        "old-running",
        f"reminder:{open_number}:stall:1",
        "reads-inbound",
    }
    assert await inbound_keys(db) == {"old-read-by-pending", "recent"}
    assert purged == retention.Purged(jobs=7, inbound_events=2)
    # What was kept still deduplicates; what was deleted may arrive again.
    async with db.transaction() as session:
        assert await repo.record_inbound(session, "pagerduty", "recent", None, {}) is None
        assert await repo.record_inbound(session, "pagerduty", "old", None, {}) is not None
    assert await retention.purge(db, days=14, now=NOW) == retention.Purged(0, 0)


async def test_short_retention_still_keeps_the_vendors_retry_window(db: Database) -> None:
    await add_inbound(db, "two-days", NOW - timedelta(days=2))
    await add_inbound(db, "four-days", NOW - timedelta(days=4))
    await add_job(db, "two-days-done", "done", NOW - timedelta(days=2))
    await retention.purge(db, days=1, now=NOW)
    assert await inbound_keys(db) == {"two-days"}  # PagerDuty retries for up to 48 h
    assert await names(db) == set()  # a finished job has no such window
    with pytest.raises(ValueError):
        await retention.purge(db, days=0)


async def test_request_fingerprints_go_after_the_replay_window(db: Database) -> None:
    for key, age in (("old", timedelta(minutes=11)), ("fresh", timedelta(minutes=4))):
        async with db.transaction() as session:
            row = await repo.record_inbound(session, REQUESTS, key, "slash_command", {})
            assert row is not None
            row.received_at = NOW - age
    assert await retention.purge(db, days=14, now=NOW) == retention.Purged(0, 1)
    assert await inbound_keys(db) == {"fresh"}


async def test_scheduled_once_per_slot_and_run_by_the_worker(db: Database) -> None:
    assert await retention.schedule_retention(db, now=NOW) is True
    assert await retention.schedule_retention(db, now=NOW) is False  # another replica's call
    async with db.session() as session:
        queued = (
            await session.scalars(select(Job).where(Job.kind == JobKind.STORAGE_RETENTION))
        ).all()
    assert len(queued) == 1 and NOW < queued[0].due_at <= NOW + retention.RUN_EVERY

    await add_job(db, "old-done", "done", OLD)
    async with db.transaction() as session:
        due = await session.get(Job, queued[0].id)
        assert due is not None
        due.due_at = NOW - timedelta(seconds=1)
    worker = Worker(db)
    days = Settings(_env_file=None).retention_days  # type: ignore[call-arg]
    worker.register(JobKind.STORAGE_RETENTION, retention.handler(db, days))
    assert await worker.run_once() == 1
    async with db.session() as session:
        rows = (
            await session.scalars(select(Job).where(Job.kind == JobKind.STORAGE_RETENTION))
        ).all()
    assert sorted(r.status for r in rows) == ["done", "pending"]  # ran, and queued the next
    assert "old-done" not in await names(db)


def test_retention_days_setting() -> None:
    assert Settings(_env_file=None).retention_days == 14  # type: ignore[call-arg]
    assert Settings(_env_file=None, OODA_RETENTION_DAYS="30").retention_days == 30  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        Settings(_env_file=None, OODA_RETENTION_DAYS="0")  # type: ignore[call-arg]


async def test_delivered_slack_messages_go_undelivered_ones_stay(db: Database) -> None:
    number = await incident(db, "resolved")
    async with db.transaction() as session:
        for status, sent_at in (("sent", OLD), ("failed", OLD), ("sent", NOW), ("pending", None)):
            session.add(
                OutboxRow(
                    lane=f"inc:{number}",
                    incident_id=number,
                    op="post",
                    payload={"text": status},
                    status=status,
                    sent_at=sent_at,
                    created_at=OLD,
                )
            )
    purged = await retention.purge(db, days=14, now=NOW)
    assert purged.outbox_items == 2
    async with db.session() as session:
        left = (await session.execute(select(OutboxRow.status, OutboxRow.sent_at))).all()
    assert sorted(status for status, _ in left) == ["pending", "sent"]
