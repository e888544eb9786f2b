"""Act, the run: the action.run job runs the steps in order, stores and reports the result."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from bot.domain.action_runs import RunStatus, check_transition
from bot.domain.jobs import JobKind
from bot.domain.model import Stage, Status, TimelineKind, utcnow
from bot.domain.stages import format_duration
from bot.service import cards, drills, incidents
from bot.service.act.best_effort import best_effort
from bot.service.act.recovery import INTERRUPTED_RUNS, STALE_RUN_AFTER
from bot.service.act.verification import schedule_verify, verify_window
from bot.service.decide import announce_decision
from bot.service.executor import ActionFailed, run_step
from bot.service.runtime import Runtime
from bot.slack.out import views
from bot.slack.out.text import render
from bot.storage import jobs, repo

log = logging.getLogger(__name__)

UNEXPECTED = "failed: the bot hit an unexpected error before it could report this action"
UNEXPECTED_HINT = "check the target system and the bot's logs before running it again"


async def run(rt: Runtime, key: str) -> None:
    """The action.run job: run each step in order, store and post the result.

    Every Slack post here is best effort, and whatever goes wrong the run never ends this job
    still "running" (the job is never retried): an unexpected error marks it failed and says so."""
    async with rt.db.transaction() as session:
        row = await repo.action_run(session, key, lock=True)
        if row is None or row.status != RunStatus.QUEUED:
            return
        incident = await repo.get_incident(session, row.incident_id)
        if incident is None or incident.status == Status.RESOLVED.value:
            # Resolved between the approval and now: changing production is no longer wanted.
            row.status = check_transition(row.status, RunStatus.CANCELLED)
            row.finished_at = utcnow()
            row.result = "not run: the incident was resolved first"
            return
        row.status = check_transition(row.status, RunStatus.RUNNING)
        row.started_at = utcnow()
        # The watchdog: if this process dies mid-run, a later sweep reports the run as interrupted.
        jobs.add_job(
            session,
            JobKind.MAINTENANCE,
            {"task": INTERRUPTED_RUNS},
            due_at=row.started_at + STALE_RUN_AFTER + timedelta(minutes=1),
            dedup_key=f"maintenance:run:{key}"[:200],
            max_attempts=3,
        )
        number, title, steps, dry_run = row.incident_id, row.title, list(row.steps), row.dry_run
        approvers = list(row.approved_by or [])
        reason = str((row.response or {}).get("reason") or "")
        playbook = next((p for p in rt.playbooks if p.id == row.playbook_id), None)
        kind = playbook.kind if playbook else "remediation"
    finished = False
    try:
        await _run_steps(
            rt, key, number, title, steps, dry_run=dry_run, approvers=approvers, reason=reason
        )
        finished = True
    finally:
        if not finished and await _fail_unfinished(rt, key):
            # The error still ends the job (its last_error keeps it); the channel hears of it.
            await best_effort(
                key, "report the failure", _after_run(rt, key, number, title, kind=kind)
            )
    await _after_run(rt, key, number, title, kind=kind)


async def _run_steps(
    rt: Runtime,
    key: str,
    number: int,
    title: str,
    steps: list[dict[str, Any]],
    *,
    dry_run: bool,
    approvers: list[str],
    reason: str,
) -> None:
    """Announce the decision, run the steps, store the result."""
    decision = f"{'Dry run of' if dry_run else 'Run'} {title}"
    by = approvers[0] if approvers else None
    await best_effort(
        key,
        "announce the decision",
        announce_decision(rt, number, by=by, text=decision, reason=reason),
    )
    await best_effort(
        key,
        "report the move to Act",
        incidents.move_stage(rt, number, Stage.ACT, by=approvers[-1] if approvers else None),
    )
    inc = await incidents.load(rt, number)
    assert inc is not None
    running = render("act_running", title=title, approvers=approvers)
    await best_effort(
        key,
        "say the action is running",
        cards.say_now(rt, number, running, once=f"act:{key}:running"),
    )
    results: list[dict[str, Any]] = []
    ok, hint = True, ""
    for step in steps:
        started = time.monotonic()
        try:
            detail = await run_step(rt, inc, step, dry_run=dry_run)
        except ActionFailed as exc:
            ok, hint, detail = False, exc.hint, f"{step['action']} failed: {exc}"
        except Exception as exc:  # report, never leave the run hanging in "running"
            log.exception("action %s crashed", key)
            ok, hint = False, "check the bot's logs, then do this step by hand"
            detail = f"{step['action']} failed: {type(exc).__name__}"
        seconds = round(time.monotonic() - started, 3)
        results.append({"action": step["action"], "ok": ok, "detail": detail, "seconds": seconds})
        if not ok:
            break
    details = "; ".join(r["detail"] for r in results)
    await _store_result(
        rt, key, ok=ok, details=details, hint=hint, results=results, approvers=approvers
    )


async def _store_result(
    rt: Runtime,
    key: str,
    *,
    ok: bool,
    details: str,
    hint: str,
    results: list[dict[str, Any]],
    approvers: list[str],
    extra: dict[str, Any] | None = None,
) -> bool:
    """Finish a running run: status, result, timeline. False if it was not running any more."""
    finished = utcnow()
    async with rt.db.transaction() as session:
        row = await repo.action_run(session, key, lock=True)
        if row is None or row.status != RunStatus.RUNNING:
            return False
        started = row.started_at or finished
        done = RunStatus.DRY_RUN if row.dry_run else RunStatus.SUCCEEDED
        row.status = check_transition(row.status, done if ok else RunStatus.FAILED)
        row.finished_at, row.result = finished, details
        row.response = dict(row.response or {}) | {"steps": results, "hint": hint} | (extra or {})
        await repo.add_entry(
            session,
            row.incident_id,
            TimelineKind.ACTION,
            f"{row.title}: {row.status}",
            actor=approvers[0] if approvers else None,
            data={
                "key": key,
                "params": row.params,
                "result": details,
                "steps": results,
                "ok": ok,
                "hint": hint,
                "approved_by": approvers,
                "dry_run": row.dry_run,
                "seconds": round((finished - started).total_seconds(), 3),
            }
            | (extra or {}),
            at=finished,
        )
    return True


async def _fail_unfinished(rt: Runtime, key: str) -> bool:
    """The run stopped on an unexpected error: mark it failed. True if this marked it."""
    try:
        async with rt.db.session() as session:
            row = await repo.action_run(session, key)
            approvers = list(row.approved_by or []) if row else []
        stored = await _store_result(
            rt,
            key,
            ok=False,
            details=UNEXPECTED,
            hint=UNEXPECTED_HINT,
            results=[],
            approvers=approvers,
            extra={"unexpected": True},
        )
    except Exception:  # the database itself failed: the interrupted-runs sweep reports it later
        log.exception("action %s: could not mark the run failed", key)
        return False
    if stored:
        log.error("action %s stopped on an unexpected error; marked failed", key)
    return stored


async def _after_run(rt: Runtime, key: str, number: int, title: str, *, kind: str) -> None:
    """Report the stored result in the channel, then Decide again or Observe and verify."""
    async with rt.db.session() as session:
        row = await repo.action_run(session, key)
        assert row is not None and row.finished_at is not None and row.started_at is not None
        status, dry_run, details = row.status, row.dry_run, row.result or ""
        playbook_id = row.playbook_id
        hint = str((row.response or {}).get("hint") or "")
        duration = format_duration(row.finished_at - row.started_at)
        verify_cfg = dict(row.verify or {})
    ok = status in (RunStatus.SUCCEEDED, RunStatus.DRY_RUN)
    inc = await incidents.load(rt, number)
    if inc is not None:
        text, blocks = views.action_result(
            title, ok=ok, dry_run=dry_run, duration=duration, detail=details, hint=hint
        )
        await best_effort(
            key,
            "post the result",
            cards.say_now(rt, number, text, blocks, once=f"act:{key}:result"),
        )
    diagnostic = kind == "diagnostic"
    # A scenario drill's dry run acts on its world (`declare --drill` has none to act on).
    rehearsed = inc is not None and inc.is_drill and await drills.is_scenario_drill(rt, number)
    if ok and rehearsed and not diagnostic:
        await best_effort(
            key, "play the action in the drill", drills.action_finished(rt, number, playbook_id)
        )
    if not ok or (dry_run and not rehearsed) or diagnostic or inc is None:
        # Nothing changed in production: back to Decide with fresh buttons.
        await best_effort(
            key, "go back to Decide", incidents.move_stage(rt, number, Stage.DECIDE, by=None)
        )
        await best_effort(key, "refresh the summary", cards.refresh(rt, number))
        return
    await best_effort(
        key, "go back to Observe", incidents.move_stage(rt, number, Stage.OBSERVE, by=None)
    )
    if not verify_cfg:  # the playbook checks nothing afterwards (a page, a status update)
        await best_effort(key, "refresh the summary", cards.refresh(rt, number))
        return
    if not inc.pd_incident_id and not inc.is_drill:
        unwatched = render("verify_unwatched", title=title)
        await best_effort(
            key,
            "say nothing is watched",
            cards.say_now(rt, number, unwatched, once=f"act:{key}:unwatched"),
        )
        await best_effort(key, "refresh the summary", cards.refresh(rt, number))
        return
    back = render("back_to_observe", window=verify_window(rt, verify_cfg))
    await best_effort(
        key, "say it is back to Observe", cards.say_now(rt, number, back, once=f"act:{key}:observe")
    )
    await schedule_verify(rt, key, number, verify_cfg, attempt=1)
    await best_effort(key, "refresh the summary", cards.refresh(rt, number))
