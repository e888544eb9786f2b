"""Timeline entries: add (idempotent under a source key), remove, list."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.model import TimelineEntry, TimelineKind, utcnow
from bot.storage.inserts import insert_new
from bot.storage.tables import TimelineRow


async def add_entry(
    session: AsyncSession,
    incident_id: int,
    kind: TimelineKind,
    text: str,
    *,
    actor: str | None = None,
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
    source_key: str | None = None,
    pinned: bool = False,
) -> TimelineRow | None:
    """Add a timeline entry; None when source_key already produced one (idempotent)."""
    fields: dict[str, Any] = {
        "incident_id": incident_id,
        "at": at or utcnow(),
        "kind": kind.value,
        "actor": actor,
        "text": text,
        "data": data or {},
        "source_key": source_key,
        "pinned": pinned,
    }
    if source_key is None:
        row = TimelineRow(**fields)
        session.add(row)
        return row
    return await insert_new(session, TimelineRow, ("incident_id", "source_key"), **fields)


async def remove_entry(session: AsyncSession, incident_id: int, source_key: str) -> bool:
    query = select(TimelineRow).where(
        TimelineRow.incident_id == incident_id, TimelineRow.source_key == source_key
    )
    row = (await session.scalars(query)).first()
    if row is None:
        return False
    await session.delete(row)
    return True


async def has_entry(session: AsyncSession, incident_id: int, source_key: str) -> bool:
    """Whether this source key already produced an entry on the incident's timeline."""
    query = select(TimelineRow.id).where(
        TimelineRow.incident_id == incident_id, TimelineRow.source_key == source_key
    )
    return (await session.scalar(query)) is not None


async def count_entries(session: AsyncSession, incident_id: int, source_prefix: str) -> int:
    """How many entries came from sources whose key starts with `source_prefix`."""
    query = select(func.count(TimelineRow.id)).where(
        TimelineRow.incident_id == incident_id,
        TimelineRow.source_key.startswith(source_prefix, autoescape=True),
    )
    return int(await session.scalar(query) or 0)


async def last_note_at(session: AsyncSession, incident_id: int) -> datetime | None:
    """When the incident's latest note was made (None when it has none)."""
    query = select(func.max(TimelineRow.at)).where(
        TimelineRow.incident_id == incident_id, TimelineRow.kind == TimelineKind.NOTE.value
    )
    at = await session.scalar(query)
    if at is not None and at.tzinfo is None:  # SQLite hands back naive UTC
        at = at.replace(tzinfo=UTC)
    return at


async def timeline(
    session: AsyncSession, incident_id: int, *, limit: int | None = None
) -> list[TimelineEntry]:
    query = (
        select(TimelineRow)
        .where(TimelineRow.incident_id == incident_id)
        .order_by(TimelineRow.at, TimelineRow.id)
    )
    rows = (await session.scalars(query)).all()
    if limit is not None:
        rows = rows[-limit:]
    return [
        TimelineEntry(r.at, TimelineKind(r.kind), r.text, r.actor, dict(r.data or {}), r.pinned)
        for r in rows
    ]


async def set_mirrored_note(session: AsyncSession, entry_id: int, source_key: str) -> None:
    """Key a note by the PagerDuty note it was mirrored to (its echo then finds it)."""
    row = await session.get(TimelineRow, entry_id)
    if row is not None and row.source_key is None:
        row.source_key = source_key
        row.data = {k: v for k, v in (row.data or {}).items() if k != "pd_mirror"}


async def claim_mirrored_note(
    session: AsyncSession, incident_id: int, text: str, source_key: str
) -> bool:
    """PagerDuty's echo of a note we are still mirroring: it takes that entry's place (keyed,
    so nothing lands twice). True when the echo was ours, or this key is on the timeline."""
    keyed = select(TimelineRow.id).where(
        TimelineRow.incident_id == incident_id, TimelineRow.source_key == source_key
    )
    if await session.scalar(keyed) is not None:
        return True
    query = select(TimelineRow).where(
        TimelineRow.incident_id == incident_id,
        TimelineRow.kind == TimelineKind.NOTE.value,
        TimelineRow.text == text,
        TimelineRow.source_key.is_(None),
    )
    for row in (await session.scalars(query)).all():
        if (row.data or {}).get("pd_mirror") == "pending":
            await set_mirrored_note(session, row.id, source_key)
            return True
    return False
