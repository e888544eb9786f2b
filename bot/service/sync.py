"""Changes made from Slack that PagerDuty must mirror (its echo webhooks are then no-ops)."""

from __future__ import annotations

import logging

from bot.service import cards, incidents
from bot.service.runtime import Runtime
from integrations.http import UpstreamError

log = logging.getLogger(__name__)


async def acknowledge_everywhere(rt: Runtime, number: int, user: str | None) -> bool:
    changed = await incidents.acknowledge(rt, number, by=user)
    inc = await cards.load_view(rt, number)
    if inc and inc.pd_incident_id and rt.pagerduty is not None:
        try:
            await rt.pagerduty.update_status(inc.pd_incident_id, "acknowledged")
        except (UpstreamError, ValueError) as exc:
            await cards.say(rt, inc, f":warning: Could not acknowledge in PagerDuty: {exc}")
    return changed


async def resolve_everywhere(
    rt: Runtime, number: int, user: str | None, fields: dict[str, str | None] | None = None
) -> bool:
    changed = await incidents.resolve(rt, number, by=user, fields=fields)
    inc = await cards.load_view(rt, number)
    if changed and inc and inc.pd_incident_id and rt.pagerduty is not None:
        try:
            await rt.pagerduty.update_status(inc.pd_incident_id, "resolved")
        except (UpstreamError, ValueError) as exc:
            await cards.say(rt, inc, f":warning: Could not resolve in PagerDuty: {exc}")
    return changed
