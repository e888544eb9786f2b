"""Act: approval, idempotent execution, result, then Observe again and verify the fix."""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.domain.model import Stage, Status, TimelineKind, utcnow
from bot.domain.playbooks import Suggestion
from bot.domain.stages import format_duration
from bot.service import cards, incidents
from bot.service.executor import ActionFailed, run_step
from bot.service.runtime import Runtime
from bot.slack import views
from bot.slack.text import mention, render
from bot.storage import jobs, repo
from bot.storage.tables import ActionRunRow

log = logging.getLogger(__name__)

DEFAULT_VERIFY_MINUTES = 10
DEFAULT_POLL_SECONDS = 30


class NotAllowed(Exception):
    """The user may not approve this action; the message says why and what to do."""


def action_key(number: int, playbook_id: str, message_ts: str | None) -> str:
    """One key per decision card and playbook: a double click or a Slack retry maps to one run."""
    return f"{number}:{playbook_id}:{message_ts or 'direct'}"


async def prepare(
    rt: Runtime, number: int, suggestion: Suggestion, *, key: str, requested_by: str
) -> ActionRunRow:
    """Store what would run (resolved params) before anyone approves it; idempotent per key."""
    async with rt.db.transaction() as session:
        row = await repo.action_run(session, key)
        if row is not None:
            return row
        playbook = suggestion.playbook
        row = ActionRunRow(
            incident_id=number,
            key=key,
            playbook_id=playbook.id,
            title=suggestion.label,
            action=", ".join(step.action for step in suggestion.steps),
            params=dict(suggestion.params),
            steps=[{"action": s.action, "with": s.with_} for s in suggestion.steps],
            requested_by=requested_by,
            approvals_needed=suggestion.approvals,
            status="awaiting_approval",
            dry_run=rt.settings.dry_run or playbook.dry_run,
            verify=playbook.verify.model_dump() if playbook.verify else {},
        )
        session.add(row)
    return row


def _may_run(roles_required: list[str], incident_roles: dict[str, str], user: str) -> bool:
    if not roles_required or {"anyone", "responder"} & set(roles_required):
        return True
    return any(incident_roles.get(role) == user for role in roles_required)


async def approve(
    rt: Runtime,
    key: str,
    *,
    user: str,
    reason: str,
    roles_required: list[str],
    evidence: list[str],
) -> str:
    """Record an approval; when enough approvals are in, queue the run. Returns the new status."""
    async with rt.db.transaction() as session:
        row = await repo.action_run(session, key, lock=True)
        if row is None:
            raise NotAllowed("That action is no longer available: pick it again from Decide.")
        incident = await repo.get_incident(session, row.incident_id)
        assert incident is not None
        if row.status != "awaiting_approval":
            return row.status  # double submit or retry: nothing runs twice
        if incident.status == Status.RESOLVED.value:
            raise NotAllowed(f"INC-{incident.id} is resolved; nothing to run.")
        if not _may_run(roles_required, incident.roles or {}, user):
            need = " or ".join(roles_required)
            raise NotAllowed(
                f"Only the incident's {need} may run *{row.title}*. "
                f"Ask them, or take the role with `{rt.settings.slash_command} role commander @you`."
            )
        approvers = list(row.approved_by or [])
        if user in approvers:
            raise NotAllowed("You already approved this; it needs a second person.")
        approvers.append(user)
        row.approved_by = approvers
        if len(approvers) < row.approvals_needed:
            status = "awaiting_approval"
        else:
            row.status = status = "queued"
            jobs.add_job(
                session,
                "action.run",
                {"key": key},
                ordering_key=incidents.incident_key(row.incident_id),
                max_attempts=1,
            )
        number, title = row.incident_id, row.title
    if status == "queued":
        from bot.service.decide import record_decision

        await record_decision(
            rt,
            number,
            by=approvers[0],
            text=f"Run {title}",
            reason=reason or "—",
            playbook_id=key.split(":")[1],
            evidence=evidence,
        )
        await incidents.move_stage(rt, number, Stage.ACT, by=user)
        rt.worker.wake()
    return status


async def run(rt: Runtime, key: str) -> None:
    """The action.run job: run each step in order, store and post the result."""
    async with rt.db.transaction() as session:
        row = await repo.action_run(session, key, lock=True)
        if row is None or row.status != "queued":
            return
        row.status, row.started_at = "running", utcnow()
        number, title, steps, dry_run = row.incident_id, row.title, list(row.steps), row.dry_run
        approvers = list(row.approved_by or [])
    inc = await incidents.load(rt, number)
    assert inc is not None
    await cards.say(
        rt,
        inc,
        render("act_running", title=title, approvers=", ".join(mention(a) for a in approvers)),
    )
    details: list[str] = []
    ok, hint = True, ""
    for step in steps:
        try:
            details.append(await run_step(rt, inc, step, dry_run=dry_run))
        except ActionFailed as exc:
            ok, hint = False, exc.hint
            details.append(f"{step['action']} failed: {exc}")
            break
        except Exception as exc:  # report, never leave the run hanging in "running"
            log.exception("action %s crashed", key)
            ok, hint = False, "check the bot's logs"
            details.append(f"{step['action']} failed: {type(exc).__name__}")
            break
    finished = utcnow()
    async with rt.db.transaction() as session:
        row = await repo.action_run(session, key, lock=True)
        assert row is not None and row.started_at is not None
        row.status = ("dry_run" if dry_run else "succeeded") if ok else "failed"
        row.finished_at, row.result = finished, "; ".join(details)
        duration = format_duration(finished - row.started_at)
        verify = dict(row.verify or {})
        await repo.add_entry(
            session,
            number,
            TimelineKind.ACTION,
            f"{title}: {row.status}",
            actor=approvers[0] if approvers else None,
            data={
                "key": key,
                "params": row.params,
                "result": row.result,
                "ok": ok,
                "approved_by": approvers,
                "dry_run": dry_run,
            },
            at=finished,
        )
    text, blocks = views.action_result(
        title, ok=ok, dry_run=dry_run, duration=duration, detail="; ".join(details), hint=hint
    )
    await cards.say(rt, inc, text, blocks)
    if not ok:
        await incidents.move_stage(rt, number, Stage.DECIDE, by=None)
        return
    await incidents.move_stage(rt, number, Stage.OBSERVE, by=None)
    if dry_run:
        return
    minutes = int(verify.get("alerts_clear_within_minutes") or DEFAULT_VERIFY_MINUTES)
    await cards.say(rt, inc, render("back_to_observe", minutes=minutes))
    await schedule_verify(rt, key, number, verify, attempt=1)


def _poll_seconds(rt: Runtime, verify: dict[str, object]) -> float:
    if rt.settings.verify_poll_seconds is not None:
        return rt.settings.verify_poll_seconds
    return float(verify.get("poll_seconds") or DEFAULT_POLL_SECONDS)  # type: ignore[arg-type]


async def schedule_verify(
    rt: Runtime, key: str, number: int, verify: dict[str, object], *, attempt: int
) -> None:
    await jobs.schedule_once(
        rt.db,
        "action.verify",
        {"key": key, "attempt": attempt},
        due_at=utcnow() + timedelta(seconds=_poll_seconds(rt, verify)),
        dedup_key=f"verify:{number}:{key}:{attempt}",
        ordering_key=None,
    )


async def verify(rt: Runtime, key: str, attempt: int) -> None:
    """Observe again: have the alerts cleared since the action? Decide and report."""
    from bot.service.context import observe

    async with rt.db.session() as session:
        row = await repo.action_run(session, key)
        if row is None or row.verify_passed is not None or row.finished_at is None:
            return
        number, title, finished, verify_cfg = (
            row.incident_id,
            row.title,
            row.finished_at,
            dict(row.verify or {}),
        )
    inc = await observe(rt, number)
    if inc is None or inc.status is Status.RESOLVED:
        return
    async with rt.db.session() as session:
        current = await repo.get_incident(session, number)
        assert current is not None
        alerts = (current.observation or {}).get("alerts", [])
        pd_status = (current.observation or {}).get("pd_status")
    cleared = pd_status == "resolved" or (
        alerts and all(a.get("status") == "resolved" for a in alerts)
    )
    now = utcnow()
    deadline = finished + timedelta(
        minutes=int(verify_cfg.get("alerts_clear_within_minutes") or DEFAULT_VERIFY_MINUTES)
    )
    if not cleared and now < deadline:
        await schedule_verify(rt, key, number, verify_cfg, attempt=attempt + 1)
        return
    async with rt.db.transaction() as session:
        row = await repo.action_run(session, key, lock=True)
        incident = await repo.get_incident(session, number, lock=True)
        assert row is not None and incident is not None
        row.verify_passed = bool(cleared)
        if cleared and incident.mitigated_at is None:
            incident.mitigated_at = now
        text = (
            render("verify_cleared", after=now - finished, title=title)
            if cleared
            else render("verify_firing", after=now - finished, title=title)
        )
        await repo.add_entry(
            session,
            number,
            TimelineKind.VERIFY,
            text,
            actor="system",
            data={"key": key, "passed": bool(cleared)},
            at=now,
        )
    await cards.say(rt, inc, text, views.verify_result(text, cleared=bool(cleared), number=number))
    if not cleared:
        await incidents.move_stage(rt, number, Stage.ORIENT, by=None)
    await cards.refresh_summary(rt, number)
