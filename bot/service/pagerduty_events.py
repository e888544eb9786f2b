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

This module dispatches; pagerduty_payload reads the event body, pagerduty_open handles
`triggered` (open or attach) and pagerduty_apply everything on an incident already linked.
"""

from __future__ import annotations

import logging
from typing import Any

from bot import context
from bot.domain.refs import format_ref
from bot.service import observation, pagerduty_apply, pagerduty_open
from bot.service.pagerduty_apply import reopen
from bot.service.pagerduty_open import open_for
from bot.service.pagerduty_payload import (
    ASSIGNING,
    HANDLED,
    mapped_severity,
    note_key,
    pd_incident_id,
    severity_for,
    source_key,
)
from bot.service.runtime import Runtime
from bot.storage import repo

log = logging.getLogger(__name__)

__all__ = [
    "ASSIGNING",
    "HANDLED",
    "handle",
    "mapped_severity",
    "note_key",
    "open_for",
    "pd_incident_id",
    "reopen",
    "severity_for",
    "source_key",
]


async def handle(rt: Runtime, event: dict[str, Any]) -> None:
    event_type = event.get("event_type", "")
    if event_type not in HANDLED:
        log.debug("ignoring PagerDuty event %s", event_type)
        return
    pd_id = pd_incident_id(event)
    if not pd_id:
        return
    if event_type == "incident.triggered":
        await pagerduty_open.triggered(rt, event)
        return
    key = source_key(event)
    async with rt.db.session() as session:
        row = await repo.incident_by_pagerduty(session, pd_id)
        if row is None:
            log.info("PagerDuty %s for unknown incident %s ignored", event_type, pd_id)
            return
        number, primary = row.id, row.pd_incident_id == pd_id
        context.update(incident=format_ref(number))
        # Applied before, under another webhook id (e.g. a second subscription): a late
        # redelivery must not undo what came after it (a resolve after a reopen).
        if await repo.has_entry(session, number, key):
            log.debug("PagerDuty event %s already applied", key)
            return
    if primary:
        await pagerduty_apply.apply(rt, number, event_type, event)
    else:
        await pagerduty_apply.attached_event(rt, number, event_type, event)
    await observation.observe(rt, number)
