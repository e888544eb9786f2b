"""Acks, resolves and notes made from Slack, mirrored to PagerDuty (its echoes are then no-ops).

Acks and resolves echo back as incident.acknowledged / incident.resolved, which find the
incident already in that state. Notes echo back as incident.annotated carrying the PagerDuty
note id; our own timeline entry is keyed by that id, so the echo does not land twice.
PagerDuty's "already acknowledged/resolved" errors (1001/1002) are success (the client).
"""

from __future__ import annotations

import logging
from typing import Literal

from bot.domain.model import IncidentView, Status
from bot.service import cards, incidents
from bot.service.pagerduty_events import note_key
from bot.service.runtime import Runtime
from bot.slack.out.text import render
from bot.storage import repo
from bot.storage.repo import interactions as stored
from integrations.http import UpstreamError

log = logging.getLogger(__name__)


def _mirrored(rt: Runtime, inc: IncidentView | None) -> bool:
    return bool(inc and inc.pd_incident_id and rt.pagerduty is not None)


async def _warn(rt: Runtime, inc: IncidentView, what: str, exc: Exception) -> None:
    log.warning("PagerDuty %s failed for %s: %s", what, inc.ref, exc)
    async with rt.db.transaction() as session:
        await cards.say(session, inc.number, render("pd_write_failed", what=what, error=str(exc)))


async def _set_pagerduty_status(
    rt: Runtime, inc: IncidentView, status: Literal["acknowledged", "resolved"], what: str
) -> None:
    """The incident's own PagerDuty incident, then any attached (deduplicated) ones: they are
    the same problem, and would otherwise keep paging."""
    assert inc.pd_incident_id and rt.pagerduty is not None
    async with rt.db.session() as session:
        attached = [
            link.pd_incident_id
            for link in await repo.pagerduty_links(session, inc.number)
            if link.pd_incident_id != inc.pd_incident_id
        ]
    for pd_id in [inc.pd_incident_id, *attached]:
        try:
            await rt.pagerduty.update_status(pd_id, status)
        except (UpstreamError, ValueError) as exc:
            await _warn(rt, inc, what, exc)


async def acknowledge_everywhere(rt: Runtime, number: int, user: str | None) -> bool:
    changed = await incidents.acknowledge(rt, number, by=user)
    inc = await incidents.load(rt, number)
    # Never PUT "acknowledged" on a resolved incident: PagerDuty would reopen it.
    if inc and inc.status is not Status.RESOLVED and _mirrored(rt, inc):
        await _set_pagerduty_status(rt, inc, "acknowledged", "acknowledge")
    return changed


async def resolve_everywhere(
    rt: Runtime, number: int, user: str | None, fields: dict[str, str | None] | None = None
) -> bool:
    changed = await incidents.resolve(rt, number, by=user, fields=fields)
    inc = await incidents.load(rt, number)
    if changed and inc and _mirrored(rt, inc):
        await _set_pagerduty_status(rt, inc, "resolved", "resolve")
    return changed


async def note_everywhere(rt: Runtime, number: int, text: str, user: str | None) -> bool:
    """Add the note to the timeline and the channel, then to the PagerDuty incident.

    The timeline first, so notes keep the order people sent them in; the entry is marked as
    being mirrored, so PagerDuty's annotated echo claims it instead of landing twice."""
    inc = await incidents.load(rt, number)
    mirrored = _mirrored(rt, inc)
    entry_id = await incidents.add_note(
        rt, number, text, by=user, data={"pd_mirror": "pending"} if mirrored else None
    )
    if entry_id is None:
        return False
    if mirrored:
        assert inc is not None
        key = await _create_note(rt, inc, text)
        if key is not None:
            async with rt.db.transaction() as session:
                await repo.set_mirrored_note(session, entry_id, key)
    return True


async def note_stored_at_ack(
    rt: Runtime, inc: IncidentView, text: str, user: str, key: str
) -> None:
    """The job's half of an `/incident note` stored at the ack (under source key `key`):
    PagerDuty, then the channel. The entry takes the key of PagerDuty's note, so its
    incident.annotated echo does not land twice."""
    async with rt.db.session() as session:
        entry = await stored.stored_note(session, inc.number, key)
    if entry is None:  # not stored at the ack (no incident then): the whole note here
        await note_everywhere(rt, inc.number, text, user)
        return
    entry_id, source_key = entry
    echoed = False
    if source_key == key and _mirrored(rt, inc):
        pd_key = await _create_note(rt, inc, text)
        if pd_key is not None:
            async with rt.db.transaction() as session:
                echoed = await stored.rekey_note(session, inc.number, entry_id, pd_key)
    if not echoed:  # an echo that landed first was shown in the channel already
        # Once per note: a job re-run after its replica died says it no second time.
        added = render("note_added", by=user, text=text)
        await cards.say_now(rt, inc.number, added, once=f"note:{key}")


async def _create_note(rt: Runtime, inc: IncidentView, text: str) -> str | None:
    """Add the note to the incident's PagerDuty incident: the source key its echo will carry,
    or None (PagerDuty refused: said in the channel)."""
    assert inc.pd_incident_id and rt.pagerduty is not None
    try:
        note = await rt.pagerduty.create_note(inc.pd_incident_id, text)
    except (UpstreamError, ValueError) as exc:
        await _warn(rt, inc, "add the note", exc)
        return None
    return note_key(str(note["id"])) if note.get("id") else None
