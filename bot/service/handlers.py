"""Job kinds and the functions that run them."""

from __future__ import annotations

from typing import Any

from bot.service import (
    act,
    decide,
    incidents,
    observation,
    opening,
    orientation,
    pagerduty_events,
    postmortems,
    reminders,
)
from bot.service.runtime import Runtime
from bot.slack.listen import events, interactions
from bot.storage import repo, retention


def register(rt: Runtime) -> None:
    async def inbound_pagerduty(payload: dict[str, Any]) -> None:
        async with rt.db.session() as session:
            row = await repo.inbound_event(session, payload["inbound"])
            event = dict(row.payload.get("event") or {}) if row else {}
        await pagerduty_events.handle(rt, event)

    async def setup(payload: dict[str, Any]) -> None:
        await opening.setup_channel(
            rt, payload["incident"], payload.get("origin_channel"), queued=payload.get("queued")
        )

    async def observe(payload: dict[str, Any]) -> None:
        await observation.observe(rt, payload["incident"])

    async def orient(payload: dict[str, Any]) -> None:
        await orientation.orient(rt, payload["incident"])

    async def suggest(payload: dict[str, Any]) -> None:
        await decide.post_suggestions(rt, payload["incident"])

    async def run_action(payload: dict[str, Any]) -> None:
        await act.run(rt, payload["key"])

    async def verify(payload: dict[str, Any]) -> None:
        await act.verify(rt, payload["key"], payload.get("attempt", 1))

    async def postmortem(payload: dict[str, Any]) -> None:
        await postmortems.publish(rt, payload["incident"], resolved_by=payload.get("resolved_by"))

    for kind, handler in {
        "pagerduty.event": inbound_pagerduty,
        "incident.setup": setup,
        "incident.observe": observe,
        "incident.orient": orient,
        "incident.decide": suggest,
        "action.run": run_action,
        "action.verify": verify,
        "incident.postmortem": postmortem,
        incidents.RESPONDERS_JOB: lambda payload: opening.invite_responders(
            rt, payload["incident"]
        ),
        retention.JOB_KIND: retention.handler(rt.db, rt.settings.retention_days),
        reminders.JOB_KIND: lambda payload: reminders.fire(rt, payload),
        act.MAINTENANCE: lambda payload: act.maintenance(rt, payload),
        events.JOB_KIND: lambda payload: events.run_pin(rt, payload),
        interactions.JOB_KIND: lambda payload: interactions.run(rt, payload),
    }.items():
        rt.worker.register(kind, handler)
