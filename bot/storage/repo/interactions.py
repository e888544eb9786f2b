"""Slack interactions stored before their ack: one row per Slack id, a redelivery is a no-op."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Table, select, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.model import TimelineKind, utcnow
from bot.storage.tables import InboundEvent, Incident, TimelineRow

SOURCE = "slack-interaction"  # inbound_events.source (Events API deliveries are "slack")
REQUESTS = "slack-request"  # fingerprints of accepted Slack requests (replay window)


async def record_interactions(
    session: AsyncSession,
    records: list[tuple[str, str | None, dict[str, Any]]],
    *,
    source: str = SOURCE,
) -> dict[str, int]:
    """Insert (key, kind, payload) rows in one statement; the ids of those inserted, by key.
    A key stored before (or twice in `records`) is left out: one INSERT … ON CONFLICT DO
    NOTHING, no savepoints, on the ack path."""
    if not records:
        return {}
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    table = InboundEvent.__table__
    now = utcnow()
    statement = (
        insert(table)
        .values(
            [
                {
                    "source": source,
                    "dedup_key": key,
                    "event_type": kind,
                    "payload": payload,
                    "received_at": now,
                }
                for key, kind, payload in records
            ]
        )
        .on_conflict_do_nothing(index_elements=["source", "dedup_key"])
        .returning(table.c.id, table.c.dedup_key)
    )
    return {key: id_ for id_, key in (await session.execute(statement)).all()}


async def interaction(session: AsyncSession, inbound_id: int) -> dict[str, Any] | None:
    """The stored payload of one interaction."""
    query = select(InboundEvent.payload).where(
        InboundEvent.id == inbound_id, InboundEvent.source == SOURCE
    )
    payload = await session.scalar(query)
    return dict(payload) if payload is not None else None


async def seen(session: AsyncSession, key: str) -> bool:
    query = select(InboundEvent.id).where(
        InboundEvent.source == SOURCE, InboundEvent.dedup_key == key
    )
    return (await session.scalar(query)) is not None


async def incident_for_channel(session: AsyncSession, channel_id: str | None) -> int | None:
    if not channel_id:
        return None
    return await session.scalar(select(Incident.id).where(Incident.channel_id == channel_id))


def note_row(
    number: int, text: str, *, actor: str | None, key: str, at: datetime
) -> tuple[Table, dict[str, Any]]:
    """A note's timeline entry, to insert in the ack's transaction: its place is when sent."""
    return TimelineRow.__table__, {
        "incident_id": number,
        "at": at,
        "kind": TimelineKind.NOTE.value,
        "actor": actor,
        "text": text,
        "data": {"slack": key},  # found by this even after its PagerDuty key replaced `key`
        "source_key": key,
        "pinned": False,
    }


def as_row(session: AsyncSession, obj: Any) -> tuple[Table, dict[str, Any]]:
    """An ORM object just added (a job from jobs.add_job) as a row for `insert_rows`, taken
    out of the session: on SQLite the ORM inserts such objects one statement each. Unset
    columns keep their defaults."""
    session.expunge(obj)
    mapper = sa_inspect(type(obj))
    row = {}
    for attr in mapper.column_attrs:
        column = attr.columns[0]
        value = getattr(obj, attr.key)
        if value is not None or (column.default is None and column.server_default is None):
            row[column.key] = value
    row.pop("id", None)
    return mapper.local_table, row


async def insert_rows(session: AsyncSession, rows: list[tuple[Table, dict[str, Any]]]) -> None:
    """Insert rows, one executemany per table (and set of columns)."""
    groups: dict[tuple[Table, tuple[str, ...]], list[dict[str, Any]]] = {}
    for table, row in rows:
        groups.setdefault((table, tuple(sorted(row))), []).append(row)
    for (table, _columns), values in groups.items():
        await session.execute(table.insert(), values)


async def stored_note(session: AsyncSession, number: int, key: str) -> tuple[int, str] | None:
    """(id, current source key) of the note stored at the ack under `key`."""
    query = select(TimelineRow.id, TimelineRow.source_key).where(
        TimelineRow.incident_id == number,
        TimelineRow.kind == TimelineKind.NOTE.value,
        TimelineRow.data["slack"].as_string() == key,
    )
    row = (await session.execute(query)).first()
    return (row[0], str(row[1])) if row else None


async def rekey_note(session: AsyncSession, number: int, entry_id: int, new_key: str) -> bool:
    """Give a stored note the key its PagerDuty echo carries. True when the echo had landed
    first: ours keeps its place, the echo's copy goes."""
    echo = await session.scalar(
        select(TimelineRow).where(
            TimelineRow.incident_id == number, TimelineRow.source_key == new_key
        )
    )
    if echo is not None:
        await session.delete(echo)
        await session.flush()
    await session.execute(
        update(TimelineRow).where(TimelineRow.id == entry_id).values(source_key=new_key)
    )
    return echo is not None
