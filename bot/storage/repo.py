"""Queries and writes over the tables, returning domain values. Callers own the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.model import (
    ActionRun,
    Change,
    ChangeKind,
    ChangeStatus,
    Decision,
    FollowUp,
    IncidentView,
    RankedChange,
    Severity,
    Stage,
    StageSpan,
    Status,
    TimelineEntry,
    TimelineKind,
    Verdict,
    utcnow,
)
from bot.domain.stages import iteration_for
from bot.metrics import note_closed_span
from bot.storage.tables import (
    ActionRunRow,
    ChangeRow,
    DecisionRow,
    FollowUpRow,
    InboundEvent,
    Incident,
    IncidentChangeRow,
    IncidentMessageRow,
    PagerDutyLink,
    StageSpanRow,
    TimelineRow,
)

# ---- incidents -------------------------------------------------------------------------


def to_view(row: Incident) -> IncidentView:
    return IncidentView(
        number=row.id,
        title=row.title,
        severity=Severity(row.severity),
        status=Status(row.status),
        stage=Stage(row.stage),
        opened_at=row.opened_at,
        service=row.service,
        environment=row.environment,
        pd_incident_id=row.pd_incident_id,
        pd_url=row.pd_url,
        urgency=row.urgency,
        channel_id=row.channel_id,
        channel_name=row.channel_name,
        acknowledged_at=row.acknowledged_at,
        mitigated_at=row.mitigated_at,
        resolved_at=row.resolved_at,
        first_alert_at=row.first_alert_at,
        summary=row.summary,
        impact=row.impact,
        root_cause=row.root_cause,
        roles=dict(row.roles or {}),
        is_drill=row.is_drill,
    )


async def create_incident(session: AsyncSession, **fields: Any) -> Incident:
    now = fields.pop("opened_at", None) or utcnow()
    row = Incident(opened_at=now, stage=Stage.OBSERVE.value, status="triggered", **fields)
    if row.first_alert_at is None:
        row.first_alert_at = now
    session.add(row)
    await session.flush()
    session.add(StageSpanRow(incident_id=row.id, stage="observe", iteration=1, started_at=now))
    return row


async def get_incident(
    session: AsyncSession, number: int, *, lock: bool = False
) -> Incident | None:
    query = select(Incident).where(Incident.id == number)
    if lock:
        query = query.with_for_update()
    return (await session.scalars(query)).first()


async def incident_by_channel(session: AsyncSession, channel_id: str) -> Incident | None:
    query = select(Incident).where(Incident.channel_id == channel_id)
    return (await session.scalars(query)).first()


async def incident_by_pagerduty(session: AsyncSession, pd_incident_id: str) -> Incident | None:
    query = (
        select(Incident)
        .join(PagerDutyLink, PagerDutyLink.incident_id == Incident.id)
        .where(PagerDutyLink.pd_incident_id == pd_incident_id)
    )
    return (await session.scalars(query)).first()


async def active_incidents(session: AsyncSession) -> list[Incident]:
    query = select(Incident).where(Incident.status != "resolved").order_by(Incident.id)
    return list((await session.scalars(query)).all())


async def link_pagerduty(session: AsyncSession, incident_id: int, **fields: Any) -> bool:
    """Attach a PagerDuty incident; False when it is already linked (a redelivery)."""
    try:
        async with session.begin_nested():
            session.add(PagerDutyLink(incident_id=incident_id, **fields))
        return True
    except IntegrityError:
        return False


async def pagerduty_links(session: AsyncSession, incident_id: int) -> list[PagerDutyLink]:
    query = select(PagerDutyLink).where(PagerDutyLink.incident_id == incident_id)
    return list((await session.scalars(query.order_by(PagerDutyLink.id))).all())


# ---- stages and timeline ---------------------------------------------------------------


async def spans(session: AsyncSession, incident_id: int) -> list[StageSpan]:
    query = (
        select(StageSpanRow)
        .where(StageSpanRow.incident_id == incident_id)
        .order_by(StageSpanRow.started_at, StageSpanRow.id)
    )
    return [
        StageSpan(Stage(r.stage), r.iteration, r.started_at, r.ended_at)
        for r in (await session.scalars(query)).all()
    ]


async def move_stage(
    session: AsyncSession, incident: Incident, stage: Stage, *, at: datetime | None = None
) -> bool:
    """Close the open span and open one for `stage`. False if already there."""
    at = at or utcnow()
    if incident.stage == stage.value and incident.status != "resolved":
        return False
    history = await spans(session, incident.id)
    query = select(StageSpanRow).where(
        StageSpanRow.incident_id == incident.id, StageSpanRow.ended_at.is_(None)
    )
    for open_span in (await session.scalars(query)).all():
        open_span.ended_at = at
        note_closed_span(session, open_span.stage, open_span.started_at, at)
    session.add(
        StageSpanRow(
            incident_id=incident.id,
            stage=stage.value,
            iteration=iteration_for(history, stage),
            started_at=at,
        )
    )
    incident.stage = stage.value
    return True


async def close_spans(session: AsyncSession, incident_id: int, at: datetime) -> None:
    query = select(StageSpanRow).where(
        StageSpanRow.incident_id == incident_id, StageSpanRow.ended_at.is_(None)
    )
    for open_span in (await session.scalars(query)).all():
        open_span.ended_at = at
        note_closed_span(session, open_span.stage, open_span.started_at, at)


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
    row = TimelineRow(
        incident_id=incident_id,
        at=at or utcnow(),
        kind=kind.value,
        actor=actor,
        text=text,
        data=data or {},
        source_key=source_key,
        pinned=pinned,
    )
    if source_key is None:
        session.add(row)
        return row
    try:
        async with session.begin_nested():
            session.add(row)
        return row
    except IntegrityError:
        return None


async def remove_entry(session: AsyncSession, incident_id: int, source_key: str) -> bool:
    query = select(TimelineRow).where(
        TimelineRow.incident_id == incident_id, TimelineRow.source_key == source_key
    )
    row = (await session.scalars(query)).first()
    if row is None:
        return False
    await session.delete(row)
    return True


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


# ---- changes ---------------------------------------------------------------------------


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
    )


async def upsert_change(session: AsyncSession, change: Change) -> ChangeRow:
    """Insert or update by (source, external_id): a status update refreshes the same change."""
    query = select(ChangeRow).where(
        ChangeRow.source == change.source, ChangeRow.external_id == change.external_id
    )
    row = (await session.scalars(query)).first()
    values = {
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
        "created_at": change.created_at,
        "data": change.data,
    }
    if row is None:
        try:
            async with session.begin_nested():
                row = ChangeRow(source=change.source, external_id=change.external_id, **values)
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


async def changes_since(session: AsyncSession, since: datetime) -> list[ChangeRow]:
    query = select(ChangeRow).where(
        (ChangeRow.created_at >= since) | ChangeRow.status.in_(["in_progress", "pending"])
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
    for change_id, link in existing.items():
        if change_id not in seen and link.verdict is None:
            await session.delete(link)


async def ranked_changes(session: AsyncSession, incident_id: int) -> list[RankedChange]:
    query = (
        select(IncidentChangeRow, ChangeRow)
        .join(ChangeRow, ChangeRow.id == IncidentChangeRow.change_id)
        .where(IncidentChangeRow.incident_id == incident_id)
        .order_by(IncidentChangeRow.rank)
    )
    return [
        RankedChange(
            change_from_row(change),
            link.score,
            link.reason,
            link.likely,
            Verdict(link.verdict) if link.verdict else None,
        )
        for link, change in (await session.execute(query)).all()
    ]


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


# ---- messages, decisions, actions, follow-ups, inbound ---------------------------------


async def message_ts(session: AsyncSession, incident_id: int, kind: str) -> str | None:
    query = select(IncidentMessageRow.ts).where(
        IncidentMessageRow.incident_id == incident_id, IncidentMessageRow.kind == kind
    )
    return (await session.scalars(query)).first()


async def remember_message(
    session: AsyncSession, incident_id: int, kind: str, channel_id: str, ts: str
) -> None:
    query = select(IncidentMessageRow).where(
        IncidentMessageRow.incident_id == incident_id, IncidentMessageRow.kind == kind
    )
    row = (await session.scalars(query)).first()
    if row is None:
        session.add(
            IncidentMessageRow(incident_id=incident_id, kind=kind, channel_id=channel_id, ts=ts)
        )
    else:
        row.channel_id, row.ts = channel_id, ts


async def decisions(session: AsyncSession, incident_id: int) -> list[Decision]:
    query = (
        select(DecisionRow).where(DecisionRow.incident_id == incident_id).order_by(DecisionRow.at)
    )
    return [
        Decision(r.at, r.by, r.text, r.reason, r.playbook_id, tuple(r.evidence or ()))
        for r in (await session.scalars(query)).all()
    ]


def action_from_row(r: ActionRunRow) -> ActionRun:
    return ActionRun(
        key=r.key,
        playbook_id=r.playbook_id,
        title=r.title,
        action=r.action,
        params=dict(r.params or {}),
        requested_by=r.requested_by,
        status=r.status,
        created_at=r.created_at,
        approved_by=tuple(r.approved_by or ()),
        started_at=r.started_at,
        finished_at=r.finished_at,
        result=r.result,
        verify_passed=r.verify_passed,
    )


async def action_runs(session: AsyncSession, incident_id: int) -> list[ActionRun]:
    query = (
        select(ActionRunRow)
        .where(ActionRunRow.incident_id == incident_id)
        .order_by(ActionRunRow.created_at, ActionRunRow.id)
    )
    return [action_from_row(r) for r in (await session.scalars(query)).all()]


async def action_run(session: AsyncSession, key: str, *, lock: bool = False) -> ActionRunRow | None:
    query = select(ActionRunRow).where(ActionRunRow.key == key)
    if lock:
        query = query.with_for_update()
    return (await session.scalars(query)).first()


async def followups(session: AsyncSession, incident_id: int) -> list[FollowUp]:
    query = (
        select(FollowUpRow).where(FollowUpRow.incident_id == incident_id).order_by(FollowUpRow.id)
    )
    return [
        FollowUp(r.text, r.owner, r.created_at, r.created_by, r.url)
        for r in (await session.scalars(query)).all()
    ]


async def add_followup(
    session: AsyncSession,
    incident_id: int,
    text: str,
    *,
    owner: str | None = None,
    created_by: str | None = None,
) -> FollowUpRow:
    row = FollowUpRow(incident_id=incident_id, text=text, owner=owner, created_by=created_by)
    session.add(row)
    await session.flush()
    return row


async def followup_rows(session: AsyncSession, incident_id: int) -> list[FollowUpRow]:
    query = (
        select(FollowUpRow).where(FollowUpRow.incident_id == incident_id).order_by(FollowUpRow.id)
    )
    return list((await session.scalars(query)).all())


async def record_inbound(
    session: AsyncSession,
    source: str,
    dedup_key: str,
    event_type: str | None,
    payload: dict[str, Any],
) -> InboundEvent | None:
    """Store a verified inbound event; None when this dedup key was seen before."""
    row = InboundEvent(source=source, dedup_key=dedup_key, event_type=event_type, payload=payload)
    try:
        async with session.begin_nested():
            session.add(row)
        return row
    except IntegrityError:
        return None
