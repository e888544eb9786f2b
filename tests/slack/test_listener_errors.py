"""A listener that fails tells the clicker; one that raises after its ack still answers Slack at
once with that ack; and the error handler copes with whatever the body holds (a `user` that is a
plain id)."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest

from bot.devstack import DevStack
from bot.slack.listen import interactions
from tests.helpers.slack import ALICE, declare, general_id


async def test_a_listener_failing_after_its_ack_answers_with_the_ack(
    stack: DevStack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    channel = await declare(stack)

    def broken(*_args: Any, **_kwargs: Any) -> None:
        for work in _args[2:]:  # the coroutine that will never run
            work.close()
        raise RuntimeError("after the ack")

    monkeypatch.setattr(interactions, "after_ack", broken)
    payload = {
        "type": "block_actions",
        "user": ALICE,  # a plain id, not an object: the error handler must cope
        "channel": {"id": channel},
        "container": {"type": "message", "message_ts": "1.2", "channel_id": channel},
        "response_url": stack.slack.response_url(),
        "actions": [{"action_id": "incident_resolve", "value": "1", "action_ts": "1.3"}],
    }
    started = time.monotonic()
    response = await stack.interact(payload)
    assert time.monotonic() - started < 2.5  # Bolt's 3 s ack timeout not waited out
    assert response.status_code == 200, response.text
    await stack.settle()
    assert any("did not work" in e["text"] for e in stack.slack.ephemerals(channel))
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in failures] == ["Slack listener failed: after the ack"]


async def test_a_listener_failing_before_its_ack_is_a_500_and_told(
    stack: DevStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel = await declare(stack)

    async def broken(*_args: Any, **_kwargs: Any) -> bool:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(interactions, "record", broken)  # nothing stored: no ack
    response = await stack.command("note seen it", user=ALICE, channel=channel)
    assert response.status_code == 500
    await stack.settle()
    assert any("did not work" in e["text"] for e in stack.slack.ephemerals(channel))
    assert json.dumps(response.text)  # an answer, not a dropped connection


async def test_a_failing_button_tells_the_clicker(stack: DevStack) -> None:
    await stack.command("declare Checkout down", user=ALICE, channel=general_id(stack))
    await stack.settle()
    channel = next(c for c in stack.slack.channels if c["name"].startswith("inc-1-"))
    # Slack refuses the modal (the trigger expired): the Resolve button's listener raises.
    stack.slack.fail_next("views.open", status=200, error="expired_trigger_id")
    await stack.click("incident_resolve", "1", user=ALICE, channel=channel["id"])
    await stack.settle()
    told = [e for e in stack.slack.ephemerals(channel["id"]) if e.get("user") == ALICE]
    assert told and "did not work" in told[-1]["text"]
