"""PagerDuty events applied to the ooda incident their PagerDuty incident is linked to: status,
severity, notes, assignments and responders; events on an attached PagerDuty incident are only
noted on the timeline."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from bot.domain.model import Status, TimelineKind, utcnow
from bot.service import cards, incidents, reminders, responders
from bot.service.pagerduty_payload import (
    ASSIGNING,
    agent,
    mapped_severity,
    occurred_at,
    pd_incident_id,
    source_key,
)
from bot.service.runtime import Runtime
from bot.slack.out.text import render
from bot.storage import repo

log = logging.getLogger(__name__)


def _label(event_type: str) -> str:
    return event_type.removeprefix("incident.").replace("_", " ").replace(".", " ")


def _describe(event_type: str, data: dict[str, Any]) -> str:
    """One line for the timeline and the channel."""
    label = _label(event_type)
    if event_type in ASSIGNING:
        assignees = ", ".join(a.get("summary", "") for a in data.get("assignees") or [])
        return label + (f" → {assignees}" if assignees else "")
    if event_type.startswith("incident.responder."):
        user = (data.get("user") or {}).get("summary") or "a responder"
        state = f" ({data['state']})" if data.get("state") else ""
        message = f": {data['message']}" if data.get("message") else ""
        return f"{label}: {user}{state}{message}"
    if event_type == "incident.status_update_published":
        return f"status update: {data.get('message') or ''}".strip()
    return label


async def apply(rt: Runtime, number: int, event_type: str, event: dict[str, Any]) -> None:
    data = event.get("data") or {}
    who = agent(event)
    key = source_key(event)
    at = await vendor_time(rt, number, occurred_at(event))
    if event_type == "incident.acknowledged":
        await incidents.acknowledge(rt, number, by=who, at=at, source_key=key)
    elif event_type == "incident.resolved":
        await incidents.resolve(rt, number, by=who, at=at, source_key=key)
    elif event_type == "incident.reopened":
        await reopen(rt, number, by=who, source_key=key, at=at)
    elif event_type == "incident.unacknowledged":
        await _unacknowledge(rt, number, who, key, at)
    elif event_type == "incident.priority_updated":
        await _priority(rt, number, data, who, key, at)
    elif event_type == "incident.annotated":
        await _note(rt, number, data.get("content") or "", who, key, at)
    else:
        await _event_entry(rt, number, _describe(event_type, data), who, key, at)
        invitees: list[dict[str, Any]] = []
        if event_type in ASSIGNING:
            invitees = list(data.get("assignees") or [])
        elif event_type == "incident.responder.added":
            invitees = [data.get("user") or {}]
        if invitees:
            ids = responders.user_ids(invitees)
            await responders.invite(rt, number, ids, why=f"after PagerDuty {_label(event_type)}")


async def attached_event(rt: Runtime, number: int, event_type: str, event: dict[str, Any]) -> None:
    """An event on an attached PagerDuty incident: noted, the ooda incident is unchanged."""
    data = event.get("data") or {}
    async with rt.db.session() as session:
        host = await repo.get_incident(session, number)
    # Acked or resolved along with the incident (our own write echoing back): nothing new.
    done = {
        "incident.acknowledged": ("acknowledged", "resolved"),
        "incident.resolved": ("resolved",),
    }
    if host is not None and host.status in done.get(event_type, ()):
        return
    async with rt.db.session() as session:
        pd_id = pd_incident_id(event)
        link = next(
            (k for k in await repo.pagerduty_links(session, number) if k.pd_incident_id == pd_id),
            None,
        )
    ref = f"#{link.pd_number}" if link and link.pd_number else str(pd_id)
    detail = data.get("content") if event_type == "incident.annotated" else None
    text = f"{_describe(event_type, data)} on attached {ref}" + (f": {detail}" if detail else "")
    async with rt.db.transaction() as session:
        await repo.add_entry(
            session,
            number,
            TimelineKind.PAGERDUTY,
            f"PagerDuty: {text}",
            actor=agent(event),
            source_key=source_key(event),
            data={"pd_incident_id": pd_id},
        )


async def vendor_time(rt: Runtime, number: int, reported: datetime | None) -> datetime:
    """When a PagerDuty fact happened, on PagerDuty's clock (a delivery may be hours late).
    Never before the incident opened: a fact that would be (clock skew between PagerDuty and
    us) is put at the opening, and the log says by how much."""
    if reported is None:
        return utcnow()
    async with rt.db.session() as session:
        row = await repo.get_incident(session, number)
    if row is not None and reported < row.opened_at:
        skew = (row.opened_at - reported).total_seconds()
        log.warning("PagerDuty time %s is %.0fs before INC-%s opened; using the opening",
                    reported.isoformat(), skew, number)  # fmt: skip
        return row.opened_at
    return reported


async def _event_entry(
    rt: Runtime, number: int, text: str, who: str, key: str, at: datetime
) -> None:
    async with rt.db.transaction() as session:
        entry = await repo.add_entry(
            session,
            number,
            TimelineKind.PAGERDUTY,
            f"PagerDuty: {text}",
            actor=who,
            source_key=key,
            at=at,
            data={"learned_at": utcnow().isoformat()},
        )
        if entry is not None:
            await cards.say(session, number, render("pd_event", text=text, who=who))


async def _note(rt: Runtime, number: int, content: str, who: str, key: str, at: datetime) -> None:
    if not content:
        return
    async with rt.db.transaction() as session:
        if await repo.claim_mirrored_note(session, number, content, key):
            return  # the echo of a note we wrote to PagerDuty: on the timeline already
        entry = await repo.add_entry(
            session,
            number,
            TimelineKind.NOTE,
            content,
            actor=who,
            source_key=key,
            at=at,
            data={"source": "pagerduty", "learned_at": utcnow().isoformat()},
        )
        if entry is not None:
            await cards.say(session, number, render("pd_note", who=who, text=content))


async def _priority(
    rt: Runtime, number: int, data: dict[str, Any], who: str, key: str, at: datetime
) -> None:
    severity = mapped_severity(rt, data)
    priority = (data.get("priority") or {}).get("summary")
    if severity is None:
        log.info("PagerDuty priority %r is not in priority_map; severity unchanged", priority)
        return
    async with rt.db.transaction() as session:
        row = await repo.get_incident(session, number, lock=True)
        if row is None or row.severity == int(severity):
            return
        row.severity = int(severity)
        await repo.add_entry(
            session,
            number,
            TimelineKind.SEVERITY,
            f"Severity → {severity.label} (PagerDuty priority {priority})",
            actor=who,
            source_key=key,
            at=at,
            data={"severity": severity.label, "priority": priority},
        )
        await cards.refresh_summary(session, number)


async def _unacknowledge(rt: Runtime, number: int, who: str, key: str, at: datetime) -> None:
    async with rt.db.transaction() as session:
        row = await repo.get_incident(session, number, lock=True)
        if row is None or row.status != Status.ACKNOWLEDGED.value:
            return
        row.status = Status.TRIGGERED.value
        await repo.add_entry(
            session,
            number,
            TimelineKind.STATUS,
            "Unacknowledged (ack timed out)",
            actor=who,
            source_key=key,
            at=at,
        )
        await cards.refresh_summary(session, number)


async def reopen(
    rt: Runtime,
    number: int,
    *,
    by: str,
    source_key: str | None = None,
    at: datetime | None = None,
) -> None:
    at = at or utcnow()
    async with rt.db.transaction() as session:
        row = await repo.get_incident(session, number, lock=True)
        if row is None or row.status != Status.RESOLVED.value:
            return
        row.status, row.resolved_at = Status.TRIGGERED.value, None
        await repo.restart_loop(session, row, at)
        await repo.add_entry(
            session,
            number,
            TimelineKind.STATUS,
            "Reopened: back to Observe",
            actor=by,
            source_key=source_key,
            at=at,
        )
        await cards.say(
            session, number, render("pd_event", text="reopened, back to Observe", who=by)
        )
        await cards.refresh_summary(session, number)
        drill = row.is_drill
    rt.metrics.observe_closed_spans(repo.closed_spans(session), is_drill=drill)
    # Resolving cancelled every reminder: a reopened incident gets them back.
    await reminders.stage_started(rt, number)
    await reminders.start_status_updates(rt, number)
