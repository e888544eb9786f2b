"""Observe and Orient: gather PagerDuty, deploy and history context concurrently, post the cards.

Every source has its own timeout; a failing or slow source never blocks the others. The Orient
card is posted with what arrived in time and updated when late sources answer.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.model import Change, IncidentView, Status, TimelineKind, utcnow
from bot.domain.ranking import RankingConfig, rank_changes
from bot.domain.similar import PastIncident, describe, similar_incidents
from bot.service import cards
from bot.service.runtime import Runtime
from bot.slack import views
from bot.storage import jobs, repo
from bot.storage.tables import ActionRunRow, Incident, Job
from integrations._common import parse_timestamp
from integrations.github import deployment_to_change
from integrations.pagerduty import related_change_to_change

log = logging.getLogger(__name__)

FIRST_POST_SECONDS = 3.0  # the Orient card waits at most this long for slow sources


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


async def observe(rt: Runtime, number: int) -> IncidentView | None:
    """Fetch every linked PagerDuty incident with its alerts and log entries; post the card."""
    async with rt.db.session() as session:
        row = await repo.get_incident(session, number)
        links = await repo.pagerduty_links(session, number)
    if row is None:
        return None
    observation: dict[str, Any] = {"alerts": [], "missing": [], "linked": []}
    if links and rt.pagerduty is None:
        observation["missing"].append("PagerDuty alerts: PAGERDUTY_API_TOKEN is not set")
    elif links:
        client = rt.pagerduty
        assert client is not None
        timeout = rt.settings.source_timeout_seconds
        for link in links:
            results = await asyncio.gather(
                asyncio.wait_for(client.get_incident(link.pd_incident_id), timeout),
                asyncio.wait_for(client.list_alerts(link.pd_incident_id), timeout),
                asyncio.wait_for(client.list_log_entries(link.pd_incident_id), timeout),
                return_exceptions=True,
            )
            incident, alerts, entries = results
            observation["linked"].append(
                {
                    "id": link.pd_incident_id,
                    "number": link.pd_number,
                    "title": link.title,
                    "url": link.url,
                }
            )
            for label, result in zip(("incident", "alerts", "log entries"), results, strict=True):
                if isinstance(result, BaseException):
                    observation["missing"].append(f"PagerDuty {label} ({_problem(result)})")
            if isinstance(incident, dict) and link.pd_incident_id == row.pd_incident_id:
                observation["pd_status"] = incident.get("status")
                observation["pd_service_name"] = (incident.get("service") or {}).get("summary")
            if isinstance(alerts, list):
                observation["alerts"].extend(_alert_view(a) for a in alerts)
            if isinstance(entries, list):
                notified, escalations = _people(entries)
                observation.setdefault("notified", []).extend(notified)
                observation.setdefault("escalations", []).extend(escalations)
    async with rt.db.transaction() as session:
        row = await repo.get_incident(session, number)
        assert row is not None
        _mark_new_alerts(row.observation or {}, observation)
        _apply_observation(row, observation)
        inc = repo.to_view(row)
    text, blocks = views.observe(inc, observation, now=utcnow())
    await cards.post_or_update(rt, inc, "observe", text, blocks)
    return inc


def _mark_new_alerts(previous: dict[str, Any], observation: dict[str, Any]) -> None:
    """Flag alerts that were not on the last Observe card (none on the first one)."""
    if "alerts" not in previous:
        return
    seen = {a.get("id") for a in previous["alerts"]}
    for alert in observation["alerts"]:
        alert["new"] = alert.get("id") not in seen


def _apply_observation(row: Incident, observation: dict[str, Any]) -> None:
    if "orient_missing" in (row.observation or {}):  # Orient's note survives a new Observe
        observation["orient_missing"] = row.observation["orient_missing"]
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
    stored = await _ranked(rt, number)
    text, blocks = views.orient(
        inc,
        stored,
        missing=missing,
        in_catalog=rt.config.service(inc.service) is not None,
        window_hours=window.total_seconds() / 3600,
        similar=similar,
    )
    await cards.post_or_update(rt, inc, "orient", text, blocks)


async def repost_orient(rt: Runtime, number: int) -> None:
    """Redraw the Orient card from stored rankings (after a verdict), without refetching."""
    inc = await _load(rt, number)
    if inc is None:
        return
    async with rt.db.session() as session:
        row = await repo.get_incident(session, number)
        similar = await _similar(session, inc)
    missing = list(((row.observation if row else {}) or {}).get("orient_missing", []))
    text, blocks = views.orient(
        inc,
        await _ranked(rt, number),
        missing=missing,
        in_catalog=rt.config.service(inc.service) is not None,
        window_hours=rt.config.change_window_hours,
        similar=similar,
    )
    await cards.post_or_update(rt, inc, "orient", text, blocks)


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
    from bot.service.incidents import incident_key  # late import: incidents imports this module

    queued = []
    for row in await repo.active_incidents(session):
        if not _concerns(rt, row.service, change):
            continue
        key = incident_key(row.id)
        waiting = await session.scalar(
            select(Job.id).where(
                Job.kind == "incident.orient", Job.ordering_key == key, Job.status == "pending"
            )
        )
        if waiting is None:
            jobs.add_job(session, "incident.orient", {"incident": row.id}, ordering_key=key)
        queued.append(row.id)
    return queued


async def _ranked(rt: Runtime, number: int) -> list[Any]:
    async with rt.db.session() as session:
        return await repo.ranked_changes(session, number)


async def _similar(session: Any, inc: IncidentView) -> list[str]:
    since = utcnow() - timedelta(days=90)
    rows = (
        await session.scalars(
            select(Incident).where(
                Incident.id != inc.number,
                Incident.status == Status.RESOLVED.value,
                Incident.opened_at >= since,
                Incident.is_drill.is_(False),
            )
        )
    ).all()
    past = []
    for r in rows:
        fixed = (
            await session.scalars(
                select(ActionRunRow.title).where(
                    ActionRunRow.incident_id == r.id, ActionRunRow.verify_passed.is_(True)
                )
            )
        ).first()
        past.append(
            PastIncident(
                r.id, r.title, r.service, r.opened_at, r.resolved_at, r.mitigated_at, fixed
            )
        )
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
    inc = await _load(rt, number)
    if inc is None:
        return
    window = timedelta(hours=rt.config.change_window_hours)
    tasks, missing = started if started is not None else start_sources(rt, inc)
    done: set[asyncio.Task[Any]] = set()
    pending: set[asyncio.Task[Any]] = set()
    if tasks:
        first_post = min(FIRST_POST_SECONDS, rt.settings.source_timeout_seconds)
        done, pending = await asyncio.wait(tasks, timeout=first_post)
    missing = missing + await _collect(rt, done, tasks)
    late = [f"{tasks[t]} (still loading…)" for t in pending]
    await _rank_and_post(rt, number, missing + late, window=window)
    if pending:
        finished, _ = await asyncio.wait(pending)
        missing += await _collect(rt, finished, tasks)
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
    await cards.refresh_summary(rt, number)  # the live summary names the top suspect


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


async def _load(rt: Runtime, number: int) -> IncidentView | None:
    async with rt.db.session() as session:
        row = await repo.get_incident(session, number)
        return repo.to_view(row) if row else None


async def refresh(rt: Runtime, number: int) -> None:
    """Observe and Orient together: change sources start while PagerDuty is being read; ranking
    waits for Observe because it needs the first alert's time."""
    inc = await _load(rt, number)
    if inc is None:
        return
    started = start_sources(rt, inc)
    await observe(rt, number)
    await orient(rt, number, started)
