"""Orient: read the change sources (GitHub deployments, Argo CD history, PagerDuty related
changes) concurrently, store and rank the changes against the first alert, and record the
Orient card and the live summary. A failing or slow source never blocks the others."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.jobs import JobKind
from bot.domain.model import Change, IncidentView, TimelineKind, utcnow
from bot.domain.ranking import rank_changes
from bot.domain.similar import describe, similar_incidents
from bot.service import cards, drills, incidents, prefetch
from bot.service.retries import plan_retry, source_problem
from bot.service.runtime import Runtime
from bot.slack.out import views
from bot.storage import jobs, repo
from integrations.github import deployment_to_change
from integrations.pagerduty import related_change_to_change

log = logging.getLogger(__name__)


Source = Callable[[], Awaitable[list[Change]]]


def change_sources(
    rt: Runtime, service_name: str | None, pd_incident_id: str | None
) -> tuple[dict[str, Source], list[str]]:
    """The vendor sources that apply to an incident of this service (and PagerDuty incident),
    and why others do not."""
    sources: dict[str, Source] = {}
    skipped: list[str] = []
    service = rt.config.service(service_name)
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
    if pd_incident_id and rt.pagerduty is not None:
        pagerduty, pd_id = rt.pagerduty, pd_incident_id

        async def from_pagerduty() -> list[Change]:
            events = await pagerduty.related_change_events(pd_id)
            return [related_change_to_change(e, service=service_name) for e in events]

        sources["PagerDuty related changes"] = from_pagerduty
    return sources, skipped


async def _rank_and_post(
    rt: Runtime,
    number: int,
    missing: list[str],
    *,
    window: timedelta,
    changes: list[Change],
    outcome: tuple[list[str], list[str]] | None = None,
) -> None:
    """Store what the sources returned, rank, and record the Orient card and the summary, in
    one transaction. `outcome` (source names, failed sources) once every source finished:
    the timeline entry and the retry of failed sources commit with the card."""
    async with rt.db.transaction() as session:
        for change in changes:
            try:
                await repo.upsert_change(session, change)
            except ValueError as exc:  # one malformed vendor record must not hide the others
                log.warning("change not stored: %s", exc)
        row = await repo.get_incident(session, number)
        assert row is not None
        inc = repo.to_view(row)
        first_alert = inc.first_alert_at or inc.opened_at
        drill = await repo.planted_changes_of(session, number, inc.is_drill)
        rows = await repo.changes_since(session, first_alert - window, drill=drill)
        by_key = {(r.source, r.external_id): r for r in rows}
        catalog = await drills.catalog_entry(rt, session, inc)
        ranked = rank_changes(
            [repo.change_from_row(r) for r in rows],
            service=inc.service,
            dependencies=set(catalog.depends_on) if catalog else set(),
            first_alert_at=first_alert,
            config=rt.config.ranking.config(window),
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
            in_catalog=catalog is not None,
            window_hours=window.total_seconds() / 3600,
            similar=similar,
        )
        await cards.show(session, number, "orient", text, blocks)
        await cards.refresh_summary(session, number)  # names the top suspect
        if outcome is not None:
            sources, failed = outcome
            await _orient_gathered(session, number, sources, missing)
            await plan_retry(session, row, JobKind.INCIDENT_ORIENT, failed=bool(failed))


async def _orient_gathered(
    session: AsyncSession, number: int, sources: list[str], missing: list[str]
) -> None:
    text = "Orient context gathered" + (f"; missing: {'; '.join(missing)}" if missing else "")
    # Change webhooks re-run Orient often; the timeline keeps one entry per distinct outcome.
    await repo.add_entry(
        session,
        number,
        TimelineKind.CONTEXT,
        text,
        actor="system",
        data={"sources": sorted(sources), "missing": missing},
        source_key="orient:" + hashlib.sha256(text.encode()).hexdigest()[:32],
    )


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
            in_catalog=await drills.catalog_entry(rt, session, inc) is not None,
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


def start_sources(
    rt: Runtime, service: str | None, pd_incident_id: str | None = None, *, is_drill: bool = False
) -> tuple[dict[asyncio.Task[Any], str], list[str]]:
    """Start every change source now, each under its own timeout (or take the ones started
    when the page arrived). A drill asks no vendor: its changes were planted when it started."""
    if is_drill:
        return {}, []
    if pd_incident_id and (started := prefetch.take_changes(rt, pd_incident_id)):
        return started
    sources, skipped = change_sources(rt, service, pd_incident_id)
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
    *,
    inc: IncidentView | None = None,
) -> None:
    """Rank the changes the sources return: the card is recorded when they answered or the
    deadline passed, and again when late ones arrive. `inc`: the incident, when the caller has
    just read it."""
    if inc is None:
        inc = await incidents.load(rt, number)
        if inc is None:
            return
    window = timedelta(hours=rt.config.change_window_hours)
    if started is None:
        started = start_sources(rt, inc.service, inc.pd_incident_id, is_drill=inc.is_drill)
    tasks, skipped = started
    done: set[asyncio.Task[Any]] = set()
    pending: set[asyncio.Task[Any]] = set()
    if tasks:
        done, pending = await asyncio.wait(tasks, timeout=rt.settings.source_deadline_seconds)
    changes, failed = _results(done, tasks)
    missing = skipped + failed
    late = [f"{tasks[t]} (still loading…)" for t in pending]
    names = list(tasks.values())
    outcome = None if pending else (names, failed)
    await _rank_and_post(
        rt, number, missing + late, window=window, changes=changes, outcome=outcome
    )
    if pending:
        finished, _ = await asyncio.wait(pending)
        more, late_failed = _results(finished, tasks)
        failed += late_failed
        missing += late_failed
        await _rank_and_post(
            rt, number, missing, window=window, changes=more, outcome=(names, failed)
        )


def _results(done: set[asyncio.Task[Any]], names: dict[Any, str]) -> tuple[list[Change], list[str]]:
    """The changes of the sources that answered, and what failed (with why)."""
    changes: list[Change] = []
    missing = []
    for task in done:
        exc = task.exception()
        if exc is not None:
            log.warning("context source %s failed: %s", names[task], source_problem(exc))
            missing.append(f"{names[task]} ({source_problem(exc)})")
        else:
            changes.extend(task.result())
    return changes, missing
