"""Action runs a dead worker left "running" are reported as interrupted, through the real app
(DevStack): the incident goes back to Decide, each run once; a run still leased or recent is
left alone, and each run's own watchdog leaves it alone once it finished."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from bot.domain.jobs import JobKind
from bot.domain.model import utcnow
from bot.service import act
from bot.storage import jobs
from bot.storage.tables import ActionRunRow, Job
from tests.helpers.decide_act import (
    ROLLBACK,
    action_runs,
    config_with,
    incident_row,
    open_incident,
    rolled_back,
    texts,
    timeline,
)
from tests.helpers.stack import FAST_VERIFY, MakeStack


def stale_run(key: str, *, started_ago: timedelta) -> ActionRunRow:
    started = utcnow() - started_ago
    return ActionRunRow(
        incident_id=1,
        key=key,
        playbook_id=ROLLBACK,
        title=f"Roll back ({key})",
        action="github.workflow_dispatch",
        params={"ref": "9a8b7c6"},
        steps=[{"action": "github.workflow_dispatch", "with": {}}],
        requested_by="U0ALICE01",
        approved_by=["U0ALICE01"],
        approvals_needed=1,
        status="running",
        dry_run=False,
        created_at=started,
        started_at=started,
        verify={},
        response={},
    )


async def test_stale_running_action_is_marked_interrupted_and_back_to_decide(
    make_stack: MakeStack,
) -> None:
    async with make_stack(config_with()) as stack:
        opened = await open_incident(stack)
        hour = timedelta(hours=1)
        async with stack.runtime.db.transaction() as session:
            session.add(stale_run("dead", started_ago=hour))  # its worker died
            session.add(stale_run("recent", started_ago=timedelta(minutes=2)))
            session.add(stale_run("leased", started_ago=hour))  # a live worker still runs it
            session.add(
                Job(
                    kind="action.run",
                    payload={"key": "leased"},
                    status="running",
                    attempts=1,
                    max_attempts=1,
                    due_at=utcnow() + hour,  # keeps settle() from waiting on it
                    locked_by="another-replica",
                    locked_until=utcnow() + timedelta(minutes=4),
                )
            )
            jobs.add_job(session, JobKind.MAINTENANCE, {"task": act.INTERRUPTED_RUNS})
        stack.runtime.worker.wake()
        await stack.settle()

        runs = {r.key: r for r in await action_runs(stack)}
        dead = runs["dead"]
        assert dead.status == "failed" and dead.finished_at is not None
        assert dead.result == act.INTERRUPTED
        assert dead.result.startswith("interrupted: the bot restarted while this ran")
        assert runs["recent"].status == "running" and runs["leased"].status == "running"

        [entry] = [e for e in await timeline(stack, "action") if e.data.get("key") == "dead"]
        assert entry.text == f"Roll back (dead): {act.INTERRUPTED}"
        assert entry.data["interrupted"] is True and entry.data["ok"] is False
        channel = texts(stack, opened.channel)
        assert ":warning: *Roll back (dead)* was interrupted" in channel
        assert "Roll back (recent)" not in channel and "Roll back (leased)" not in channel
        assert (await incident_row(stack)).stage == "decide"
        assert "INC-1 Decide" in channel  # fresh buttons to decide again

        # Runs still going: the sweep comes back when the recent one could be stale.
        async with stack.runtime.db.session() as session:
            [again] = (
                await session.scalars(
                    select(Job).where(
                        Job.kind == JobKind.MAINTENANCE,
                        Job.dedup_key.like(f"maintenance:{act.INTERRUPTED_RUNS}:%"),
                    )
                )
            ).all()
        assert again.status == "pending"
        # First the leased run, once its lease has run out (4 min), plus a minute's grace.
        assert utcnow() + timedelta(minutes=4) < again.due_at < utcnow() + timedelta(minutes=6)

        # A second sweep finds nothing new: one report per interrupted run.
        assert await act.recover_interrupted(stack.runtime) == []
        assert texts(stack, opened.channel).count("was interrupted") == 1


async def test_each_run_schedules_its_watchdog_which_leaves_a_finished_run_alone(
    make_stack: MakeStack,
) -> None:
    async with make_stack(config_with(), env=FAST_VERIFY) as stack:
        demo, run = await rolled_back(stack)
        assert run.started_at is not None
        async with stack.runtime.db.session() as session:
            [watchdog] = (
                await session.scalars(
                    select(Job).where(Job.dedup_key == f"maintenance:run:{run.key}")
                )
            ).all()
        assert watchdog.kind == JobKind.MAINTENANCE and watchdog.status == "pending"
        assert watchdog.due_at >= run.started_at + act.STALE_RUN_AFTER

        async with stack.runtime.db.transaction() as session:  # fire it now
            await session.execute(update(Job).where(Job.id == watchdog.id).values(due_at=utcnow()))
        stack.runtime.worker.wake()
        await stack.settle()
        async with stack.runtime.db.session() as session:
            assert (await session.get(Job, watchdog.id)).status == "done"  # type: ignore[union-attr]
        [after] = await action_runs(stack)
        assert after.status == "succeeded" and after.result == run.result
        assert "was interrupted" not in texts(stack, demo.channel)
