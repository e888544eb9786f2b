"""Observe and Orient: gather PagerDuty, deploy and history context concurrently, post the cards.

Every source has its own timeout; a failing or slow source never blocks the others. The Orient
card is posted with what arrived in time and updated when late sources answer.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.jobs import JobKind
from bot.domain.model import Change, IncidentView, Status, TimelineKind, utcnow
from bot.domain.ranking import RankingConfig, rank_changes
from bot.domain.similar import describe, similar_incidents
from bot.service import cards, incidents, reminders, responders
from bot.service.runtime import Runtime
from bot.slack import views
from bot.storage import jobs, repo
from bot.storage.tables import Incident
from integrations._common import parse_timestamp
from integrations.github import deployment_to_change
from integrations.pagerduty import related_change_to_change

log = logging.getLogger(__name__)

RETRY_BASE_SECONDS = 5.0  # a failed source is asked again after 5 s, 10 s, 20 s, … 5 min
RETRY_MAX_SECONDS = 300.0


def _problem(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


# ---- Observe -------------------------------------------------------------------------------


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
    """Every PagerDuty read of every linked incident, started at once, each under a timeout."""
    client = rt.pagerduty
    assert client is not None
    timeout = rt.settings.source_timeout_seconds
    tasks: dict[asyncio.Task[Any], tuple[str, str]] = {}
    for link in links:
        pd_id = link.pd_incident_id
        for label, call in (
            ("incident", client.get_incident),
            ("alerts", client.list_alerts),
            ("log entries", client.list_log_entries),
        ):
            task = asyncio.create_task(asyncio.wait_for(call(pd_id), timeout))
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
        elif task.exception() is not None:
            observation["missing"].append(f"PagerDuty {key[1]} ({_problem(task.exception())})")
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
    rt: Runtime, number: int, *, first: bool = False, origin_channel: str | None = None
) -> IncidentView | None:
    """Fetch every linked PagerDuty incident with its alerts and log entries, concurrently;
    record the card once they answered or the deadline passed, and again when late reads
    arrive. A read that failed is retried in the background while the incident is open.
    `first`: the set-up's Observe, which also records the summary and the announcements."""
    async with rt.db.session() as session:
        row = await repo.get_incident(session, number)
        links = await repo.pagerduty_links(session, number)
    if row is None:
        return None
    tasks: dict[asyncio.Task[Any], tuple[str, str]] = {}
    missing: list[str] = []
    if links and rt.pagerduty is None:
        missing.append("PagerDuty alerts: PAGERDUTY_API_TOKEN is not set")
    elif links:
        tasks = _observe_tasks(rt, links)
    pending: set[asyncio.Task[Any]] = set()
    if tasks:
        _done, pending = await asyncio.wait(tasks, timeout=rt.settings.source_deadline_seconds)
    inc = await _record_observation(rt, number, links, tasks, missing, first, origin_channel)
    if pending:
        await asyncio.wait(pending)
        inc = await _record_observation(rt, number, links, tasks, missing, False, None)
    failed = any(t.exception() is not None for t in tasks)
    await schedule_retry(rt, JobKind.INCIDENT_OBSERVE, number, failed=failed)
    return inc


async def _record_observation(
    rt: Runtime,
    number: int,
    links: list[Any],
    tasks: dict[asyncio.Task[Any], tuple[str, str]],
    missing: list[str],
    first: bool,
    origin_channel: str | None,
) -> IncidentView | None:
    async with rt.db.transaction() as session:
        row = await repo.get_incident(session, number)
        if row is None:
            return None
        observation = _observation(row, links, tasks)
        observation["missing"] = missing + observation["missing"]
        _mark_new_alerts(row.observation or {}, observation)
        _apply_observation(row, observation)
        inc = repo.to_view(row)
        text, blocks = views.observe(inc, observation, now=utcnow(), declared_by=row.declared_by)
        await cards.show(session, number, "observe", text, blocks)
        declared_by = row.declared_by
    if first:  # the live summary follows the first Orient card (it names the top suspect)
        async with rt.db.transaction() as session:
            opened_text, _ = views.opened(inc, declared_by)
            await incidents.announce(
                session, rt, inc, opened_text, origin_channel, once="announce-open"
            )
    return inc


async def schedule_retry(rt: Runtime, kind: str, number: int, *, failed: bool) -> None:
    """Try a failed source again later (backoff with jitter), while the incident is open; a
    source that answered resets the backoff."""
    async with rt.db.transaction() as session:
        row = await repo.get_incident(session, number)
        if row is None:
            return
        retries = int((row.observation or {}).get("retries", {}).get(kind, 0))
        if not failed or row.status == Status.RESOLVED.value:
            if retries:
                row.observation = {
                    **(row.observation or {}),
                    "retries": {**(row.observation or {}).get("retries", {}), kind: 0},
                }
            return
        row.observation = {
            **(row.observation or {}),
            "retries": {**(row.observation or {}).get("retries", {}), kind: retries + 1},
        }
        delay = min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2**retries)
        delay *= 0.5 + random.random() / 2
        jobs.add_job(
            session,
            kind,
            {"incident": number, "retry": retries + 1},
            due_at=utcnow() + timedelta(seconds=delay),
            ordering_key=incidents.incident_key(number),
            dedup_key=f"retry:{kind}:{number}:{retries + 1}",
        )


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


# ---- Orient --------------------------------------------------------------------------------

Source = Callable[[], Awaitable[list[Change]]]


def change_sources(rt: Runtime, inc: IncidentView) -> tuple[dict[str, Source], list[str]]:
    """The vendor sources that apply to this incident, and why others do not."""
    sources: dict[str, Source] = {}
    skipped: list[str] = []
    service = rt.config.service(inc.service)
    if service and service.github_repo:
        if rt.github is None:
            skipped.append("GitHub deployments: GITHUB_TOKEN is not set")
        else:
            github, repo_name = rt.github, service.github_repo

            async def from_github() -> list[Change]:
                deployments = await github.list_deployments(
                    repo_name, environment=service.github_environment
                )
                return [
                    deployment_to_change(d, service=service.name, status=d.get("latest_status"))
                    for d in deployments
                ]

            sources["GitHub deployments"] = from_github
    if service and service.argocd_app:
        if rt.argocd is None:
            skipped.append("Argo CD history: ARGOCD_URL is not set")
        else:
            argocd, app = rt.argocd, service.argocd_app

            async def from_argocd() -> list[Change]:
                return await argocd.history_changes(app, service=service.name)

            sources["Argo CD history"] = from_argocd
    if inc.pd_incident_id and rt.pagerduty is not None:
        pagerduty, pd_id = rt.pagerduty, inc.pd_incident_id

        async def from_pagerduty() -> list[Change]:
            events = await pagerduty.related_change_events(pd_id)
            return [related_change_to_change(e, service=inc.service) for e in events]

        sources["PagerDuty related changes"] = from_pagerduty
    return sources, skipped


async def _store(rt: Runtime, changes: list[Change]) -> None:
    if changes:
        async with rt.db.transaction() as session:
            for change in changes:
                await repo.upsert_change(session, change)


async def _rank_and_post(
    rt: Runtime, number: int, missing: list[str], *, window: timedelta
) -> None:
    async with rt.db.transaction() as session:
        row = await repo.get_incident(session, number)
        assert row is not None
        inc = repo.to_view(row)
        first_alert = inc.first_alert_at or inc.opened_at
        rows = await repo.changes_since(session, first_alert - window)
        by_key = {(r.source, r.external_id): r for r in rows}
        ranked = rank_changes(
            [repo.change_from_row(r) for r in rows],
            service=inc.service,
            dependencies=rt.config.dependencies_of(inc.service),
            first_alert_at=first_alert,
            config=RankingConfig(window=window),
        )
        await repo.save_ranking(
            session,
            number,
            [(by_key[(r.change.source, r.change.external_id)], r) for r in ranked],
        )
        similar = await _similar(session, inc)
        # Kept so a redraw after a verdict still says which context is missing.
        row.observation = {**(row.observation or {}), "orient_missing": list(missing)}
        stored = await repo.ranked_changes(session, number)
        text, blocks = views.orient(
            inc,
            stored,
            missing=missing,
            in_catalog=rt.config.service(inc.service) is not None,
            window_hours=window.total_seconds() / 3600,
            similar=similar,
        )
        await cards.show(session, number, "orient", text, blocks)
        await cards.refresh_summary(session, number)  # names the top suspect


async def repost_orient(rt: Runtime, number: int) -> None:
    """Redraw the Orient card from stored rankings (after a verdict), without refetching."""
    async with rt.db.transaction() as session:
        row = await repo.get_incident(session, number)
        if row is None:
            return
        inc = repo.to_view(row)
        similar = await _similar(session, inc)
        missing = list((row.observation or {}).get("orient_missing", []))
        text, blocks = views.orient(
            inc,
            await repo.ranked_changes(session, number),
            missing=missing,
            in_catalog=rt.config.service(inc.service) is not None,
            window_hours=rt.config.change_window_hours,
            similar=similar,
        )
        await cards.show(session, number, "orient", text, blocks)


def _concerns(rt: Runtime, incident_service: str | None, change: Change) -> bool:
    """Whether a new change can move this incident's ranking near the top: same service, a
    dependency, or an incident outside the catalog (its Orient looks at every change)."""
    if rt.config.service(incident_service) is None:
        return True
    return change.service is not None and (
        change.service == incident_service
        or change.service in rt.config.dependencies_of(incident_service)
    )


async def queue_reorient(session: AsyncSession, rt: Runtime, change: Change) -> list[int]:
    """Queue an Orient redraw for each open incident the change concerns (inside the caller's
    transaction, so it commits with the change). A redraw already waiting covers a burst."""
    queued = []
    for row in await repo.active_incidents(session):
        if not _concerns(rt, row.service, change):
            continue
        key = incidents.incident_key(row.id)
        if not await jobs.has_pending(session, kind=JobKind.INCIDENT_ORIENT, ordering_key=key):
            jobs.add_job(session, JobKind.INCIDENT_ORIENT, {"incident": row.id}, ordering_key=key)
        queued.append(row.id)
    return queued


async def _similar(session: AsyncSession, inc: IncidentView) -> list[str]:
    since = utcnow() - timedelta(days=90)
    past = await repo.resolved_incidents_since(session, since, excluding=inc.number)
    found = similar_incidents(inc.title, inc.service, past, now=utcnow())
    return [describe(p) for p, _score in found]


def start_sources(rt: Runtime, inc: IncidentView) -> tuple[dict[asyncio.Task[Any], str], list[str]]:
    """Start every change source now, each under its own timeout."""
    sources, skipped = change_sources(rt, inc)
    timeout = rt.settings.source_timeout_seconds
    tasks = {
        asyncio.create_task(asyncio.wait_for(fetch(), timeout)): name
        for name, fetch in sources.items()
    }
    return tasks, skipped


async def orient(
    rt: Runtime,
    number: int,
    started: tuple[dict[asyncio.Task[Any], str], list[str]] | None = None,
) -> None:
    inc = await incidents.load(rt, number)
    if inc is None:
        return
    window = timedelta(hours=rt.config.change_window_hours)
    tasks, missing = started if started is not None else start_sources(rt, inc)
    done: set[asyncio.Task[Any]] = set()
    pending: set[asyncio.Task[Any]] = set()
    if tasks:
        done, pending = await asyncio.wait(tasks, timeout=rt.settings.source_deadline_seconds)
    failed = await _collect(rt, done, tasks)
    missing = missing + failed
    late = [f"{tasks[t]} (still loading…)" for t in pending]
    await _rank_and_post(rt, number, missing + late, window=window)
    if pending:
        finished, _ = await asyncio.wait(pending)
        late_failed = await _collect(rt, finished, tasks)
        failed += late_failed
        missing += late_failed
        await _rank_and_post(rt, number, missing, window=window)
    text = "Orient context gathered" + (f"; missing: {'; '.join(missing)}" if missing else "")
    async with rt.db.transaction() as session:
        # Change webhooks re-run Orient often; the timeline keeps one entry per distinct outcome.
        await repo.add_entry(
            session,
            number,
            TimelineKind.CONTEXT,
            text,
            actor="system",
            data={"sources": sorted(tasks.values()), "missing": missing},
            source_key="orient:" + hashlib.sha256(text.encode()).hexdigest()[:32],
        )
    await schedule_retry(rt, JobKind.INCIDENT_ORIENT, number, failed=bool(failed))


async def _collect(rt: Runtime, done: set[asyncio.Task[Any]], names: dict[Any, str]) -> list[str]:
    missing = []
    for task in done:
        exc = task.exception()
        if exc is not None:
            log.warning("context source %s failed: %s", names[task], _problem(exc))
            missing.append(f"{names[task]} ({_problem(exc)})")
        else:
            await _store(rt, task.result())
    return missing


async def open_context(rt: Runtime, number: int, origin_channel: str | None = None) -> None:
    """The set-up's Observe and Orient, every source started at once: change sources and the
    responders' lookup run while PagerDuty is read; ranking waits for Observe because it needs
    the first alert's time."""
    inc = await incidents.load(rt, number)
    if inc is None:
        return
    started = start_sources(rt, inc)
    if inc.pd_incident_id:  # a job of its own: a slow on-call lookup holds up nothing else
        await jobs.schedule_once(
            rt.db,
            JobKind.INCIDENT_RESPONDERS,
            {"incident": number},
            dedup_key=f"responders:{number}",
        )
    await observe(rt, number, first=True, origin_channel=origin_channel)
    await reminders.stage_started(rt, number)
    await reminders.start_status_updates(rt, number)
    await orient(rt, number, started)


async def invite_responders(rt: Runtime, number: int) -> None:
    inc = await incidents.load(rt, number)
    if inc is not None:
        await responders.invite_assignees_and_oncall(rt, inc)
