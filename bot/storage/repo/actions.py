"""Decisions, action runs and follow-ups of an incident."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.action_runs import RunStatus
from bot.domain.efficacy import RunOutcome
from bot.domain.jobs import JobKind
from bot.domain.model import ActionRun, Decision, FollowUp
from bot.storage.db import rowcount
from bot.storage.tables import ActionRunRow, DecisionRow, FollowUpRow, Incident, Job


async def decisions(session: AsyncSession, incident_id: int) -> list[Decision]:
    query = (
        select(DecisionRow).where(DecisionRow.incident_id == incident_id).order_by(DecisionRow.at)
    )
    return [
        Decision(r.at, r.by, r.text, r.reason, r.playbook_id, tuple(r.evidence or ()))
        for r in (await session.scalars(query)).all()
    ]


def add_decision(
    session: AsyncSession,
    incident_id: int,
    *,
    at: datetime,
    by: str | None,
    text: str,
    reason: str,
    playbook_id: str | None,
    evidence: list[str],
) -> DecisionRow:
    row = DecisionRow(
        incident_id=incident_id,
        at=at,
        by=by,
        text=text,
        reason=reason,
        playbook_id=playbook_id,
        evidence=evidence,
    )
    session.add(row)
    return row


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


async def update_action_run_if(
    session: AsyncSession, key: str, *, status_was: str, **values: Any
) -> bool:
    """Compare-and-set: update the run only if its status is still `status_was`. True if it did.

    Of two concurrent callers expecting the same status, exactly one gets True."""
    result = await session.execute(
        update(ActionRunRow)
        .where(ActionRunRow.key == key, ActionRunRow.status == status_was)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


async def running_action_runs(session: AsyncSession) -> list[ActionRunRow]:
    query = select(ActionRunRow).where(ActionRunRow.status == RunStatus.RUNNING.value)
    return list((await session.scalars(query)).all())


async def action_run_leases(session: AsyncSession, now: datetime) -> dict[str, datetime]:
    """Action-run keys whose action.run job a worker holds a live lease on, with its expiry."""
    query = select(Job).where(
        Job.kind == JobKind.ACTION_RUN, Job.status == "running", Job.locked_until > now
    )
    return {
        str((job.payload or {}).get("key")): job.locked_until
        for job in (await session.scalars(query)).all()
        if job.locked_until is not None
    }


async def playbook_outcomes(
    session: AsyncSession,
    *,
    service: str | None = None,
    excluding: int | None = None,
    since: datetime | None = None,
) -> list[RunOutcome]:
    """Every action run the verify step judged, on real incidents (no drills, no dry runs):
    of one service when named, other than incident `excluding`, opened since `since`."""
    query = (
        select(
            ActionRunRow.playbook_id,
            Incident.service,
            ActionRunRow.verify_passed,
            ActionRunRow.verify,
        )
        .join(Incident, Incident.id == ActionRunRow.incident_id)
        .where(
            ActionRunRow.verify_passed.is_not(None),
            ActionRunRow.dry_run.is_(False),
            Incident.is_drill.is_(False),
        )
        .order_by(ActionRunRow.id)
    )
    if service is not None:
        query = query.where(Incident.service == service)
    if excluding is not None:
        query = query.where(Incident.id != excluding)
    if since is not None:
        query = query.where(Incident.opened_at >= since)
    outcomes = []
    for playbook_id, on, passed, verify in (await session.execute(query)).all():
        after = (verify or {}).get("outcome", {}).get("after_seconds")
        cleared = timedelta(seconds=float(after)) if passed and after is not None else None
        outcomes.append(RunOutcome(playbook_id, on, bool(passed), cleared))
    return outcomes


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


async def set_followup_url(session: AsyncSession, followup_id: int, url: str) -> None:
    """Remember where a follow-up was exported (its issue); nothing when it is gone."""
    row = await session.get(FollowUpRow, followup_id)
    if row is not None:
        row.url = url
