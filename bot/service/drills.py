"""Drills: start a rehearsal incident from a scenario, play its world (the alerts the scenario
fires and clears, the changes it planted) through the normal Observe, Orient, Decide and Act,
and score it at resolve.

Nothing in a drill reaches PagerDuty, GitHub or Argo CD: its Observe reads the scenario
(`observation.drill_observation`), its Orient ranks only the changes the drill injected, its
actions run dry, and an acceptable one "fixes" the drill's world so the verify step sees the
alerts clear. Drills stay out of metrics, stats and announcements; the backtest counts them,
marked as drills."""

from __future__ import annotations

import logging
from datetime import timedelta
from importlib.abc import Traversable
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.catalog import ServiceConfig
from bot.domain.action_runs import RunStatus
from bot.domain.drills import DrillClock, Scenario, scan, unknown_playbooks
from bot.domain.drills import default_drills_dir as packaged_drills
from bot.domain.drills.scoring import ActionRun, DrillRecord, MarkedChange, score
from bot.domain.drills.world import changes as drill_changes
from bot.domain.drills.world import drill_change_id, event_times
from bot.domain.jobs import JobKind
from bot.domain.metrics import IncidentSample, median_duration
from bot.domain.model import STAGE_ORDER, IncidentView, Severity, Stage, TimelineKind, utcnow
from bot.domain.refs import format_ref
from bot.domain.stages import format_duration
from bot.service import cards, incidents
from bot.service.runtime import Runtime
from bot.slack.out.text import render
from bot.storage import jobs, repo
from bot.storage.db import Database
from bot.storage.tables import Incident

log = logging.getLogger(__name__)

TEAM_MEDIAN_DAYS = 90
JOBS_PREFIX = "drill:{number}:"  # the dedup keys of a drill's own jobs (cancelled at resolve)


def drills_dir(rt: Runtime) -> Path | Traversable:
    """`drills_dir` in OODA_CONFIG (relative to it), else the scenarios shipped with the bot."""
    if rt.config.drills_dir:
        return (Path(rt.settings.config_path).parent / rt.config.drills_dir).resolve()
    return packaged_drills()


def scenarios(rt: Runtime) -> tuple[list[Scenario], list[str]]:
    """The playable scenarios, and every problem in the others (read fresh: users edit them).
    One naming a playbook that does not exist is left out: it could never be won."""
    found, problems = scan(drills_dir(rt))
    unknown = unknown_playbooks(found, {p.id for p in rt.playbooks})
    broken = {problem.split(":", 1)[0] for problem in unknown}
    return [s for s in found if s.name not in broken], problems + unknown


def find(rt: Runtime, name: str) -> tuple[Scenario | None, list[str]]:
    found, problems = scenarios(rt)
    return next((s for s in found if s.name == name), None), problems


async def start(
    rt: Runtime,
    scenario: Scenario,
    *,
    by: str | None,
    service: str | None = None,
    speed: float = 1.0,
    key: str | None = None,
) -> int:
    """Open the drill incident: its channel, its planted changes and the scheduled moments its
    alerts fire or clear, in one transaction. `service`: play it on one of your services
    instead of the scenario's. `speed`: scenario minutes per real minute. `key`: the request
    that asked for it; the same key again (a replay, a retried job) returns the same drill."""
    on = service or scenario.service
    try:
        return await _start(rt, scenario, by=by, on=on, speed=speed, key=key)
    except IntegrityError:
        if key is None:
            raise
        async with rt.db.session() as session:  # another replica started it under this key
            started = await repo.drill_started_by(session, key)
        if started is None:
            raise
        return started


async def _start(
    rt: Runtime, scenario: Scenario, *, by: str | None, on: str, speed: float, key: str | None
) -> int:
    now = utcnow()
    severity = scenario.severity_level
    async with rt.db.transaction() as session:
        if key and (started := await repo.drill_started_by(session, key)) is not None:
            return started
        number = await incidents.record_incident(
            session,
            rt,
            title=f"[DRILL] {scenario.title}",
            severity=severity,
            declared_by=by,
            service=on,
            description=scenario.summary,
            first_alert_at=now,
            opened_at=now,
            actor=by,
            is_drill=True,
        )
        repo.add_drill(
            session,
            number,
            scenario_name=scenario.name,
            scenario=scenario.model_dump(mode="json"),
            started_at=now,
            speed=speed,
            started_by=by,
            start_key=key,
        )
        for change in drill_changes(scenario, number, now, service=on):
            await repo.upsert_change(session, change, drill=number)
        await repo.add_entry(
            session,
            number,
            TimelineKind.CONTEXT,
            f"Drill “{scenario.name}” started on {on}: alerts and changes come from the "
            "scenario; actions run dry",
            actor=by,
            data={"drill": scenario.name, "service": on, "speed": speed},
            at=now,
        )
        for index, when in enumerate(event_times(scenario, DrillClock(now, speed))):
            # No ordering key: a job due later would hold up every click and command of the
            # incident queued under it (an Observe only reads the scenario and redraws).
            jobs.add_job(
                session,
                JobKind.INCIDENT_OBSERVE,
                {"incident": number},
                due_at=when,
                dedup_key=f"{JOBS_PREFIX.format(number=number)}observe:{index}",
                ordering_key=None,
            )
    incidents.opened(rt, severity, is_drill=True)
    log.info("drill %s started as INC-%s on %s", scenario.name, number, on)
    return number


async def is_scenario_drill(rt: Runtime, number: int) -> bool:
    """A drill started from a scenario (not `declare --drill`, which has no world to play)."""
    async with rt.db.session() as session:
        return await repo.drill(session, number) is not None


async def action_finished(rt: Runtime, number: int, playbook_id: str) -> bool:
    """A drill's action ran (dry): an acceptable one fixes the drill's world, so its alerts
    clear at the next Observe. True when this run fixed it."""
    async with rt.db.transaction() as session:
        row = await repo.drill(session, number, lock=True)
        if row is None or row.fixed_at is not None:
            return False
        scenario = Scenario.model_validate(row.scenario)
        if playbook_id not in scenario.expected.playbooks:
            return False
        row.fixed_at, row.fixed_by_playbook = utcnow(), playbook_id
        # Observe at once: the alerts it fixed clear on the card (and for the verify step).
        jobs.add_job(
            session,
            JobKind.INCIDENT_OBSERVE,
            {"incident": number},
            dedup_key=f"{JOBS_PREFIX.format(number=number)}observe:fixed",
            ordering_key=None,
        )
    return True


async def score_once(rt: Runtime, number: int) -> dict[str, Any] | None:
    """At resolve: the scorecard from the stored record, kept on the drill and said in the
    channel once. None for an incident that is not a drill (or not resolved)."""
    async with rt.db.session() as session:
        row = await repo.drill(session, number)
        incident = await repo.get_incident(session, number)
        if row is None or incident is None or incident.resolved_at is None:
            return None
        if row.scorecard is not None:
            return row.scorecard
        scenario = Scenario.model_validate(row.scenario)
        record = await _record(rt, session, number, incident, speed=row.speed)
    card = score(scenario, record)
    async with rt.db.transaction() as session:
        locked = await repo.drill(session, number, lock=True)
        assert locked is not None
        if locked.scorecard is not None:  # another replica scored it first
            return locked.scorecard
        locked.scorecard = card
        await repo.add_entry(
            session,
            number,
            TimelineKind.CONTEXT,
            f"Drill scored {card['total']}/{card['out_of']}",
            actor="system",
            data={"drill_score": card["total"]},
            source_key=f"drill-score:{number}",
        )
        await cards.say(
            session, number, render("drill_scorecard", card=card), once=f"drill-score:{number}"
        )
    return card


async def _record(
    rt: Runtime, session: AsyncSession, number: int, incident: Incident, *, speed: float
) -> DrillRecord:
    inc = repo.to_view(incident)
    kinds = {p.id: p.kind for p in rt.playbooks}
    ran = (RunStatus.SUCCEEDED, RunStatus.DRY_RUN)
    runs = [
        ActionRun(
            r.playbook_id,
            r.title,
            kinds.get(r.playbook_id, "remediation"),
            r.finished_at,
            ok=r.status in ran,
        )
        for r in await repo.action_runs(session, number)
        if r.finished_at is not None
    ]
    marked = [
        MarkedChange(drill_change_id(number, external_id), verdict, at)
        for external_id, verdict, at in await repo.marked_changes(session, number)
    ]
    ranked = [
        drill_change_id(number, r.change.external_id)
        for r in await repo.ranked_changes(session, number)
    ]
    medians, count = await _team_medians(session, inc.severity)
    assert inc.resolved_at is not None
    return DrillRecord(
        number=number,
        opened_at=inc.opened_at,
        resolved_at=inc.resolved_at,
        spans=await repo.spans(session, number),
        marked=marked,
        runs=runs,
        mitigated_at=incident.mitigated_at,
        ranked=ranked,
        team_medians=medians,
        team_count=count,
        speed=speed,
    )


async def _team_medians(
    session: AsyncSession, severity: Severity
) -> tuple[dict[Stage, timedelta | None], int]:
    """Median time per stage on the team's real, resolved incidents of this severity."""
    since = utcnow() - timedelta(days=TEAM_MEDIAN_DAYS)
    samples: list[IncidentSample] = [
        s
        for s in await repo.incident_samples(session, since=since)
        if s.severity == severity and s.resolved_at is not None
    ]
    totals = [s.stage_totals() for s in samples]
    return {st: median_duration([t[st] for t in totals if st in t]) for st in STAGE_ORDER}, len(
        samples
    )


async def catalog_entry(
    rt: Runtime, session: AsyncSession, inc: IncidentView
) -> ServiceConfig | None:
    """The incident's service in your catalog; for a drill on a service your catalog lacks,
    the scenario's own entry, so a shipped drill plays in any workspace (its ranking knows the
    service's dependencies, its playbooks render and run dry against it)."""
    service = rt.config.service(inc.service)
    if service is not None or not inc.is_drill or inc.service is None:
        return service
    row = await repo.drill(session, inc.number)
    if row is None:
        return None
    scenario = Scenario.model_validate(row.scenario)
    return next((s for s in scenario.services if s.name == inc.service), None)


async def past_drills(
    db: Database, *, scenario: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """The latest drills with their scorecards (None while a drill is still open)."""
    async with db.session() as session:
        found = await repo.drills(session, scenario=scenario, limit=limit)
    return [
        {
            "number": d.incident_id,
            "scenario": d.scenario_name,
            "started_at": d.started_at,
            "status": i.status,
            "service": i.service,
            "scorecard": d.scorecard,
        }
        for d, i in found
    ]


def format_scores(rows: list[dict[str, Any]]) -> str:
    """`ooda drill scores`: one line per drill."""
    if not rows:
        return (
            "No drills yet: start one with `/incident drill NAME` or `ooda drill run NAME --local`."
        )
    lines = [
        "INC      started (UTC)     scenario               score  cause  action  mitigated  rank"
    ]
    for row in rows:
        card = row["scorecard"]
        started = row["started_at"].strftime("%Y-%m-%d %H:%M")
        head = f"{format_ref(row['number']):<8} {started}  {row['scenario']:<22}"
        if card is None:
            lines.append(f"{head} ({row['status']}: scored at resolve)")
            continue
        rank = card["ranking"]["rank"]
        mitigated = card["mitigation"]["after_seconds"]
        lines.append(
            f"{head} {card['total']:>3}/{card['out_of']:<3} "
            f"{'yes' if card['cause']['found'] else 'no':<6} "
            f"{'yes' if card['action']['acceptable'] else 'no':<7} "
            f"{format_duration(timedelta(seconds=mitigated)) if mitigated is not None else '—':<10} "
            f"{('#' + str(rank)) if rank else '—'}"
        )
    return "\n".join(lines)
