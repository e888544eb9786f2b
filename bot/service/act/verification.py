"""Act, verification: Observe again after the action and decide whether it helped."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from bot.domain.jobs import JobKind
from bot.domain.model import Stage, Status, TimelineKind, utcnow
from bot.domain.stages import format_duration
from bot.service import cards, incidents
from bot.service.act.best_effort import best_effort
from bot.service.observation import observe
from bot.service.runtime import Runtime
from bot.slack.out import views
from bot.slack.out.text import render
from bot.storage import jobs, repo

log = logging.getLogger(__name__)

DEFAULT_VERIFY_MINUTES = 10
DEFAULT_POLL_SECONDS = 30


def verify_window(rt: Runtime, verify_cfg: dict[str, Any]) -> timedelta:
    """How long after the action the alerts may take to clear."""
    if rt.settings.verify_window_seconds is not None:
        return timedelta(seconds=rt.settings.verify_window_seconds)
    minutes = verify_cfg.get("alerts_clear_within_minutes") or DEFAULT_VERIFY_MINUTES
    return timedelta(minutes=int(minutes))


def _poll_seconds(rt: Runtime, verify_cfg: dict[str, Any]) -> float:
    if rt.settings.verify_poll_seconds is not None:
        return rt.settings.verify_poll_seconds
    return float(verify_cfg.get("poll_seconds") or DEFAULT_POLL_SECONDS)


async def schedule_verify(
    rt: Runtime, key: str, number: int, verify_cfg: dict[str, Any], *, attempt: int
) -> None:
    """Queue the next action.verify poll (once per attempt)."""
    await jobs.schedule_once(
        rt.db,
        JobKind.ACTION_VERIFY,
        {"key": key, "attempt": attempt, "incident": number},  # the incident: for its lines
        due_at=utcnow() + timedelta(seconds=_poll_seconds(rt, verify_cfg)),
        dedup_key=f"verify:{number}:{key}:{attempt}",
        ordering_key=None,
    )


def alerts_cleared(observation: dict[str, Any]) -> bool:
    """PagerDuty resolved the incident, or every one of its alerts is resolved."""
    alerts = observation.get("alerts") or []
    if observation.get("pd_status") == "resolved":
        return True
    return bool(alerts) and all(a.get("status") == "resolved" for a in alerts)


def verify_sentence(*, cleared: bool, after: timedelta, title: str) -> str:
    """The verdict for the timeline: a plain sentence (the postmortem renders it as text)."""
    if cleared:
        return f"Alerts cleared {format_duration(after)} after {title}"
    return f"Still firing {format_duration(after)} after {title}: marked not effective"


async def verify(rt: Runtime, key: str, attempt: int) -> None:
    """Observe again: have the alerts cleared since the action? Decide and report."""
    async with rt.db.session() as session:
        row = await repo.action_run(session, key)
        if row is None or row.verify_passed is not None or row.finished_at is None:
            return
        number, title, finished = row.incident_id, row.title, row.finished_at
        verify_cfg = dict(row.verify or {})
    try:
        inc = await observe(rt, number)
    except Exception:  # the Observe card could not be posted; the observation is stored first
        log.warning("verify %s: could not redraw the Observe card", key, exc_info=True)
        inc = await incidents.load(rt, number)
    if inc is None or inc.status is Status.RESOLVED:
        return
    async with rt.db.session() as session:
        current = await repo.get_incident(session, number)
        assert current is not None
        cleared = alerts_cleared(current.observation or {})
    now = utcnow()
    if not cleared and now < finished + verify_window(rt, verify_cfg):
        await schedule_verify(rt, key, number, verify_cfg, attempt=attempt + 1)
        return
    async with rt.db.transaction() as session:
        row = await repo.action_run(session, key, lock=True)
        incident = await repo.get_incident(session, number, lock=True)
        assert row is not None and incident is not None
        if row.verify_passed is not None:
            return  # another poll already reported
        row.verify_passed = cleared
        # What `ooda stats --playbooks` and the next Decide card quote: how long it took.
        outcome = {"at": now.isoformat(), "after_seconds": (now - finished).total_seconds()}
        row.verify = {**(row.verify or {}), "outcome": outcome}
        if cleared and incident.mitigated_at is None:
            incident.mitigated_at = now
        template = "verify_cleared" if cleared else "verify_firing"
        text = render(template, after=now - finished, title=title)
        await repo.add_entry(
            session,
            number,
            TimelineKind.VERIFY,
            verify_sentence(cleared=cleared, after=now - finished, title=title),
            actor="system",
            data={"key": key, "passed": cleared, "effective": cleared, "attempts": attempt},
            at=now,
        )
    verdict = views.verify_result(text, cleared=cleared, number=number)
    await best_effort(
        key, "post the verdict", cards.say_now(rt, number, text, verdict, once=f"act:{key}:verdict")
    )
    if not cleared:
        await best_effort(
            key, "go back to Orient", incidents.move_stage(rt, number, Stage.ORIENT, by=None)
        )
    await best_effort(key, "refresh the summary", cards.refresh(rt, number))
