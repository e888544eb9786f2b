"""Polish through the real app (DevStack): plain-text timeline verdicts, one resolution
announcement per channel carrying the postmortem link, and action runs a dead worker left
"running" reported as interrupted."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.demo import DemoIncident
from bot.devstack import DevStack
from bot.domain.jobs import JobKind
from bot.domain.model import utcnow
from bot.fakes import slack_methods
from bot.fakes.slack_state import SlackError
from bot.service import act, postmortems
from bot.storage import jobs
from bot.storage.tables import ActionRunRow, Job, OutboxRow
from tests.helpers.decide_act import (
    Opened,
    action_runs,
    click_run,
    config_with,
    decide_card,
    incident_row,
    latest,
    open_incident,
    texts,
    timeline,
)
from tests.helpers.postmortem import announcing_config, stack_for
from tests.helpers.stack import FAST_VERIFY, MakeStack

ROLLBACK = "rollback-github-actions"
MRKDWN = re.compile(r"[*_`<>]|:[a-z_]+:")


async def run_rollback(stack: DevStack, opened: Opened) -> ActionRunRow:
    """Decide → run the rollback, which clears the alerts; verify reports."""
    alice, pd_id = opened.scenario.alice, opened.scenario.pd_incident_id
    stack.github.on_dispatch = lambda _d: stack.pagerduty.resolve_alerts(
        pd_id, resolve_incident=False
    )
    card = await decide_card(stack, opened)
    await click_run(stack, opened, card, ROLLBACK, user=alice)
    await stack.submit(stack.slack.views[-1], {"reason": "suspect deploy"}, user=alice)
    await stack.settle()
    [run] = await action_runs(stack)
    assert run.status == "succeeded" and run.verify_passed is True
    return run


# ----------------------------------------------------------------- 1. plain-text timeline


async def test_verify_verdict_is_plain_text_on_the_timeline_and_mrkdwn_in_slack(
    make_stack: MakeStack,
) -> None:
    async with make_stack(config_with(), env=FAST_VERIFY) as stack:
        opened = await open_incident(stack)
        run = await run_rollback(stack, opened)
        sha = opened.scenario.rollback_sha[:7]
        assert run.title == f"Roll back checkout to {sha}"

        # Slack keeps its formatting.
        cleared = latest(stack, opened.channel, ":large_green_circle: Alerts cleared")
        assert f"after *{run.title}*" in cleared["text"]

        # The timeline holds a plain sentence; so do the action and decision entries.
        [verdict] = await timeline(stack, "verify")
        assert re.fullmatch(rf"Alerts cleared \d+s after Roll back checkout to {sha}", verdict.text)
        for entry in await timeline(stack):
            if entry.kind in ("verify", "action", "decision", "stage"):
                assert not MRKDWN.search(entry.text), (entry.kind, entry.text)

        # The postmortem shows the sentence, not raw mrkdwn.
        markdown = await postmortems.render(stack.runtime, 1, "markdown")
        html = await postmortems.render(stack.runtime, 1, "html")
        assert markdown is not None and html is not None
        for document in (markdown, html):
            assert "Alerts cleared" in document and f"after Roll back checkout to {sha}" in document
            assert ":large_green_circle:" not in document
            assert f"*Roll back checkout to {sha}*" not in document


async def test_still_firing_verdict_is_plain_text(make_stack: MakeStack) -> None:
    env = FAST_VERIFY | {"OODA_VERIFY_WINDOW_SECONDS": "1"}
    async with make_stack(config_with(), env=env) as stack:
        opened = await open_incident(stack)
        stack.github.on_dispatch = None  # the rollback does not fix production
        card = await decide_card(stack, opened)
        await click_run(stack, opened, card, ROLLBACK, user=opened.scenario.alice)
        await stack.submit(stack.slack.views[-1], {}, user=opened.scenario.alice)
        await stack.settle()
        [run] = await action_runs(stack)
        assert run.verify_passed is False
        assert latest(stack, opened.channel, ":red_circle: Still firing")
        [verdict] = await timeline(stack, "verify")
        assert re.fullmatch(
            rf"Still firing \d+s after {re.escape(run.title)}: marked not effective", verdict.text
        )


# ----------------------------------------------------------------- 2. one announcement


def announcements(stack: DevStack, channel: str) -> list[str]:
    """What the bot posted about the end of INC-1 in an announcements channel."""
    return [
        m["text"]
        for m in stack.slack.messages(channel)
        if "resolved" in m["text"] or "postmortem" in m["text"].lower()
    ]


async def test_resolution_is_announced_once_per_channel_with_the_postmortem_link(
    make_stack: MakeStack,
) -> None:
    async with stack_for(make_stack, announcing_config()) as stack:
        demo = await DemoIncident(stack).play()
        [uploaded] = stack.slack.files
        for channel in ("incidents", "checkout-eng"):
            [post] = announcements(stack, channel)
            assert post.startswith(":white_check_mark: *INC-1 resolved* after")
            assert f"/{uploaded['id']}|read it>" in post
            assert f"<#{demo.channel}>" in post

        # A retried postmortem job neither uploads nor announces again.
        await postmortems.publish(stack.runtime, 1)
        assert len(stack.slack.files) == 1
        for channel in ("incidents", "checkout-eng"):
            assert len(announcements(stack, channel)) == 1


async def test_resolution_is_announced_even_when_the_upload_fails(
    make_stack: MakeStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(_state: Any, _params: dict[str, Any]) -> dict[str, Any]:
        raise SlackError("not_allowed_token_type")

    monkeypatch.setitem(slack_methods.METHODS, "files.getUploadURLExternal", refuse)
    async with stack_for(make_stack, announcing_config()) as stack:
        demo = await DemoIncident(stack).play()
        assert stack.slack.files == []
        async with stack.runtime.db.session() as session:
            [upload] = (
                await session.scalars(select(OutboxRow).where(OutboxRow.op == "upload"))
            ).all()
        assert upload.attempts >= 1 and "not_allowed_token_type" in (upload.last_error or "")
        assert upload.status == "failed"
        await stack.runtime.worker.run_once()  # a retry, if one is due: still one post
        [post] = announcements(stack, "incidents")
        assert "*INC-1 resolved*" in post
        assert f"Postmortem: in <#{demo.channel}>" in post


# ----------------------------------------------------------------- 3. interrupted runs


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
        opened = await open_incident(stack)
        run = await run_rollback(stack, opened)
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
        assert "was interrupted" not in texts(stack, opened.channel)
