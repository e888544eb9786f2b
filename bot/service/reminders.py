"""Reminders: a nudge when a stage stalls and when a status update is due, per severity.

They are durable jobs (kind "incident.reminder") with dedup keys `reminder:<n>:<kind>:<seq>`, so
they survive a restart and, with several workers on one database, each fires exactly once.
A stall reminder only speaks if the incident is still in the stage span it was scheduled for;
everything pending for an incident is cancelled when it is resolved (`reminder:<n>:`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.jobs import JobKind
from bot.domain.model import Status, utcnow
from bot.service import budgets, cards
from bot.service.runtime import Runtime
from bot.slack.out import views
from bot.storage import jobs, repo

log = logging.getLogger(__name__)

STALL = "stall"
STATUS = "status"
SNOOZE_MINUTES = (15, 60)


def prefix(number: int, kind: str | None = None) -> str:
    """Dedup-key prefix of an incident's reminders (all of them, or one kind)."""
    return f"reminder:{number}:" + (f"{kind}:" if kind else "")


def _minutes(value: float | None) -> timedelta | None:
    return timedelta(minutes=value) if value and value > 0 else None


async def _schedule(rt: Runtime, key: str, payload: dict[str, Any], due_at: datetime) -> bool:
    return await jobs.schedule_once(
        rt.db, JobKind.INCIDENT_REMINDER, payload, due_at=due_at, dedup_key=key, max_attempts=3
    )


async def stage_started(rt: Runtime, number: int) -> None:
    """Schedule the stall nudge for the incident's current stage span (call after a commit)."""
    async with rt.db.session() as session:
        row = await repo.get_incident(session, number)
        if row is None or row.status == Status.RESOLVED.value:
            return
        spans = await repo.spans(session, number)
        label = f"SEV{row.severity}"
        stage = row.stage
    if not spans:
        return
    span = len(spans)  # one span per stage start: the key is unique per start
    await _plan_budget(rt, number, label, stage, span, spans[-1].started_at)
    after = _minutes(rt.config.reminder_policy(label).stage_stall_minutes)
    if after is None:
        return
    payload = {"incident": number, "kind": STALL, "stage": stage, "span": span}
    await _schedule(rt, f"{prefix(number, STALL)}{span}", payload, spans[-1].started_at + after)


async def _plan_budget(
    rt: Runtime, number: int, label: str, stage: str, span: int, started_at: datetime, tag: str = ""
) -> None:
    planned = budgets.plan(rt, number, label, stage, span, started_at)
    if planned is not None:
        payload, due = planned
        await _schedule(
            rt, f"{prefix(number, budgets.BUDGET)}{span}{tag}", payload, max(due, utcnow())
        )


async def start_status_updates(rt: Runtime, number: int) -> None:
    """Start the status-update chain when the incident's channel is ready."""
    async with rt.db.session() as session:
        row = await repo.get_incident(session, number)
        if row is None or row.status == Status.RESOLVED.value:
            return
        label = f"SEV{row.severity}"
        running = await jobs.has_pending(session, dedup_prefix=prefix(number, STATUS))
    if running:
        return  # a retried set-up must not start a second chain
    every = _minutes(rt.config.reminder_policy(label).status_update_minutes)
    if every is not None:
        await _schedule_status(rt, number, utcnow() + every)


async def _schedule_status(rt: Runtime, number: int, due_at: datetime) -> bool:
    # The sequence number is the due time in epoch seconds: deterministic for a given link of
    # the chain (a retried job cannot start a second chain), fresh after a snooze.
    for bump in range(5):
        due = due_at + timedelta(seconds=bump)
        seq = int(due.timestamp())
        key = f"{prefix(number, STATUS)}{seq}"
        if await _schedule(rt, key, {"incident": number, "kind": STATUS, "seq": seq}, due):
            return True
        async with rt.db.session() as session:
            taken = await jobs.status_of(session, key)
        if taken == "pending":
            return False  # this link of the chain exists already
        # Otherwise the key belongs to a finished or cancelled reminder: the next second.
    return False


async def fire(rt: Runtime, payload: dict[str, Any]) -> None:
    """Run one reminder job: post the nudge if it still applies, then chain the next one."""
    number, kind = int(payload["incident"]), payload.get("kind")
    async with rt.db.session() as session:
        row = await repo.get_incident(session, number)
        if row is None or row.status == Status.RESOLVED.value:
            return
        inc = repo.to_view(row)
        spans = await repo.spans(session, number)
    if kind == STALL:
        if inc.stage.value != payload.get("stage") or len(spans) != payload.get("span"):
            return  # the loop moved on since this was scheduled
        waited = utcnow() - spans[-1].started_at
        text, blocks = views.reminder(inc, kind=STALL, value=payload, waited=waited)
        await _say(rt, number, payload, text, blocks)
    elif kind == budgets.BUDGET:
        await budgets.over_budget(rt, payload)
    elif kind == STATUS:
        every = _minutes(rt.config.reminder_policy(inc.severity.label).status_update_minutes)
        async with rt.db.session() as session:
            last_note = await repo.last_note_at(session, number)
        if every is not None and last_note is not None and utcnow() - last_note < every:
            # Someone posted an update meanwhile: no nudge, the next one counts from it.
            await _schedule_status(rt, number, last_note + every)
            return
        text, blocks = views.reminder(
            inc, kind=STATUS, value=payload, waited=None, command=rt.settings.slash_command
        )
        await _say(rt, number, payload, text, blocks)
        if every is not None:
            following = datetime.fromtimestamp(int(payload["seq"]), UTC) + every
            await _schedule_status(rt, number, max(following, utcnow()))
    else:
        log.warning("unknown reminder kind %r for INC-%s", kind, number)


async def _say(
    rt: Runtime, number: int, payload: dict[str, Any], text: str, blocks: list[Any]
) -> None:
    """The nudge, once per reminder even if its job runs again."""
    once = "reminder:" + hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    async with rt.db.transaction() as session:
        await cards.say(session, number, text, blocks, once=once)


async def severity_changed(rt: Runtime, number: int) -> None:
    """Re-plan under the new severity's policy: pending reminders are replaced; a stall nudge
    already given for the current stage is not repeated."""
    async with rt.db.transaction() as session:
        row = await repo.get_incident(session, number)
        if row is None or row.status == Status.RESOLVED.value:
            return
        await jobs.cancel_in(session, dedup_prefix=prefix(number))
        spans = await repo.spans(session, number)
        span = len(spans)
        nudged = await jobs.done_count(session, f"{prefix(number, STALL)}{span}")
        label, stage = f"SEV{row.severity}", row.stage
    if spans:  # the new severity's budget; a pass already reported is not reported again
        tag = f":{label}:{int(utcnow().timestamp())}"
        await _plan_budget(rt, number, label, stage, span, spans[-1].started_at, tag)
    policy = rt.config.reminder_policy(label)
    after = _minutes(policy.stage_stall_minutes)
    if after is not None and spans and not nudged:
        payload = {"incident": number, "kind": STALL, "stage": stage, "span": span}
        due = max(spans[-1].started_at + after, utcnow())
        key = f"{prefix(number, STALL)}{span}:{label}:{int(utcnow().timestamp())}"
        await _schedule(rt, key, payload, due)
    every = _minutes(policy.status_update_minutes)
    if every is not None:
        await _schedule_status(rt, number, utcnow() + every)


async def snooze(rt: Runtime, payload: dict[str, Any], minutes: int, *, message_ts: str) -> bool:
    """Put a reminder off: one pending reminder of its kind, `minutes` from now, replaces the
    others. Keyed by the nudge message and the choice, so a double click snoozes once."""
    number, kind = int(payload["incident"]), str(payload.get("kind"))
    if kind not in (STALL, STATUS):
        return False
    async with rt.db.session() as session:
        row = await repo.get_incident(session, number)
        if row is None or row.status == Status.RESOLVED.value:
            return False
    due_at = utcnow() + timedelta(minutes=minutes)
    snoozed = dict(payload, snoozed=minutes)
    if kind == STATUS:
        snoozed["seq"] = int(due_at.timestamp())  # the chain carries on from the snoozed time
    base = payload.get("span") if kind == STALL else payload.get("seq")
    key = f"{prefix(number, kind)}{base}:snooze:{message_ts}:{minutes}"
    if not await _schedule(rt, key, snoozed, due_at):
        return False
    async with rt.db.transaction() as session:
        await jobs.cancel_in(session, dedup_prefix=prefix(number, kind), keep=key)
    return True


async def cancel_all(session: AsyncSession, number: int) -> int:
    """Inside the resolve transaction: nothing more to nag about."""
    return await jobs.cancel_in(session, dedup_prefix=prefix(number))
