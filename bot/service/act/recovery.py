"""Act, recovery: fail the runs a dead worker left "running", and say so in the channel."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from bot.domain.action_runs import RunStatus, check_transition
from bot.domain.jobs import JobKind
from bot.domain.model import Stage, TimelineKind, utcnow
from bot.service import cards, incidents
from bot.service.runtime import Runtime
from bot.slack.out import views
from bot.storage import jobs, repo

log = logging.getLogger(__name__)

# A run still "running" this long after it started, with no live job behind it, was interrupted.
STALE_RUN_AFTER = timedelta(minutes=15)
INTERRUPTED_RUNS = "interrupted_runs"
INTERRUPTED = (
    "interrupted: the bot restarted while this ran; check the target system before running it again"
)


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
        running = await repo.running_action_runs(session)
        if not running:
            return []
        leases = await repo.action_run_leases(session, now)
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
        await jobs.schedule_once(
            rt.db,
            JobKind.MAINTENANCE,
            {"task": INTERRUPTED_RUNS},
            due_at=due,
            dedup_key=f"maintenance:{INTERRUPTED_RUNS}:{int(due.timestamp())}",
            max_attempts=3,
        )
    return interrupted


async def _interrupt(rt: Runtime, key: str) -> bool:
    """Mark one stale run failed: timeline, channel, and the incident back to Decide."""
    async with rt.db.transaction() as session:
        row = await repo.action_run(session, key, lock=True)
        if row is None or row.status != RunStatus.RUNNING:
            return False  # finished meanwhile, or another replica reported it
        now = utcnow()
        row.status = check_transition(row.status, RunStatus.FAILED)
        row.finished_at, row.result = now, INTERRUPTED
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
