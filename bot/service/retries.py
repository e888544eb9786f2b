"""Sources that failed are asked again: the backoff with jitter of the Observe and Orient reads,
planned in the transaction that records what they returned (bot.service.observation,
bot.service.orientation)."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.model import Status, utcnow
from bot.service import incidents
from bot.service.runtime import Runtime
from bot.storage import jobs, repo
from bot.storage.tables import Incident

RETRY_BASE_SECONDS = 5.0  # a failed source is asked again after 5 s, 10 s, 20 s, … 5 min
RETRY_MAX_SECONDS = 300.0


def source_problem(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


async def schedule_retry(rt: Runtime, kind: str, number: int, *, failed: bool) -> None:
    """Try a failed source again later (backoff with jitter), while the incident is open; a
    source that answered resets the backoff."""
    async with rt.db.session() as session:  # most calls change nothing: no write lock
        row = await repo.get_incident(session, number)
        if row is None or not _retry_changes(row, kind, failed=failed):
            return
    async with rt.db.transaction() as session:
        row = await repo.get_incident(session, number)
        if row is not None:
            await plan_retry(session, row, kind, failed=failed)


def _retry_changes(row: Incident, kind: str, *, failed: bool) -> bool:
    retries = int((row.observation or {}).get("retries", {}).get(kind, 0))
    if not failed or row.status == Status.RESOLVED.value:
        return bool(retries)
    return True


async def plan_retry(session: AsyncSession, row: Incident, kind: str, *, failed: bool) -> None:
    """Inside the caller's transaction: queue the next try of a failed source (backoff with
    jitter) while the incident is open, or reset the backoff when the source answered."""
    if not _retry_changes(row, kind, failed=failed):
        return
    retries = int((row.observation or {}).get("retries", {}).get(kind, 0))
    if not failed or row.status == Status.RESOLVED.value:
        row.observation = {
            **(row.observation or {}),
            "retries": {**(row.observation or {}).get("retries", {}), kind: 0},
        }
        return
    row.observation = {
        **(row.observation or {}),
        "retries": {**(row.observation or {}).get("retries", {}), kind: retries + 1},
    }
    delay = min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2**retries)
    delay *= 0.5 + random.random() / 2
    try:  # a concurrent run planned the same try: one is enough, the card still commits
        async with session.begin_nested():
            jobs.add_job(
                session,
                kind,
                {"incident": row.id, "retry": retries + 1},
                due_at=utcnow() + timedelta(seconds=delay),
                ordering_key=incidents.incident_key(row.id),
                dedup_key=f"retry:{kind}:{row.id}:{retries + 1}",
            )
    except IntegrityError:
        pass
