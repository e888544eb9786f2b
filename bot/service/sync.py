"""Changes made from Slack that PagerDuty must mirror (its echo webhooks are then no-ops).

Acks and resolves echo back as incident.acknowledged / incident.resolved, which find the
incident already in that state. Notes echo back as incident.annotated carrying the PagerDuty
note id; our own timeline entry is keyed by that id, so the echo does not land twice.
PagerDuty's "already acknowledged/resolved" errors (1001/1002) are success (the client).
"""

from __future__ import annotations

import logging

from bot.domain.model import IncidentView, Status
from bot.service import cards, incidents
from bot.service.pagerduty_events import note_key
from bot.service.runtime import Runtime
from bot.slack.text import render
from integrations.http import UpstreamError

log = logging.getLogger(__name__)


def _mirrored(rt: Runtime, inc: IncidentView | None) -> bool:
    return bool(inc and inc.pd_incident_id and rt.pagerduty is not None)


async def _warn(rt: Runtime, inc: IncidentView, what: str, exc: Exception) -> None:
    log.warning("PagerDuty %s failed for %s: %s", what, inc.ref, exc)
    await cards.say(rt, inc, render("pd_write_failed", what=what, error=str(exc)))


async def acknowledge_everywhere(rt: Runtime, number: int, user: str | None) -> bool:
    changed = await incidents.acknowledge(rt, number, by=user)
    inc = await cards.load_view(rt, number)
    # Never PUT "acknowledged" on a resolved incident: PagerDuty would reopen it.
    if inc and inc.status is not Status.RESOLVED and _mirrored(rt, inc):
        assert inc is not None and inc.pd_incident_id and rt.pagerduty is not None
        try:
            await rt.pagerduty.update_status(inc.pd_incident_id, "acknowledged")
        except (UpstreamError, ValueError) as exc:
            await _warn(rt, inc, "acknowledge", exc)
    return changed


async def resolve_everywhere(
    rt: Runtime, number: int, user: str | None, fields: dict[str, str | None] | None = None
) -> bool:
    changed = await incidents.resolve(rt, number, by=user, fields=fields)
    inc = await cards.load_view(rt, number)
    if changed and _mirrored(rt, inc):
        assert inc is not None and inc.pd_incident_id and rt.pagerduty is not None
        try:
            await rt.pagerduty.update_status(inc.pd_incident_id, "resolved")
        except (UpstreamError, ValueError) as exc:
            await _warn(rt, inc, "resolve", exc)
    return changed


async def note_everywhere(rt: Runtime, number: int, text: str, user: str | None) -> bool:
    """Add the note to the timeline and the channel, and to the PagerDuty incident.

    PagerDuty first, so our entry carries the note id its annotated echo will bring."""
    inc = await cards.load_view(rt, number)
    key: str | None = None
    if _mirrored(rt, inc):
        assert inc is not None and inc.pd_incident_id and rt.pagerduty is not None
        try:
            note = await rt.pagerduty.create_note(inc.pd_incident_id, text)
            key = note_key(str(note["id"])) if note.get("id") else None
        except (UpstreamError, ValueError) as exc:
            await _warn(rt, inc, "add the note", exc)
    return await incidents.add_note(rt, number, text, by=user, source_key=key)
