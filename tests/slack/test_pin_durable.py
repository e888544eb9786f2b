"""📌 capture survives a Slack error: the delivery is stored with a job, and the job retries."""

from __future__ import annotations

from bot.devstack import DevStack
from bot.domain.model import TimelineKind
from tests.helpers.slack import (
    ALICE,
    BOB,
    declare,
    fast_forward,
    jobs_with_prefix,
    reaction,
    slack_event,
    timeline,
)


async def test_pin_lands_after_conversations_history_fails_once(stack: DevStack) -> None:
    channel = await declare(stack)
    ts = stack.slack.user_says(channel, BOB, "the error rate doubled at 10:02")
    added = reaction("reaction_added", user=ALICE, channel=channel, ts=ts)

    stack.slack.fail_next("conversations.history", status=200, error="internal_error")
    assert (await slack_event(stack, added, event_id="EvPin1")).status_code == 200
    await stack.settle(horizon=0)
    # Slack retries the delivery: deduplicated, the stored job is what brings the capture.
    assert (await slack_event(stack, added, event_id="EvPin1", retry_num=1)).status_code == 200
    assert await fast_forward(stack, "slack.pin:") == 1  # the failed attempt, due again now
    await stack.settle(horizon=0)

    pinned = [e for e in await timeline(stack) if e.kind is TimelineKind.PINNED]
    assert [(e.actor, e.text) for e in pinned] == [(BOB, "the error rate doubled at 10:02")]
    message = next(m for m in stack.slack.messages(channel) if m["ts"] == ts)
    assert "white_check_mark" in [r["name"] for r in message["reactions"]]
    [job] = await jobs_with_prefix(stack, "slack.pin:")
    assert (job.status, job.attempts) == ("done", 2)
    assert len(stack.slack.calls("conversations.history")) == 2
