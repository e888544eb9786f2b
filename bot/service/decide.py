"""Decide: match playbooks against the incident's context and post the suggestions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import efficacy
from bot.domain.model import TimelineKind, utcnow
from bot.domain.playbooks import (
    DecisionContext,
    Playbook,
    PlaybookError,
    Suggestion,
    resolve_playbook,
    suggest,
)
from bot.domain.ranking import pick_suspect, rollback_target
from bot.service import cards, drills
from bot.service.runtime import Runtime
from bot.slack.out import views
from bot.slack.out.text import render
from bot.storage import repo


async def context_for(rt: Runtime, number: int) -> DecisionContext | None:
    async with rt.db.session() as session:
        row = await repo.get_incident(session, number)
        if row is None:
            return None
        inc = repo.to_view(row)
        ranked = await repo.ranked_changes(session, number)
        suspect = pick_suspect(ranked)
        rollback_to = None
        if suspect is not None:
            family = await repo.earlier_changes(
                session,
                suspect.change.source,
                suspect.change.created_at,
                drill=await repo.planted_changes_of(session, number, inc.is_drill),
            )
            rollback_to = rollback_target(family, suspect.change)
        outcomes = (
            await repo.playbook_outcomes(session, service=inc.service, excluding=number)
            if inc.service
            else []
        )
        alerts = [a.get("summary", "") for a in (row.observation or {}).get("alerts", [])]
        service = await drills.catalog_entry(rt, session, inc)
    return DecisionContext(
        incident=inc,
        service=service,
        ranked=ranked,
        rollback_to=rollback_to,
        alert_titles=alerts,
        records={pid: r for (pid, _), r in efficacy.records(outcomes).items()},
        now=utcnow(),
    )


async def post_suggestions(rt: Runtime, number: int) -> list[Suggestion]:
    ctx = await context_for(rt, number)
    if ctx is None:
        return []
    suggestions = suggest(rt.playbooks, ctx)
    text, blocks = views.decide(ctx.incident, suggestions, command=rt.settings.slash_command)
    async with rt.db.transaction() as session:
        await cards.show(session, number, "decide", text, blocks)
    return suggestions


def find_playbook(rt: Runtime, playbook_id: str) -> Playbook | None:
    return next((p for p in rt.playbooks if p.id == playbook_id), None)


async def resolve_choice(rt: Runtime, number: int, playbook_id: str) -> Suggestion:
    """A responder's pick: the playbook rendered for this incident now (when-conditions skipped,
    templates must still render). Raises PlaybookError with a message fit for the user."""
    playbook = find_playbook(rt, playbook_id)
    if playbook is None:
        raise PlaybookError(f"no playbook {playbook_id!r}")
    ctx = await context_for(rt, number)
    if ctx is None:
        raise PlaybookError(f"no incident {number}")
    return resolve_playbook(playbook, ctx, check_when=False)


async def add_decision(
    session: AsyncSession,
    number: int,
    *,
    by: str | None,
    text: str,
    reason: str,
    playbook_id: str | None = None,
    evidence: list[str] | None = None,
    at: datetime | None = None,
) -> None:
    """Store a decision in the caller's transaction: the decision log and the timeline."""
    at = at or utcnow()
    data: dict[str, Any] = {"playbook": playbook_id, "reason": reason, "evidence": evidence or []}
    repo.add_decision(
        session,
        number,
        at=at,
        by=by,
        text=text,
        reason=reason,
        playbook_id=playbook_id,
        evidence=evidence or [],
    )
    await repo.add_entry(session, number, TimelineKind.DECISION, text, actor=by, data=data, at=at)


async def record_decision(
    rt: Runtime,
    number: int,
    *,
    by: str | None,
    text: str,
    reason: str,
    playbook_id: str | None = None,
    evidence: list[str] | None = None,
) -> None:
    """A responder's decision (own words or a playbook) on the decision log and in the channel."""
    async with rt.db.transaction() as session:
        await add_decision(
            session,
            number,
            by=by,
            text=text,
            reason=reason,
            playbook_id=playbook_id,
            evidence=evidence,
        )
        await cards.say(
            session, number, render("decision_recorded", by=by, text=text, reason=reason)
        )


async def announce_decision(
    rt: Runtime, number: int, *, by: str | None, text: str, reason: str
) -> None:
    await cards.say_now(rt, number, render("decision_recorded", by=by, text=text, reason=reason))
