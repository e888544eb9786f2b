"""Act: approval, idempotent execution, result, then Observe again and verify the fix."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bot.domain.model import Stage, Status, TimelineKind, utcnow
from bot.domain.playbooks import Suggestion
from bot.domain.stages import format_duration
from bot.service import cards, incidents
from bot.service.executor import ActionFailed, run_step
from bot.service.runtime import Runtime
from bot.slack import views
from bot.slack.text import render
from bot.storage import jobs, repo
from bot.storage.tables import ActionRunRow, Job

log = logging.getLogger(__name__)

DEFAULT_VERIFY_MINUTES = 10
DEFAULT_POLL_SECONDS = 30
# A run in one of these states is over: clicking the card again starts a new attempt.
FINISHED = frozenset({"succeeded", "failed", "dry_run", "cancelled"})
MAX_ATTEMPTS_PER_CARD = 50
# A run still "running" this long after it started, with no live job behind it, was interrupted.
STALE_RUN_AFTER = timedelta(minutes=15)
MAINTENANCE = "maintenance"
INTERRUPTED_RUNS = "interrupted_runs"
INTERRUPTED = (
    "interrupted: the bot restarted while this ran; check the target system before running it again"
)


class NotAllowed(Exception):
    """The user may not approve this action; the message says why and what to do."""


def action_key(number: int, playbook_id: str, message_ts: str | None) -> str:
    """One key per decision card and playbook: a double click or a Slack retry maps to one run."""
    return f"{number}:{playbook_id}:{message_ts or 'direct'}"


def _new_row(rt: Runtime, number: int, s: Suggestion, key: str, requested_by: str) -> ActionRunRow:
    playbook = s.playbook
    return ActionRunRow(
        incident_id=number,
        key=key,
        playbook_id=playbook.id,
        title=s.label,
        action=", ".join(step.action for step in s.steps)[:60],
        params=dict(s.params),
        steps=[{"action": step.action, "with": step.with_} for step in s.steps],
        requested_by=requested_by,
        approved_by=[],
        approvals_needed=s.approvals,
        status="awaiting_approval",
        dry_run=rt.settings.dry_run or playbook.dry_run,
        verify=playbook.verify.model_dump() if playbook.verify else {},
        response={},
    )


async def prepare(
    rt: Runtime, number: int, suggestion: Suggestion, *, key: str, requested_by: str
) -> ActionRunRow:
    """Store what would run (resolved params) before anyone approves it.

    Idempotent per key: a double click or a Slack retry gets the same pending run. Once that run
    has finished, the same card starts a new attempt (`key#2`, `key#3`, ...)."""
    for attempt in range(1, MAX_ATTEMPTS_PER_CARD + 1):
        candidate = key if attempt == 1 else f"{key}#{attempt}"
        try:
            async with rt.db.transaction() as session:
                row = await repo.action_run(session, candidate)
                if row is None:
                    row = _new_row(rt, number, suggestion, candidate, requested_by)
                    session.add(row)
        except IntegrityError:  # a concurrent click stored the same key first: use that one
            async with rt.db.session() as session:
                row = await repo.action_run(session, candidate)
            assert row is not None
        if row.status not in FINISHED:
            return row
    raise NotAllowed("This card has run too often; use a fresh Decide card.")


def _may_run(roles_required: list[str], incident_roles: dict[str, str], user: str) -> bool:
    if not roles_required or {"anyone", "responder"} & set(roles_required):
        return True
    return any(incident_roles.get(role) == user for role in roles_required)


def role_refusal(rt: Runtime, title: str, roles_required: list[str], number: int) -> str:
    need = " or ".join(roles_required)
    return (
        f"Only the {need} of INC-{number} may run {title}. Ask them to run it, "
        f"or take the role first: `{rt.settings.slash_command} role {roles_required[0]} @you`."
    )


async def approve(
    rt: Runtime,
    key: str,
    *,
    user: str,
    reason: str,
    roles_required: list[str],
    evidence: list[str],
) -> str:
    """Record an approval; when enough approvals are in, queue the run (exactly once).

    The first approver must hold an allowed role; a second approver (high risk) must be a
    different person. Returns the run's status after this approval."""
    async with rt.db.transaction() as session:
        row = await repo.action_run(session, key, lock=True)
        if row is None:
            raise NotAllowed("That action is no longer available: pick it again from Decide.")
        if row.status != "awaiting_approval":
            return row.status  # double submit or retry: nothing runs twice
        incident = await repo.get_incident(session, row.incident_id)
        assert incident is not None
        if incident.status == Status.RESOLVED.value:
            raise NotAllowed(f"INC-{incident.id} is resolved; nothing to run.")
        approvers = list(row.approved_by or [])
        if user in approvers:
            raise NotAllowed(f"You already approved {row.title}; a second person must approve it.")
        if not approvers and not _may_run(roles_required, incident.roles or {}, user):
            raise NotAllowed(role_refusal(rt, row.title, roles_required, incident.id))
        approvers.append(user)
        response = dict(row.response or {})
        if len(approvers) == 1:  # the confirming responder's reason is the decision's reason
            response |= {"reason": reason or "", "evidence": list(evidence)}
        queued = len(approvers) >= row.approvals_needed
        status = "queued" if queued else "awaiting_approval"
        # Compare-and-set on the status: of two concurrent approvals only one queues the run.
        changed = await session.execute(
            update(ActionRunRow)
            .where(ActionRunRow.key == key, ActionRunRow.status == "awaiting_approval")
            .values(status=status, approved_by=approvers, response=response)
            .execution_options(synchronize_session=False)
        )
        if changed.rowcount != 1:
            return "queued"
        number, title, dry_run = row.incident_id, row.title, row.dry_run
        decision = f"{'Dry run of' if dry_run else 'Run'} {title}"
        if queued:
            from bot.service.decide import add_decision

            await add_decision(
                session,
                number,
                by=approvers[0],
                text=decision,
                reason=response.get("reason") or "—",
                playbook_id=row.playbook_id,
                evidence=list(response.get("evidence") or []),
            )
            jobs.add_job(
                session,
                "action.run",
                {"key": key},
                ordering_key=incidents.incident_key(number),
                max_attempts=1,  # never retried: a rollback must not run twice
            )
    if queued:
        # Only database work before this returns: the modal's ack must not wait on Slack. The
        # action.run job announces the decision in the channel before it runs anything.
        rt.worker.wake()
    return status


async def cancel(rt: Runtime, key: str, *, user: str) -> str:
    """Withdraw an action still waiting for approval. Returns its title.

    Whoever requested or approved it may cancel it, and so may anyone allowed to run it."""
    async with rt.db.transaction() as session:
        row = await repo.action_run(session, key, lock=True)
        if row is None or row.status != "awaiting_approval":
            state = row.status.replace("_", " ") if row else "gone"
            raise NotAllowed(f"Too late to cancel: that action is {state}.")
        incident = await repo.get_incident(session, row.incident_id)
        assert incident is not None
        playbook = next((p for p in rt.playbooks if p.id == row.playbook_id), None)
        roles = list(playbook.requires.roles) if playbook else []
        involved = user == row.requested_by or user in (row.approved_by or [])
        if not involved and not _may_run(roles, incident.roles or {}, user):
            need = " or ".join(roles)
            raise NotAllowed(
                f"Only whoever asked for {row.title}, its approvers or the {need} of "
                f"INC-{incident.id} may cancel it."
            )
        changed = await session.execute(
            update(ActionRunRow)
            .where(ActionRunRow.key == key, ActionRunRow.status == "awaiting_approval")
            .values(status="cancelled", finished_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if changed.rowcount != 1:
            raise NotAllowed("Too late to cancel: it was just approved.")
        await repo.add_entry(
            session,
            row.incident_id,
            TimelineKind.ACTION,
            f"{row.title}: cancelled",
            actor=user,
            data={"key": key, "params": row.params, "approved_by": list(row.approved_by or [])},
        )
        return row.title


async def _best_effort(key: str, what: str, work: Awaitable[Any]) -> None:
    """Post to Slack without letting a Slack error stop or strand the action run."""
    try:
        await work
    except Exception:
        log.warning("action %s: could not %s", key, what, exc_info=True)


async def run(rt: Runtime, key: str) -> None:
    """The action.run job: run each step in order, store and post the result.

    Every Slack post here is best effort, and whatever goes wrong the run never ends this job
    still "running" (the job is never retried): an unexpected error marks it failed and says so."""
    async with rt.db.transaction() as session:
        row = await repo.action_run(session, key, lock=True)
        if row is None or row.status != "queued":
            return
        incident = await repo.get_incident(session, row.incident_id)
        if incident is None or incident.status == Status.RESOLVED.value:
            # Resolved between the approval and now: changing production is no longer wanted.
            row.status, row.finished_at = "cancelled", utcnow()
            row.result = "not run: the incident was resolved first"
            return
        row.status, row.started_at = "running", utcnow()
        # The watchdog: if this process dies mid-run, a later sweep reports the run as interrupted.
        jobs.add_job(
            session,
            MAINTENANCE,
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
            await _best_effort(
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
    from bot.service.decide import announce_decision

    decision = f"{'Dry run of' if dry_run else 'Run'} {title}"
    by = approvers[0] if approvers else None
    await _best_effort(
        key,
        "announce the decision",
        announce_decision(rt, number, by=by, text=decision, reason=reason),
    )
    await _best_effort(
        key,
        "report the move to Act",
        incidents.move_stage(rt, number, Stage.ACT, by=approvers[-1] if approvers else None),
    )
    inc = await incidents.load(rt, number)
    assert inc is not None
    running = render("act_running", title=title, approvers=approvers)
    await _best_effort(
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
        if row is None or row.status != "running":
            return False
        started = row.started_at or finished
        row.status = ("dry_run" if row.dry_run else "succeeded") if ok else "failed"
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


UNEXPECTED = "failed: the bot hit an unexpected error before it could report this action"
UNEXPECTED_HINT = "check the target system and the bot's logs before running it again"


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
        hint = str((row.response or {}).get("hint") or "")
        duration = format_duration(row.finished_at - row.started_at)
        verify_cfg = dict(row.verify or {})
    ok = status in ("succeeded", "dry_run")
    inc = await incidents.load(rt, number)
    if inc is not None:
        text, blocks = views.action_result(
            title, ok=ok, dry_run=dry_run, duration=duration, detail=details, hint=hint
        )
        await _best_effort(
            key,
            "post the result",
            cards.say_now(rt, number, text, blocks, once=f"act:{key}:result"),
        )
    diagnostic = kind == "diagnostic"
    if not ok or dry_run or diagnostic or inc is None:
        # Nothing changed in production: back to Decide with fresh buttons.
        await _best_effort(
            key, "go back to Decide", incidents.move_stage(rt, number, Stage.DECIDE, by=None)
        )
        await _best_effort(key, "refresh the summary", cards.refresh(rt, number))
        return
    await _best_effort(
        key, "go back to Observe", incidents.move_stage(rt, number, Stage.OBSERVE, by=None)
    )
    if not verify_cfg:  # the playbook checks nothing afterwards (a page, a status update)
        await _best_effort(key, "refresh the summary", cards.refresh(rt, number))
        return
    if not inc.pd_incident_id:
        unwatched = render("verify_unwatched", title=title)
        await _best_effort(
            key,
            "say nothing is watched",
            cards.say_now(rt, number, unwatched, once=f"act:{key}:unwatched"),
        )
        await _best_effort(key, "refresh the summary", cards.refresh(rt, number))
        return
    back = render("back_to_observe", window=verify_window(rt, verify_cfg))
    await _best_effort(
        key, "say it is back to Observe", cards.say_now(rt, number, back, once=f"act:{key}:observe")
    )
    await schedule_verify(rt, key, number, verify_cfg, attempt=1)
    await _best_effort(key, "refresh the summary", cards.refresh(rt, number))


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
    await jobs.schedule_once(
        rt.db,
        "action.verify",
        {"key": key, "attempt": attempt},
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
    from bot.service.context import observe

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
    await _best_effort(
        key, "post the verdict", cards.say_now(rt, number, text, verdict, once=f"act:{key}:verdict")
    )
    if not cleared:
        await _best_effort(
            key, "go back to Orient", incidents.move_stage(rt, number, Stage.ORIENT, by=None)
        )
    await _best_effort(key, "refresh the summary", cards.refresh(rt, number))


# --------------------------------------------------------------------------- interrupted runs


async def maintenance(rt: Runtime, payload: dict[str, Any]) -> None:
    """The `maintenance` job: periodic housekeeping, one task per job."""
    if payload.get("task") == INTERRUPTED_RUNS:
        await recover_interrupted(rt)


async def recover_interrupted(rt: Runtime, *, older_than: timedelta = STALE_RUN_AFTER) -> list[str]:
    """Fail the action runs left "running" by a worker that died mid-run. Returns their keys.

    action.run jobs are never retried (a rollback must not run twice), so such a run would stay
    "running" forever. A run counts as interrupted once it started more than `older_than` ago
    and no worker holds a live lease on its job. While runs are still going, the sweep
    schedules itself again for when the oldest of them would be stale."""
    now = utcnow()
    async with rt.db.session() as session:
        running = (
            await session.scalars(select(ActionRunRow).where(ActionRunRow.status == "running"))
        ).all()
        if not running:
            return []
        live = (
            await session.scalars(
                select(Job).where(
                    Job.kind == "action.run", Job.status == "running", Job.locked_until > now
                )
            )
        ).all()
        leases = {str((job.payload or {}).get("key")): job.locked_until for job in live}
        stale, going = [], []
        for row in running:
            started = row.started_at or row.created_at
            lease = leases.get(row.key)
            if started < now - older_than and lease is None:
                stale.append(row.key)
            else:  # look again when it could be stale: old enough and its lease run out
                going.append(max(started + older_than, lease or now))
    interrupted = [key for key in stale if await _interrupt(rt, key)]
    if going:
        due = min(going) + timedelta(minutes=1)
        added = await jobs.schedule_once(
            rt.db,
            MAINTENANCE,
            {"task": INTERRUPTED_RUNS},
            due_at=due,
            dedup_key=f"maintenance:{INTERRUPTED_RUNS}:{int(due.timestamp())}",
            max_attempts=3,
        )
        if added:
            rt.worker.wake()
    return interrupted


async def _interrupt(rt: Runtime, key: str) -> bool:
    """Mark one stale run failed: timeline, channel, and the incident back to Decide."""
    async with rt.db.transaction() as session:
        row = await repo.action_run(session, key, lock=True)
        if row is None or row.status != "running":
            return False  # finished meanwhile, or another replica reported it
        now = utcnow()
        row.status, row.finished_at, row.result = "failed", now, INTERRUPTED
        row.response = dict(row.response or {}) | {"interrupted": True}
        number, title = row.incident_id, row.title
        approvers = list(row.approved_by or [])
        await repo.add_entry(
            session,
            number,
            TimelineKind.ACTION,
            f"{title}: {INTERRUPTED}",
            actor="system",
            data={
                "key": key,
                "params": row.params,
                "result": INTERRUPTED,
                "ok": False,
                "interrupted": True,
                "approved_by": approvers,
                "dry_run": row.dry_run,
            },
            at=now,
        )
    log.warning("action run %s of INC-%s was interrupted; marked failed", key, number)
    inc = await incidents.load(rt, number)
    if inc is None:
        return True
    text, blocks = views.action_interrupted(title)
    await cards.say_now(rt, number, text, blocks, once=f"act:{key}:interrupted")
    await incidents.move_stage(rt, number, Stage.DECIDE, by=None)
    await cards.refresh(rt, number)
    return True
