"""Slack trouble around an action: a failed post never strands a run in "running", and a
rate-limited post never makes the confirmation modal miss Slack's 3 s ack."""

from __future__ import annotations

from sqlalchemy import select

from bot.devstack import DevStack
from bot.storage.tables import Job
from tests.helpers.decide_act import (
    ROLLBACK,
    SHORT_WINDOW,
    action_runs,
    click_run,
    decide_card,
    incident_stack,
    latest,
    texts,
)
from tests.helpers.stack import MakeStack


async def action_jobs(stack: DevStack) -> list[tuple[str, int]]:
    async with stack.runtime.db.session() as session:
        rows = (await session.scalars(select(Job).where(Job.kind == "action.run"))).all()
        return [(j.status, j.attempts) for j in rows]


async def test_slack_errors_before_the_first_step_do_not_strand_the_run(
    make_stack: MakeStack,
) -> None:
    async with incident_stack(make_stack, env=SHORT_WINDOW) as (stack, opened):
        alice = opened.scenario.alice
        card = await decide_card(stack, opened)
        await click_run(stack, opened, card, ROLLBACK, user=alice)

        # The run's first posts (decision, stage move, "Running…") all fail with a Slack error.
        stack.slack.fail_next(
            "chat.postMessage",
            status=200,
            error="internal_error",
            times=3,
            channel=opened.channel,
        )
        response = await stack.submit(stack.slack.views[-1], {"reason": "x"}, user=alice)
        assert response.status_code == 200
        await stack.settle()

        assert len(stack.github.dispatches) == 1  # the rollback still ran
        [run] = await action_runs(stack)
        assert run.status == "succeeded", (run.status, run.result)
        assert await action_jobs(stack) == [("done", 1)]
        result = latest(stack, opened.channel, ":white_check_mark:")
        assert f"*{run.title}* succeeded" in result["text"]
        # The outbox tried again: each message arrived once, in the order it was said.
        said = texts(stack, opened.channel)
        assert said.count(":gear: Running") == 1 and said.count(":brain: *Decision*") == 1
        assert said.index(":brain: *Decision*") < said.index(":gear: Running")


async def test_rate_limited_post_does_not_delay_the_confirm_ack(make_stack: MakeStack) -> None:
    async with incident_stack(make_stack, env=SHORT_WINDOW) as (stack, opened):
        alice = opened.scenario.alice
        card = await decide_card(stack, opened)
        await click_run(stack, opened, card, ROLLBACK, user=alice)

        # The next message waits 4 s for Slack's Retry-After: longer than Slack waits for an ack.
        stack.slack.fail_next("chat.postMessage", status=429, retry_after=4)
        response = await stack.submit(stack.slack.views[-1], {"reason": "bad deploy"}, user=alice)
        assert response.status_code == 200  # Bolt answers 404 when the ack comes too late
        assert response.text == ""  # the plain ack: the modal closes

        await stack.settle()
        assert len(stack.github.dispatches) == 1
        [run] = await action_runs(stack)
        assert run.status == "succeeded"
        # The decision is posted once the rate limit has passed, before the run's own posts.
        said = texts(stack, opened.channel)
        assert ":brain: *Decision*" in said and "_why:_ bad deploy" in said
        assert said.index(":brain: *Decision*") < said.index(":gear: Running")
