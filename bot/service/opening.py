"""The set-up job of a new incident: its channel is created by the sender while the first
Observe and Orient cards are gathered, every source started at once; the responders are looked
up in a job of their own."""

from __future__ import annotations

from typing import Any

from bot.domain.jobs import JobKind
from bot.domain.model import IncidentView
from bot.service import incidents, observation, orientation, reminders, responders
from bot.service.incidents import channel_name
from bot.service.runtime import Runtime
from bot.storage import jobs, outbox, repo


async def setup_channel(
    rt: Runtime, number: int, origin_channel: str | None = None, *, queued: list[str] | None = None
) -> None:
    """Gather Observe and Orient context concurrently while the sender creates the channel.

    The first Observe card, the live summary, the announcements and the invitations are
    recorded as soon as PagerDuty answers (or its deadline passes); Orient follows when the
    change sources do. Every step is safe to repeat: a retried job neither skips nor doubles.
    `queued`: what the opening transaction already recorded ("channel", "responders"), so the
    set-up does not look for it (incidents opened by an older version have neither)."""
    queued = queued or []
    async with rt.db.session() as session:
        row = await repo.get_incident(session, number)
        if row is None:
            return
        inc = repo.to_view(row)
        links = await repo.pagerduty_links(session, number)
        recorded = (
            bool(inc.channel_id)
            or "channel" in queued
            or await outbox.said(session, outbox.create_channel_key(number))
        )
    if not recorded:  # an incident opened before the outbox existed
        async with rt.db.transaction() as session:
            await outbox.create_channel(session, number, channel_name(number, inc.title))
    await open_context(rt, inc, links, origin_channel, responders_queued="responders" in queued)


async def open_context(
    rt: Runtime,
    inc: IncidentView,
    links: list[Any],
    origin_channel: str | None = None,
    *,
    responders_queued: bool = False,
) -> None:
    """The set-up's Observe and Orient, every source started at once: change sources run while
    PagerDuty is read; ranking waits for Observe because it needs the first alert's time. The
    stall reminders are planned last: nothing reads them for minutes."""
    number = inc.number
    started = orientation.start_sources(rt, inc.service, inc.pd_incident_id, is_drill=inc.is_drill)
    if inc.pd_incident_id and not responders_queued:  # opened by an older version
        await jobs.schedule_once(
            rt.db,
            JobKind.INCIDENT_RESPONDERS,
            {"incident": number},
            dedup_key=incidents.responders_key(number),
        )
    observed = await observation.observe(
        rt, number, first=True, origin_channel=origin_channel, links=links
    )
    await orientation.orient(rt, number, started, inc=observed or inc)
    await reminders.stage_started(rt, number)
    await reminders.start_status_updates(rt, number)


async def invite_responders(rt: Runtime, number: int) -> None:
    inc = await incidents.load(rt, number)
    if inc is not None:
        await responders.invite_assignees_and_oncall(rt, inc)
