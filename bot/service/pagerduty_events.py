"""PagerDuty V3 webhook events applied to incidents. Runs as a job, after the 2xx was sent.

What each event does (the ooda incident is the one the PagerDuty incident is linked to):

- triggered: open an incident with its own channel, or attach to an open incident on the same
  PagerDuty service within `dedup_window_minutes` (the Observe card then lists both).
- acknowledged: status acknowledged, the loop moves on to Orient (our own ack echoes are no-ops).
- unacknowledged: back to triggered (the ack timed out).
- resolved: resolve; the postmortem is written (once per resolve).
- reopened: triggered again, back to Observe as a new loop iteration.
- escalated / reassigned / delegated: timeline and channel; the new assignees are invited.
- responder.added: timeline; the requested responder is invited. responder.replied: timeline.
- priority_updated: severity through `priority_map` (unmapped priorities change nothing).
- annotated: the note goes on the timeline and into the channel (not our own notes twice).
- status_update_published: the message goes on the timeline.
Events on an attached (deduplicated) PagerDuty incident only add timeline entries.
Every event refreshes the Observe card (alerts re-fetched). `service.*` and unknown types are
ignored by the web route already.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from bot.domain.model import Severity, Stage, Status, TimelineKind, utcnow
from bot.service import cards, context, incidents, responders
from bot.service.runtime import Runtime
from bot.slack.text import render
from bot.storage import repo
from bot.storage.tables import Incident, StageSpanRow, TimelineRow
from integrations._common import parse_timestamp

log = logging.getLogger(__name__)

HANDLED = {
    "incident.triggered",
    "incident.acknowledged",
    "incident.unacknowledged",
    "incident.resolved",
    "incident.reopened",
    "incident.escalated",
    "incident.reassigned",
    "incident.delegated",
    "incident.priority_updated",
    "incident.annotated",
    "incident.responder.added",
    "incident.responder.replied",
    "incident.status_update_published",
}
ASSIGNING = {"incident.escalated", "incident.reassigned", "incident.delegated"}


def pd_incident_id(event: dict[str, Any]) -> str | None:
    """The PagerDuty incident an event is about: data itself, or data.incident (notes,
    responders, status updates). None for a body of another shape."""
    data = event.get("data")
    if not isinstance(data, dict):
        return None
    found = data.get("id") if data.get("type") == "incident" else None
    if found is None and isinstance(data.get("incident"), dict):
        found = data["incident"].get("id")
    return found if isinstance(found, str) and found else None


def source_key(event: dict[str, Any]) -> str:
    """What an event puts on the timeline is keyed by this, so it lands once. Notes are keyed
    by the PagerDuty note id: a note we wrote ourselves is already there under that key."""
    data = event.get("data") or {}
    if event.get("event_type") == "incident.annotated" and data.get("id"):
        return note_key(str(data["id"]))
    return f"pd:{event.get('id')}"


def note_key(note_id: str) -> str:
    return f"pd-note:{note_id}"


def _agent(event: dict[str, Any]) -> str:
    agent = event.get("agent") or {}
    return agent.get("summary") or "PagerDuty"


def mapped_severity(rt: Runtime, data: dict[str, Any]) -> Severity | None:
    priority = (data.get("priority") or {}).get("summary")
    if priority and priority in rt.config.priority_map:
        return Severity.parse(rt.config.priority_map[priority])
    return None


def severity_for(rt: Runtime, data: dict[str, Any]) -> Severity:
    mapped = mapped_severity(rt, data)
    if mapped is not None:
        return mapped
    return Severity.SEV2 if data.get("urgency") == "high" else Severity.SEV3


async def handle(rt: Runtime, event: dict[str, Any]) -> None:
    event_type = event.get("event_type", "")
    if event_type not in HANDLED:
        log.debug("ignoring PagerDuty event %s", event_type)
        return
    pd_id = pd_incident_id(event)
    if not pd_id:
        return
    if event_type == "incident.triggered":
        await _triggered(rt, event)
        return
    key = source_key(event)
    async with rt.db.session() as session:
        row = await repo.incident_by_pagerduty(session, pd_id)
        if row is None:
            log.info("PagerDuty %s for unknown incident %s ignored", event_type, pd_id)
            return
        number, primary = row.id, row.pd_incident_id == pd_id
        # Applied before, under another webhook id (e.g. a second subscription): a late
        # redelivery must not undo what came after it (a resolve after a reopen).
        if await _on_timeline(session, number, key):
            log.debug("PagerDuty event %s already applied", key)
            return
    if primary:
        await _apply(rt, number, event_type, event)
    else:
        await _attached_event(rt, number, event_type, event)
    await context.observe(rt, number)


async def _on_timeline(session: Any, number: int, key: str) -> bool:
    query = select(TimelineRow.id).where(
        TimelineRow.incident_id == number, TimelineRow.source_key == key
    )
    return (await session.scalar(query)) is not None


async def _triggered(rt: Runtime, event: dict[str, Any]) -> None:
    data = event["data"]
    pd_id = data["id"]
    service_ref = data.get("service") or {}
    link = {
        "pd_incident_id": pd_id,
        "pd_number": data.get("number"),
        "title": data.get("title"),
        "service_id": service_ref.get("id"),
        "url": data.get("html_url"),
    }
    async with rt.db.transaction() as session:
        if await repo.incident_by_pagerduty(session, pd_id) is not None:
            return  # a second delivery under another webhook id
        host = await _open_on_same_service(rt, session, service_ref.get("id"))
        if host is not None:
            await repo.link_pagerduty(session, host.id, **link)
            await repo.add_entry(
                session,
                host.id,
                TimelineKind.PAGERDUTY,
                f"PagerDuty incident #{data.get('number')} attached: {data.get('title')}",
                actor=_agent(event),
                source_key=f"pd:{event.get('id')}",
                data={"pd_incident_id": pd_id},
            )
    if host is not None:
        inc = await cards.load_view(rt, host.id)
        if inc is not None:
            text = render(
                "pd_attached",
                inc=inc,
                url=data.get("html_url"),
                number=data.get("number"),
                title=data.get("title") or pd_id,
                minutes=rt.config.dedup_window_minutes,
            )
            await cards.say(rt, inc, text)
        await context.observe(rt, host.id)
        return
    await open_for(rt, data, actor=_agent(event), source_key=f"pd:{event.get('id')}")


async def open_for(
    rt: Runtime, data: dict[str, Any], *, actor: str, source_key: str | None = None
) -> int:
    """Open an ooda incident (own channel) mirroring this PagerDuty incident, and link it."""
    service_ref = data.get("service") or {}
    catalog = rt.config.service_for_pagerduty(service_ref.get("id"))
    created = data.get("created_at")
    number = await incidents.open_incident(
        rt,
        title=data.get("title") or f"PagerDuty incident {data['id']}",
        severity=severity_for(rt, data),
        service=catalog.name if catalog else None,
        pd={
            "pd_incident_id": data["id"],
            "pd_service_id": service_ref.get("id"),
            "pd_url": data.get("html_url"),
            "urgency": data.get("urgency"),
        },
        first_alert_at=parse_timestamp(created) if created else None,
        actor=actor,
        source_key=source_key,
    )
    async with rt.db.transaction() as session:
        await repo.link_pagerduty(
            session,
            number,
            pd_incident_id=data["id"],
            pd_number=data.get("number"),
            title=data.get("title"),
            service_id=service_ref.get("id"),
            url=data.get("html_url"),
        )
    return number


async def _open_on_same_service(
    rt: Runtime, session: Any, service_id: str | None
) -> Incident | None:
    """An open incident on the same PagerDuty service within the dedup window, if any."""
    if not service_id or rt.config.dedup_window_minutes <= 0:
        return None
    since = utcnow() - timedelta(minutes=rt.config.dedup_window_minutes)
    query = (
        select(Incident)
        .where(
            Incident.pd_service_id == service_id,
            Incident.status != Status.RESOLVED.value,
            Incident.opened_at >= since,
        )
        .order_by(Incident.id)
    )
    return (await session.scalars(query)).first()


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


async def _apply(rt: Runtime, number: int, event_type: str, event: dict[str, Any]) -> None:
    data = event.get("data") or {}
    who = _agent(event)
    key = source_key(event)
    at = parse_timestamp(event["occurred_at"]) if event.get("occurred_at") else utcnow()
    if event_type == "incident.acknowledged":
        await incidents.acknowledge(rt, number, by=who, at=at, source_key=key)
    elif event_type == "incident.resolved":
        await incidents.resolve(rt, number, by=who, at=at, source_key=key)
    elif event_type == "incident.reopened":
        await reopen(rt, number, by=who, source_key=key)
    elif event_type == "incident.unacknowledged":
        await _unacknowledge(rt, number, who, key)
    elif event_type == "incident.priority_updated":
        await _priority(rt, number, data, who, key)
    elif event_type == "incident.annotated":
        await _note(rt, number, data.get("content") or "", who, key)
    else:
        await _event_entry(rt, number, _describe(event_type, data), who, key)
        invitees: list[dict[str, Any]] = []
        if event_type in ASSIGNING:
            invitees = list(data.get("assignees") or [])
        elif event_type == "incident.responder.added":
            invitees = [data.get("user") or {}]
        if invitees:
            ids = responders.user_ids(invitees)
            await responders.invite(rt, number, ids, why=f"after PagerDuty {_label(event_type)}")


async def _attached_event(rt: Runtime, number: int, event_type: str, event: dict[str, Any]) -> None:
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
            actor=_agent(event),
            source_key=source_key(event),
            data={"pd_incident_id": pd_id},
        )


async def _event_entry(rt: Runtime, number: int, text: str, who: str, key: str) -> None:
    async with rt.db.transaction() as session:
        entry = await repo.add_entry(
            session, number, TimelineKind.PAGERDUTY, f"PagerDuty: {text}", actor=who, source_key=key
        )
    inc = await cards.load_view(rt, number)
    if entry is not None and inc is not None:
        await cards.say(rt, inc, render("pd_event", text=text, who=who))


async def _note(rt: Runtime, number: int, content: str, who: str, key: str) -> None:
    if not content:
        return
    async with rt.db.transaction() as session:
        entry = await repo.add_entry(
            session,
            number,
            TimelineKind.NOTE,
            content,
            actor=who,
            source_key=key,
            data={"source": "pagerduty"},
        )
    inc = await cards.load_view(rt, number)
    if entry is not None and inc is not None:
        await cards.say(rt, inc, render("pd_note", who=who, text=content))


async def _priority(rt: Runtime, number: int, data: dict[str, Any], who: str, key: str) -> None:
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
            data={"severity": severity.label, "priority": priority},
        )
    await cards.refresh_summary(rt, number)


async def _unacknowledge(rt: Runtime, number: int, who: str, key: str) -> None:
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
        )
    await cards.refresh_summary(rt, number)


async def reopen(rt: Runtime, number: int, *, by: str, source_key: str | None = None) -> None:
    async with rt.db.transaction() as session:
        row = await repo.get_incident(session, number, lock=True)
        if row is None or row.status != Status.RESOLVED.value:
            return
        row.status, row.resolved_at = Status.TRIGGERED.value, None
        row.stage = "resolved"  # force a fresh Observe span, as a new loop iteration
        before = await repo.spans(session, number)
        await repo.move_stage(session, row, Stage.OBSERVE)
        await session.flush()
        # Even when it was resolved during Observe, a reopen is a new pass through the loop.
        fresh = select(StageSpanRow).where(
            StageSpanRow.incident_id == number, StageSpanRow.ended_at.is_(None)
        )
        for span in (await session.scalars(fresh)).all():
            span.iteration = max((s.iteration for s in before), default=0) + 1
        await repo.add_entry(
            session,
            number,
            TimelineKind.STATUS,
            "Reopened: back to Observe",
            actor=by,
            source_key=source_key,
        )
    inc = await cards.load_view(rt, number)
    if inc is not None:
        await cards.say(rt, inc, render("pd_event", text="reopened, back to Observe", who=by))
    await cards.refresh_summary(rt, number)
