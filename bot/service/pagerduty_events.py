"""PagerDuty V3 webhook events applied to incidents. Runs as a job, after the 2xx was sent."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from bot.domain.model import Severity, Stage, Status, TimelineKind, utcnow
from bot.service import cards, context, incidents
from bot.service.runtime import Runtime
from bot.storage import repo
from bot.storage.tables import Incident
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


def pd_incident_id(event: dict[str, Any]) -> str | None:
    data = event.get("data") or {}
    if data.get("type") == "incident":
        return data.get("id")
    return (data.get("incident") or {}).get("id")


def _agent(event: dict[str, Any]) -> str:
    agent = event.get("agent") or {}
    return agent.get("summary") or "PagerDuty"


def severity_for(rt: Runtime, data: dict[str, Any]) -> Severity:
    priority = (data.get("priority") or {}).get("summary")
    if priority and priority in rt.config.priority_map:
        return Severity.parse(rt.config.priority_map[priority])
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
    async with rt.db.session() as session:
        row = await repo.incident_by_pagerduty(session, pd_id)
        number = row.id if row else None
    if number is None:
        log.info("PagerDuty %s for unknown incident %s ignored", event_type, pd_id)
        return
    await _apply(rt, number, event_type, event)


async def _triggered(rt: Runtime, event: dict[str, Any]) -> None:
    data = event["data"]
    pd_id = data["id"]
    service_ref = data.get("service") or {}
    catalog = rt.config.service_for_pagerduty(service_ref.get("id"))
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
            )
    if host is not None:
        await context.observe(rt, host.id)
        return
    created = data.get("created_at")
    number = await incidents.open_incident(
        rt,
        title=data.get("title") or f"PagerDuty incident {pd_id}",
        severity=severity_for(rt, data),
        service=catalog.name if catalog else None,
        pd={
            "pd_incident_id": pd_id,
            "pd_service_id": service_ref.get("id"),
            "pd_url": data.get("html_url"),
            "urgency": data.get("urgency"),
        },
        first_alert_at=parse_timestamp(created) if created else None,
        actor=_agent(event),
        source_key=f"pd:{event.get('id')}",
    )
    async with rt.db.transaction() as session:
        await repo.link_pagerduty(session, number, **link)


async def _open_on_same_service(
    rt: Runtime, session: Any, service_id: str | None
) -> Incident | None:
    """An open incident on the same PagerDuty service within the dedup window, if any."""
    if not service_id:
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


async def _apply(rt: Runtime, number: int, event_type: str, event: dict[str, Any]) -> None:
    data = event.get("data") or {}
    who = _agent(event)
    key = f"pd:{event.get('id')}"
    at = parse_timestamp(event["occurred_at"]) if event.get("occurred_at") else utcnow()
    if event_type == "incident.acknowledged":
        await incidents.acknowledge(rt, number, by=who, at=at, source_key=key)
    elif event_type == "incident.resolved":
        await incidents.resolve(rt, number, by=who, at=at, source_key=key)
        return
    elif event_type == "incident.reopened":
        await reopen(rt, number, by=who, source_key=key)
    elif event_type == "incident.unacknowledged":
        await _set_status(rt, number, Status.TRIGGERED, "Unacknowledged (ack timed out)", who, key)
    elif event_type == "incident.priority_updated":
        severity = severity_for(rt, data)
        async with rt.db.transaction() as session:
            row = await repo.get_incident(session, number, lock=True)
            assert row is not None
            row.severity = int(severity)
            await repo.add_entry(
                session,
                number,
                TimelineKind.SEVERITY,
                f"Severity → {severity.label} (PagerDuty priority)",
                actor=who,
                source_key=key,
            )
        await cards.refresh_summary(rt, number)
    elif event_type == "incident.annotated":
        content = data.get("content") or ""
        async with rt.db.transaction() as session:
            await repo.add_entry(
                session,
                number,
                TimelineKind.NOTE,
                content,
                actor=who,
                source_key=key,
                data={"source": "pagerduty"},
            )
    else:
        label = event_type.removeprefix("incident.").replace("_", " ").replace(".", " ")
        assignees = ", ".join(a.get("summary", "") for a in data.get("assignees") or [])
        text = f"PagerDuty: {label}" + (f" → {assignees}" if assignees else "")
        async with rt.db.transaction() as session:
            await repo.add_entry(
                session, number, TimelineKind.PAGERDUTY, text, actor=who, source_key=key
            )
    await context.observe(rt, number)


async def _set_status(
    rt: Runtime, number: int, status: Status, text: str, who: str, key: str
) -> None:
    async with rt.db.transaction() as session:
        row = await repo.get_incident(session, number, lock=True)
        assert row is not None
        row.status = status.value
        await repo.add_entry(session, number, TimelineKind.STATUS, text, actor=who, source_key=key)
    await cards.refresh_summary(rt, number)


async def reopen(rt: Runtime, number: int, *, by: str, source_key: str | None = None) -> None:
    async with rt.db.transaction() as session:
        row = await repo.get_incident(session, number, lock=True)
        if row is None or row.status != Status.RESOLVED.value:
            return
        row.status, row.resolved_at = Status.TRIGGERED.value, None
        row.stage = "resolved"  # force a fresh Observe span, as a new loop iteration
        await repo.move_stage(session, row, Stage.OBSERVE)
        await repo.add_entry(
            session,
            number,
            TimelineKind.STATUS,
            "Reopened: back to Observe",
            actor=by,
            source_key=source_key,
        )
    await cards.refresh_summary(rt, number)
