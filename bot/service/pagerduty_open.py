"""incident.triggered: open an ooda incident with its own channel, or attach the PagerDuty
incident to an open one on the same PagerDuty service within `dedup_window_minutes`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.domain.model import TimelineKind, utcnow
from bot.service import cards, incidents, observation, orientation, prefetch
from bot.service.pagerduty_payload import agent, created_at, severity_for
from bot.service.runtime import Runtime
from bot.slack.out.text import render
from bot.storage import repo
from bot.storage.tables import Incident


async def triggered(rt: Runtime, event: dict[str, Any]) -> None:
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
    # The Observe reads and change sources start now and run while the incident is opened.
    catalog = rt.config.service_for_pagerduty(service_ref.get("id"))
    service = catalog.name if catalog else None
    prefetch.start(rt, pd_id, lambda: orientation.start_sources(rt, service, pd_id))
    async with rt.db.transaction() as session:
        if await repo.incident_by_pagerduty(session, pd_id) is not None:
            return  # a second delivery under another webhook id
        host = await _open_on_same_service(rt, session, service_ref.get("id"))
        if host is None:  # its own incident, opened in this same transaction
            severity = severity_for(rt, data)
            await record_for(
                session, rt, data, actor=agent(event), source_key=f"pd:{event.get('id')}"
            )
        else:
            await repo.link_pagerduty(session, host.id, **link)
            await repo.add_entry(
                session,
                host.id,
                TimelineKind.PAGERDUTY,
                f"PagerDuty incident #{data.get('number')} attached: {data.get('title')}",
                actor=agent(event),
                source_key=f"pd:{event.get('id')}",
                data={"pd_incident_id": pd_id},
            )
            text = render(
                "pd_attached",
                inc=repo.to_view(host),
                url=data.get("html_url"),
                number=data.get("number"),
                title=data.get("title") or pd_id,
                minutes=rt.config.dedup_window_minutes,
            )
            await cards.say(session, host.id, text)
    if host is None:
        incidents.opened(rt, severity, is_drill=False)
        return
    await observation.observe(rt, host.id)


async def open_for(
    rt: Runtime, data: dict[str, Any], *, actor: str, source_key: str | None = None
) -> int:
    """Open an ooda incident (own channel) mirroring this PagerDuty incident, and link it."""
    async with rt.db.transaction() as session:
        number = await record_for(session, rt, data, actor=actor, source_key=source_key)
    incidents.opened(rt, severity_for(rt, data), is_drill=False)
    return number


async def record_for(
    session: Any,
    rt: Runtime,
    data: dict[str, Any],
    *,
    actor: str,
    source_key: str | None = None,
) -> int:
    """Inside the caller's transaction: the incident mirroring this PagerDuty incident."""
    service_ref = data.get("service") or {}
    catalog = rt.config.service_for_pagerduty(service_ref.get("id"))
    created = created_at(data)
    learned = utcnow()
    # Opened when PagerDuty opened it, not when its webhook reached us (PagerDuty retries a
    # delivery for up to 48 h); never later than we learned of it, whatever PagerDuty's clock.
    opened = min(created, learned) if created else None
    return await incidents.record_incident(
        session,
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
        first_alert_at=opened,
        opened_at=opened,
        actor=actor,
        source_key=source_key,
        pd_link={
            "pd_incident_id": data["id"],
            "pd_number": data.get("number"),
            "title": data.get("title"),
            "service_id": service_ref.get("id"),
            "url": data.get("html_url"),
        },
    )


async def _open_on_same_service(
    rt: Runtime, session: Any, service_id: str | None
) -> Incident | None:
    """An open incident on the same PagerDuty service within the dedup window, if any."""
    if not service_id or rt.config.dedup_window_minutes <= 0:
        return None
    since = utcnow() - timedelta(minutes=rt.config.dedup_window_minutes)
    return await repo.open_incident_on_pagerduty_service(session, service_id, since)
