"""Changes (deploys, flags, config) and their ranking and verdicts per incident."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.json_values import check_value, text_problem
from bot.domain.model import (
    Change,
    ChangeKind,
    ChangeStatus,
    RankedChange,
    Status,
    Verdict,
    utcnow,
)
from bot.storage.tables import Base, ChangeRow, Incident, IncidentChangeRow, text_length


def change_from_row(row: ChangeRow) -> Change:
    return Change(
        source=row.source,
        external_id=row.external_id,
        summary=row.summary,
        created_at=row.created_at,
        service=row.service,
        kind=ChangeKind(row.kind),
        status=ChangeStatus(row.status),
        repo=row.repo,
        environment=row.environment,
        sha=row.sha,
        ref=row.ref,
        previous_sha=row.previous_sha,
        url=row.url,
        author=row.author,
        size=row.size,
        data=dict(row.data or {}),
        image_tag=row.image_tag,
    )


def _clip(table: type[Base], column: str, value: object) -> object:
    length = text_length(table, column)
    if isinstance(value, str) and length and len(value) > length:
        return value[:length]
    return value


_REQUIRED_TEXT = ("source", "external_id", "summary")
_OPTIONAL_TEXT = (
    "service",
    "repo",
    "environment",
    "sha",
    "ref",
    "previous_sha",
    "url",
    "author",
    "image_tag",
)
INT32 = 2**31 - 1  # ChangeRow.size is an Integer column (int4 on PostgreSQL)


def change_problem(change: Change) -> str | None:
    """Why a change cannot be stored as it is (a field of the wrong type, text no database
    keeps, a size out of range, data that is not JSON); None when it can. Text longer than
    its column is clipped by `upsert_change`, not refused here."""
    for name in _REQUIRED_TEXT + _OPTIONAL_TEXT:
        value = getattr(change, name)
        if value is None and name in _OPTIONAL_TEXT:
            continue
        if not isinstance(value, str):
            return f"{name} must be a string, not {type(value).__name__}"
        problem = text_problem(value)
        if problem:
            return f"{name} {problem}"
    if not change.external_id.strip():
        return "external_id is empty"
    if not isinstance(change.kind, ChangeKind) or not isinstance(change.status, ChangeStatus):
        return "kind and status must be a ChangeKind and a ChangeStatus"
    size = change.size
    if size is not None and (not isinstance(size, int) or isinstance(size, bool)):
        return f"size must be an integer, not {type(size).__name__}"
    if size is not None and abs(size) > INT32:
        return "size is outside the 32-bit range"
    if not isinstance(change.created_at, datetime) or change.created_at.tzinfo is None:
        return "created_at must be an aware datetime"
    if not isinstance(change.data, dict):
        return "data must be a JSON object"
    try:
        json.dumps(change.data, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return "data is not JSON"
    problem = check_value(change.data)
    return f"data: {problem}" if problem else None


async def upsert_change(
    session: AsyncSession, change: Change, *, drill: int | None = None
) -> ChangeRow:
    """Insert or update by (source, external_id): a status update refreshes the same change.
    ValueError (before any write) when `change_problem` finds the change cannot be stored.
    `drill`: the drill incident that injected it (only its Orient sees it)."""
    problem = change_problem(change)
    if problem:
        raise ValueError(f"change {change.source}:{str(change.external_id)[:80]}: {problem}")
    query = select(ChangeRow).where(
        ChangeRow.source == change.source, ChangeRow.external_id == change.external_id
    )
    row = (await session.scalars(query)).first()
    values: dict[str, object] = {
        "service": change.service,
        "kind": change.kind.value,
        "status": change.status.value,
        "repo": change.repo,
        "environment": change.environment,
        "sha": change.sha,
        "ref": change.ref,
        "previous_sha": change.previous_sha,
        "summary": change.summary,
        "url": change.url,
        "author": change.author,
        "size": change.size,
        "image_tag": change.image_tag,
        "created_at": change.created_at,
        "data": change.data,
    }
    # Vendors send free-form text: clip to the column sizes rather than fail the whole batch
    # (PostgreSQL enforces lengths; SQLite does not).
    values = {key: _clip(ChangeRow, key, value) for key, value in values.items()}
    if row is None:
        try:
            async with session.begin_nested():
                row = ChangeRow(
                    source=change.source,
                    external_id=change.external_id,
                    drill_incident_id=drill,
                    **values,
                )
                session.add(row)
            return row
        except IntegrityError:  # another replica inserted it first
            row = (await session.scalars(query)).one()
    for key, value in values.items():
        # An unknown status never overwrites a known one (webhooks arrive out of order).
        if key == "status" and value == ChangeStatus.UNKNOWN.value:
            continue
        if value is not None:
            setattr(row, key, value)
    return row


async def change_exists(session: AsyncSession, source: str, external_id: str) -> bool:
    query = select(ChangeRow.id).where(
        ChangeRow.source == source, ChangeRow.external_id == external_id
    )
    return (await session.scalar(query)) is not None


def _seen_by(drill: int | None) -> ColumnElement[bool]:
    """A real incident sees the real changes; a drill sees only the ones it injected."""
    if drill is None:
        return ChangeRow.drill_incident_id.is_(None)
    return ChangeRow.drill_incident_id == drill


async def earlier_changes(
    session: AsyncSession, source: str, before: datetime, *, drill: int | None = None
) -> list[Change]:
    """Changes from the same source made before `before` (where a rollback could go)."""
    query = select(ChangeRow).where(
        ChangeRow.source == source, ChangeRow.created_at < before, _seen_by(drill)
    )
    return [change_from_row(r) for r in (await session.scalars(query)).all()]


async def changes_since(
    session: AsyncSession, since: datetime, *, drill: int | None = None
) -> list[ChangeRow]:
    """What Orient ranks: changes since `since` and those still rolling out (a drill's own)."""
    query = select(ChangeRow).where(
        (ChangeRow.created_at >= since) | ChangeRow.status.in_(["in_progress", "pending"]),
        _seen_by(drill),
    )
    return list((await session.scalars(query.order_by(ChangeRow.created_at))).all())


async def save_ranking(
    session: AsyncSession, incident_id: int, ranked: Sequence[tuple[ChangeRow, RankedChange]]
) -> None:
    """Replace the incident's ranking, keeping verdicts responders already gave."""
    query = select(IncidentChangeRow).where(IncidentChangeRow.incident_id == incident_id)
    existing = {r.change_id: r for r in (await session.scalars(query)).all()}
    seen = set()
    for rank, (row, item) in enumerate(ranked, start=1):
        seen.add(row.id)
        link = existing.get(row.id)
        if link is None:
            link = IncidentChangeRow(incident_id=incident_id, change_id=row.id)
            session.add(link)
        link.rank, link.score, link.reason, link.likely = rank, item.score, item.reason, item.likely
        # Reports now merged into this one: carry a verdict over, drop their own entries.
        for member_id in await _member_ids(session, row, item):
            old = existing.get(member_id)
            if old is None or member_id in seen:
                continue
            if link.verdict is None and old.verdict is not None:
                link.verdict, link.verdict_by, link.verdict_at = (
                    old.verdict,
                    old.verdict_by,
                    old.verdict_at,
                )
            seen.add(member_id)
            await session.delete(old)
        link.linked_sources = item.change.data.get("linked_sources")
        link.status = item.change.status.value
    for change_id, link in existing.items():
        if change_id not in seen and link.verdict is None:
            await session.delete(link)


async def _member_ids(session: AsyncSession, row: ChangeRow, item: RankedChange) -> list[int]:
    own = f"{row.source}:{row.external_id}"
    members = [k for k in item.change.data.get("linked_changes", []) if k != own]
    ids = []
    for key in members:
        source, _, external_id = key.partition(":")
        found = await session.scalar(
            select(ChangeRow.id).where(
                ChangeRow.source == source, ChangeRow.external_id == external_id
            )
        )
        if found is not None:
            ids.append(found)
    return ids


async def ranked_changes(session: AsyncSession, incident_id: int) -> list[RankedChange]:
    query = (
        select(IncidentChangeRow, ChangeRow)
        .join(ChangeRow, ChangeRow.id == IncidentChangeRow.change_id)
        .where(IncidentChangeRow.incident_id == incident_id)
        .order_by(IncidentChangeRow.rank)
    )
    return [
        RankedChange(
            _with_links(change_from_row(change), link.linked_sources, link.status),
            link.score,
            link.reason,
            link.likely,
            Verdict(link.verdict) if link.verdict else None,
        )
        for link, change in (await session.execute(query)).all()
    ]


def _with_links(
    change: Change, linked_sources: list[str] | None, status: str | None = None
) -> Change:
    """The stored change as it was ranked: naming the other sources that reported the same
    deploy, with the status the ranking used (the worst of their reports)."""
    if not linked_sources:
        return change
    ranked_status = ChangeStatus(status) if status else change.status
    data = {**change.data, "linked_sources": list(linked_sources)}
    return replace(change, data=data, status=ranked_status)


async def set_verdict(
    session: AsyncSession, incident_id: int, change_key: str, verdict: Verdict, by: str
) -> Change | None:
    source, _, external_id = change_key.partition(":")
    query = (
        select(IncidentChangeRow, ChangeRow)
        .join(ChangeRow, ChangeRow.id == IncidentChangeRow.change_id)
        .where(
            IncidentChangeRow.incident_id == incident_id,
            ChangeRow.source == source,
            ChangeRow.external_id == external_id,
        )
    )
    found = (await session.execute(query)).first()
    if found is None:
        return None
    link, change = found
    link.verdict, link.verdict_by, link.verdict_at = verdict.value, by, utcnow()
    return change_from_row(change)


async def caused_incidents(
    session: AsyncSession, since: datetime
) -> list[tuple[Incident, str, str]]:
    """Resolved incidents opened since `since` with a change marked Caused: (incident, source,
    external_id) of that change, the best-ranked one when several were marked. Drills included
    (the caller marks them)."""
    query = (
        select(Incident, ChangeRow.source, ChangeRow.external_id)
        .join(IncidentChangeRow, IncidentChangeRow.incident_id == Incident.id)
        .join(ChangeRow, ChangeRow.id == IncidentChangeRow.change_id)
        .where(
            Incident.status == Status.RESOLVED.value,
            Incident.opened_at >= since,
            IncidentChangeRow.verdict == Verdict.CAUSED.value,
        )
        .order_by(Incident.id, IncidentChangeRow.rank)
    )
    found: dict[int, tuple[Incident, str, str]] = {}
    for incident, source, external_id in (await session.execute(query)).all():
        found.setdefault(incident.id, (incident, source, external_id))
    return list(found.values())
