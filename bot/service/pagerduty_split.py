"""Split an attached PagerDuty incident out of the ooda incident it was deduplicated into.

The pagerduty_links row moves to a new ooda incident with its own channel; the PagerDuty
incident's later webhooks then go there.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.domain.model import TimelineKind
from bot.service import cards, incidents, observation
from bot.service.pagerduty_events import severity_for
from bot.service.runtime import Runtime
from bot.slack.out.text import render
from bot.storage import repo
from integrations._common import parse_timestamp

log = logging.getLogger(__name__)


async def split_out(rt: Runtime, pd_id: str, *, by: str | None) -> int | None:
    """Give an attached PagerDuty incident its own ooda incident and channel. Returns the new
    INC number; None when it is not attached (unknown, or the incident's own primary)."""
    async with rt.db.session() as session:
        host = await repo.incident_by_pagerduty(session, pd_id)
        if host is None or host.pd_incident_id == pd_id:
            return None
        host_number = host.id
        link = next(
            k for k in await repo.pagerduty_links(session, host_number) if k.pd_incident_id == pd_id
        )
        data: dict[str, Any] = {
            "id": pd_id,
            "number": link.pd_number,
            "title": link.title,
            "html_url": link.url,
            "service": {"id": link.service_id},
        }
    if rt.pagerduty is not None:
        try:  # fresher urgency, priority and start time; the link alone will do
            current = await rt.pagerduty.get_incident(pd_id)
            data |= {k: current.get(k) for k in ("urgency", "priority", "created_at")}
        except Exception:
            log.warning("could not fetch PagerDuty incident %s", pd_id, exc_info=True)
    service = rt.config.service_for_pagerduty(link.service_id)
    created = data.get("created_at")
    number = await incidents.open_incident(
        rt,
        title=link.title or f"PagerDuty incident {pd_id}",
        severity=severity_for(rt, data),
        declared_by=by if by and by[:1] in "UW" else None,
        service=service.name if service else None,
        pd={
            "pd_incident_id": pd_id,
            "pd_service_id": link.service_id,
            "pd_url": link.url,
            "urgency": data.get("urgency"),
        },
        first_alert_at=parse_timestamp(created) if created else None,
        actor=by,
        pd_link={  # moved from the host in the opening transaction: its set-up finds it
            "pd_incident_id": pd_id,
            "pd_number": link.pd_number,
            "title": link.title,
            "service_id": link.service_id,
            "url": link.url,
        },
    )
    async with rt.db.transaction() as session:
        await repo.add_entry(
            session,
            host_number,
            TimelineKind.PAGERDUTY,
            f"PagerDuty incident #{link.pd_number} split out into INC-{number}",
            actor=by,
            data={"pd_incident_id": pd_id, "incident": number},
        )
        host = await repo.get_incident(session, host_number)
        if host is not None:
            inc = repo.to_view(host)
            text = render("pd_split", inc=inc, number=link.pd_number, new_number=number, by=by)
            await cards.say(session, host_number, text)
    await observation.observe(rt, host_number)
    return number
