"""What /metrics reads from the database when it is scraped: the job queue (depth by kind,
the oldest due job, dead jobs) and the Slack outbox's undelivered depth by state. Each is one
grouped count over an index (ix_jobs_due, ix_outbox_status), cheap at any scrape interval."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select

from bot.domain.model import utcnow
from bot.storage.db import Database
from bot.storage.jobs import ACTIVE
from bot.storage.outbox import PENDING
from bot.storage.tables import Job, OutboxRow


@dataclass(frozen=True)
class QueueGauges:
    depth: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, state) -> jobs
    oldest_due_seconds: float = 0.0  # how long the oldest due, unclaimed job has waited
    dead: int = 0
    outbox: dict[str, int] = field(default_factory=dict)  # state -> items not delivered


async def read_gauges(db: Database, now: datetime | None = None) -> QueueGauges:
    now = now or utcnow()
    async with db.session() as session:
        by_kind = await session.execute(
            select(Job.kind, Job.status, func.count())
            .where(Job.status.in_(ACTIVE))
            .group_by(Job.kind, Job.status)
        )
        oldest = await session.scalar(
            select(func.min(Job.due_at)).where(Job.status == "pending", Job.due_at <= now)
        )
        dead = await session.scalar(select(func.count()).where(Job.status == "dead"))
        outbox = await session.execute(
            select(OutboxRow.status, func.count())
            .where(OutboxRow.status.in_(PENDING))
            .group_by(OutboxRow.status)
        )
        depth = {(str(kind), str(status)): int(n) for kind, status, n in by_kind.all()}
        undelivered = {str(status): int(n) for status, n in outbox.all()}
    if oldest is not None and oldest.tzinfo is None:  # SQLite hands back naive UTC
        oldest = oldest.replace(tzinfo=now.tzinfo)
    waited = max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0
    return QueueGauges(depth, waited, int(dead or 0), undelivered)
