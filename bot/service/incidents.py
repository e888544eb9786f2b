"""Incident lifecycle: open, set up the channel, move stages, notes, resolve."""

from __future__ import annotations

import logging
import re
import unicodedata
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot import context
from bot.domain.jobs import JobKind
from bot.domain.model import IncidentView, Severity, Stage, Status, TimelineKind, utcnow
from bot.domain.refs import format_ref
from bot.service import cards, reminders
from bot.service.runtime import Runtime
from bot.slack.out.text import render
from bot.storage import jobs, outbox, repo

log = logging.getLogger(__name__)

MAX_CHANNEL = 80


def channel_name(number: int, title: str) -> str:
    """inc-<n>-<slug>: lowercase ascii, digits and dashes, at most 80 characters."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-") or "incident"
    prefix = f"inc-{number}-"
    return (prefix + slug)[:MAX_CHANNEL].rstrip("-")


def incident_key(number: int) -> str:
    return f"incident:{number}"


def responders_key(number: int) -> str:
    """The responders job's dedup key: one lookup per incident."""
    return f"responders:{number}"


async def open_incident(
    rt: Runtime, *, severity: Severity, is_drill: bool = False, **fields: Any
) -> int:
    """Store the incident and queue its channel set-up; returns the INC number. Fast: no I/O
    beyond the database, so webhook handlers can answer at once. `fields`: those of
    `record_incident` (title, declared_by, service, pd, ...)."""
    async with rt.db.transaction() as session:
        number = await record_incident(session, rt, severity=severity, is_drill=is_drill, **fields)
    opened(rt, severity, is_drill=is_drill)
    return number


def opened(rt: Runtime, severity: Severity, *, is_drill: bool) -> None:
    """After the commit that recorded an incident: count it."""
    if not is_drill:
        rt.metrics.incidents_opened.labels(severity=severity.label).inc()


async def record_incident(
    session: AsyncSession,
    rt: Runtime,
    *,
    title: str,
    severity: Severity,
    declared_by: str | None = None,
    service: str | None = None,
    description: str | None = None,
    pd: dict[str, Any] | None = None,
    first_alert_at: datetime | None = None,
    actor: str | None = None,
    source_key: str | None = None,
    is_drill: bool = False,
    origin_channel: str | None = None,
    pd_link: dict[str, Any] | None = None,
    opened_at: datetime | None = None,
) -> int:
    """Inside the caller's transaction: the incident, its opening entry, its PagerDuty link,
    its channel's creation and its set-up job (`opened` counts it after the commit)."""
    catalog = rt.config.service(service)
    row = await repo.create_incident(
        session,
        title=title[:300],
        severity=int(severity),
        service=service,
        environment=catalog.github_environment if catalog else None,
        declared_by=declared_by,
        description=description,
        first_alert_at=first_alert_at,
        is_drill=is_drill,
        opened_at=opened_at,
        **(pd or {}),
    )
    context.update(incident=format_ref(row.id))  # the lines of what follows name it
    if declared_by:
        row.roles = {"commander": declared_by}
    if pd_link:  # in the same transaction: the set-up job must find it
        await repo.move_or_link_pagerduty(session, row.id, **pd_link)
    await repo.add_entry(
        session,
        row.id,
        TimelineKind.OPENED,
        f"Incident opened: {title}",
        actor=actor or declared_by,
        data={
            "severity": severity.label,
            "service": service,
            "learned_at": utcnow().isoformat(),
        },
        at=row.opened_at,
        source_key=source_key,
    )
    # The channel is created at once, while the set-up job gathers the context.
    await outbox.create_channel(session, row.id, channel_name(row.id, title))
    if declared_by:
        await cards.invite(session, row.id, [declared_by])
    queued = ["channel"]
    if pd_link:  # a job of its own: a slow on-call lookup holds up nothing else
        jobs.add_job(
            session,
            JobKind.INCIDENT_RESPONDERS,
            {"incident": row.id},
            dedup_key=responders_key(row.id),
        )
        queued.append("responders")
    jobs.add_job(
        session,
        JobKind.INCIDENT_SETUP,
        {"incident": row.id, "origin_channel": origin_channel, "queued": queued},
        ordering_key=incident_key(row.id),
    )
    return int(row.id)


async def load(rt: Runtime, number: int) -> IncidentView | None:
    async with rt.db.session() as session:
        row = await repo.get_incident(session, number)
        return repo.to_view(row) if row else None


def announcement_channels(
    rt: Runtime, inc: IncidentView, origin_channel: str | None = None
) -> list[str]:
    """Where the incident is announced: the announcements channel, the service's channel and
    the channel it was declared from. None for a drill: a rehearsal stays in its own channel."""
    if inc.is_drill:
        return []
    service = rt.config.service(inc.service)
    targets = {c for c in (rt.config.announcements_channel, origin_channel) if c}
    if service and service.slack_channel:
        targets.add(service.slack_channel)
    return sorted(targets)


async def announce(
    session: AsyncSession,
    rt: Runtime,
    inc: IncidentView,
    text: str,
    origin_channel: str | None = None,
    *,
    once: str | None = None,
) -> None:
    """Record a post in each announcement channel, naming the incident's channel; with `once`,
    at most once per channel per incident."""
    for channel in announcement_channels(rt, inc, origin_channel):
        await cards.announce_in(session, inc, channel, text, once=once)


async def move_stage(rt: Runtime, number: int, stage: Stage, *, by: str | None) -> bool:
    async with rt.db.transaction() as session:
        row = await repo.get_incident(session, number, lock=True)
        if row is None or row.status == Status.RESOLVED.value:
            return False
        if not await repo.move_stage(session, row, stage):
            return False
        drill = row.is_drill
        await repo.add_entry(
            session,
            number,
            TimelineKind.STAGE,
            f"Stage → {stage.value}",
            actor=by,
            data={"stage": stage.value},
        )
        if stage is Stage.DECIDE:
            jobs.add_job(
                session,
                JobKind.INCIDENT_DECIDE,
                {"incident": number},
                ordering_key=incident_key(number),
            )
        await cards.say(session, number, render("stage_moved", stage=stage.value, by=by))
        await cards.refresh_summary(session, number)
    rt.metrics.observe_closed_spans(repo.closed_spans(session), is_drill=drill)
    await reminders.stage_started(rt, number)
    return True


async def add_note(
    rt: Runtime,
    number: int,
    text: str,
    *,
    by: str | None,
    source_key: str | None = None,
    data: dict[str, Any] | None = None,
) -> int | None:
    """A note on the timeline and in the channel; its entry id, None if it was there already."""
    async with rt.db.transaction() as session:
        entry = await repo.add_entry(
            session, number, TimelineKind.NOTE, text, actor=by, source_key=source_key, data=data
        )
        if entry is None:
            return None
        await cards.say(session, number, render("note_added", by=by, text=text))
        await session.flush()
        entry_id = entry.id
    return entry_id


async def acknowledge(
    rt: Runtime,
    number: int,
    *,
    by: str | None,
    at: datetime | None = None,
    source_key: str | None = None,
) -> bool:
    """Acknowledged: the responders have seen it, so the loop moves on to Orient."""
    at = at or utcnow()
    async with rt.db.transaction() as session:
        row = await repo.get_incident(session, number, lock=True)
        if row is None or row.status != Status.TRIGGERED.value:
            return False
        row.status, row.acknowledged_at = Status.ACKNOWLEDGED.value, at
        roles = dict(row.roles or {})
        if by and by[:1] in "UW" and by.isalnum() and not roles.get("commander"):
            # Whoever acknowledges from Slack leads until someone hands the role over.
            row.roles = roles | {"commander": by}
        await repo.add_entry(
            session,
            number,
            TimelineKind.STATUS,
            "Acknowledged",
            actor=by,
            at=at,
            source_key=source_key,
        )
        if row.stage == Stage.OBSERVE.value:
            await repo.move_stage(session, row, Stage.ORIENT, at=at)
        await cards.refresh_summary(session, number)
        drill = row.is_drill
    rt.metrics.observe_closed_spans(repo.closed_spans(session), is_drill=drill)
    await reminders.stage_started(rt, number)
    return True


async def resolve(
    rt: Runtime,
    number: int,
    *,
    by: str | None,
    at: datetime | None = None,
    fields: dict[str, str | None] | None = None,
    source_key: str | None = None,
) -> bool:
    at = at or utcnow()
    async with rt.db.transaction() as session:
        row = await repo.get_incident(session, number, lock=True)
        if row is None or row.status == Status.RESOLVED.value:
            return False
        for key, value in (fields or {}).items():
            if value:
                setattr(row, key, value)
        row.status, row.resolved_at = Status.RESOLVED.value, at
        await repo.close_spans(session, number, at)
        await repo.add_entry(
            session,
            number,
            TimelineKind.RESOLVED,
            "Incident resolved",
            actor=by,
            at=at,
            source_key=source_key,
        )
        await jobs.cancel_in(session, dedup_prefix=f"verify:{number}:")
        if row.is_drill:  # the drill's world stops with it: no more alerts firing or clearing
            await jobs.cancel_in(session, dedup_prefix=f"drill:{number}:")
        await reminders.cancel_all(session, number)
        # The postmortem job also announces the resolution, once per channel and with the
        # postmortem's link: one post, not "resolved" followed by "postmortem".
        jobs.add_job(
            session,
            JobKind.INCIDENT_POSTMORTEM,
            {"incident": number, "resolved_by": by},
            ordering_key=incident_key(number),
        )
        severity, drill = Severity(row.severity), row.is_drill
        inc = repo.to_view(row)
        text = render("resolved", inc=inc, duration=at - row.opened_at, by=by)
        await cards.say(session, number, text)
        await cards.refresh_summary(session, number)
    rt.metrics.observe_closed_spans(repo.closed_spans(session), is_drill=drill)
    if not drill:
        rt.metrics.incidents_resolved.labels(severity=severity.label).inc()
    return True


ROLES = ("commander", "comms", "scribe")


async def set_severity(rt: Runtime, number: int, severity: Severity, *, by: str | None) -> bool:
    """Change the severity: timeline, channel, announcements, summary. False if unchanged."""
    async with rt.db.transaction() as session:
        row = await repo.get_incident(session, number, lock=True)
        if row is None or row.status == Status.RESOLVED.value or row.severity == int(severity):
            return False
        old = Severity(row.severity)
        row.severity = int(severity)
        await repo.add_entry(
            session,
            number,
            TimelineKind.SEVERITY,
            f"Severity {old.label} → {severity.label}",
            actor=by,
            data={"from": old.label, "to": severity.label},
        )
        inc = repo.to_view(row)
        text = render("severity_changed", inc=inc, old=old.label, new=severity.label, by=by)
        await cards.say(session, number, text)
        await announce(session, rt, inc, text)
        await cards.refresh_summary(session, number)
    await reminders.severity_changed(rt, number)
    return True


async def assign_role(rt: Runtime, number: int, role: str, user: str, *, by: str | None) -> bool:
    """Hand a role to a Slack user: timeline, invite, topic and summary. False if unchanged.

    A role nobody holds may be taken by anyone; a held role changes hands only when its holder,
    the commander or whoever declared the incident says so (`by`; None is the bot itself).
    Anyone else gets PermissionError, whose message says who can."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    async with rt.db.transaction() as session:
        row = await repo.get_incident(session, number, lock=True)
        if row is None or (row.roles or {}).get(role) == user:
            return False
        holder = (row.roles or {}).get(role)
        commander = (row.roles or {}).get("commander")
        allowed = [u for u in (holder, commander, row.declared_by) if u]
        if holder and by is not None and by not in allowed:
            who = [f"<@{holder}> (the {role})"]
            if commander and commander != holder:
                who.append(f"<@{commander}> (the commander)")
            if row.declared_by and row.declared_by not in (holder, commander):
                who.append(f"<@{row.declared_by}> (who declared INC-{number})")
            raise PermissionError(
                f"The {role} of INC-{number} is <@{holder}>: only "
                f"{' or '.join(who)} may hand it to someone else."
            )
        row.roles = dict(row.roles or {}) | {role: user}
        await repo.add_entry(
            session,
            number,
            TimelineKind.ROLE,
            f"Role {role} → {user}",
            actor=by,
            data={"role": role, "user": user},
        )
        await cards.invite(session, number, [user])
        await cards.say(session, number, render("role_assigned", role=role, user=user, by=by))
        await cards.refresh_summary(session, number)
    return True
