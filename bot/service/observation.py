"""Observe: read every linked PagerDuty incident, its alerts and log entries concurrently, and
record the Observe card. Each read has its own timeout; past the source deadline the card says
what is still loading and is recorded again when the late reads arrive."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from bot.domain.drills import DrillClock, Scenario
from bot.domain.drills.world import alerts_at
from bot.domain.jobs import JobKind
from bot.domain.model import IncidentView, Status, utcnow
from bot.service import cards, incidents, prefetch
from bot.service.retries import plan_retry, source_problem
from bot.service.runtime import Runtime
from bot.slack.out import views
from bot.storage import repo
from bot.storage.tables import DrillRow, Incident
from integrations._common import parse_timestamp


def _alert_view(alert: dict[str, Any]) -> dict[str, Any]:
    created = alert.get("created_at")
    when = parse_timestamp(created).strftime("%H:%M UTC") if created else "?"
    return {
        "id": alert.get("id"),
        "summary": alert.get("summary") or alert.get("body", {}).get("details", "alert"),
        "status": alert.get("status", "triggered"),
        "created_at": when,
        "created_iso": created,
        "severity": alert.get("severity"),
    }


def _people(log_entries: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    notified, escalations = [], []
    for entry in log_entries:
        kind = entry.get("type", "")
        if kind.startswith("notify_log_entry"):
            # The notified user; some accounts only carry it as the entry's user agent.
            agent = entry.get("agent") or {}
            user = (entry.get("user") or {}).get("summary") or (
                agent.get("summary") if agent.get("type") == "user_reference" else None
            )
            if user and user not in notified:
                notified.append(user)
        elif kind.startswith("escalate_log_entry"):
            escalations.append(entry.get("summary") or "escalated")
    return notified, escalations


def _observe_tasks(rt: Runtime, links: list[Any]) -> dict[asyncio.Task[Any], tuple[str, str]]:
    """Every PagerDuty read of every linked incident, started at once (or taken from the
    reads started when the page arrived), each under a timeout."""
    tasks: dict[asyncio.Task[Any], tuple[str, str]] = {}
    for link in links:
        pd_id = link.pd_incident_id
        reads = prefetch.take_observe(rt, pd_id) or prefetch.observe_reads(rt, pd_id)
        for label, task in reads.items():
            tasks[task] = (pd_id, label)
    return tasks


def _observation(
    row: Incident, links: list[Any], tasks: dict[asyncio.Task[Any], tuple[str, str]]
) -> dict[str, Any]:
    """The Observe snapshot from the reads that finished; unfinished ones are "still loading"."""
    observation: dict[str, Any] = {"alerts": [], "missing": [], "linked": [], "loading": []}
    results: dict[tuple[str, str], Any] = {}
    for task, key in tasks.items():
        if not task.done():
            observation["loading"].append(f"PagerDuty {key[1]} (still loading…)")
        elif (error := task.exception()) is not None:
            observation["missing"].append(f"PagerDuty {key[1]} ({source_problem(error)})")
        else:
            results[key] = task.result()
    for link in links:
        pd_id = link.pd_incident_id
        observation["linked"].append(
            {"id": pd_id, "number": link.pd_number, "title": link.title, "url": link.url}
        )
        incident = results.get((pd_id, "incident"))
        alerts = results.get((pd_id, "alerts"))
        entries = results.get((pd_id, "log entries"))
        if isinstance(incident, dict) and pd_id == row.pd_incident_id:
            observation["pd_status"] = incident.get("status")
            observation["pd_service_name"] = (incident.get("service") or {}).get("summary")
        if isinstance(alerts, list):
            observation["alerts"].extend(_alert_view(a) for a in alerts)
        if isinstance(entries, list):
            notified, escalations = _people(entries)
            observation.setdefault("notified", []).extend(notified)
            observation.setdefault("escalations", []).extend(escalations)
    observation["loading"] = sorted(set(observation["loading"]))
    return observation


async def observe(
    rt: Runtime,
    number: int,
    *,
    first: bool = False,
    origin_channel: str | None = None,
    links: list[Any] | None = None,
) -> IncidentView | None:
    """Fetch every linked PagerDuty incident with its alerts and log entries, concurrently;
    record the card once they answered or the deadline passed, and again when late reads
    arrive. A read that failed is retried in the background while the incident is open.
    `first`: the set-up's Observe, which also records the announcements. `links`: the
    incident's PagerDuty links, when the caller has just read them."""
    if links is None:
        async with rt.db.session() as session:
            if await repo.get_incident(session, number) is None:
                return None
            links = await repo.pagerduty_links(session, number)
    if not links:  # a drill has no PagerDuty incident: its scenario says what fires
        async with rt.db.session() as session:
            drill = await repo.drill(session, number)
        if drill is not None:
            preset = drill_observation(drill, utcnow())
            return await _record_observation(
                rt, number, [], {}, [], first, origin_channel, failed=False, preset=preset
            )
    tasks: dict[asyncio.Task[Any], tuple[str, str]] = {}
    missing: list[str] = []
    if links and rt.pagerduty is None:
        missing.append("PagerDuty alerts: PAGERDUTY_API_TOKEN is not set")
    elif links:
        tasks = _observe_tasks(rt, links)
    pending: set[asyncio.Task[Any]] = set()
    if tasks:
        _done, pending = await asyncio.wait(tasks, timeout=rt.settings.source_deadline_seconds)
    failed = not pending and any(t.exception() is not None for t in tasks)
    inc = await _record_observation(
        rt, number, links, tasks, missing, first, origin_channel, failed=failed
    )
    if pending:
        await asyncio.wait(pending)
        failed = any(t.exception() is not None for t in tasks)
        inc = await _record_observation(
            rt, number, links, tasks, missing, False, None, failed=failed
        )
    return inc


async def _record_observation(
    rt: Runtime,
    number: int,
    links: list[Any],
    tasks: dict[asyncio.Task[Any], tuple[str, str]],
    missing: list[str],
    first: bool,
    origin_channel: str | None,
    *,
    failed: bool,
    preset: dict[str, Any] | None = None,
) -> IncidentView | None:
    """The Observe card (and on the first one the announcements) in one transaction; when
    every read has finished, the retry of failed ones is planned in it too. `preset`: a
    drill's observation, read from its scenario instead of PagerDuty."""
    async with rt.db.transaction() as session:
        row = await repo.get_incident(session, number)
        if row is None:
            return None
        observation = preset if preset is not None else _observation(row, links, tasks)
        observation["missing"] = missing + observation["missing"]
        recovered = preset is not None and _all_cleared(observation)
        if recovered and row.mitigated_at is None and row.status != Status.RESOLVED.value:
            row.mitigated_at = utcnow()  # the drill's world recovered (fixed, or by itself)
        _mark_new_alerts(row.observation or {}, observation)
        _apply_observation(row, observation)
        inc = repo.to_view(row)
        text, blocks = views.observe(inc, observation, now=utcnow(), declared_by=row.declared_by)
        await cards.show(session, number, "observe", text, blocks)
        if first:  # the live summary follows the first Orient card (it names the top suspect)
            opened_text, _ = views.opened(inc, row.declared_by)
            await incidents.announce(
                session, rt, inc, opened_text, origin_channel, once="announce-open"
            )
        if not observation["loading"]:
            await plan_retry(session, row, JobKind.INCIDENT_OBSERVE, failed=failed)
    return inc


def drill_observation(drill: DrillRow, now: datetime) -> dict[str, Any]:
    """A drill's Observe snapshot: the scenario's alerts as they stand now on its clock."""
    scenario = Scenario.model_validate(drill.scenario)
    clock = DrillClock(drill.started_at, drill.speed)
    alerts = alerts_at(scenario, clock, now, fixed_at=drill.fixed_at)
    return {
        "alerts": [_alert_view(a) for a in alerts],
        "missing": [],
        "linked": [],
        "loading": [],
        "drill": scenario.name,
    }


def _all_cleared(observation: dict[str, Any]) -> bool:
    alerts = observation.get("alerts") or []
    return bool(alerts) and all(a.get("status") == "resolved" for a in alerts)


def _mark_new_alerts(previous: dict[str, Any], observation: dict[str, Any]) -> None:
    """Flag alerts that were not on the last Observe card (none on the first one)."""
    if "alerts" not in previous:
        return
    seen = {a.get("id") for a in previous["alerts"]}
    for alert in observation["alerts"]:
        alert["new"] = alert.get("id") not in seen


def _apply_observation(row: Incident, observation: dict[str, Any]) -> None:
    for key in ("orient_missing", "retries"):  # Orient's note and the backoff survive
        if key in (row.observation or {}):
            observation[key] = row.observation[key]
    row.observation = observation
    times = [parse_timestamp(a["created_iso"]) for a in observation["alerts"] if a["created_iso"]]
    if times and (row.first_alert_at is None or min(times) < row.first_alert_at):
        row.first_alert_at = min(times)
