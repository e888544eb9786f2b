"""The one table of job kinds (bot.domain.jobs.JobKind) and the functions that run them.

It sits above the use cases and the Slack listeners because both own jobs: a stored Slack
interaction or 📌 reaction is run by its listener module, everything else by a use case."""

from __future__ import annotations

from typing import Any

from bot.domain.jobs import JobKind
from bot.service import (
    act,
    decide,
    observation,
    opening,
    orientation,
    pagerduty_events,
    postmortems,
    reminders,
)
from bot.service.runtime import Runtime
from bot.slack.listen import events, interaction_job
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
        JobKind.PAGERDUTY_EVENT: inbound_pagerduty,
        JobKind.INCIDENT_SETUP: setup,
        JobKind.INCIDENT_OBSERVE: observe,
        JobKind.INCIDENT_ORIENT: orient,
        JobKind.INCIDENT_DECIDE: suggest,
        JobKind.ACTION_RUN: run_action,
        JobKind.ACTION_VERIFY: verify,
        JobKind.INCIDENT_POSTMORTEM: postmortem,
        JobKind.INCIDENT_RESPONDERS: lambda p: opening.invite_responders(rt, p["incident"]),
        JobKind.STORAGE_RETENTION: retention.handler(rt.db, rt.settings.retention_days),
        JobKind.INCIDENT_REMINDER: lambda payload: reminders.fire(rt, payload),
        JobKind.MAINTENANCE: lambda payload: act.maintenance(rt, payload),
        JobKind.SLACK_PIN: lambda payload: events.run_pin(rt, payload),
        JobKind.SLACK_INTERACTION: lambda payload: interaction_job.run(rt, payload),
    }.items():
        rt.worker.register(kind, handler)
